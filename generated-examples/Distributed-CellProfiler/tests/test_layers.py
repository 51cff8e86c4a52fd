"""ds_runtime's layers hold, and it has no import cycle: every module can be read, and moved,
knowing only what is below it.

The layers (.importlinter, checked here with import-linter): the entry point > local mode >
the commands (control) | the worker > the shared modules; control and worker import
neither each other nor anything above them. Inside control, its rooms are layered too: the docs
page > the command registry > commands > views > machines > resources > common.

The graph's nodes are modules (each .py file; a package is its __init__.py), not packages.
Its edges are every import statement of ds_runtime.* in a module: at module level, inside
functions, and under `if TYPE_CHECKING:`. A deferred import inside a function still makes
two modules depend on each other, and a type-only import still means one cannot be read
without the other; both hide a cycle rather than remove it.
Parent packages that Python imports first are not edges: `ds_runtime.spec.tool` needs
`ds_runtime.spec` run first, but that is no dependency of the code.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNTIME = REPO / "ds_runtime"
# import-linter's command (lint-imports), run by this Python on the repository in `cwd`.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def module_name(path: Path) -> str:
    parts = path.relative_to(RUNTIME.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, own: str, package: str, modules: set[str]) -> set[str]:
    """The modules (of `modules`) that the source of module `own`, in `package`, imports anywhere in it.

    `from X import name` counts as X.name when that is a module, else as X.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `.` is the package itself, each further dot one package up
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {name for name in found if name in modules and name != own}


def import_graph() -> dict[str, set[str]]:
    files = sorted(RUNTIME.rglob("*.py"))
    modules = {module_name(path) for path in files}
    graph = {}
    for path in files:
        own = module_name(path)
        package = own if path.name == "__init__.py" else own.rpartition(".")[0]
        graph[own] = imported_modules(path.read_text(), own, package, modules)
    return graph


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
    """The check below can fail: relative, absolute, deferred and type-only imports are all edges."""
    graph = import_graph()
    assert "ds_runtime.spec" in graph["ds_runtime.jobs"]  # from .spec import ...
    cluster = graph["ds_runtime.control.commands.cluster"]
    assert "ds_runtime.control.resources.automonitor" in cluster  # from ..resources import automonitor
    assert "ds_runtime.control.commands.cluster" in graph["ds_runtime.local.oneshot"]  # from ..control.commands...
    modules = {"p", "p.a", "p.b", "p.c", "p.d", "p.sub", "p.sub.e", "p.unused"}
    source = """
from typing import TYPE_CHECKING
import p.a
from . import e
if TYPE_CHECKING:
    from ..b import Thing
def later():
    from .. import c
    from ..d import x
"""
    # What module p.sub.f imports: the same names, wherever the statements are.
    expected = {"p", "p.a", "p.b", "p.c", "p.d", "p.sub", "p.sub.e"}
    assert imported_modules(source, "p.sub.f", "p.sub", modules) == expected
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}}) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_of_ds_runtime_imports_itself_back() -> None:
    found = cycles(import_graph())
    assert not found, (
        "modules that import one another: "
        + "; ".join(" <-> ".join(group) for group in found)
        + " (move what they share into a module below them)"
    )


def lint_imports(repo: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the repository's .importlinter contracts; exit code 0 when every one is kept."""
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold() -> None:
    done = lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        (
            "control/views/status.py",
            "from ...local import backend",
            "ds_runtime.control.views.status -> ds_runtime.local.backend",
        ),
        (
            "control/views/status.py",
            "from ...worker import loop",
            "ds_runtime.control.views.status -> ds_runtime.worker.loop",
        ),
        ("jobs.py", "from .control.common import context", "ds_runtime.jobs -> ds_runtime.control.common.context"),
        # control's rooms: what a person reads starts nothing, and common/ needs no room above it.
        (
            "control/views/status.py",
            "from ..commands import submit",
            "ds_runtime.control.views.status -> ds_runtime.control.commands.submit",
        ),
        (
            "control/common/context.py",
            "from ..resources import catalogue",
            "ds_runtime.control.common.context -> ds_runtime.control.resources.catalogue",
        ),
        (
            "control/cli.py",
            "from .commands import check",
            "ds_runtime.control.cli -> ds_runtime.control.commands.check",
        ),
        ("control/unplaced.py", "", "ds_runtime.control.unplaced"),  # a module of control in no room
        ("unplaced.py", "", "ds_runtime.unplaced"),  # a module in no layer
    ],
)
def test_the_layers_check_fails_on_a_forbidden_import(tmp_path: Path, module: str, line: str, named: str) -> None:
    """A copy of the runtime with one import that breaks a layer or the registry's rule (or a module placed
    in none) is refused, naming the import."""
    shutil.copy(REPO / ".importlinter", tmp_path)
    shutil.copytree(RUNTIME, tmp_path / "ds_runtime", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "ds_runtime" / module
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}\n")
    done = lint_imports(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert named in done.stdout, done.stdout
    assert re.search(r"Contracts: \d kept, [1-9] broken", done.stdout), done.stdout
