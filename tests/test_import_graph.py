"""The package's import graph has no cycles.

Every ``import`` of a semtrace module counts, also one inside a function (an import hidden in a
function to dodge a cycle is still a cycle); only ``if TYPE_CHECKING:`` blocks are left out,
since they never run. A cycle is reported as the modules in it, so the fix is one look away.
"""

from __future__ import annotations

import ast
from pathlib import Path

import semtrace

ROOT = Path(semtrace.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts.pop()
        found[".".join(parts)] = (path, package)
    return found


def _without_type_checking(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                node.body = []
    return tree


def import_graph() -> dict[str, set[str]]:
    """Module -> the semtrace modules it imports (the deepest module each name resolves to)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        tree = _without_type_checking(ast.parse(path.read_text(), str(path)))
        here = name if package else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(resolve(a.name) for a in node.names if a.name.startswith("semtrace"))
            elif isinstance(node, ast.ImportFrom):
                base = here
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                full = (base + "." + node.module if node.module else base) if node.level else ""
                full = full or (node.module or "")
                if not full.startswith("semtrace"):
                    continue
                for alias in node.names:  # `from pkg import module` imports the module
                    sub = resolve(f"{full}.{alias.name}")
                    targets.add(
                        sub if sub and sub != full and sub.startswith(full) else resolve(full)
                    )
        graph[name] = {t for t in targets if t and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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


def test_the_import_graph_has_no_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # the walk saw the package
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_of_our_own_modules_is_guarded_by_except_importerror() -> None:
    guarded = []
    for name, (path, _) in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Try):
                continue
            catches = {getattr(h.type, "id", None) for h in node.handlers if h.type is not None} | {
                getattr(e, "id", None)
                for h in node.handlers
                if isinstance(h.type, ast.Tuple)
                for e in h.type.elts
            }
            if not catches & {"ImportError", "ModuleNotFoundError"}:
                continue
            for inner in ast.walk(ast.Module(body=node.body, type_ignores=[])):
                if isinstance(inner, ast.ImportFrom) and (
                    inner.level or (inner.module or "").startswith("semtrace")
                ):
                    guarded.append(f"{name}:{inner.lineno}")
                if isinstance(inner, ast.Import) and any(
                    a.name.startswith("semtrace") for a in inner.names
                ):
                    guarded.append(f"{name}:{inner.lineno}")
    assert guarded == []
