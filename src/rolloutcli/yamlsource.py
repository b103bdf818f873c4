"""YAML loading that remembers where each key was written, so errors can say file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import PlanError

KeyPath = tuple[str | int, ...]


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
    """``('stages', 2, 'percent')`` → ``stages[2].percent``."""
    out = ""
    for part in key_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_yaml(path: Path) -> SourcedYaml:
    """Read and parse ``path``; a syntax error becomes a PlanError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError([f"{path}: no such plan file"]) from None
    except OSError as exc:
        raise PlanError([f"{path}: cannot read the plan ({exc.strerror})"]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        result = SourcedYaml(path=path, data=None)
        if node is not None:
            result.data = _build(loader, node, (), result.lines, path)
        return result
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise PlanError([f"{path}:{line}: YAML syntax: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise PlanError([f"{path}:1: YAML syntax: {exc}"]) from None
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, here: KeyPath, lines: dict[KeyPath, int], source: Path
) -> Any:
    lines.setdefault(here, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
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
    return loader.construct_object(node, deep=True)
