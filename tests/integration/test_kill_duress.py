"""`rollout kill` under duress: one row per fault, each must end with the flag OFF (read back
from the platform afterwards) and exit 0 — or, only where turning it off is impossible (the
platform never answers in time), with ONE error line and exit 3, the flag untouched.

Every row runs the installed ``rollout`` in a subprocess, as on-call would, against real
things on 127.0.0.1: the example workspace's flagd file, the real Unleash server (marker
``unleash``), the contract-checked LaunchDarkly fake (marker ``launchdarkly``), and for the
rate-limit, server-error and trickle rows a :class:`tests.fault_http.FaultServer` proxy in
front of them that answers the write itself (429 with no ``Retry-After``, 503, a byte a
second) before letting it through.

The plan rows (a YAML error below ``platform:``, an invalid UTF-8 byte, an unrelated
unreadable plan) rely on the tolerant plan reader of killswitch.py / plan.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.fault_http import Fault, fault_server
from tests.integration.launchdarkly_fake import FakeLaunchDarkly
from tests.integration.unleash_server import UnleashServer

pytestmark = pytest.mark.integration

ROLLOUT = str(Path(sys.executable).with_name("rollout"))
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
FLAGS = "flags/flags.json"
ENV = "production"
MARGIN = 6.0  # seconds past a deadline that still count as "gave up at the deadline"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        """stderr's lines that are neither a warning nor a note (a webhook not set)."""
        quiet = ("warning:", "note:")
        return [line for line in self.stderr.splitlines() if not line.startswith(quiet)]


def rollout(cwd: Path, *args: str, **env: str) -> Run:
    environ = {k: v for k, v in os.environ.items() if k not in PROXIES}
    environ.update(env)
    began = time.monotonic()
    done = subprocess.run(
        [ROLLOUT, "kill", *args, "--yes"],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - began)
    assert "Traceback" not in run.output, run.output
    return run


def assert_off(run: Run) -> None:
    assert run.code == 0, run.output
    assert [line for line in run.stdout.splitlines() if " is OFF" in line], run.output
    assert run.error_lines() == [], run.output


def assert_refused_in_time(run: Run, deadline: float, *words: str) -> None:
    """Exit 3 with one error line naming the deadline, within the deadline (and a margin)."""
    assert run.code == 3, run.output
    [line] = run.error_lines()
    assert line.startswith("error: "), line
    for word in words:
        assert word in line, line
    assert run.seconds < deadline + MARGIN, run.seconds


# ---------------------------------------------------------------------- the flag file rows


def flag_state(path: Path, flag: str) -> str:
    state: str = json.loads(path.read_text())["flags"][flag]["state"]
    return state


def add_flag(root: Path, key: str) -> None:
    path = root / FLAGS
    doc = json.loads(path.read_text())
    doc["flags"][key] = {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    }
    path.write_text(json.dumps(doc))


def broken_below_platform(root: Path) -> list[str]:
    plan = root / "plans" / "checkout-v2.yaml"
    text = plan.read_text()
    cut = text.index("variations:")
    plan.write_text(text[:cut] + "variations: {treatment: true\nstages: [ {percent: : 1\n")
    return ["checkout-v2"]


def invalid_utf8(root: Path) -> list[str]:
    plan = root / "plans" / "checkout-v2.yaml"
    plan.write_bytes(plan.read_bytes() + b"\n# caf\xe9 \xff\xfe the last edit\n")
    return ["checkout-v2"]


def unrelated_unreadable_plans(root: Path) -> list[str]:
    plans = root / "plans"
    (plans / "recommender-model.yaml").rename(plans / "reco.yaml")  # found by its flag key
    (plans / "aaa-binary.yaml").write_bytes(b"\xff\xfe\x00\x01flag: [\x80\x81")
    (plans / "bbb-syntax.yaml").write_text("flag: other\nplatform: {kind: flagfile\n  - :\n")
    (plans / "ccc-folder.yaml").mkdir()
    (plans / "ddd-bomb.yaml").write_text(
        'a: &a ["x","x","x","x","x","x","x"]\n'
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
            f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
            for i in range(9)
        )
    )
    return ["recommender-model"]


