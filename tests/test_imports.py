"""The project's modules import each other without a cycle.

A cycle hidden in a function-level import (the import runs when the function is first called,
so the interpreter never complains) still ties the modules together: neither can change or be
tested alone. So this walks every import statement of every module, at any depth of the file,
with ast (no module is imported), and looks for cycles in the graph of the project's own
modules (Tarjan's strongly connected components).
"""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The installed folders (setup.py FOLDERS, as streamgan.<folder>) and the benchmarks.
PACKAGES = {**{f"streamgan.{f}": f for f in ("common", "store", "pipeline", "preprocess", "train")},
            "bench": "bench"}

def modules() -> dict[str, str]:
    """Module name -> file, for every .py file of the packages."""
    found = {}
    for package, folder in PACKAGES.items():
        for parent, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(parent, name), os.path.join(ROOT, folder))
                    parts = [package, *rel[:-3].split(os.sep)]
                    if parts[-1] == "__init__":
                        parts.pop()
                    found[".".join(parts)] = os.path.join(parent, name)
    return found


def imports(path: str, known: dict[str, str]) -> set[str]:
    """The project modules a file imports anywhere in it (module level, functions, classes),
    except under `if TYPE_CHECKING:`, which never runs."""
    found = set()
    for node in _nodes(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:  # `from package import module` imports the module
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return found & set(known)


def _nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def project_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (each holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is a few dozen modules deep
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def test_the_walk_sees_function_level_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from streamgan.store import contract\n"
                    "def f():\n    import streamgan.train.gan\n"
                    "from typing import TYPE_CHECKING\n"
                    "if TYPE_CHECKING:\n    from streamgan.train.loop import train\n")
    assert imports(str(path), modules()) == {"streamgan.store.contract", "streamgan.train.gan"}


def test_a_cycle_is_found_however_long():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert cycles(graph) == [frozenset("abc")]
    assert cycles({**graph, "c": {"d"}}) == []


def test_no_import_cycle():
    assert [sorted(c) for c in cycles(project_graph())] == []


# Data flows one way (docs/architecture.md): preprocess -> store -> train, pipeline on top.
FORBIDDEN = {
    "streamgan.store": ("streamgan.preprocess", "streamgan.train", "streamgan.pipeline"),
    "streamgan.preprocess": ("streamgan.train",),
    "streamgan.train": ("streamgan.preprocess", "streamgan.pipeline"),
    "streamgan.common": ("streamgan.store", "streamgan.preprocess", "streamgan.train",
                         "streamgan.pipeline"),
}


def test_data_flows_one_way_between_the_layers():
    wrong = sorted(f"{module} imports {target}" for module, targets in project_graph().items()
                   for layer, banned in FORBIDDEN.items() if module.startswith(layer + ".")
                   for target in targets if target.startswith(banned))
    assert wrong == []
