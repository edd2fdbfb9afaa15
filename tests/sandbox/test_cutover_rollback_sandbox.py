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


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    with private_sandbox(tmp_path_factory.mktemp("cutover")):
        p = Params.from_mapping({"sample_rows": 200, "domain_name": ""})
        ctx = connect(p)
        stack = create_stack(ctx, p, managed_secret=True)
        ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)
        yield {"ctx": ctx, "stack": stack, "dp": dataplane}


def _insert(uri: str, name: str) -> None:
    with backend.connect(uri) as conn:
        conn.execute("INSERT INTO items (name, price_cents) VALUES (%s, 4200)", (name,))


def test_cutover_lifts_the_freeze_and_a_rollback_accounts_for_production_writes(plane):
    ctx, dp = plane["ctx"], plane["dp"]
    assert dbmove.move(ctx).ok
    with pytest.raises(Exception, match="read-only"):   # frozen between the dump and the cutover
        _insert(dp.database_uri("dev"), "written on dev before the cutover")
    cutover.cutover(ctx)
    _insert(dp.database_uri("dev"), "written on dev after the cutover")        # a development database again
    _insert(dp.database_uri("rds"), "written in production after the cutover")
    with pytest.raises(cutover.RollbackRefused, match=r"items: \+1 rows"):
        cutover.rollback(ctx)
    done = cutover.rollback(ctx, leave_writes_in_rds=True).set_index("what")["detail"]
    assert "items: +1 rows" in done["writes in RDS since cutover"] and "stay in RDS" in done["writes in RDS since cutover"]
    assert "items: +1 rows" in done["writes on dev since cutover"]
    assert done["DNS"].startswith("no domain_name") and dp.endpoint("dev") in done["clients"]
