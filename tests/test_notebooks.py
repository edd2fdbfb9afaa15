"""House rules of every committed notebook: clean, one parameters cell that matches Params, kernel python3."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import nbformat
import pytest

from workbook.params import Params

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Params)}
# The one deliberate difference: opened in JupyterLab a notebook is the workshop (forms, step panel);
# every headless run (pipeline, papermill -p) passes interactive=False.
NOTEBOOK_DEFAULTS = {**DEFAULTS, "interactive": True}


def parameter_assignments(source: str) -> dict[str, object]:
    """name -> literal value for each statement; anything but `name = <literal>` is an error."""
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise AssertionError(f"line {node.lineno}: only `name = value` belongs in a parameters cell")
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise AssertionError(f"line {node.lineno}: {node.targets[0].id} must be a literal") from None
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_valid_clean_and_named(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs or execution counts: clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_one_parameters_cell_with_params_fields_and_defaults(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged parameters; papermill needs exactly one"
    cell = tagged[0]
    assert cell.cell_type == "code"
    values = parameter_assignments(cell.source)
    assert values, "the parameters cell assigns nothing"
    unknown = sorted(set(values) - set(DEFAULTS))
    assert not unknown, f"not fields of workbook.params.Params: {unknown}"
    wrong = {k: (v, NOTEBOOK_DEFAULTS[k]) for k, v in values.items()
             if v != NOTEBOOK_DEFAULTS[k] or type(v) is not type(NOTEBOOK_DEFAULTS[k])}
    assert not wrong, f"defaults differ from Params (cell, expected): {wrong}"


def test_parameter_cell_parser_rejects_logic():
    assert parameter_assignments('stack_name = "demo"\n# a comment\naz_count = 2') == {"stack_name": "demo", "az_count": 2}
    with pytest.raises(AssertionError, match="only `name = value`"):
        parameter_assignments("import os\nstack_name = os.environ['X']")
    with pytest.raises(AssertionError, match="must be a literal"):
        parameter_assignments("stack_name = make_name()")
