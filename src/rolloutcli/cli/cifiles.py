"""The file side of CI reporting (:mod:`rolloutcli.render.markdown` stays pure): where a plan's
guardrails are written, for annotations, and appending to GitHub's step summary file (scrubbed
of registered secrets once more as it is written: the file outlives the job)."""

from __future__ import annotations

from pathlib import Path

from rolloutcli.plan.model import LoadedPlan
from rolloutcli.plan.yamlsource import load_yaml
from rolloutcli.render.markdown import PlanFile, annotation_path, plan_file
from rolloutcli.support.errors import PlanError
from rolloutcli.support.redact import scrub


def read_plan_file(loaded: LoadedPlan, workspace: Path | None) -> PlanFile:
    """The plan's :class:`PlanFile`, from its YAML read again for the line numbers (the
    validated plan does not keep them). A file that changed into something unreadable since
    it was loaded still gives its path, with no lines."""
    path = annotation_path(loaded.path, workspace, Path.cwd())
    try:
        source = load_yaml(loaded.path)
    except PlanError:
        return PlanFile(path)
    return plan_file(loaded, source, path)


def append_step_summary(path: Path, text: str) -> str | None:
    """Append ``text`` to the step summary file, a blank line apart from what an earlier
    command wrote there. Returns the warning to print when that fails: the summary is an
    extra, and the check itself ran."""
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(_separator(path) + scrub(text))
    except OSError as exc:
        return f"cannot append the summary to $GITHUB_STEP_SUMMARY ({path}): {exc.strerror or exc}"
    return None


def _separator(path: Path) -> str:
    """What makes ``text`` start a new paragraph after what the file already holds."""
    with path.open("rb") as handle:
        if handle.seek(0, 2) == 0:
            return ""
        handle.seek(-1, 2)
        return "\n" if handle.read(1) == b"\n" else "\n\n"
