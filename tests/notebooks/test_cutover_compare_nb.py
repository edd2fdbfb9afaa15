"""notebooks/08_cutover_compare.ipynb, headless against the sandbox: the move, the cutover, the
probes with their faults, and the evidence it produces."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import papermill
import psycopg
import pytest

from workbook import names, outputs
from workbook.connect import connect
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "08_cutover_compare.ipynb"
STACK = "cutnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
PARAMS = {"stack_name": STACK, "sample_rows": 1000, "probe_rate": 20, "probe_seconds": 6}
TIMEOUT = 300


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.outputs)


@pytest.fixture(scope="module")
def executed(sandbox, tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tests" / "sandbox"))
    from dataplane_stack import create_stack
    from workbook.sandbox import dataplane
    p = Params.from_mapping(PARAMS)
    ctx = connect(p)
    dataplane.forget()  # the session's sandbox is shared: start from databases no other test filled
    # Steps 00 and 03 may not have run in this session: their resources made directly; 04's by 04 (08
    # moves its servers onto the app's own database user, through 04's units).
    from compute_fixtures import build_network
    from workbook.steps import compute
    create_stack(ctx, p, managed_secret=True, asg=False)
    build_network(ctx, p)
    compute.apply(ctx)
    out = tmp_path_factory.mktemp("nb08") / "08_cutover_compare.ipynb"
    try:
        papermill.execute_notebook(str(NB), str(out), parameters={**PARAMS, "interactive": False}, cwd=str(ROOT),
                                   execution_timeout=TIMEOUT, progress_bar=False)
        yield {"nb": nbformat.read(str(out), as_version=4), "ctx": ctx, "p": p,
               "rds_rows": _rows(dataplane.database_uri("rds"))}
    finally:
        dataplane.forget()  # stops everything and removes the databases' folders


def _rows(uri: str) -> int:
    with psycopg.connect(uri) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("customers", "items", "orders"))


def test_the_data_moved_through_an_encrypted_bucket_and_checks_out(executed):
    ctx, p = executed["ctx"], executed["p"]
    assert executed["rds_rows"] == 1000
    bucket = names.dump_bucket(p, ctx.account_id)
    keys = [o["Key"] for o in ctx.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    dumps = [k for k in keys if not k.startswith("dumps/ssm-output/")]   # beside them: the commands' whole output
    assert dumps and all(k.endswith("app.dump") for k in dumps)
    verification = outputs_of(executed["nb"], "verification")
    assert "False" not in verification and verification.count("True") >= 3
    assert "new sessions read-only: on" in outputs_of(executed["nb"], "move")   # the freeze, as dev reports it


def test_after_the_cutover_every_answer_comes_from_rds(executed):
    out = outputs_of(executed["nb"], "cutover")
    assert "dev (on the instance)" in out and out.count("RDS") >= 2
    # This stack was made without 05 (no zone holds domain_name), so the name cannot be pointed: the dev
    # database stays read-only rather than take writes production would never see
    assert "write freeze stays until the name is pointed" in out


def test_the_before_and_after_scores_are_read_after_the_cutover(executed):
    cells = [c.metadata.get("tags", []) for c in executed["nb"].cells]
    assert cells.index(["compare"]) > cells.index(["cutover"])
    assert "score before" in outputs_of(executed["nb"], "compare")


def test_the_dev_host_the_before_probe_stopped_serves_again(executed):
    import urllib.request
    from workbook.sandbox import dataplane
    with urllib.request.urlopen(dataplane.endpoint("dev") + "/health", timeout=5) as r:
        assert r.status == 200


def test_dev_dying_took_the_service_down_and_one_app_server_dying_did_not(executed):
    findings = outputs_of(executed["nb"], "findings")
    for claim in ("CUTOVER.DATA", "CUTOVER.FREEZE", "CUTOVER.DEV_SPOF", "CUTOVER.HA"):
        assert claim in findings
    assert "FAIL" not in findings and findings.count("PASS") >= 4


def test_evidence_reached_cloudwatch_and_the_charts(executed):
    cw = executed["ctx"].client("cloudwatch")
    phases = {d["Value"] for m in cw.list_metrics(Namespace="Workbook/Probe")["Metrics"]
              for d in m["Dimensions"] if d["Name"] == "Phase"}
    assert {"before", "after"} <= phases
    cloudwatch = outputs_of(executed["nb"], "cloudwatch")
    for metric in ("CPUUtilization", "RequestCount", "HealthyHostCount", "DatabaseConnections"):
        assert metric in cloudwatch
    comparison = outputs_of(executed["nb"], "comparison")
    assert "p99 latency, served (ms)" in comparison and "stop_dev" in comparison
    assert "image/png" in outputs_of(executed["nb"], "charts")
    assert (outputs.home() / "diagrams" / "08_cutover_compare_evidence.png").stat().st_size > 10_000


def test_the_restore_drill_of_03_finishes_last(executed):
    nb = executed["nb"]
    ready = outputs_of(nb, "database_ready")
    assert "manual snapshot" in ready                          # started as soon as the instance was available
    drill = outputs_of(nb, "restore_drill")
    assert "restore drill passed" in drill and f"{STACK}-db-drill deleted" in drill
    last_code = [c for c in nb.cells if c.cell_type == "code" and "widget" not in c.metadata.get("tags", [])][-1]
    assert last_code.metadata.get("tags") == ["restore_drill", "resumable"]   # the last wait of the build
