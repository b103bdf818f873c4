"""Which plans `check` and `watch` run: the plans named on the command line, or ``--all``
(every plan file of the plans directory), narrowed by ``--select KEY=VALUE`` on their labels.

A plan that does not load is kept as its error, whatever the selection (its labels cannot
be read, so it cannot be matched): it is reported, and the others still run. A selection
that leaves no plan at all is an error (exit 2): a scheduled job that checks nothing should
say so, not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rolloutcli.plan.labels import Selector, parse_selectors, selected, selection_text
from rolloutcli.plan.locate import PLAN_SUFFIXES, default_plans_dir, resolve_plan_path
from rolloutcli.plan.model import LoadedPlan, load_plan
from rolloutcli.support.errors import InternalError, InvalidInputError, RolloutError
from rolloutcli.support.quoting import quote

Picked = list[tuple[str, LoadedPlan | RolloutError]]
"""Each plan run: its reference (as named, or its name under ``--all``), and the plan
loaded or the error that stopped it."""


@dataclass(frozen=True)
class Fleet:
    """The plans a command was asked to run."""

    refs: tuple[str, ...]
    every: bool
    """``--all``: every plan file in the plans directory, looked up anew at each load."""
    plans_dir: Path | None
    selectors: tuple[Selector, ...] = ()

    @property
    def folder(self) -> Path:
        return self.plans_dir or default_plans_dir()

    def load(self) -> Picked:
        """Every plan, loaded; those whose labels fail the selection left out. InvalidInputError
        when the plans directory holds no plan, or no plan passes the selection."""
        named = _by_name(plan_files(self.folder)) if self.every else self._as_named()
        picked: Picked = []
        for ref, where in named:
            item = _load(where, self.plans_dir)
            if isinstance(item, RolloutError) or selected(self.selectors, item.plan.labels):
                picked.append((ref, item))
        if not picked:
            where = f"in {self.folder}" if self.every else "named"
            raise InvalidInputError(f"no plan {where} matches {selection_text(self.selectors)}")
        return picked

    def _as_named(self) -> list[tuple[str, str]]:
        return [(ref, ref) for ref in self.refs]


def _by_name(files: list[Path]) -> list[tuple[str, str]]:
    """Each plan file under the name a person would type (``checkout-v2``), and its path;
    a ``NAME.yml`` next to a ``NAME.yaml`` (which the name finds) is shown by its path."""
    stems = {path.stem for path in files if path.suffix.lower() == ".yaml"}
    return [
        (
            str(path) if path.suffix.lower() != ".yaml" and path.stem in stems else path.stem,
            str(path),
        )
        for path in files
    ]


def fleet(
    refs: Sequence[str] | None,
    every: bool,
    selects: Sequence[str] | None,
    plans_dir: Path | None,
    command: str = "check",
) -> Fleet:
    """The plans a command line names: PLAN arguments or ``--all`` (one of them), and the
    ``--select`` filters (on named plans too). InvalidInputError (exit 2) on a usage error
    (``command`` names the help to see)."""
    named = tuple(refs or ())
    if named and every:
        raise InvalidInputError(f"give PLAN names or --all, not both (see 'rollout {command} -h')")
    if not named and not every:
        raise InvalidInputError(f"missing PLAN... or --all (see 'rollout {command} -h')")
    return Fleet(named, every, plans_dir, parse_selectors(selects or ()))


def plan_files(folder: Path) -> list[Path]:
    """The plan files of ``folder``: its regular .yaml and .yml files, by name; hidden files
    (an editor's ``.swp`` or ``.plan.yaml~``) and subfolders are not plans. InvalidInputError
    when the folder is missing or holds none."""
    try:
        entries = sorted(folder.iterdir())
    except NotADirectoryError:
        raise InvalidInputError(f"plans directory {_shown(folder)} is not a directory") from None
    except FileNotFoundError:
        raise InvalidInputError(
            f"plans directory {_shown(folder)} not found: set --plans-dir or ROLLOUT_PLANS_DIR"
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"plans directory {_shown(folder)} cannot be listed: {exc.strerror or exc}"
        ) from None
    files = [
        path
        for path in entries
        if path.suffix.lower() in PLAN_SUFFIXES and not path.name.startswith(".") and _is_file(path)
    ]
    if not files:
        raise InvalidInputError(f"no plan file (.yaml, .yml) in {_shown(folder)}")
    return files


def _load(ref: str, plans_dir: Path | None) -> LoadedPlan | RolloutError:
    try:
        return load_plan(resolve_plan_path(ref, plans_dir))
    except RolloutError as exc:
        return exc
    except Exception as exc:  # one plan's bug must not hide the others
        return InternalError.of(exc, f"loading plan {ref}")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _shown(folder: Path) -> str:
    text = str(folder)
    return text if len(text) <= 300 and text.isprintable() else quote(text, 80)
