"""Layers point one way: notebooks -> steps -> (checks, inventory, engine -> kinds -> calls) -> connect, and
the targets (workbook.aws, workbook.sandbox) plug into connect from above (each registers itself;
connect names neither).

Read from the source, not by importing it: every import statement counts, at the top of a module or
inside a function, and `importlib.import_module(f"{__name__}.{...}")` counts as importing each module
of that package. What a module reaches through modules outside checks/ and inventory/ (cost, engine,
kinds, ...) counts as its own; a module inside them is judged on its own imports.
"""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "workbook"
LAYERS = ("workbook.checks", "workbook.inventory")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PKG.rglob("*.py") if ".ipynb_checkpoints" not in p.parts}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _with_parents(name: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ too."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in MODULES]


def _imports(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):   # what only a type checker reads is no import at run time
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else node.module
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module" \
                and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                found.add(arg.value)
            elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.FormattedValue) \
                    and getattr(arg.values[0].value, "id", "") == "__name__":
                found |= {m for m in MODULES if m.startswith(name + ".")}   # a package loading its modules
    return {p for m in found if _within(m, "workbook") for p in _with_parents(m)} - {name}


def _reaches(start: str, forbidden: str, stop_at: tuple[str, ...] = ()) -> list[str]:
    """Import edges from `start` into `forbidden`, following modules not under `stop_at`."""
    bad, seen, todo = [], {start}, [start]
    while todo:
        m = todo.pop()
        for dep in sorted(_imports(m)):
            if _within(dep, forbidden):
                bad.append(f"{m} imports {dep}")
            elif dep not in seen and not any(_within(dep, s) for s in stop_at):
                seen.add(dep)
                todo.append(dep)
    return bad


@pytest.mark.parametrize("module", [m for m in sorted(MODULES) if any(_within(m, layer) for layer in LAYERS)])
def test_checks_and_inventory_never_import_steps(module):
    assert _reaches(module, "workbook.steps", stop_at=LAYERS) == []


def test_connect_never_imports_the_sandbox():
    assert _reaches("workbook.connect", "workbook.sandbox") == []


def test_the_reader_sees_imports_the_way_python_does():
    """The helpers above, on imports this test knows: a relative import, a package's own loader."""
    assert "workbook.params" in _imports("workbook.connect")
    assert {"workbook.checks", "workbook.names"} <= _imports("workbook.checks.compute")
    assert "workbook.checks.compute" in _imports("workbook.checks")            # load_all
    assert "workbook.connect" in _imports("workbook.sandbox.seam")
    assert "workbook.engine imports workbook.connect" in _reaches("workbook.inventory.leftovers", "workbook.connect")


def _unit(name: str) -> str:
    """A package's modules are one unit (a package loading its own plugins is no cycle); a module is its own."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and MODULES[name].name == "__init__.py") else name


def _cycles() -> set[frozenset[str]]:
    """The units that import each other, directly or round about (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for m in MODULES:
        graph.setdefault(_unit(m), set()).update(
            _unit(d) for d in _imports(m) if not m.startswith(d + ".") and _unit(d) != _unit(m))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = set()
            while True:
                w = stack.pop()
                scc.add(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.add(frozenset(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_layers_import_one_way_round():
    """connect, below every target, imported the real account's data plane (which imports connect); the
    engine read the kinds whose hooks imported the engine back; the pipeline and its resumption, the report
    and its view, the workshop and its step panel imported each other. None does now: the data plane is
    named by workbook.aws, the kinds' shared calls live in workbook.calls, one notebook's run in
    pipeline_exec, what the template shows in report_view, the step bar's data in workshop."""
    assert _cycles() == set()
