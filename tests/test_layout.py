"""The code's layout: no import circle among lmlab's modules (counting the imports inside functions), and no module
longer than a reader can hold (600 lines)."""

import ast
from pathlib import Path

LMLAB = Path(__file__).resolve().parent.parent / "lmlab"


def import_graph() -> dict[str, set[str]]:
    """module -> the lmlab modules it imports anywhere in its file (the package lmlab itself left out)."""
    files = {".".join(f.relative_to(LMLAB.parent).with_suffix("").parts).removesuffix(".__init__"): f
             for f in LMLAB.rglob("*.py")}  # fmt: skip
    graph = {}
    for module, path in files.items():
        graph[module] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("lmlab."):
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[module] |= {name for name in names if name in files and name not in (module, "lmlab")}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of the graph, or []: depth-first, a module met again on the current path closes one."""
    done, path = set(), []

    def visit(module):
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return []
        path.append(module)
        for target in sorted(graph[module]):
            if found := visit(target):
                return found
        path.pop()
        done.add(module)
        return []

    return next((found for module in sorted(graph) if (found := visit(module))), [])


def test_no_module_of_lmlab_imports_itself_back_through_others():
    graph = import_graph()
    assert {"lmlab.data.tasks", "lmlab.data.reading", "lmlab.data.smalltalk"} <= graph.keys()
    assert "lmlab.data.smalltalk" in graph["lmlab.data.tasks"]  # the registry imports its sources, not back
    assert cycle(graph) == [], " -> ".join(cycle(graph))


def test_the_cycle_finder_finds_a_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) == []


def test_no_module_is_over_600_lines():
    long = {
        str(f.relative_to(LMLAB.parent)): n for f in LMLAB.rglob("*.py") if (n := len(f.read_text().splitlines())) > 600
    }
    assert long == {}
