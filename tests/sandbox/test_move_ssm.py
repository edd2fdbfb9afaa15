"""The database move in the sandbox runs the real account's path: SSM Run Command, whose commands the
data plane runs with /bin/sh on its stand-ins (the dev host, an app server), with real dumps through S3,
real restores, row counts and checksums; PostgreSQL and MySQL (MariaDB) dev hosts alike. A moved
database is never overwritten: a rerun after a production write keeps the write (the move ledger)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane_stack import create_stack, private_sandbox  # noqa: E402

from workbook import dbmove, dbmove_hosts, names  # noqa: E402
from workbook.backend import app as backend  # noqa: E402
from workbook.params import Params  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def _plane(tmp_path_factory, engine: str, rows: int = 300):
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    with private_sandbox(tmp_path_factory.mktemp(f"move-{engine}")):
        p = Params.from_mapping({"sample_rows": rows, "dev_db_engine": engine})
        ctx = connect(p)
        stack = create_stack(ctx, p, managed_secret=True, engine=engine, dev_db=engine)
        ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)
        yield {"ctx": ctx, "stack": stack, "dp": dataplane}


@pytest.fixture(scope="module")
def pg_plane(tmp_path_factory):
    yield from _plane(tmp_path_factory, "postgres")


@pytest.fixture(scope="module")
def mysql_plane(tmp_path_factory):
    yield from _plane(tmp_path_factory, "mysql")


def _count(uri: str, where: str) -> int:
    with backend.connect(uri) as conn:
        return conn.execute(f"SELECT count(*) FROM items WHERE {where}").fetchone()[0]


def _insert(uri: str, name: str) -> None:
    with backend.connect(uri) as conn:
        conn.execute("INSERT INTO items (name, price_cents) VALUES (%s, 4200)", (name,))


def _on_the_app_server_with_the_moves_policy(ctx, script, what):
    """`script` run on an app server while the move's policy lets its role write the dump bucket:
    (its whole output, the instance, the bucket)."""
    bucket = dbmove.ensure_dump_bucket(ctx).id
    app = dbmove_hosts.restore_instance(ctx)
    with dbmove_hosts.app_access(ctx, bucket, [f"arn:aws:secretsmanager:{ctx.p.region}:{ctx.account_id}:secret:none"]):
        return dbmove.run_command(ctx, app, script, what, output_bucket=bucket), app, bucket


def test_an_output_past_24000_characters_arrives_whole_through_s3_with_the_roles_permission(pg_plane):
    """The sandbox's agent answers as AWS does: the first 24,000 bytes inline, the whole in S3 when the
    command names a bucket and the instance role may write there (the move's policy allows it)."""
    ctx = pg_plane["ctx"]
    script = "i=0; while [ $i -lt 1000 ]; do echo \"FP|table_$i|$i|0123456789abcdef\"; i=$((i+1)); done"
    out, app, bucket = _on_the_app_server_with_the_moves_policy(ctx, script, "a long output")
    assert len(out.splitlines()) == 1000 and len(out) > 24_000
    with pytest.raises(dbmove.CommandFailed, match="s3:PutObject"):   # without the move's policy: no upload
        dbmove.run_command(ctx, app, script, "a long output, no permission", output_bucket=bucket)


def test_an_output_under_24000_characters_but_over_24000_bytes_arrives_whole(pg_plane):
    """The agent cuts at 24,000 bytes, and non-ASCII text (table names in German) has more bytes than
    characters: the sandbox cuts as the agent does, and the workbook reads the whole from S3."""
    script = "i=0; while [ $i -lt 850 ]; do echo \"FP|größe_übersicht_$i|$i\"; i=$((i+1)); done"
    out, _, _ = _on_the_app_server_with_the_moves_policy(pg_plane["ctx"], script, "a long non-ASCII output")
    assert len(out) < 24_000 < len(out.encode())
    assert out.splitlines()[-1] == "FP|größe_übersicht_849|849"


def test_a_failed_command_shows_what_the_instance_printed(pg_plane):
    ctx, dev = pg_plane["ctx"], pg_plane["stack"]["dev"]
    bucket = dbmove.ensure_dump_bucket(ctx).id
    with dbmove_hosts.dev_access(ctx, dev, bucket):
        assert dbmove.run_command(ctx, dev, "echo hello from $(hostname)", "a command").startswith("hello from")
        with pytest.raises(dbmove.CommandFailed, match="Failed on i-.*boom"):
            dbmove.run_command(ctx, dev, "echo boom >&2; exit 3", "a failing command")
    # the profile the move attached for the block is gone again: the host is as it was
    assert dbmove_hosts.profile_of(ctx, dev) is None


def _dev_read_only(uri: str) -> str:
    with backend.connect(uri) as conn:   # a new session: it starts as the database's default says
        return conn.execute("SHOW default_transaction_read_only").fetchone()[0]


def test_a_move_whose_restore_is_refused_leaves_the_dev_database_writable(pg_plane):
    """The restore refuses an RDS database holding rows no move ledger accounts for, after the dev database
    was frozen and dumped: nothing moved, so the dev app must take writes again (the notebook's promise:
    a failed move leaves dev unchanged)."""
    ctx, dp = pg_plane["ctx"], pg_plane["dp"]
    _insert(dp.database_uri("rds"), "someone else's row")
    try:
        with pytest.raises(dbmove.CommandFailed, match="not overwritten"):
            dbmove.move(ctx)
        assert _dev_read_only(dp.database_uri("dev")) == "off"
        _insert(dp.database_uri("dev"), "written after the failed move")
    finally:
        with backend.connect(dp.database_uri("rds")) as conn:
            conn.execute("DELETE FROM items")
        with backend.connect(dp.database_uri("dev")) as conn:
            conn.execute("DELETE FROM items WHERE name = 'written after the failed move'")


def test_postgres_move_then_a_rerun_keeps_a_production_write(pg_plane):
    ctx, dp = pg_plane["ctx"], pg_plane["dp"]
    # An earlier attempt froze the dev database and stopped before its restore (the freeze stays: it is
    # what keeps the dump current). The move runs again from there: its freeze was refused ("cannot execute
    # ALTER DATABASE in a read-only transaction") since its own session started read-only.
    from workbook import dbmove_scripts
    dev, bucket = pg_plane["stack"]["dev"], dbmove.ensure_dump_bucket(ctx).id
    with dbmove_hosts.dev_access(ctx, dev, bucket):
        dbmove.run_command(ctx, dev, dbmove_scripts.dev_pg(ctx.p.dev_db_name, bucket, "x", ctx.p.region, dump=False,
                                                           freeze=True), "an earlier attempt's freeze")
    first = dbmove.move(ctx)
    assert first.ok and not first.already_moved and first.engine == "postgres"
    assert first.verification["rows_rds"].sum() == 300 and first.freeze_held
    assert "dev server: postgres 16 (RDS: 16." in " ".join(first.notes)   # the versions the move checked
    staged = ctx.client("s3").head_object(Bucket=first.bucket, Key=first.key)["ContentLength"]
    assert first.dump_bytes == staged > 0      # streamed to S3 whole, its size counted on the way
    # before the freeze, on the host itself: the CLI, an upload where the dump goes, room where it is staged
    assert {n.split(":")[0] for n in first.notes} >= {"preflight, aws", "preflight, upload", "preflight, space"}
    _insert(dp.database_uri("rds"), "written in production")
    again = dbmove.move(ctx)
    assert _count(dp.database_uri("rds"), "name = 'written in production'") == 1
    assert again.already_moved and again.ok
    assert "changed since the move" in again.verification.set_index("table").loc["items", "since_move"]
    tags = {t["Key"]: t["Value"] for t in ctx.client("rds").list_tags_for_resource(
        ResourceName=ctx.client("rds").describe_db_instances()["DBInstances"][0]["DBInstanceArn"])["TagList"]}
    assert tags["workbook:moved-dump"] == first.key


def test_the_app_user_is_created_with_its_own_secret(pg_plane):
    ctx, dp = pg_plane["ctx"], pg_plane["dp"]
    secret = ctx.client("secretsmanager").describe_secret(SecretId=names.app_db_secret(ctx.p))
    assert {t["Key"]: t["Value"] for t in secret["Tags"]}["workbook:stack"] == ctx.p.stack_name
    with backend.connect(dp.database_uri("rds")) as conn:
        assert conn.execute("SELECT has_table_privilege('app_user', 'items', 'INSERT'), "
                            "has_table_privilege('app_user', 'items', 'TRUNCATE')").fetchone() == (True, False)
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app_user'").fetchone()[0]
    password = json.loads(ctx.client("secretsmanager").get_secret_value(SecretId=secret["ARN"])["SecretString"])["password"]
    assert _scram_matches(stored, password)   # the app logs in with the password its secret holds


def _scram_matches(stored: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier (pg_authid) is that of `password` (RFC 5802)."""
    method, rest = stored.split("$", 1)
    (iterations, salt), (stored_key, _) = (part.split(":") for part in rest.split("$"))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key


def test_a_mysql_dev_host_moves_real_mysql_rows_with_matching_checksums(mysql_plane):
    ctx, dp = mysql_plane["ctx"], mysql_plane["dp"]
    result = dbmove.move(ctx)
    assert result.engine == "mysql" and result.ok and result.key.endswith(".sql")
    by_table = result.verification.set_index("table")
    assert by_table["rows_rds"].to_dict() == {"customers": 75, "items": 150, "orders": 75}
    assert (by_table["md5_dev"] == by_table["md5_rds"]).all() and by_table["md5_rds"].str.len().eq(32).all()
    assert result.write_during_freeze == "read_only: on" and result.freeze_held
    assert result.dump_bytes == ctx.client("s3").head_object(Bucket=result.bucket, Key=result.key)["ContentLength"] > 0
    assert dp.database_uri("rds").startswith("mysql://")
    _insert(dp.database_uri("rds"), "written in production")
    again = dbmove.move(ctx)
    assert again.already_moved and again.ok
    assert _count(dp.database_uri("rds"), "name = 'written in production'") == 1
