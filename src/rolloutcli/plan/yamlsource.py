"""YAML loading that remembers where each key was written, so errors can say file:line.

Whatever bytes a plan path holds, loading ends in data or in a one-line PlanError, within a
bounded time and memory:

* only a regular file is read (never a FIFO, a device such as /dev/zero, or a directory),
  in one read of at most :data:`MAX_PLAN_BYTES`;
* the text must be UTF-8 (a UTF-8 byte-order mark is accepted and dropped); the error names
  the line and column of the first byte that is not;
* nesting is limited to :data:`MAX_DEPTH` levels and the document, with every alias
  expanded, to :data:`MAX_NODES` nodes — counted with memoisation on node identity, so a
  400-byte "billion laughs" document is refused in milliseconds;
* every YAML error (the reader's too), and every value YAML cannot build (an integer of more
  digits than Python converts, an impossible date) names the file and line.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: the reference parser alone

    class CParser:  # type: ignore[no-redef]
        """Never instantiated: _parse_fast checks yaml.__with_libyaml__ first."""


from rolloutcli.support.errors import PlanError
from rolloutcli.support.quoting import looks_like_key

KeyPath = tuple[str | int, ...]

MAX_PLAN_BYTES = 1024 * 1024
"""A plan file is at most 1 MiB (the shipped examples are about 3 KB)."""
MAX_DEPTH = 64
"""Levels of nesting, aliases expanded (a plan uses about 6)."""
MAX_NODES = 20_000
"""Nodes in a document with every alias expanded: keys, values and list items. The largest
shipped example has 181; a document at the limit is parsed in about a second."""

_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class SourcedYaml:
    """Plain data parsed from a YAML file plus the line of every key and list item."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, key_path: KeyPath) -> int:
        """Line of the deepest known prefix of ``key_path`` (1 when nothing matches)."""
        for end in range(len(key_path), -1, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return 1

    def where(self, key_path: KeyPath) -> str:
        return f"{self.path}:{self.line_of(key_path)}"


def format_key_path(key_path: KeyPath) -> str:
    """``('stages', 2, 'percent')`` → ``stages[2].percent``. A key that does not look like a
    key (a line of some other file, a secret) is shown as ``<key>``, never as written."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if looks_like_key(part) else "<key>"
            out += f".{name}" if out else name
    return out or "(top level)"


def load_yaml(path: Path) -> SourcedYaml:
    """Read and parse ``path``; anything wrong becomes a PlanError naming file and line."""
    return parse_yaml(path, decode_strict(path, read_plan_bytes(path)))


# --------------------------------------------------------------------------- reading


def read_plan_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_PLAN_BYTES`, in one bounded read.

    The file is checked before it is opened (opening a FIFO would wait for a writer) and
    again once open (it may have been swapped in between); O_NONBLOCK keeps even that
    second open from waiting."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise PlanError([f"{path}: {_not_a_file(path)}"])
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise PlanError([f"{path}: no such plan file"]) from None
    except (OSError, ValueError) as exc:
        raise PlanError([f"{path}: cannot read the plan ({_reason(exc)})"]) from None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise PlanError([f"{path}: {_not_a_file(path)}"])
            data = handle.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError([f"{path}: cannot read the plan ({_reason(exc)})"]) from None
    if len(data) > MAX_PLAN_BYTES:
        raise PlanError(
            [f"{path}: the plan is larger than {MAX_PLAN_BYTES // 1024} KiB: is this a plan?"]
        )
    return data


def _not_a_file(path: Path) -> str:
    kind = "a directory" if path.is_dir() else "a device, FIFO or socket"
    return f"not a regular file ({kind}): give a plan file"


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return "not a usable path" if isinstance(exc, ValueError) else type(exc).__name__


def decode_strict(path: Path, data: bytes) -> str:
    """UTF-8 text (a UTF-8 byte-order mark dropped); else a PlanError naming where."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for bom, name in _WIDE_BOMS:
        if data.startswith(bom):
            raise PlanError(
                [f"{path}:1: not UTF-8 (a {name.upper()} byte-order mark): save the plan as UTF-8"]
            )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8")) + 1
        raise PlanError(
            [
                f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}): "
                "save the plan as UTF-8"
            ]
        ) from None


