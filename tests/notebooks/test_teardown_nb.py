"""notebooks/09_teardown.ipynb headless against the sandbox: a stack of many types is built directly,
the notebook removes it (keeping the final snapshot and the dev environment), a second run deletes
nothing, and the scan in the notebook and an independent one here both find no leftovers."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from workbook import names, steps
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "09_teardown.ipynb"
STACK = "tdnb"
TIMEOUT = 300


def run_nb(out: Path) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(NB), str(out), parameters={"stack_name": STACK, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    return nbformat.read(str(out), as_version=4)


def outputs(nb, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.get("outputs", []))


def build(p: Params) -> dict:
    """The stack, built by the steps themselves (02-07 on top of the dev host of 00)."""
    from workbook.connect import connect
    for s in steps.ordered():
        if s.kinds and s.fn("apply") and s.id != "09_teardown":
            s.fn("apply")(connect(p, step=s.id))
    from workbook import engine
    dev = engine.find(connect(p), "instance", step="00_setup")
    return {"dev_instance": dev[0].id}


@pytest.fixture(scope="module")
def runs(sandbox, tmp_path_factory):
    from workbook.connect import connect
    p = Params(stack_name=STACK, domain_name=f"api.{STACK}.example", alarm_email="ops@example.com")
    ctx = connect(p)
    built = build(p)
    out = tmp_path_factory.mktemp("nb09")
    first = run_nb(out / "first.ipynb")
    second = run_nb(out / "second.ipynb")
    yield {"first": first, "second": second, "ctx": ctx, "built": built}
    # leave the shared sandbox as found: the kept snapshot and the dev environment too
    from workbook.steps import teardown
    teardown.destroy(ctx.replace(keep_final_snapshot=False, teardown_dev=True))


def test_notebook_leaves_nothing_but_the_final_snapshot_and_dev(runs):
    from workbook.steps import teardown
    ctx = runs["ctx"]
    assert '"0 leftovers' in outputs(runs["first"], "scan")
    scan = teardown.scan(ctx)
    assert teardown.leftovers(scan).empty, scan
    assert list(scan[scan.status == "kept (final snapshot)"].id) == [names.db_snapshot(ctx.params, "final")]
    dev = ctx.client("ec2").describe_instances(InstanceIds=[runs["built"]["dev_instance"]])["Reservations"][0]["Instances"][0]
    assert dev["State"]["Name"] == "running"


def test_first_run_acted_second_run_deleted_nothing(runs):
    assert "deleted" in outputs(runs["first"], "resources")
    assert '\\"deleted\\"' not in outputs(runs["second"], "resources") and "deleted" not in outputs(runs["second"], "resources")
    assert '"0 leftovers' in outputs(runs["second"], "scan")
