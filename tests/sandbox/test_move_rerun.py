"""A moved database is never overwritten: a rerun of the move after production wrote to the new
database keeps that write (the move ledger), against the sandbox's real stand-ins."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane_stack import create_stack  # noqa: E402

from workbook import dbmove  # noqa: E402
from workbook.params import Params  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    d = tmp_path_factory.mktemp("move-rerun-state")
    old = os.environ.get("WORKBOOK_STATE_DIR")
    os.environ["WORKBOOK_STATE_DIR"] = str(d)
    from workbook.connect import connect
    from workbook.sandbox import dataplane, server
    server.start()
    try:
        p = Params.from_mapping({"sample_rows": 200})
        ctx = connect(p)
        stack = create_stack(ctx, p, managed_secret=True)
        ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)
        yield {"ctx": ctx, "stack": stack, "dp": dataplane}
    finally:
        from workbook.sandbox import dataplane as dp
        dp.forget()
        server.stop()
        if old is None:
            os.environ.pop("WORKBOOK_STATE_DIR", None)
        else:
            os.environ["WORKBOOK_STATE_DIR"] = old


def test_a_rerun_after_a_write_to_the_new_database_keeps_the_write(plane):
    ctx, dp = plane["ctx"], plane["dp"]
    first = dbmove.move(ctx)
    assert first.ok
    with psycopg.connect(dp.database_uri("rds"), autocommit=True) as conn:
        conn.execute("INSERT INTO items (name, price_cents) VALUES ('written in production', 4200)")
    again = dbmove.move(ctx)
    with psycopg.connect(dp.database_uri("rds")) as conn:
        kept = conn.execute("SELECT count(*) FROM items WHERE name = 'written in production'").fetchone()[0]
    assert kept == 1
    assert again.already_moved and again.ok
