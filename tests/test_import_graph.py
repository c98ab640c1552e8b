"""convmath's packages import downward only, with no cycle and no import hidden in a function.

Every module under convmath/ is parsed (never imported) and each of its
imports becomes an edge between two nodes: a subpackage (``train``,
``kernels``...), a top-level module (``tensor``, ``models``...), or
``convmath``, the package's ``__init__.py`` (the public door, near the top:
it re-exports from every layer). The order of the layers is declared once,
in docs/ARCHITECTURE.md ("The import order"), and read from there.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convmath"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"

# Imports a function may make: genuinely optional dependencies, imported when the
# feature that needs them runs, so that convmath works without them.
OPTIONAL = {
    "torch": "the PyTorch twin of a model (the torch extra)",
    "onnx": "ONNX export and import (the onnx extra)",
    "onnxruntime": "running exported graphs (the onnx extra)",
    "mpi4py": "training over MPI (the mpi extra)",
    "matplotlib": "pictures (the plots extra)",
    "PIL": "reading image files (the images extra)",
    "playwright": "the page's browser tests (the browser extra)",
    "threadpoolctl": "limiting BLAS's threads, only when worker threads start",
    "numba": "compiled loops, where installed",
    "tqdm.auto": "the notebook's progress widget (ipywidgets, in a notebook only)",
    "tqdm.notebook": "the notebook's progress widget",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _node(module: str) -> str | None:
    """The node of a module: ``convmath`` (the package's __init__) or its first component."""
    parts = module.split(".")
    if parts[0] != "convmath":
        return None
    return "convmath" if len(parts) == 1 else parts[1]


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement names (``from convmath import data``: convmath.data)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    submodules = [f"{base}.{alias.name}" for alias in node.names]
    return [
        name if _exists(name) else base for name in submodules
    ]  # from a package: its submodule, or a name it defines


def _exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []  # (import, in a function)
        self.depth = 0

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 (ast's visitor names)

    def visit_Import(self, node: ast.Import) -> None:
        self.found.append((node, self.depth > 0))

    visit_ImportFrom = visit_Import  # noqa: N815


def _imports() -> list[tuple[str, str, bool, str]]:
    """(importing module, imported module, inside a function, where) for every import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for node, in_function in visitor.found:
            for target in _targets(node, module, path.name == "__init__.py"):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append((module, target, in_function, where))
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> where."""
    edges: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for module, target, _, where in _imports():
        source, imported = _node(module), _node(target)
        if imported is not None and imported != source:
            edges[source][imported].append(where)
    return edges


def _layers() -> list[set[str]]:
    """The import order of docs/ARCHITECTURE.md, top layer first."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    block = re.search(r"<!-- import-order -->\s*```text\n(.*?)```", text, re.DOTALL)
    assert block, "docs/ARCHITECTURE.md has no import-order block"
    layers = []
    for line in block.group(1).splitlines():
        names = re.sub(r"\(.*?\)|#.*", "", line).split()
        if names:
            layers.append(set(names))
    return layers


def test_every_node_has_a_declared_layer():
    declared = set().union(*_layers())
    nodes = {_node(_module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert nodes - declared == set(), "place the new package in docs/ARCHITECTURE.md's order"
    assert declared - nodes == set(), "the order names a package that does not exist"


def test_no_cycle_between_packages():
    graph = _graph()
    cycles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, {}):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_no_package_imports_one_declared_above_it():
    rank = {name: k for k, layer in enumerate(reversed(_layers())) for name in layer}
    upward = [
        f"{source} imports {imported} ({', '.join(wheres)})"
        for source, targets in _graph().items()
        for imported, wheres in targets.items()
        if rank[imported] > rank[source]
    ]
    assert upward == []


def test_no_import_hides_in_a_function_but_optional_dependencies():
    def optional(module: str) -> bool:
        return any(module == name or module.startswith(name + ".") for name in OPTIONAL)

    hidden = [
        f"{where}: {target}"
        for _, target, in_function, where in _imports()
        if in_function and not optional(target)
    ]
    assert hidden == []


def test_the_checks_see_what_they_check():
    """The parse finds the imports it judges: one known edge, one known optional import."""
    graph = _graph()
    assert "train" in graph["run"]
    assert "run" in graph["cli"]
    assert any(t == "mpi4py" and inside for _, t, inside, _ in _imports())