def markup_key(root: Path) -> list[str]:
    add_flag(root, "chk[/]")
    return ["chk[/]", "--flag-file", FLAGS]


def markup_everywhere(root: Path) -> list[str]:
    add_flag(root, "[bold]x")
    flag = ["--flag", "[bold]x", "--flag-file", FLAGS]
    return ["--platform", "flagfile", *flag, "--environment", "[red]prod[/]"]


def emoji_code(root: Path) -> list[str]:
    add_flag(root, ":100:")
    return [":100:", "--flag-file", FLAGS, "--environment", ":fire:"]


def symlinked_flag_file(root: Path) -> list[str]:
    (root / "real").mkdir()
    (root / FLAGS).rename(root / "real" / "flags.json")
    (root / FLAGS).symlink_to(root / "real" / "flags.json")
    return ["checkout-v2"]


def records_symlink(root: Path) -> list[str]:
    (root / "plans" / ".rollout").mkdir()
    (root / "elsewhere.jsonl").write_text("")
    (root / "plans" / ".rollout" / "decisions.jsonl").symlink_to(root / "elsewhere.jsonl")
    return ["checkout-v2"]


def plan_less_flag_file(root: Path) -> list[str]:
    return ["search-ranking", "--flag-file", FLAGS]


def plan_less_platform_flagfile(root: Path) -> list[str]:
    flags = ["--flag", "search-ranking", "--flag-file", FLAGS]
    return ["--platform", "flagfile", "--environment", ENV, *flags]


@dataclass(frozen=True)
class FileCase:
    prepare: Callable[[Path], list[str]]
    flag: str
    says: tuple[str, ...] = ()
    never: tuple[str, ...] = ()
    warns: str | None = None


FILE_CASES = {
    "yaml error below platform": FileCase(broken_below_platform, "checkout-v2"),
    "invalid UTF-8 byte in the plan": FileCase(invalid_utf8, "checkout-v2"),
    "unrelated unreadable plans, kill by flag key": FileCase(
        unrelated_unreadable_plans, "recommender-model"
    ),
    "markup in the flag key": FileCase(
        markup_key, "chk[/]", says=("flag chk[/] is OFF (flagd file flags/flags.json; ",)
    ),
    "markup in key and environment": FileCase(
        markup_everywhere,
        "[bold]x",
        says=("flag [bold]x is OFF in [red]prod[/] (flagd file flags/flags.json; ",),
    ),
    "emoji codes": FileCase(
        emoji_code, ":100:", says=("flag :100: is OFF in :fire: (",), never=("💯", "🔥")
    ),
    "symlinked flag file": FileCase(symlinked_flag_file, "checkout-v2"),
    "records path is a symlink": FileCase(
        records_symlink,
        "checkout-v2",
        warns="is a symbolic link: refusing to write through it",
    ),
    "plan-less --flag-file": FileCase(
        plan_less_flag_file,
        "search-ranking",
        says=("flag search-ranking is OFF (flagd file flags/flags.json; 0.",),
        never=("local",),
    ),
    "plan-less --platform flagfile": FileCase(
        plan_less_platform_flagfile,
        "search-ranking",
        says=("flag search-ranking is OFF in production (flagd file flags/flags.json; ",),
    ),
}


@pytest.mark.parametrize("case", FILE_CASES.values(), ids=list(FILE_CASES))
def test_a_flag_file_kill_lands_under_duress(workspace: Path, case: FileCase) -> None:
    args = case.prepare(workspace)
    run = rollout(workspace, *args)
    assert run.code == 0, run.output
    assert flag_state(workspace / FLAGS, case.flag) == "DISABLED"
    assert [line for line in run.stdout.splitlines() if " is OFF" in line], run.output
    for words in case.says:
        assert words in run.stdout, run.output
    for words in case.never:
        assert words not in run.output, run.output
    if case.warns is None:
        assert run.error_lines() == [], run.output  # warnings (a webhook not set) allowed
    else:
        assert case.warns in run.stderr, run.output
        assert run.error_lines() == [], run.output


