"""What a person's ``rollout advance`` must get past besides the verdict: the stage's
checklist (every question answered yes) and the plan's policy window (outside it, or in a
freeze, the advance is deliberate: asked, or ``--yes --outside-window``).

Both end up in the decision record of the advance (``decision.checklist``,
``decision.window``) and in ``advance --json`` (``gates``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rolloutcli.judge.policywindow import Allowed, allowed
from rolloutcli.plan.policy import ChecklistItem
from rolloutcli.support.errors import InvalidInputError, RefusedError
from rolloutcli.support.timeutil import format_timestamp

if TYPE_CHECKING:
    from rolloutcli.app.evaluate import Evaluation

OUTSIDE_WINDOW_FLAG = "--outside-window"


@dataclass(frozen=True)
class Answer:
    """One checklist question as a person answered it."""

    id: str
    ask: str
    answer: bool
    by: str
    at: datetime


@dataclass(frozen=True)
class Gates:
    """The gates of one advance: the target stage's checklist and the window at ``now``."""

    stage: str | None
    items: tuple[ChecklistItem, ...]
    window: Allowed
    answers: tuple[Answer, ...] = field(default_factory=tuple)
    override: bool = False
    """The advance went ahead outside the window or in a freeze, as a person chose."""

    def with_answers(self, answers: Iterable[Answer]) -> Gates:
        return Gates(self.stage, self.items, self.window, tuple(answers), self.override)

    def overridden(self) -> Gates:
        return Gates(self.stage, self.items, self.window, self.answers, not self.window.ok)


def gates_for(evaluation: Evaluation, now: datetime) -> Gates:
    """The gates between where the rollout stands and the stage ``advance`` moves it to."""
    standing = evaluation.standing
    plan, index = standing.loaded.plan, standing.position.next_index
    target = plan.stages[index] if index is not None else None
    items = tuple(target.checklist_items) if target is not None else ()
    return Gates(target.label if target else None, items, allowed(plan.automation, now))


def check_named(gates: Gates, checked: list[str]) -> None:
    """``--checked`` must name this stage's items: an unknown id is invalid input."""
    known = [item.key for item in gates.items]
    unknown = [c for c in checked if c not in known]
    if not unknown:
        return
    if not known:
        raise InvalidInputError(
            f"--checked {unknown[0]}: stage {gates.stage or '(none)'} has no checklist"
        )
    raise InvalidInputError(
        f"--checked {unknown[0]}: not an item of stage {gates.stage}'s checklist "
        f"(its ids: {', '.join(known)})"
    )


def answer_checklist(
    gates: Gates,
    checked: list[str],
    who: str,
    now: datetime,
    ask: Callable[[ChecklistItem], bool] | None,
) -> Gates:
    """Every item answered: named by ``--checked``, else by ``ask`` (None: ``--yes``, so a
    missing item refuses, naming it). A "no" refuses; nothing is changed either way."""
    check_named(gates, checked)
    answers: list[Answer] = []
    for item in gates.items:
        if item.key in checked:
            answers.append(Answer(item.key, item.ask, True, who, now))
        elif ask is None:
            missing = [i.key for i in gates.items if i.key not in checked]
            raise RefusedError(
                f"stage {gates.stage} has a checklist: --yes needs "
                f"{' '.join(f'--checked {m}' for m in missing)} (nothing was changed)"
            )
        elif ask(item):
            answers.append(Answer(item.key, item.ask, True, who, now))
        else:
            raise RefusedError(f"checklist: {item.ask!r} answered no: nothing was changed")
    return gates.with_answers(answers)


def window_refusal(gates: Gates, yes: bool, outside_window: bool) -> str | None:
    """Why ``--yes`` may not advance now (outside the window or in a freeze, without
    ``--outside-window``); None when it may, or a person is asked instead."""
    if gates.window.ok or not yes or outside_window:
        return None
    return f"{gates.window.reason}: --yes needs {OUTSIDE_WINDOW_FLAG} to advance anyway"


def gates_json(gates: Gates) -> dict[str, Any]:
    """For ``advance --json`` and the decision record: the window (and whether a person
    overrode it) and the checklist, each item with its answer (null: not yet answered)."""
    answered = {a.id: a for a in gates.answers}
    window = gates.window
    return {
        "stage": gates.stage,
        "window": {
            "open": window.ok,
            "state": window.kind,
            "reason": window.reason,
            "next_opening": format_timestamp(window.next_opening) if window.next_opening else None,
            "override": gates.override,
        },
        "checklist": [_item_json(item, answered.get(item.key)) for item in gates.items],
    }


def _item_json(item: ChecklistItem, answer: Answer | None) -> dict[str, Any]:
    return {
        "id": item.key,
        "ask": item.ask,
        "answer": answer.answer if answer else None,
        "by": answer.by if answer else None,
        "at": format_timestamp(answer.at) if answer else None,
    }


def decision_extra(gates: Gates) -> dict[str, Any]:
    """What the advance's decision record adds: ``window`` when the window was closed or
    a freeze held (overridden by a person), ``checklist`` when the stage had one."""
    extra: dict[str, Any] = {}
    document = gates_json(gates)
    if not gates.window.ok:
        extra["window"] = document["window"]
    if gates.items:
        extra["checklist"] = document["checklist"]
    return extra
