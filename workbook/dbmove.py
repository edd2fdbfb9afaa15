"""Move the dev database into RDS and prove nothing changed on the way.

dump the dev database (pg_dump -Fc) -> stage the dump in an encrypted, private, tagged S3 bucket
-> restore it into the RDS database (pg_restore) -> row counts and per-table checksums on both sides.

Write freeze (stated, measured): before the dump the dev database is made read-only
(`ALTER DATABASE ... SET default_transaction_read_only = on` and its sessions are reset, so the app
reconnects read-only). Reads keep working; writes get a 503 "writes are frozen". The freeze stays on
after the move: from the cutover on, the RDS database takes the writes, so no write can land in the
old database and be lost (no catch-up replication is attempted). `unfreeze_writes` is the rollback.
The frame returned by `move` gives the freeze's length and what a write during it got.

Where the dump and the restore run is the data plane's choice (`ctx.target.dataplane.move_database`):
on a real account on the instances through SSM Run Command (AWS-RunShellScript, `move_with_ssm`), since
neither database is reachable from the workbook's machine; that path uses documented APIs and the
command_executed waiter and cannot be run here. Where both databases are reachable from this machine
(the sandbox's stand-ins), `move_between` runs the same procedure with PostgreSQL's own tools.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from botocore.exceptions import WaiterError
from psycopg import sql

from . import engine, names, progress, quoting, tagging
from .backend.app import TABLES
from .connect import Context, Resource

STEP = "08_cutover_compare"   # the step that owns the staging bucket (steps/cutover.py declares its kind)
DB_NAME = "app"

# One row per table: row count and an md5 over the md5 of every row in primary-key order. A changed
# value, a missing row or an extra row changes it; the same rows in the same order give the same hash.
FINGERPRINT_SQL = " UNION ALL ".join(
    f"SELECT '{t}', count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.id), '')) FROM {t} t"
    for t in TABLES)


@dataclass
class MoveResult:
    verification: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    bucket: str = ""
    key: str = ""
    dump_bytes: int = 0
    write_during_freeze: str = ""

    @property
    def ok(self) -> bool:
        return bool(len(self.verification)) and bool(self.verification["match"].all())

    def summary(self) -> pd.DataFrame:
        rows = [{"what": k.replace("_", " "), "value": v} for k, v in self.timings.items()]
        rows += [{"what": "dump size (bytes)", "value": self.dump_bytes},
                 {"what": "staged at", "value": f"s3://{self.bucket}/{self.key}"},
                 {"what": "a write during the freeze got", "value": self.write_during_freeze},
                 {"what": "all tables match", "value": self.ok}]
        return pd.DataFrame(rows, columns=["what", "value"])


# ---- checksums ------------------------------------------------------------------------------------
def fingerprints(uri: str) -> pd.DataFrame:
    with psycopg.connect(uri, connect_timeout=5) as conn:
        rows = conn.execute(FINGERPRINT_SQL).fetchall()
    return pd.DataFrame(rows, columns=["table", "rows", "md5"])


def compare_fingerprints(dev: pd.DataFrame, rds: pd.DataFrame) -> pd.DataFrame:
    """The verification frame: per table, rows and checksum on each side and whether they match."""
    df = dev.merge(rds, on="table", how="outer", suffixes=("_dev", "_rds"))
    df["match"] = (df["rows_dev"] == df["rows_rds"]) & (df["md5_dev"] == df["md5_rds"])
    return df[["table", "rows_dev", "rows_rds", "md5_dev", "md5_rds", "match"]]


def verify(dev_uri: str, rds_uri: str) -> pd.DataFrame:
    return compare_fingerprints(fingerprints(dev_uri), fingerprints(rds_uri))


# ---- write freeze ---------------------------------------------------------------------------------
def _set_read_only(uri: str, on: bool) -> None:
    with psycopg.connect(uri, autocommit=True, connect_timeout=5) as conn:
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute("SET default_transaction_read_only = off")  # this session must be able to ALTER
        conn.execute(f"ALTER DATABASE {sql.Identifier(db).as_string(conn)} "
                     f"SET default_transaction_read_only = {'on' if on else 'off'}")
        # Sessions read the setting when they start: end the app's sessions so it reconnects with it.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")


def freeze_writes(uri: str) -> float:
    _set_read_only(uri, True)
    return time.time()


def unfreeze_writes(uri: str) -> None:
    _set_read_only(uri, False)


# ---- dump, restore --------------------------------------------------------------------------------
def dump(uri: str, path: Path, pg_dump: str = "pg_dump") -> int:
    subprocess.run([pg_dump, "-Fc", "--no-owner", "--no-acl", "-f", str(path), "-d", uri],
                   check=True, capture_output=True, timeout=600)
    return path.stat().st_size


def restore(uri: str, path: Path, pg_restore: str = "pg_restore") -> None:
    """Into the target database, replacing what tables of the same name hold, all or nothing."""
    subprocess.run([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-acl",
                    "--single-transaction", "--exit-on-error", "-d", uri, str(path)],
                   check=True, capture_output=True, timeout=600)


# ---- staging bucket -------------------------------------------------------------------------------
def ensure_dump_bucket(ctx: Context) -> Resource:
    """Private, encrypted (SSE-S3), TLS-only bucket for the dump, found by the stack's tag (engine).
    Tagged right after it is made, before anything else: a run that stops there leaves a bucket that
    teardown finds."""
    p = ctx.p
    name = names.dump_bucket(p, ctx.account_id)
    config = {} if p.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": p.region}}
    rec = engine.ensure(ctx, "s3_bucket", name, step=STEP, create={"Bucket": name, **config})
    if rec.action != "created":
        return rec
    s3 = ctx.client("s3")
    progress.wait_for(s3, "bucket_exists", name, sleep=ctx.clock.sleep, Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tagging.tags(p, STEP, name)})
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]})
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    return rec


def tls_only_policy(bucket: str) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


def _key() -> str:
    return time.strftime("dumps/%Y%m%dT%H%M%SZ/app.dump", time.gmtime())


# ---- the move -------------------------------------------------------------------------------------
def move(ctx: Context) -> MoveResult:
    """Freeze writes on dev, dump, stage in S3, restore into RDS, verify (see the module docstring). The
    target's data plane runs it where the databases are reachable."""
    return ctx.target.dataplane.move_database(ctx)


