"""The package's structure: no import cycles, and training and evaluation apart from
the inference pipeline (but for the face benchmark's use of the Animator).

Imports are read from the source (module level, inside functions and under
``TYPE_CHECKING`` alike), so a cycle that a lazy import hides is found too. A package's
``__init__`` importing its own submodules is not counted: Python imports the package
first in any case.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tpsmm

PACKAGE = Path(tpsmm.__file__).parent


def module_files() -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    modules = module_files()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in modules else known(base))
        graph[name] = {
            target
            for target in targets
            if target is not None and target != name and not target.startswith(name + ".")
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        for target in graph[node]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


#: The evaluation modules that measure animation as ``tpsmm animate`` performs it (the
#: cross-identity protocol of ``tpsmm benchmark-faces``): they take the Animator, and
#: nothing else, from the animation package.
ANIMATING = {"tpsmm.evaluation.face_benchmark", "tpsmm.evaluation.face_report"}
ANIMATOR = "tpsmm.animation.animator"


def test_training_and_evaluation_take_nothing_from_the_animation_package():
    graph = import_graph()
    for name in ANIMATING:
        taken = {target for target in graph[name] if target.startswith("tpsmm.animation")}
        assert taken <= {ANIMATOR}, f"{name} imports {sorted(taken)}"
        graph[name] = graph[name] - taken
    for package in ("tpsmm.training", "tpsmm.evaluation"):
        for name in [m for m in graph if m == package or m.startswith(package + ".")]:
            animation = sorted(m for m in reachable(graph, name) if m.startswith("tpsmm.animation"))
            assert animation == [], f"{name} imports {animation}"
