"""The headless pipeline on the sandbox with a dev host that runs MySQL (issue 10's "done means"): 00 to 08
build the stack with an RDS for MySQL instance (db_engine=auto), and 08 moves the dev host's real MySQL rows
(MariaDB stand-ins) through SSM Run Command with matching checksums. A rerun of 08 after production wrote to the
new database reports "already moved" and keeps the write."""
from __future__ import annotations

import io

import nbformat
import pandas as pd
import pytest

from workbook import pipeline
from workbook.backend import app as backend
from workbook.params import Params

PARAMS = Params.from_mapping({"stack_name": "mysqlrun", "dev_db_engine": "mysql", "sample_rows": 2000,
                              "probe_seconds": 4})
STEPS = ["00", "01", "02", "03", "04", "05", "06", "07", "08"]

pytestmark = pytest.mark.timeout(1200)


def _outputs(run_dir, tag: str) -> str:
    nb = nbformat.read(run_dir / "08_cutover_compare.ipynb", as_version=4)
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return "\n".join(o.get("data", {}).get("text/plain", "") or o.get("text", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def mysql_run(sandbox, tmp_path_factory):
    runs = tmp_path_factory.mktemp("mysql") / "runs"
    return {"run_dir": pipeline.run(PARAMS, only=STEPS, runs_dir=runs, timeout=300, stream=io.StringIO()),
            "runs": runs}


def test_the_rds_instance_runs_the_dev_hosts_engine(mysql_run):
    from workbook.connect import connect
    db = connect(PARAMS).client("rds").describe_db_instances(DBInstanceIdentifier="mysqlrun-db")["DBInstances"][0]
    assert db["Engine"] == "mysql" and db["Endpoint"]["Port"] == 3306


def test_08_moves_real_mysql_rows_with_matching_checksums(mysql_run):
    move = _outputs(mysql_run["run_dir"], "move")
    assert "mysql" in move and "read_only: on" in move and "app.sql" in move
    verification = _outputs(mysql_run["run_dir"], "verification")
    for table, rows in (("customers", 500), ("items", 1000), ("orders", 500)):
        assert f"{table}       {rows}       {rows}" in verification or f"{table}  {rows}  {rows}" in " ".join(
            verification.split()), (table, verification)
    assert "False" not in verification
    findings = _outputs(mysql_run["run_dir"], "findings")
    assert "CUTOVER.DATA" in findings and "FAIL" not in findings.split("CUTOVER.FREEZE")[0]


def test_a_rerun_of_08_after_a_production_write_keeps_it(mysql_run):
    from workbook.sandbox import dataplane
    rds = dataplane.database_uri("rds")
    assert rds.startswith("mysql://")
    with backend.connect(rds) as conn:
        conn.execute("INSERT INTO items (name, price_cents) VALUES ('sold after the cutover', 999)")
    again = pipeline.run(PARAMS, only=["08"], runs_dir=mysql_run["runs"], timeout=300, stream=io.StringIO())
    assert "already moved" in _outputs(again, "move")
    with backend.connect(rds) as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE name = 'sold after the cutover'").fetchone()[0] == 1
    assert "changed since the move (kept)" in _outputs(again, "verification").replace("\n", " ") or \
        "kept" in _outputs(again, "verification")
    assert isinstance(pd.DataFrame(), pd.DataFrame)
