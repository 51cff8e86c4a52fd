"""ds_runtime has no import cycle: every module can be read, and moved, knowing only what is below it.

The graph's nodes are modules (each .py file; a package is its __init__.py), not packages.
Its edges are every import statement of ds_runtime.* in a module: at module level, inside
functions, and under `if TYPE_CHECKING:`. A deferred import inside a function still makes
two modules depend on each other, and a type-only import still means one cannot be read
without the other; both hide a cycle rather than remove it.
"""

from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1] / "ds_runtime"
ROOT = "ds_runtime"


def module_name(path: Path) -> str:
    parts = path.relative_to(RUNTIME.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The ds_runtime modules one file imports: `from X import name` counts as X.name when that is a module."""
    own = module_name(path)
    package = own if is_package(path) else own.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules and name != own}


def import_graph() -> dict[str, set[str]]:
    files = sorted(RUNTIME.rglob("*.py"))
    modules = {module_name(path) for path in files}
    return {module_name(path): imported_modules(path, modules) for path in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each group of modules that import one another, directly or not (the graph's strongly
    connected components of more than one module, by Tarjan's algorithm); [] when there is none."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_every_kind_of_import() -> None:
    """The checks below could fail: relative, absolute, deferred and type-only imports are edges."""
    graph = import_graph()
    assert "ds_runtime.spec" in graph["ds_runtime.jobs"]  # from .spec import ...
    assert "ds_runtime.control.automonitor" in graph["ds_runtime.control.cluster"]  # from . import automonitor
    assert "ds_runtime.control.cluster" in graph["ds_runtime.local.oneshot"]  # from ..control.cluster import ...
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}}) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_of_ds_runtime_imports_itself_back() -> None:
    found = cycles(import_graph())
    assert not found, (
        "modules that import one another: "
        + "; ".join(" <-> ".join(group) for group in found)
        + (" (move what they share into a module below them)")
    )
