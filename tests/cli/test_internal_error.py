"""An exception nobody expected is a bug: one line and exit 5, never a traceback; with
ROLLOUT_DEBUG=1 the traceback instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rolloutcli.app import evaluate, standing
from rolloutcli.cli.main import app
from rolloutcli.support import redact
from rolloutcli.support.errors import EXIT_INTERNAL

# evaluate binds read_standing when first imported: import it before any test patches that
assert evaluate.read_standing is standing.read_standing


def explode(*args: object, **kwargs: object) -> None:
    raise KeyError("boom\nwith tok-0123456789abcdef in it")


def test_an_unexpected_exception_is_one_line_and_exit_5(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standing, "read_standing", explode)
    monkeypatch.delenv("ROLLOUT_DEBUG", raising=False)
    redact.register("tok-0123456789abcdef")
    result = CliRunner().invoke(app, ["status", "checkout-v2"], env={"COLUMNS": "300"})
    assert EXIT_INTERNAL == 5
    assert result.exit_code == 5
    assert result.output == (
        "error: internal error: KeyError: 'boom\\nwith [redacted] in it' (a bug: please "
        "report it; ROLLOUT_DEBUG=1 shows the traceback)\n"
    )


def test_rollout_debug_shows_the_traceback(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(standing, "read_standing", explode)
    monkeypatch.setenv("ROLLOUT_DEBUG", "1")
    result = CliRunner().invoke(app, ["status", "checkout-v2"])
    assert isinstance(result.exception, KeyError)


def test_exits_and_usage_errors_are_not_bugs(workspace: Path) -> None:
    assert CliRunner().invoke(app, ["status", "no-such-plan"]).exit_code == 2
    assert CliRunner().invoke(app, ["check", "checkout-v2", "--fail-on", "nope"]).exit_code == 2
