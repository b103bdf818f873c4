"""`rollout watch --auto --once` on a guardrail whose pause tier tunes a knob (issue 21):
the false-positive rate of a model rises in the 25% stage; the pause tier raises the
model's confidence threshold (knob ``min_confidence``, 0.7 -> 0.8) once. In one history
the rate falls back and, once the stage's evidence has run its window again from the knob
change, the rollout continues; in the other it stays high and the model is rolled back.
On the embedded default (flag file + metrics file), as in tests/watch_world.py."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from rolloutcli.journal.store import read
from rolloutcli.platforms.flagfile import FlagFilePlatform
from rolloutcli.support.timeutil import format_timestamp
from tests import watch_world
from tests.cli.test_watch_auto import T0, FileWorld, changes, run
from tests.integration.cli_helpers import invoke
from tests.integration.webhook_receiver import WebhookReceiver

KNOB_FLAG = "min-confidence"
HIGH_RATE = 0.022  # past the pause tier (+50% on 1%), below the rollback tier (3x)

GUARDRAIL = """guardrails:
  - name: false_positive_rate
    kind: ratio
    events: errors
    trials: requests
    direction: higher_is_worse
    thresholds: {pause: "+50%", rollback: "3x"}
    on_pause: {knob: min_confidence, to: [0.8], then: rollback}
knobs:
  - {name: min_confidence, flag: min-confidence, values: [0.7, 0.8, 0.9]}
"""


class KnobWorld(FileWorld):
    """The ``pause`` world's plan with a knob tier; the treatment's false-positive rate is
    2.2% from +40m while the threshold is 0.7, and after it is raised either 1% again
    (``falls``) or still 2.2%."""

    def __init__(self, root: Path, falls: bool, hook: str = "") -> None:
        super().__init__(root, "pause", hook=hook)
        self.falls = falls
        doc = json.loads(self.flags.read_text())
        doc["flags"][KNOB_FLAG] = {
            "state": "ENABLED",
            "variants": {"low": 0.7, "mid": 0.8, "high": 0.9},
            "defaultVariant": "low",
        }
        self.flags.write_text(json.dumps(doc))
        text = self.plan.read_text()
        start = text.index("guardrails:\n")
        end = text.index("automation:\n")
        self.plan.write_text(text[:start] + GUARDRAIL + text[end:])
        self.knob = FlagFilePlatform(self.flags, KNOB_FLAG)

    def threshold(self) -> object:
        return self.knob.read_knob(KNOB_FLAG).value

    def advance_to(self, minute: int) -> None:
        percent, raised = self.percent(), self.threshold() != 0.7
        rows = []
        for m in range(self.written_to, minute):
            rate = HIGH_RATE if m >= 40 and not (raised and self.falls) else 0.01
            treated = round(watch_world.PER_MINUTE * percent / 100)
            control = watch_world.PER_MINUTE - treated
            at = format_timestamp(T0 + timedelta(minutes=m))
            for cohort, n, p in (("treatment", treated, rate), ("control", control, 0.01)):
                rows.append(f"{at},{cohort},requests,{n}\n")
                rows.append(f"{at},{cohort},errors,{int(self.rng.binomial(n, p))}\n")
        with self.csv.open("a") as out:
            out.writelines(rows)
        self.written_to = minute


def test_the_knob_is_raised_once_the_rate_falls_and_the_rollout_continues(
    tmp_path: Path,
) -> None:
    with WebhookReceiver() as receiver:
        hook = f"notifications:\n  webhooks:\n    - {{url: {receiver.url_for('/events')}}}\n"
        world = KnobWorld(tmp_path, falls=True, hook=hook)
        timeline = run(world, 50)
        [received] = receiver.wait_for(1)
    event = received.json()
    assert (event["kind"], event["percent_before"], event["percent_after"]) == ("knob", 25, 25)
    assert event["reasons"][0].startswith("raise min_confidence 0.7 -> 0.8: pause verdict")
    # the breach at +50 raised the threshold instead of pausing
    assert changes(timeline) == [(0, 5), (30, 25)]
    assert not any(paused for _, _, paused, _ in timeline)
    reading = world.knob.read_knob(KNOB_FLAG)
    assert (reading.value, reading.since) == (0.8, T0 + timedelta(minutes=50))
    assert json.loads(world.flags.read_text())["flags"][KNOB_FLAG]["defaultVariant"] == "mid"
    log = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    knob = log[-1]
    assert (knob["event"], knob["result"]) == ("knob", "applied")
    assert knob["knob"] == {
        "name": "min_confidence",
        "flag": KNOB_FLAG,
        "from": 0.7,
        "to": 0.8,
        "guardrail": "false_positive_rate",
        "tier": "pause",
        "threshold": "pause +50%",
    }
    assert knob["decision"]["action"] == "knob"
    assert knob["verdict"]["verdict"] == "pause"
    # the stage's evidence starts again at +50: it holds 30 minutes, then continues
    for minute in (60, 70):
        code, output = world.round(minute)
        assert code == 0, output
        assert world.percent() == 25
    code, output = world.round(80)
    assert code == 0, output
    assert world.percent() == 50
    history = world.platform.history()
    assert [(h.action, h.at) for h in history] == [
        ("advance", T0),
        ("advance", T0 + timedelta(minutes=30)),
        ("advance", T0 + timedelta(minutes=80)),
    ]
    code, output = invoke("history", str(world.plan))
    assert code == 0, output
    assert "raise min_confidence 0.7 -> 0.8" in " ".join(output.split())


def test_the_rate_stays_high_after_the_raise_and_the_model_is_rolled_back(
    tmp_path: Path,
) -> None:
    world = KnobWorld(tmp_path, falls=False)
    timeline = run(world, 60)
    # +50: the threshold is raised; +60: still breached, the knob at the last value its
    # tier tries: then rollback
    assert changes(timeline) == [(0, 5), (30, 25), (60, 0)]
    assert world.threshold() == 0.8
    log = read(tmp_path / "plans" / ".rollout" / "decisions.jsonl").entries
    assert [(e["event"], e["result"]) for e in log[-2:]] == [
        ("knob", "applied"),
        ("rollback", "applied"),
    ]
    rollback = log[-1]
    assert rollback["verdict"]["verdict"] == "rollback"
    assert rollback["verdict"]["reason_codes"] == ["breach", "knob_used_up"]
    assert rollback["verdict"]["reasons"][1].startswith(
        "min_confidence is at 0.8, the last value its on_pause tries: roll back "
        "(false_positive_rate breached pause +50%)"
    )
