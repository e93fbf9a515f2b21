"""The layers point one way: the import graph of `bot/` and `storage/` has no cycle.

Read from the source with `ast`: module-level imports, those under `TYPE_CHECKING` included (a
type-only loop is still a loop a reader has to keep in their head). Imports inside functions are
checked by the layer rules below but not yet by the cycle check: one such loop remains
(`bot.check` <-> `bot.startup`). The tools
(`sandbox/`: the fake Bot API, the panel simulator, the demo) sit outside the bot and are never
imported by it. docs/architecture.md describes the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "storage")
# The tools package (top-level `sandbox/`), never part of the bot.
TOOLS = ("sandbox",)
# (importer prefix, forbidden prefix): what a layer must not know about.
FORBIDDEN = [
    ("storage", "bot"),
    ("bot.services", "bot.views"),
    ("bot.services", "bot.handlers"),
    ("bot.panel", "bot.views"),
    ("bot.panel", "bot.handlers"),
    ("bot.panel", "bot.services"),
    ("bot.payments", "bot.views"),
    ("bot.payments", "bot.handlers"),
    ("bot.views", "bot.handlers"),
]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join(parts)
            if not any(_within(name, tool) for tool in TOOLS):
                modules[name] = path
    return modules


def _top_level(tree: ast.Module) -> Iterator[ast.AST]:
    """Statements that run at import time: the module body and its `if`/`try` blocks, not functions."""
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If | ast.Try):
            pending.extend(ast.iter_child_nodes(node))


def _imported_names(module: str, path: Path, *, in_functions: bool = True) -> Iterator[str]:
    """Every dotted name the module imports, relative imports resolved."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree) if in_functions else _top_level(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _graph(*, in_functions: bool = True) -> dict[str, set[str]]:
    """module -> the modules of bot/ and storage/ it imports (their parent packages too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported in _imported_names(name, path, in_functions=in_functions):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            while target:  # importing a.b.c runs a/__init__ and a/b/__init__ first
                if target != name and not _within(name, target):
                    graph[name].add(target)
                target = target.rpartition(".")[0]
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    advanced = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_graph_of_bot_and_storage_has_no_cycle() -> None:
    graph = _graph(in_functions=False)
    assert len(graph) > 50  # the walk found the code
    described = [
        " <-> ".join(cycle) + ": " + "; ".join(f"{a} -> {b}" for a in cycle for b in graph[a] if b in cycle)
        for cycle in _cycles(graph)
    ]
    assert described == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above can fail: a two-module loop and a longer one are reported."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(_cycles(graph)) == [["a", "b"], ["c", "d", "e"]]


@pytest.mark.parametrize(("importer", "forbidden"), FORBIDDEN)
def test_a_layer_never_imports_the_layers_above_it(importer: str, forbidden: str) -> None:
    graph = _graph()
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if _within(name, importer)
        for target in targets
        if _within(target, forbidden)
    )
    assert wrong == []


def test_the_bot_never_imports_the_tools() -> None:
    """`sandbox/` (fake Telegram, panel simulator, demo) is for development; a deployment ships without it."""
    modules = _modules()
    wrong = sorted(
        f"{name} imports {imported}"
        for name, path in modules.items()
        for imported in _imported_names(name, path)
        if _within(imported, "sandbox")
    )
    assert wrong == []
