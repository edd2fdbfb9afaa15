"""dbmove.py: dump -> restore between two real PostgreSQL servers; checksums; the staging bucket."""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from workbook import dbmove, engine, names
from workbook.backend import app
from workbook.sandbox import pg


@pytest.fixture(scope="module")
def two_databases():
    # Not under pytest's temp root: as root PostgreSQL runs as user pgserver, and a concurrent pytest
    # session resets that root to 0700 (see dataplane._pg_root).
    root = Path(tempfile.mkdtemp(prefix="wb-dbmove-", dir="/var/tmp"))
    dev, rds = pg.start(root / "dev"), pg.start(root / "rds")
    app.seed(dev, 300)
    yield dev, rds
    pg.stop(root / "dev")
    pg.stop(root / "rds")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def moved(two_databases, tmp_path_factory):
    dev, rds = two_databases
    path = tmp_path_factory.mktemp("dump") / "app.dump"
    size = dbmove.dump(dev, path, pg.bin_path("pg_dump"))
    app.ensure_schema(rds)  # an app instance may have created empty tables first: restore replaces them
    dbmove.restore(rds, path, pg.bin_path("pg_restore"))
    return dev, rds, size


def test_restore_reproduces_every_table(moved):
    dev, rds, size = moved
    table = dbmove.verify(dev, rds)
    assert size > 0
    assert set(table["table"]) == set(app.TABLES)
    assert table["match"].all()
    assert table.set_index("table")["rows_rds"].to_dict() == {"customers": 75, "items": 150, "orders": 75}


def test_checksums_catch_a_changed_row(moved):
    dev, rds, _ = moved
    with psycopg.connect(rds, autocommit=True) as conn:
        conn.execute("UPDATE items SET price_cents = price_cents + 1 WHERE id = 42")
    try:
        table = dbmove.verify(dev, rds).set_index("table")
        assert not table.loc["items", "match"]
        assert table.loc["items", "rows_dev"] == table.loc["items", "rows_rds"]  # same count, other content
        assert table.loc["customers", "match"] and table.loc["orders", "match"]
    finally:
        with psycopg.connect(rds, autocommit=True) as conn:
            conn.execute("UPDATE items SET price_cents = price_cents - 1 WHERE id = 42")
    assert dbmove.verify(dev, rds)["match"].all()


def test_checksums_catch_a_missing_row(moved):
    dev, rds, _ = moved
    with psycopg.connect(rds, autocommit=True) as conn:
        row = conn.execute("SELECT id, customer_id, item_id, quantity, created_at FROM orders WHERE id = 7").fetchone()
        conn.execute("DELETE FROM orders WHERE id = 7")
    try:
        table = dbmove.verify(dev, rds).set_index("table")
        assert not table.loc["orders", "match"]
        assert table.loc["orders", "rows_rds"] == table.loc["orders", "rows_dev"] - 1
    finally:
        with psycopg.connect(rds, autocommit=True) as conn:
            conn.execute("INSERT INTO orders (id, customer_id, item_id, quantity, created_at) "
                         "VALUES (%s, %s, %s, %s, %s)", row)
    assert dbmove.verify(dev, rds)["match"].all()


def test_write_freeze_refuses_writes_and_unfreezes(two_databases):
    dev, _ = two_databases
    dbmove.freeze_writes(dev)
    try:
        with psycopg.connect(dev) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO items (name, price_cents) VALUES ('x', 1)")
    finally:
        dbmove.unfreeze_writes(dev)
    with psycopg.connect(dev) as conn:
        conn.execute("SELECT 1")
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"


def _bucket_checks(ctx, p, first, second):
    name = names.dump_bucket(p, ctx.account_id)
    assert (first.action, second.action, first.id) == ("created", "exists", name)
    s3 = ctx.client("s3")
    pab = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(pab.values())
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    assert tags == {"workbook:stack": p.stack_name, "workbook:step": dbmove.STEP, "Name": name}
    assert first.type == "s3_bucket" and [it.id for it in engine.find(ctx, "s3_bucket")] == [name]  # teardown finds it
    return s3, name


def test_dump_bucket_is_private_encrypted_tagged_and_found_again(ctx, capsys):
    p = ctx.params
    first, second = dbmove.ensure_dump_bucket(ctx), dbmove.ensure_dump_bucket(ctx)
    s3, name = _bucket_checks(ctx, p, first, second)
    assert "TLS-only" in capsys.readouterr().out   # the sandbox says it keeps the policy unenforced
    s3.put_object(Bucket=name, Key="k", Body=b"x")   # and uploads over its plain-HTTP endpoint work


def test_dump_bucket_in_aws_mode_refuses_plain_http():
    from moto import mock_aws
    from conftest import make_ctx
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        p = ctx.params
        first, second = dbmove.ensure_dump_bucket(ctx), dbmove.ensure_dump_bucket(ctx)
        s3, name = _bucket_checks(ctx, p, first, second)
        policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
        assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_dry_run_creates_no_bucket():
    from moto import mock_aws
    from conftest import make_ctx
    with mock_aws():
        ctx = make_ctx(dry_run=True)
        r = dbmove.ensure_dump_bucket(ctx)
        assert r.action == "would create"
        assert ctx.client("s3").list_buckets()["Buckets"] == []


def test_fingerprint_output_of_the_instance_scripts_parses():
    from workbook import dbmove_scripts
    out = dbmove_scripts.parse("FREEZE|read_only: on\nFP|customers|3|abc\nnoise\nFP|items|5|def\n")
    assert out["FREEZE"] == [["read_only: on"]]
    df = dbmove.fingerprint_frame(out["FP"])
    assert df.to_dict("records") == [{"table": "customers", "rows": 3, "md5": "abc"},
                                     {"table": "items", "rows": 5, "md5": "def"}]


def test_the_step_destroys_its_bucket_with_the_dumps_in_it_and_leaves_others(ctx):
    from workbook.steps import cutover
    name = dbmove.ensure_dump_bucket(ctx).id
    s3 = ctx.client("s3")
    s3.put_object(Bucket=name, Key="dumps/x/app.dump", Body=b"x")
    s3.create_bucket(Bucket=f"{ctx.params.stack_name}-someone-elses")   # same prefix, no tag: not ours
    assert cutover.destroy(ctx.replace(dry_run=True)).action.tolist() == ["would delete"]
    gone = cutover.destroy(ctx)
    assert (gone.type.tolist(), gone.id.tolist(), gone.action.tolist()) == (["s3_bucket"], [name], ["deleted"])
    assert cutover.destroy(ctx).empty
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [f"{ctx.params.stack_name}-someone-elses"]
