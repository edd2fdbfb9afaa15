"""The headless pipeline on the sandbox with a dev host that runs MySQL (issue 10's "done means"): 00 to 08
build the stack with an RDS for MySQL instance (db_engine=auto), and 08 moves the dev host's real MySQL rows
(MariaDB stand-ins) through SSM Run Command with matching checksums. A rerun of 08 after production wrote to the
new database reports "already moved" and keeps the write."""
from __future__ import annotations

import io

import nbformat
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
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    move = _outputs(mysql_run["run_dir"], "move")
    assert "mysql" in move and "read_only: on" in move
    verification = _outputs(mysql_run["run_dir"], "verification")
    assert verification.count("True") == 3 and "False" not in verification
    findings = [line.split() for line in _outputs(mysql_run["run_dir"], "findings").splitlines()]
    assert any(row[1:2] == ["CUTOVER.DATA"] and "PASS" in row for row in findings), findings
    # read back independently: the same rows on both MariaDB stand-ins, and the dump staged in S3 is MySQL's
    dataplane.start_dev()   # 08's before-probe stopped the dev host (its fault), as the notebook says
    dev, rds = dataplane.database_uri("dev"), dataplane.database_uri("rds")
    assert dev.startswith("mysql://") and rds.startswith("mysql://") and dev != rds
    for table in ("customers", "items", "orders"):
        with backend.connect(dev) as a, backend.connect(rds) as b:
            rows = [c.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() for c in (a, b)]
        assert rows[0] == rows[1] and len(rows[0]) == {"customers": 500, "items": 1000, "orders": 500}[table]
    s3 = connect(PARAMS).client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mysqlrun-dbmove-123456789012")["Contents"]]
    dumps = [k for k in keys if not k.startswith("dumps/ssm-output/")]   # beside them: the commands' whole output
    assert dumps and all(k.endswith("/app.sql") for k in dumps)


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
    findings = [line.split() for line in _outputs(again, "findings").splitlines()]
    assert any(row[1:2] == ["CUTOVER.DATA"] and "PASS" in row for row in findings), findings