def test_the_symlinked_flag_file_stays_a_link_and_its_target_is_off(workspace: Path) -> None:
    symlinked_flag_file(workspace)
    assert_off(rollout(workspace, "checkout-v2"))
    link = workspace / FLAGS
    assert link.is_symlink() and link.resolve() == workspace / "real" / "flags.json"
    assert flag_state(workspace / "real" / "flags.json", "checkout-v2") == "DISABLED"
    assert sorted(p.name for p in (workspace / "flags").iterdir()) == ["flags.json"]


def test_a_linked_records_file_is_left_alone(workspace: Path) -> None:
    records_symlink(workspace)
    run = rollout(workspace, "checkout-v2")
    assert_off(run)
    assert (workspace / "elsewhere.jsonl").read_text() == ""
    assert (workspace / "plans" / ".rollout" / "decisions.jsonl").is_symlink()


# ---------------------------------------------------------------------- HTTP platforms


@dataclass
class Platform:
    """A flag that is ON on a real (or contract-checked fake) platform, and how to kill it."""

    kind: str
    url: str
    flag: str
    write: tuple[str, str]  # method and path pattern of the kill's write
    is_on: Callable[[], bool]
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def unleash_flag(server: UnleashServer) -> Platform:
    flag = f"duress-{uuid.uuid4().hex[:10]}"
    with httpx.Client(
        base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
    ) as api:
        made = api.post("/api/admin/projects/default/features", json={"name": flag})
        assert made.status_code == 201, made.text
        on = api.post(f"/api/admin/projects/default/features/{flag}/environments/{ENV}/on")
        assert on.status_code == 200, on.text

    def is_on() -> bool:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": server.admin_token}, timeout=10.0
        ) as api:
            body = api.get(f"/api/admin/projects/default/features/{flag}").json()
        return bool(next(e for e in body["environments"] if e["name"] == ENV)["enabled"])

    assert is_on()
    return Platform(
        "unleash",
        server.url,
        flag,
        ("POST", r"/environments/production/off$"),
        is_on,
        env={"UNLEASH_API_TOKEN": server.admin_token},
    )


def launchdarkly_flag(fake: FakeLaunchDarkly) -> Platform:
    flag = f"duress-{uuid.uuid4().hex[:10]}"
    fake.add_flag("default", flag, [True, False], on=True)

    def is_on() -> bool:
        return bool(fake.flag("default", flag)["environments"][ENV]["on"])

    return Platform(
        "launchdarkly",
        fake.url,
        flag,
        ("PATCH", r"^/api/v2/flags/"),
        is_on,
        args=["--project", "default"],
        env={"LD_API_TOKEN": fake.api_token},
    )


@pytest.fixture
def ld() -> Iterator[FakeLaunchDarkly]:
    with FakeLaunchDarkly() as fake:
        yield fake
        fake.assert_clean()


@pytest.fixture
def platform(request: pytest.FixtureRequest, kind: str) -> Platform:
    if kind == "unleash":
        return unleash_flag(request.getfixturevalue("unleash_server"))
    return launchdarkly_flag(request.getfixturevalue("ld"))


def kill_via(root: Path, target: Platform, url: str, *extra: str) -> Run:
    return rollout(
        root,
        "--platform",
        target.kind,
        "--flag",
        target.flag,
        "--environment",
        ENV,
        "--url",
        url,
        *target.args,
        *extra,
        **target.env,
    )


