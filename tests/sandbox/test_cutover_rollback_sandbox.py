"""Cutover and rollback in the sandbox, on the real account's path (SSM Run Command run on the stand-ins,
real PostgreSQL servers): the cutover lifts the dev database's write freeze; a rollback after production
wrote is refused and names the table, and with leave_writes_in_rds it goes on and lists the writes (which
stay in RDS). The DNS side is the same code as on a real account: tests/test_cutover_rollback.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane_stack import create_stack, private_sandbox  # noqa: E402

from workbook import dbmove  # noqa: E402
from workbook.backend import app as backend  # noqa: E402
from workbook.params import Params  # noqa: E402
from workbook.steps import cutover  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def plane(request, tmp_path_factory):
    """A dev host and an RDS stand-in of one engine: PostgreSQL freezes a database (default_transaction_read_only),
    MySQL a server (read_only); each engine's freeze is lifted its own way."""
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    engine = request.param
    with private_sandbox(tmp_path_factory.mktemp(f"cutover-{engine}")):
        p = Params.from_mapping({"sample_rows": 200, "domain_name": "", "dev_db_engine": engine})
        ctx = connect(p)
        stack = create_stack(ctx, p, managed_secret=True, engine=engine, dev_db=engine)
        ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)
        yield {"ctx": ctx, "stack": stack, "dp": dataplane, "engine": engine}


def _insert(uri: str, name: str) -> None:
    with backend.connect(uri) as conn:
        conn.execute("INSERT INTO items (name, price_cents) VALUES (%s, 4200)", (name,))


def test_cutover_lifts_the_freeze_and_a_rollback_accounts_for_production_writes(plane, capsys):
    """The rollback as an operator runs it in an incident: one command, no notebook."""
    from workbook import lock
    from workbook.__main__ import main
    ctx, dp = plane["ctx"], plane["dp"]
    # written as the dev app writes (MySQL: its own user, whom read_only binds; root's admin rights would not be)
    dev_app = next(a["database_url"] for a in dp.config()["apps"] if a["role"] == "dev")
    assert dbmove.move(ctx).ok
    with pytest.raises(Exception, match="read-only|read.only"):   # frozen between the dump and the cutover
        _insert(dev_app, "written on dev before the cutover")
    cutover.cutover(ctx)
    _insert(dev_app, "written on dev after the cutover")        # a development database again
    _insert(dp.database_uri("rds"), "written in production after the cutover")
    command = ["rollback", "--set", "sample_rows=200", "--set", "domain_name=", "--set", f"dev_db_engine={plane['engine']}"]
    capsys.readouterr()
    assert main(command) == 1
    refused = capsys.readouterr().err
    assert "items: +1 rows" in refused and "Nothing was changed" in refused and "--leave-writes-in-rds" in refused
    assert main(command + ["--leave-writes-in-rds"]) == 0
    done = capsys.readouterr().out
    assert "items: +1 rows: they stay in RDS" in done and "items: +1 rows (kept on dev)" in done
    assert "no domain_name" in done and dp.endpoint("dev") in done
    assert lock.read(ctx) is None      # the rollback held the stack's lock and gave it back