def move_between(ctx: Context, dev_uri: str, rds_uri: str, *, dev_url: str, pg_dump: str = "pg_dump",
                 pg_restore: str = "pg_restore") -> MoveResult:
    """The move between two databases this machine reaches (`dev_url`: the dev app, for the write that
    proves the freeze holds)."""
    bucket = ensure_dump_bucket(ctx).id
    s3 = ctx.client("s3")
    t: dict[str, float] = {}
    key = _key()
    with tempfile.TemporaryDirectory() as tmp:
        local, back = Path(tmp) / "app.dump", Path(tmp) / "restored.dump"
        t_freeze = freeze_writes(dev_uri)
        write = _try_write(dev_url)
        t0 = time.perf_counter()
        size = dump(dev_uri, local, pg_dump)
        t["dump_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        s3.upload_file(str(local), bucket, key, ExtraArgs={"ServerSideEncryption": "AES256"})
        # Restore from the staged object, as the instance in aws mode does: what is verified is
        # what went through S3.
        s3.download_file(bucket, key, str(back))
        t["stage_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        restore(rds_uri, back, pg_restore)
        t["restore_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = verify(dev_uri, rds_uri)
    t["verify_s"] = time.perf_counter() - t0
    t["write_freeze_s"] = time.time() - t_freeze
    return MoveResult(table, {k: round(v, 3) for k, v in t.items()}, bucket, key, size, write)


def _try_write(dev_url: str) -> str:
    """One write through the dev app during the freeze: the evidence that the freeze holds."""
    import urllib.error
    import urllib.request
    try:
        req = urllib.request.Request(dev_url + "/items", method="POST",
                                     data=b'{"name": "during-freeze", "price_cents": 1}',
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return f"HTTP {r.status} (accepted: the freeze did not hold)"
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code} {json.loads(e.read() or b'{}').get('error', '')}".strip()
    except (OSError, LookupError) as e:
        return f"not tried ({type(e).__name__})"


# ---- aws mode: SSM Run Command ----------------------------------------------------------------------
def _run_ssm(ctx: Context, instance_id: str, commands: list[str], comment: str) -> str:
    """Run shell commands on an instance and wait; returns stdout (raises with stderr on failure)."""
    ssm = ctx.client("ssm")
    cmd = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Comment=comment[:100],
                           Parameters={"commands": ["set -euo pipefail", *commands], "executionTimeout": ["3600"]},
                           TimeoutSeconds=600)["Command"]
    try:
        progress.wait_for(ssm, "command_executed", comment, delay=5, max_attempts=720, sleep=ctx.clock.sleep,
                          CommandId=cmd["CommandId"], InstanceId=instance_id)
    except WaiterError:
        pass  # the waiter raises on a failed command before its output is read: it is read below
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instance_id)
    if inv["Status"] != "Success":
        raise RuntimeError(f"{comment}: {inv['Status']} on {instance_id}: "
                           f"{inv.get('StandardErrorContent', '')[-500:]}")
    return inv.get("StandardOutputContent", "")


def _parse_fingerprints(text: str) -> pd.DataFrame:
    rows = [line.split("|") for line in text.strip().splitlines() if line.count("|") == 2]
    return pd.DataFrame([(t, int(n), h) for t, n, h in rows], columns=["table", "rows", "md5"])


def move_with_ssm(ctx: Context) -> MoveResult:
    """On the dev instance (PostgreSQL local, database `app`, OS user postgres): freeze, pg_dump, upload
    with SSE. On one Auto Scaling instance (in the VPC, allowed to the database): download, read the
    master password from the RDS-managed secret at run time (it never passes through the command text
    or this process), pg_restore into RDS, fingerprint both sides."""
    p = ctx.p
    bucket = ensure_dump_bucket(ctx).id
    key = _key()
    dev = ctx.target.dataplane.dev_instance_id(ctx)
    db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
    secret = db.get("MasterUserSecret", {}).get("SecretArn", "")
    if not secret:
        raise RuntimeError(f"{db['DBInstanceIdentifier']} has no RDS-managed master secret; the restore reads the "
                           "password from it (ManageMasterUserPassword=True in step 03)")
    g = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    app_instance = next(i["InstanceId"] for i in g["Instances"] if i["LifecycleState"] == "InService")
    url = quoting.s3_uri(bucket, key)
    local_psql = f"sudo -u postgres psql -d {DB_NAME} -v ON_ERROR_STOP=1"
    t: dict[str, float] = {}
    t_freeze = time.time()
    t0 = time.perf_counter()
    _run_ssm(ctx, dev, [
        f"{local_psql} -c \"ALTER DATABASE {DB_NAME} SET default_transaction_read_only = on\"",
        f"{local_psql} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{DB_NAME}' "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'\"",
        f"sudo -u postgres pg_dump -Fc --no-owner --no-acl -d {DB_NAME} -f /tmp/app.dump",
        f"aws s3 cp /tmp/app.dump {shlex.quote(url)} --sse AES256 --only-show-errors",
        "rm -f /tmp/app.dump"], "workbook: freeze and dump the dev database")
    t["dump_and_stage_s"] = time.perf_counter() - t0
    dev_fp = _parse_fingerprints(_run_ssm(ctx, dev, [f"{local_psql} -At -F '|' -c {shlex.quote(FINGERPRINT_SQL)}"],
                                          "workbook: fingerprint the dev database"))
    ep = db["Endpoint"]
    # libpq's own quoting: a name with a space or a quote cannot add an option (another host, no TLS)
    conn = quoting.conninfo(host=ep["Address"], port=ep["Port"], dbname=db.get("DBName") or DB_NAME,
                            user=db["MasterUsername"], sslmode="require")
    password = (f"export PGPASSWORD=\"$(aws secretsmanager get-secret-value --secret-id {shlex.quote(secret)} "
                "--query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"password\"])')\"")
    t0 = time.perf_counter()
    out = _run_ssm(ctx, app_instance, [
        f"aws s3 cp {shlex.quote(url)} /tmp/app.dump --only-show-errors", password,
        f"pg_restore --clean --if-exists --no-owner --no-acl --single-transaction --exit-on-error "
        f"-d {shlex.quote(conn)} /tmp/app.dump",
        "rm -f /tmp/app.dump",
        f"psql {shlex.quote(conn)} -At -F '|' -c {shlex.quote(FINGERPRINT_SQL)}"], "workbook: restore into RDS")
    t["restore_and_verify_s"] = time.perf_counter() - t0
    t["write_freeze_s"] = time.time() - t_freeze
    table = compare_fingerprints(dev_fp, _parse_fingerprints(out))
    return MoveResult(table, {k: round(v, 3) for k, v in t.items()}, bucket, key, 0,
                      "not tried in aws mode (the freeze is set in the database)")
