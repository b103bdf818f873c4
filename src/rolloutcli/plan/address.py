"""Just enough of a plan to reach its flag: what `rollout kill` reads, and nothing more.

Kill must work when everything else is broken: a plan that does not validate or parse, a
stray byte, a metrics backend that is down. So it reads only ``flag:`` and ``platform:``,
and without pydantic (the platform specs are plain dataclasses checked from their own
declarations), which keeps it fast on a loaded runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rolloutcli.plan.platform_specs import AnyPlatformSpec, read_platform
from rolloutcli.plan.yamlsource import (
    KeyPath,
    SourcedYaml,
    decode_lenient,
    format_key_path,
    keep_top_level,
    parse_yaml,
    read_plan_bytes,
)
from rolloutcli.support.errors import PlanError

MAX_KEY = 256
"""A flag key's longest, as the plan model allows."""


@dataclass(frozen=True)
class FlagAddress:
    """Where the flag is: its key and its platform."""

    flag: str
    platform: AnyPlatformSpec


ADDRESS_KEYS = ("flag", "platform")


def load_flag_address(path: Path) -> tuple[str, FlagAddress, Path]:
    """Read only ``flag`` and ``platform`` from a plan, as tolerantly as it can be done: kill
    must work on a plan that does not validate, does not parse, or holds a stray byte.

    Only the top-level ``flag:`` and ``platform:`` blocks are parsed, their lines kept: a
    syntax error, a bomb, a control character or a duplicate key anywhere else costs
    nothing, and neither does a long plan. When those blocks alone do not tell (an alias
    to an anchor elsewhere, a plan written as one flow mapping), the whole file is parsed,
    within the limits load_plan has. Bytes that are not UTF-8 are replaced, and refused
    only inside those two blocks."""
    text, lossy = decode_lenient(read_plan_bytes(path))
    source = _sections(path, text)
    if not isinstance(source.data, dict):
        raise PlanError([f"{path}:1: a plan is a YAML mapping (flag:, platform:, stages: ...)"])
    address = _address(source)
    if lossy and "\ufffd" in repr(address):
        key = "flag" if "\ufffd" in address.flag else "platform"
        where = source.where((key,))
        raise PlanError([f"{where}: {key}: holds bytes that are not UTF-8: save the plan as UTF-8"])
    return path.stem, address, path.parent


def _sections(path: Path, text: str) -> SourcedYaml:
    """The address blocks parsed on their own, else the whole file (the blocks' own error
    when neither parses: it names the line kill needs fixed)."""
    sections = keep_top_level(text, ADDRESS_KEYS)
    if sections is None:
        return parse_yaml(path, text)
    try:
        source = parse_yaml(path, sections)
    except PlanError as exc:
        try:
            return parse_yaml(path, text)
        except PlanError:
            raise exc from None
    data = source.data
    if isinstance(data, dict) and all(key in data for key in ADDRESS_KEYS):
        return source
    try:
        return parse_yaml(path, text)
    except PlanError:
        return source  # the blocks' answer: the missing key is named below


def _address(source: SourcedYaml) -> FlagAddress:
    """``flag`` and ``platform``, checked as the plan model checks them; the first problem
    (and how many more) as one line."""
    data = source.data
    problems: list[tuple[KeyPath, str]] = []
    flag = data.get("flag")
    if "flag" not in data:
        problems.append((("flag",), "missing (required)"))
    elif not isinstance(flag, str):
        problems.append((("flag",), "Input should be a valid string"))
    elif len(flag) > MAX_KEY:
        problems.append((("flag",), f"at most {MAX_KEY} characters"))
    if "platform" not in data:
        problems.append((("platform",), "missing (required)"))
        spec = None
    else:
        spec, found = read_platform(data["platform"])
        if spec is not None:
            found = spec.address_problems()
        problems.extend(found)
    if problems or spec is None or not isinstance(flag, str):
        lines = [f"{source.where(p)}: {format_key_path(p)}: {m}" for p, m in problems]
        more = f" (and {len(lines) - 1} more problems)" if len(lines) > 1 else ""
        raise PlanError([lines[0] + more])
    return FlagAddress(flag, spec)


def flag_key_hint(path: Path) -> str | None:
    """The flag key written on the plan's top-level ``flag:`` line, read from that block
    alone (a millisecond, whatever the rest of the file holds); None when that does not
    tell (no such line, an alias, a value that is not a string). For scanning a folder:
    only a plan whose hint matches, or gives none, needs :func:`load_flag_address`.
    Raises PlanError when the file cannot be read at all."""
    text, _ = decode_lenient(read_plan_bytes(path))
    block = keep_top_level(text, ("flag",))
    if block is None:
        return None
    try:
        data = parse_yaml(path, block).data
    except PlanError:
        return None
    flag = data.get("flag") if isinstance(data, dict) else None
    return flag if isinstance(flag, str) else None
