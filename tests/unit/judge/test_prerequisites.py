"""requires: judged (issue 21): a prerequisite flag as read against its share, the verdict
holding the start and every advance on it but never a rollback, and the platform's own
prerequisites in words (pure)."""

from __future__ import annotations

from rolloutcli.judge.flagstate import FlagShare, PlatformPrerequisite
from rolloutcli.judge.position import locate
from rolloutcli.judge.prerequisites import (
    check_prerequisites,
    is_met,
    platform_prerequisite_text,
    share_text,
    unmet,
)
from rolloutcli.judge.verdict import VerdictKind, decide
from tests.unit.judge.test_sequential_verdict import (
    NOW,
    exposures_of,
    healthy_at,
    make_plan,
    rate_series,
    ratio_observation,
    state,
)

REQUIRES = [{"flag": "core", "at_least": "50%"}, {"flag": "gate"}]


def at(percent: float, on: bool = True, flag: str = "core") -> FlagShare:
    return FlagShare(flag, True, True, on=on, percent=percent)


def test_a_share_in_words() -> None:
    assert share_text(at(50)) == "is at 50%"
    assert share_text(at(100, on=False)) == "is off"
    assert share_text(FlagShare("m", "v2", True, on=True, percent=12.5)) == "serves 'v2' to 12.5%"
    assert share_text(FlagShare("x", True, False, problem="no flag 'x'")) == (
        "cannot be read (no flag 'x')"
    )


def test_met_needs_the_flag_on_at_or_above_its_share() -> None:
    assert is_met(at(50), 50) is True
    assert is_met(at(49.999), 50) is False
    assert is_met(at(100, on=False), 50) is False
    assert is_met(FlagShare("x", True, True, on=True, percent=100, problem="odd"), 1) is False


def test_each_requirement_against_its_flag_and_an_unread_one_is_unmet() -> None:
    plan = make_plan(requires=REQUIRES)
    checks = check_prerequisites(plan, {"core": at(60)})
    assert [(c.flag, c.met, c.state, c.needs) for c in checks] == [
        ("core", True, "is at 60%", "at least 50%"),
        ("gate", False, "cannot be read (not read)", "at least 100%"),
    ]
    assert [c.flag for c in unmet(checks)] == ["gate"]
    assert check_prerequisites(make_plan(), {}) == ()


def test_another_variation_is_named_in_what_is_needed() -> None:
    plan = make_plan(requires=[{"flag": "model", "variation": "v2", "at_least": 25}])
    (check,) = check_prerequisites(plan, {"model": FlagShare("model", "v2", True, True, 10.0)})
    assert (check.met, check.needs, check.state) == (
        False,
        "at least 25% serving 'v2'",
        "serves 'v2' to 10%",
    )


def test_an_unmet_prerequisite_holds_a_healthy_advance() -> None:
    plan = make_plan(requires=REQUIRES)
    obs, exposures = healthy_at(10)
    s = state(10)
    checks = check_prerequisites(plan, {"core": at(30), "gate": at(100)})
    found = decide(plan, s, locate(plan, s), obs, exposures, NOW, prerequisites=checks)
    assert found.kind is VerdictKind.HOLD
    assert [(r.code.value, r.name, r.detail, r.requirement) for r in found.reasons] == [
        ("prerequisite_unmet", "core", "is at 30%", "at least 50%")
    ]
    met = check_prerequisites(plan, {"core": at(50), "gate": at(100)})
    assert decide(plan, s, locate(plan, s), obs, exposures, NOW, prerequisites=met).kind is (
        VerdictKind.GO
    )


def test_the_first_start_waits_for_its_prerequisites() -> None:
    plan = make_plan(requires=REQUIRES)
    s = state(0)
    checks = check_prerequisites(plan, {"core": at(100, on=False), "gate": at(100)})
    found = decide(plan, s, locate(plan, s), {}, None, NOW, prerequisites=checks)
    assert found.kind is VerdictKind.HOLD
    assert [r.code.value for r in found.reasons] == ["prerequisite_unmet", "not_started"]


def test_a_rollback_tier_never_waits_for_a_prerequisite() -> None:
    plan = make_plan(requires=REQUIRES)
    series = rate_series(7, 120, 20_000, 0.10, 0.03, 0.01)
    obs = {"error_rate": ratio_observation("error_rate", series)}
    s = state(10)
    checks = check_prerequisites(plan, {})
    found = decide(plan, s, locate(plan, s), obs, exposures_of(series), NOW, prerequisites=checks)
    assert found.kind is VerdictKind.ROLLBACK


def test_the_last_stage_is_done_whatever_its_prerequisites() -> None:
    plan = make_plan(requires=REQUIRES)
    obs, exposures = healthy_at(100)
    s = state(100)
    checks = check_prerequisites(plan, {})
    found = decide(plan, s, locate(plan, s), obs, exposures, NOW, prerequisites=checks)
    assert (found.kind, [r.code.value for r in found.reasons]) == (VerdictKind.DONE, ["complete"])


def test_the_platforms_own_prerequisites_in_words() -> None:
    def item(share: FlagShare, variation: object = True, variants: tuple[str, ...] = ()) -> str:
        met, sentence = platform_prerequisite_text(
            PlatformPrerequisite(share.flag, variation, share, variants)
        )
        return f"{'met' if met else 'unmet'}: {sentence}"

    assert item(at(100, on=False)) == (
        "unmet: core must be on: it is off, so the platform serves this flag's off variation "
        "to everyone"
    )
    assert item(at(40)) == (
        "unmet: core must be on: it does for 40%, so the platform serves the rest this flag's "
        "off variation"
    )
    assert item(at(100)) == "met: core must be on: it does for 100%"
    assert item(FlagShare("core", "gold", True, on=True, percent=100), "gold") == (
        "met: core must serve 'gold': it does for 100%"
    )
    assert item(at(100), variants=("a", "b")) == (
        "met: core must be enabled with variant a or b: it does for 100%"
    )
    assert item(at(0, on=False), False) == "met: core must be disabled: it is off"
    assert item(at(20), False) == (
        "unmet: core must be disabled: it is at 20%, so the platform serves those users this "
        "flag's off variation"
    )
    assert item(FlagShare("core", True, False, problem="no flag 'core'")) == (
        "unmet: core must be on: it cannot be read (no flag 'core')"
    )
