"""The tree is the architecture: each folder of ``src/rolloutcli`` is one layer, and imports
only go down. Read from the source with ``ast`` (every import, function-level ones too), so
a change that climbs a layer or closes a circle fails here, naming the file and line."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "rolloutcli"

LAYERS = {
    "cli": 7,  # parse, call app/, render
    "render": 6,  # typed results into tables, JSON, markdown
    "app": 5,  # use cases
    "platforms": 4,  # adapters, beside each other: none imports another
    "metrics": 4,
    "journal": 4,
    "judge": 3,  # the pure decision
    "plan": 2,
    "stats": 1,  # pure numbers, knows no plan
    "support": 0,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every rolloutcli module ``path`` imports, with the line (names imported from a
    package count as its modules where such a module exists)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rolloutcli"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("rolloutcli"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if _exists(sub) else target), node.lineno


def _exists(module: str) -> bool:
    path = SRC.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        graph[_module_name(path)] = {m for m, _ in _imports(path) if m != _module_name(path)}
    return graph


def test_every_module_sits_in_a_layer() -> None:
    loose = [p.name for p in SRC.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], f"modules outside the layer folders: {loose}"
    folders = {p.name for p in SRC.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(LAYERS), folders ^ set(LAYERS)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_only_go_down(path: Path) -> None:
    here = _layer(_module_name(path))
    if here is None:
        return
    climbing = [
        f"{path.relative_to(SRC)}:{line} imports {module} ({there})"
        for module, line in _imports(path)
        if (there := _layer(module)) is not None and there != here and LAYERS[there] >= LAYERS[here]
    ]
    assert climbing == []


def test_no_import_cycles() -> None:
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_the_reader_sees_the_imports() -> None:
    """The reader is not blind: the CLI imports app/ and is imported by nothing outside it."""
    graph = _graph()
    assert "rolloutcli.app.evaluate" in graph["rolloutcli.cli.change"]
    assert "rolloutcli.cli.base" in graph["rolloutcli.cli.main"]
    outside = {m: deps for m, deps in graph.items() if not m.startswith("rolloutcli.cli")}
    assert not any(dep.startswith("rolloutcli.cli") for deps in outside.values() for dep in deps)
    assert "rolloutcli.stats.dispersion" in graph["rolloutcli.stats.sequential"]


def test_commands_are_loaded_from_the_cli_layer_only() -> None:
    """cli/main.py imports each command's module by name (so `rollout kill` loads only
    kill's): every name it can import is a module of cli/, seen by the tests above."""
    from rolloutcli.cli.main import COMMANDS, GROUPS

    modules = {module for _, module in COMMANDS} | {module for _, module, _ in GROUPS}
    for module in modules:
        assert (SRC / "cli" / f"{module}.py").is_file(), module
