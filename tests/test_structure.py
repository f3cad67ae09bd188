"""Structure rules of the redesign (issue 11): short functions and no import cycles.

Both checks parse the sources with :mod:`ast`, so they import nothing from the package (no torch).
Imports inside functions count as dependencies too: a cycle hidden behind a lazy import is still a
cycle between the modules.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "neuralkg_distil"
MAX_LINES = 60


# ---------------------------------------------------------------------- modules
def module_files(root: Path) -> Dict[str, Path]:
    """Dotted module name -> source file for every ``.py`` file of the package at ``root``."""
    modules: Dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: Dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


# ---------------------------------------------------------------------- function length
def long_functions(root: Path, limit: int = MAX_LINES) -> List[Tuple[str, int, str, int]]:
    """``(file, line, qualified name, length)`` of every function or method longer than ``limit`` lines."""
    found = []
    for path in module_files(root).values():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _functions(tree, ""):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((str(path.relative_to(root.parent)), node.lineno, name, length))
    return found


def _functions(node: ast.AST, prefix: str) -> Iterator[Tuple[str, ast.AST]]:
    """Every function below ``node`` with a dotted name (``Class.method``, ``outer.inner``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = prefix + child.name
            yield name, child
            yield from _functions(child, name + ".")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, prefix + child.name + ".")
        else:
            yield from _functions(child, prefix)


# ---------------------------------------------------------------------- import graph
def _resolve_relative(module: str, level: int, target: Optional[str], is_package: bool) -> str:
    """The absolute name of ``from <dots><target> import ...`` written in ``module``."""
    base = module.split(".")
    # a package's own __init__ is its package: one dot means the package itself
    drop = level - 1 if is_package else level
    base = base[: len(base) - drop] if drop else base
    return ".".join(base + ([target] if target else []))


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[Tuple[str, List[str]]]:
    """``(base, names)`` of every import statement anywhere in the tree (functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, node.level, node.module, is_package)
            yield base, [alias.name for alias in node.names]


def import_graph(root: Path) -> Dict[str, Set[str]]:
    """Module -> the package modules it imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    modules = module_files(root)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for base, names in _imported(tree, name, _is_package(name, modules)):
            graph[name] |= _targets(base, names, modules)
        graph[name].discard(name)
    return graph


def _targets(base: str, names: List[str], modules: Dict[str, Path]) -> Set[str]:
    """The package modules one import statement depends on."""
    targets = set()
    for item in names:
        if f"{base}.{item}" in modules:
            targets.add(f"{base}.{item}")
    # plain names (functions, classes) come from the module ``base`` itself
    if base in modules and (not names or any(f"{base}.{item}" not in modules for item in names)):
        targets.add(base)
    return targets


def strongly_connected(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def cycle_path(graph: Dict[str, Set[str]], component: List[str], start: str) -> List[str]:
    """A shortest cycle through ``start`` inside the component, as ``[start, ..., start]`` (breadth-first)."""
    members = set(component)
    parents: Dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1] + [start]
                if nxt not in parents:
                    parents[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"{component} is not strongly connected")


def _rotated(cycle: List[str]) -> Tuple[str, ...]:
    """The cycle written from its smallest module, so rotations of one cycle compare equal."""
    ring = cycle[:-1]
    first = ring.index(min(ring))
    ring = ring[first:] + ring[:first]
    return tuple(ring + ring[:1])


def import_cycles(root: Path) -> List[List[str]]:
    """Distinct shortest cycles through each module of each strongly connected component."""
    graph = import_graph(root)
    cycles: Dict[Tuple[str, ...], None] = {}
    for component in strongly_connected(graph):
        for start in component:
            cycles[_rotated(cycle_path(graph, component, start))] = None
    return [list(cycle) for cycle in cycles]