def decode_lenient(data: bytes) -> tuple[str, bool]:
    """Text however the bytes are encoded, and whether anything had to be replaced (for
    the kill path, which needs two sections and must not fail on a stray byte elsewhere)."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    codec = next((name for bom, name in _WIDE_BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(codec), False
    except UnicodeDecodeError:
        return data.decode(codec, errors="replace"), True


# --------------------------------------------------------------------------- parsing


class _Refused(Exception):
    """A document past one of the limits, with the line where that became clear."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Bounds(Composer):
    """A composer that stops past :data:`MAX_DEPTH` levels or :data:`MAX_NODES` nodes,
    before PyYAML's recursive composer can exhaust the stack or the clock."""

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        self._nodes += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(self._next_line(), _too_deep())
            if self._nodes > MAX_NODES:
                raise _Refused(self._next_line(), _too_big())
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _next_line(self) -> int:
        event = self.peek_event()  # type: ignore[attr-defined]  # the parser's (class order)
        mark = getattr(event, "start_mark", None)
        return mark.line + 1 if mark is not None else 1


class _BoundedLoader(_Bounds, yaml.SafeLoader):
    """SafeLoader within the bounds: the reference, whose errors the messages quote."""


class _FastLoader(_Bounds, CParser, SafeConstructor, Resolver):
    """The same composer, constructor and resolver over libyaml's scanner and parser, about
    10x faster on a plan (``check --all`` loads hundreds); used only for a document it
    reads without any error (errors come from :class:`_BoundedLoader`, word for word)."""

    def __init__(self, stream: str) -> None:
        CParser.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep (aliases expanded): is this a plan?"


def _too_big() -> str:
    return f"more than {MAX_NODES} values (aliases expanded): is this a plan?"


def parse_yaml(path: Path, text: str) -> SourcedYaml:
    """Parse ``text`` (read from ``path``) within the limits; errors name file and line."""
    fast = _parse_fast(path, text)
    return fast if fast is not None else _parse(path, text)


def _parse_fast(path: Path, text: str) -> SourcedYaml | None:
    """``text`` parsed by libyaml, or None: no libyaml, or any problem at all (the
    reference parser then says what it is)."""
    if not yaml.__with_libyaml__:
        return None
    try:
        loader = _FastLoader(text)
    except Exception:
        return None
    try:
        node = loader.get_single_node()
        result = SourcedYaml(path=path, data=None)
        if node is not None:
            _measure(node)
            result.data = _build(loader, node, (), result.lines, path)
        return result
    except Exception:
        return None
    finally:
        loader.dispose()


def _parse(path: Path, text: str) -> SourcedYaml:
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:
        raise PlanError([_reader_problem(path, text, exc)]) from None
    try:
        node = loader.get_single_node()
        result = SourcedYaml(path=path, data=None)
        if node is not None:
            _measure(node)
            result.data = _build(loader, node, (), result.lines, path)
        return result
    except _Refused as exc:
        raise PlanError([f"{path}:{exc.line}: {exc.message}"]) from None
    except yaml.MarkedYAMLError as exc:
        raise PlanError([_syntax_problem(path, exc)]) from None
    except yaml.reader.ReaderError as exc:
        raise PlanError([_reader_problem(path, text, exc)]) from None
    except yaml.YAMLError:
        raise PlanError([f"{path}:1: YAML syntax: not a YAML document"]) from None
    except RecursionError:  # the limits above should make this unreachable
        raise PlanError([f"{path}:1: {_too_deep()}"]) from None
    finally:
        loader.dispose()


