"""The data plane belongs to the sandbox server it was started for: calls made elsewhere (moto in process,
another sandbox) never touch it. A test deleting an RDS instance named demo-db in process wiped the
workshop's own RDS stand-in (its data folder under .sandbox/) on every `make test`."""
from __future__ import annotations

import json

from moto import mock_aws

from conftest import make_ctx


def test_an_rds_delete_in_process_leaves_the_sandboxs_stand_in_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))   # the workshop's sandbox, as `make lab` left it
    from workbook.sandbox import dataplane
    pgdata = tmp_path / "dataplane" / "pg" / "rds"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    (tmp_path / "dataplane" / "config.json").write_text(json.dumps(
        {"stack": "demo", "endpoint": "http://127.0.0.1:9", "apps": [],
         "rds": {"id": "demo-db", "engine": "postgres", "pgdata": str(pgdata)}}))
    with mock_aws():
        ctx = make_ctx()                      # stack demo, moto in process: no data plane of its own
        rds = ctx.client("rds")
        rds.create_db_instance(DBInstanceIdentifier="demo-db", Engine="postgres", DBInstanceClass="db.t4g.micro",
                               AllocatedStorage=20, MasterUsername="u", MasterUserPassword="password1")
        rds.delete_db_instance(DBInstanceIdentifier="demo-db", SkipFinalSnapshot=True)
    assert (pgdata / "PG_VERSION").exists()
    assert json.loads(dataplane._config_path().read_text())["rds"]["id"] == "demo-db"