def _describe_cycles(cycles: List[List[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in cycles)


def _describe_long(found: List[Tuple[str, int, str, int]]) -> str:
    return "\n".join(f"{path}:{line} {name} {length} lines" for path, line, name, length in found)


# ---------------------------------------------------------------------- the rules
def test_functions_are_short() -> None:
    found = long_functions(PACKAGE)
    assert not found, f"functions longer than {MAX_LINES} lines:\n{_describe_long(found)}"


def test_no_import_cycles() -> None:
    components = strongly_connected(import_graph(PACKAGE))
    cycles = import_cycles(PACKAGE)
    members = "\n".join(", ".join(component) for component in components)
    assert not cycles, f"modules importing each other (strongly connected):\n{members}\nimport cycles:\n{_describe_cycles(cycles)}"


# ---------------------------------------------------------------------- the checkers can fail
def _write(root: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_cycle_finder_sees_a_hidden_cycle(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub import b\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "def f():\n    from ..c import g\n    return g\n",
        "pkg/c.py": "import os\n\ndef g():\n    from . import a\n    return a\n",
        "pkg/d.py": "from pkg.a import x\n",  # depends on the cycle, not part of it
    })
    cycles = import_cycles(pkg)
    assert cycles == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]], _describe_cycles(cycles)


def test_cycle_finder_resolves_package_relative_imports(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "from .a import x\n",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "from . import c\n",
        "pkg/c.py": "",
    })
    assert import_graph(pkg) == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert import_cycles(pkg) == []
    (pkg / "c.py").write_text("def late():\n    import pkg\n")
    assert import_cycles(pkg) == [["pkg", "pkg.a", "pkg.b", "pkg.c", "pkg"]]


def test_cycle_finder_reports_each_cycle_of_a_component(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b, c\n",
        "pkg/b.py": "import pkg.a\n",
        "pkg/c.py": "from pkg.a import f\n",
    })
    assert strongly_connected(import_graph(pkg)) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert import_cycles(pkg) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.a", "pkg.c", "pkg.a"]]


def test_length_check_sees_a_long_method(tmp_path: Path) -> None:
    def body(indent: str, lines: int) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(lines))

    source = (
        "def fits():\n" + body("    ", MAX_LINES - 1)  # exactly MAX_LINES lines
        + "\n\nclass K:\n    def long(self):\n" + body("        ", MAX_LINES)  # one line too many
    )
    pkg = _write(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": source})
    found = long_functions(pkg)
    assert found == [(str(Path("pkg") / "m.py"), MAX_LINES + 4, "K.long", MAX_LINES + 1)], _describe_long(found)


# ---------------------------------------------------------------------- layers
# The ground floors: what each of them may import from the package (itself always). The models and
# their scorers, and the compiled kernels, are used by evaluation, training and the methods, never the
# other way round, so none of those may be imported from here (not even lazily). The models may use
# the plugin's name spaces: a model is found (and named in errors) where NeuralKG looks it up.
GROUND = {
    "kernels": {"kernels"},
    "kge": {"kge", "kernels", "plugin", "errors", "compat"},
}


def layer_violations(root: Path, ground: Dict[str, Set[str]]) -> List[str]:
    """``module -> imported`` for every import by a module of a ground package outside what it may use."""
    top = root.name
    found = []
    for module, targets in sorted(import_graph(root).items()):
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in ground:
            continue
        allowed = ground[parts[1]]
        for target in sorted(targets):
            inner = target.split(".")
            if inner[0] == top and len(inner) > 1 and inner[1] not in allowed:
                found.append(f"{module} -> {target}")
    return found


def test_ground_packages_import_nothing_above_them() -> None:
    found = layer_violations(PACKAGE, GROUND)
    assert not found, "imports from a ground package upwards:\n" + "\n".join(found)


def test_layer_check_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    root = _write(tmp_path, {"pkg/__init__.py": "", "pkg/kge/__init__.py": "", "pkg/evaluation/__init__.py": "",
                             "pkg/kge/model.py": "def f():\n    from pkg.evaluation import ranking\n",
                             "pkg/evaluation/ranking.py": "from pkg.kge import model\n"})
    assert layer_violations(root, {"kge": {"kge"}}) == ["pkg.kge.model -> pkg.evaluation.ranking"]