def _syntax_problem(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    problem = exc.problem or exc.context or "invalid YAML"
    if problem == "second occurrence" and exc.context:  # PyYAML's duplicate anchor
        first = exc.context_mark.line + 1 if exc.context_mark else "?"
        anchor = exc.context.split(";")[0].removeprefix("found ")
        problem = f"{anchor} (first at line {first})"
    return f"{path}:{line}: YAML syntax: {_one_line(problem)}"


def _reader_problem(path: Path, text: str, exc: yaml.reader.ReaderError) -> str:
    line = text.count("\n", 0, max(exc.position, 0)) + 1
    code = exc.character if isinstance(exc.character, int) else 0
    return (
        f"{path}:{line}: YAML syntax: character U+{code:04X} is not allowed in YAML "
        "(a control character: is this a text file?)"
    )


def _one_line(problem: str, limit: int = 120) -> str:
    """PyYAML's problem text, on one line and short (it may quote a tag or an anchor)."""
    flat = " ".join(problem.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node) -> None:
    """Refuse a document whose expansion (every alias copied out) passes the node or depth
    limit, or that contains itself. Iterative and memoised on node identity: the cost is
    the size of the document as written, not as expanded."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            depth[key] = 1 + max((depth[id(child)] for child in children), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_NODES:
                raise _Refused(node.start_mark.line + 1, _too_big())
            if depth[key] > MAX_DEPTH:
                raise _Refused(node.start_mark.line + 1, _too_deep())
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise _Refused(node.start_mark.line + 1, "an alias refers to a value containing it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _build(
    loader: Any, node: yaml.Node, here: KeyPath, lines: dict[KeyPath, int], source: Path
) -> Any:
    lines.setdefault(here, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node, here, source)
            if not isinstance(key, str | int):
                key = str(key)
            if key in out:
                line = key_node.start_mark.line + 1
                where = format_key_path((*here, key))
                raise PlanError([f"{source}:{line}: {where}: duplicate key"])
            child = (*here, key)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, child, lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = (*here, index)
            lines[child] = item.start_mark.line + 1
            items.append(_build(loader, item, child, lines, source))
        return items
    return _construct(loader, node, here, source)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, here: KeyPath, source: Path) -> Any:
    """A scalar (or a complex key) as YAML builds it; a value Python cannot build is a plan
    error at its line instead of a traceback."""
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        line = node.start_mark.line + 1
        if node.tag == _INT_TAG:
            problem = "an integer with too many digits"
        elif node.tag == _TIMESTAMP_TAG:
            problem = "not a valid date or time"
        else:
            problem = f"a value YAML cannot build ({node.tag.rsplit(':', 1)[-1][:40]})"
        raise PlanError([f"{source}:{line}: {format_key_path(here)}: {problem}"]) from None


# --------------------------------------------------------------------------- sections

_TOP_LEVEL_KEY = re.compile(
    r"""^(?:"([^"\\]*)"|'([^']*)'|([A-Za-z_][\w.-]*))[ \t]*:(?:[ \t\r]|$)"""
)


def keep_top_level(text: str, keys: Collection[str]) -> str | None:
    """``text`` with every line blanked except the top-level blocks of ``keys`` — from a
    line ``key:`` at the first column to the next line that starts another top-level entry
    — so the lines keep their numbers. None when no such block exists.

    This is how the kill path reads a plan that does not parse: a syntax error, a stray
    byte or a bomb anywhere else costs nothing."""
    kept: list[str] = []
    keeping = found = False
    for line in text.split("\n"):
        if line[:1] not in ("", " ", "\t", "\r", "#"):
            match = _TOP_LEVEL_KEY.match(line)
            name = next((g for g in match.groups() if g is not None), None) if match else None
            keeping = name in keys
            found = found or keeping
        kept.append(line if keeping else "")
    # trailing blank lines cost the scanner time and carry no line number worth keeping
    return "\n".join(kept).rstrip("\r\n") + "\n" if found else None