KINDS = [
    pytest.param("unleash", marks=pytest.mark.unleash),
    pytest.param("launchdarkly", marks=pytest.mark.launchdarkly),
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_plan_less_kill_needs_no_plan(tmp_path: Path, platform: Platform) -> None:
    """No plans folder at all: the address on the command line is enough."""
    run = kill_via(tmp_path, platform, platform.url)
    assert_off(run)
    assert not platform.is_on()
    assert f"flag {platform.flag} is OFF in production (" in run.stdout


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "headers"),
    [(429, {}), (503, {}), (429, {"Retry-After": "1"})],
    ids=["429 without Retry-After", "503", "429 asking to wait 1 s"],
)
def test_rate_limits_and_server_errors_twice_then_ok(
    tmp_path: Path, platform: Platform, status: int, headers: dict[str, str]
) -> None:
    method, path = platform.write
    with fault_server(platform.url) as proxy:
        proxy.add(
            Fault("status", status=status, headers=headers, method=method, path=path, times=2)
        )
        run = kill_via(tmp_path, platform, proxy.url)
        seen = proxy.requests(method, path)
    assert seen[:2] == [f"fault {status}"] * 2, seen
    assert len(seen) == 3 and seen[2].startswith("upstream 2"), seen
    assert_off(run)
    assert not platform.is_on()
    assert f"(2 got HTTP {status})" in run.stdout, run.stdout


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", ["trickle_body", "trickle_headers", "silent"])
def test_a_platform_that_never_answers_in_time_is_exit_3_at_the_deadline(
    tmp_path: Path, platform: Platform, fault: str
) -> None:
    """Impossible to turn off: the write's answer never arrives. Exit 3 at the deadline,
    saying so in one line; the flag was never touched (the proxy held the write back)."""
    method, path = platform.write
    with fault_server(platform.url) as proxy:
        proxy.add(Fault(fault, method=method, path=path, times=100))  # type: ignore[arg-type]
        run = kill_via(tmp_path, platform, proxy.url, "--deadline", "3s")
    assert_refused_in_time(
        run, 3.0, "within the 3 s deadline", "nothing was confirmed", "kill tried for"
    )
    assert platform.is_on()


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_that_never_answers_still_leaves_the_write_its_time(
    tmp_path: Path, platform: Platform
) -> None:
    """The kill reads the flag before writing: a read that hangs takes at most half the
    deadline, and the write still goes through."""
    with fault_server(platform.url) as proxy:
        proxy.add(Fault("silent", method="GET", times=100))
        run = kill_via(tmp_path, platform, proxy.url, "--deadline", "4s")
        writes = proxy.requests(*platform.write)
    assert_off(run)
    assert not platform.is_on()
    assert len(writes) == 1 and writes[0].startswith("upstream 2"), writes
    assert "1 cut off at the deadline" in run.stdout, run.stdout
    assert run.seconds < 4.0 + MARGIN


@pytest.mark.launchdarkly
def test_a_server_that_never_answers_anything(tmp_path: Path, ld: FakeLaunchDarkly) -> None:
    target = launchdarkly_flag(ld)
    with fault_server(ld.url) as proxy:
        proxy.add(Fault("silent", times=100))
        run = kill_via(tmp_path, target, proxy.url, "--deadline", "2s")
    assert_refused_in_time(run, 2.0, "within the 2 s deadline")
    assert target.is_on()


def test_an_unreachable_platform_is_one_line_and_exit_3(tmp_path: Path) -> None:
    run = rollout(
        tmp_path,
        "--platform",
        "unleash",
        "--flag",
        "f",
        "--environment",
        ENV,
        "--url",
        "http://127.0.0.1:9",
        "--deadline",
        "3s",
        UNLEASH_API_TOKEN="token",
    )
    assert_refused_in_time(run, 3.0, "cannot reach http://127.0.0.1:9", "kill tried for")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--platform", "unleash", "--flag", "f"], "--environment is required"),
        (["--platform", "launchdarkly", "--flag", "f", "--environment", ENV], "--project"),
        (["--platform", "flagfile", "--flag", "f"], "--platform flagfile needs --flag-file"),
        (["--platform", "flipt", "--flag", "f"], "is not a platform"),
        (["checkout-v2", "--environment", "staging"], "--environment names a flag with no"),
        (["a", "--flag", "b", "--flag-file", FLAGS], "the flag is named twice"),
        (["checkout-v2", "--deadline", "soon"], "--deadline='soon'"),
        ([], "kill needs a PLAN_OR_FLAG"),
    ],
)
def test_an_incomplete_address_is_exit_2_naming_what_to_add(
    workspace: Path, args: list[str], message: str
) -> None:
    run = rollout(workspace, *args, UNLEASH_API_TOKEN="t", UNLEASH_URL="http://127.0.0.1:9")
    assert run.code == 2, run.output
    [line] = run.error_lines()
    assert message in line, line
    assert flag_state(workspace / FLAGS, "checkout-v2") == "ENABLED"
