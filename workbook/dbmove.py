"""Move the dev database into RDS, prove nothing changed on the way, and never move it twice.

On the dev host (SSM Run Command): a preflight first (the AWS CLI, the upload, room for the dump:
dbmove_preflight.py), so what can fail does before anything is frozen; then freeze writes, fingerprint
every table, dump with the engine's own tool (pg_dump for PostgreSQL, mysqldump for MySQL/MariaDB: the
engine the dev host runs, which RDS must run too), upload to a private, encrypted, tagged S3 bucket.
On one app server (in the VPC, allowed to the database): read the dump with its own role, restore
into RDS, write the move ledger, create the app's own least-privilege database user, fingerprint. Row counts and checksums per table on both sides.
The scripts are in dbmove_scripts.py, the instances' prerequisites in dbmove_hosts.py.

Write freeze (stated, measured): before the dump the dev database is made read-only (PostgreSQL: the
database's default_transaction_read_only, its sessions reset so the app reconnects read-only; MySQL:
the server's read_only, which binds every user without admin rights). The freeze stays on from the
dump until the cutover (steps/cutover.py), so no write lands in the old database between the two;
the cutover lifts it with `unfreeze_dev` once clients go to RDS (dev is a development database again,
and a rollback compares what was written on either side since). The freeze is written in the stack's
ledger (FROZEN) before it is set, with the key its dump goes to: a rerun that finds the dump command
still running waits for it and restores that key, not one named at its own time. A move that fails
after the freeze lifts it unless its restore committed; 08's destroy and the teardown lift one left
behind (`lift_left_freeze`) unless clients were cut over.

The move ledger: a moved database is recorded on the RDS instance's tags (`workbook:moved-*`) and in
the database (table workbook_move_ledger, written in the restore's own transaction on PostgreSQL). A
rerun finds either, restores nothing and verifies instead: the dev database must still be what was
moved, and what production wrote since is kept. A database that holds rows no ledger accounts for is
refused, never overwritten.

Both targets run this same path: on a real account AWS runs the commands; in the sandbox the data plane
runs them with bash against its local stand-ins (workbook/sandbox/runcommand.py).
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql

from . import dbengine, engine, names, progress, tagging
from . import dbmove_hosts as hosts
from . import dbmove_preflight as preflight
from . import dbmove_scripts as scripts
from .backend.app import TABLES
from .connect import Context, Resource
from .dbmove_hosts import CommandFailed, NotReady, run_command  # noqa: F401  (the notebook's errors)

STEP = "08_cutover_compare"   # the step that owns the staging bucket (steps/cutover.py declares its kind)
DB_NAME = "app"
MOVED_TAGS = ("workbook:moved-at", "workbook:moved-from", "workbook:moved-dump")   # the ledger on the RDS instance
FROZEN = "dev_freeze"   # the stack's ledger: the dev host whose database the move froze, and the key of its dump
RDS_ENGINES = {"postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}

# One row per table: row count and an md5 over the md5 of every row in primary-key order. A changed
# value, a missing row or an extra row changes it; the same rows in the same order give the same hash.
FINGERPRINT_SQL = " UNION ALL ".join(
    f"SELECT '{t}', count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t.id), '')) FROM {t} t"
    for t in TABLES)


@dataclass
class MoveResult:
    """verification: per table, rows and checksum on the dev side and the RDS side and whether they match.
    A rerun (already_moved) compares the dev database now with what the ledger says was moved, and shows
    RDS now beside it (`rds_now`: what production wrote since is kept, not compared)."""
    verification: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    bucket: str = ""
    key: str = ""
    dump_bytes: int = 0
    write_during_freeze: str = ""     # the freeze's evidence, as the dev database reports it
    engine: str = ""
    already_moved: bool = False
    moved_at: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(len(self.verification)) and bool(self.verification["match"].all())

    @property
    def freeze_held(self) -> bool:
        w = self.write_during_freeze
        return w.startswith("HTTP 503") or w.endswith(("read-only: on", "read_only: on"))

    def summary(self) -> pd.DataFrame:
        rows = [{"what": "engine", "value": self.engine}]
        if self.already_moved:
            rows.append({"what": "already moved", "value": f"{self.moved_at}: nothing restored, verified instead"})
        rows += [{"what": k.replace("_", " "), "value": v} for k, v in self.timings.items()]
        rows += [{"what": "dump size (bytes)", "value": self.dump_bytes},
                 {"what": "staged at", "value": f"s3://{self.bucket}/{self.key}"},
                 {"what": "write freeze on dev", "value": self.write_during_freeze},
                 {"what": "all tables match", "value": self.ok}]
        rows += [{"what": "note", "value": n} for n in self.notes]
        return pd.DataFrame(rows, columns=["what", "value"])


# ---- checksums ------------------------------------------------------------------------------------
def fingerprints(uri: str) -> pd.DataFrame:
    with psycopg.connect(uri, connect_timeout=5) as conn:
        rows = conn.execute(FINGERPRINT_SQL).fetchall()
    return pd.DataFrame(rows, columns=["table", "rows", "md5"])


def fingerprint_frame(rows: list[list[str]]) -> pd.DataFrame:
    """`table|rows|md5` fields (dbmove_scripts output) -> a frame."""
    return pd.DataFrame([(r[0], int(r[1]), r[2] if len(r) > 2 else "") for r in rows if len(r) >= 2],
                        columns=["table", "rows", "md5"])


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


def _key(engine_name: str) -> str:
    return time.strftime("dumps/%Y%m%dT%H%M%SZ/", time.gmtime()) + ("app.dump" if engine_name == "postgres" else "app.sql")




# ---- the move -------------------------------------------------------------------------------------
def move(ctx: Context) -> MoveResult:
    """Move the dev database into RDS, or verify a move done before (see the module docstring)."""
    return ctx.target.dataplane.move_database(ctx)


def _rds(ctx: Context) -> dict[str, Any]:
    try:
        return ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(ctx.p))["DBInstances"][0]
    except ctx.client("rds").exceptions.DBInstanceNotFoundFault:
        raise NotReady(f"no RDS instance {names.db_instance(ctx.p)}: run 03_database first") from None


def _engines(ctx: Context, db: dict[str, Any]) -> tuple[str, str, str]:
    """(engine, dev instance id, evidence): the dev host's engine, which must be the RDS instance's."""
    dev_engine, evidence, dev = dbengine.detect(ctx)
    p = ctx.p
    if not dev:
        raise NotReady(f"no dev host found ({evidence}; dev_instance_id={p.dev_instance_id or '-'}, dev_tag={p.dev_tag}): "
                       "nothing is moved")
    if not dev_engine:
        raise NotReady(f"which database the dev host runs cannot be told ({evidence}): nothing is moved. Tag the host "
                       "workbook:dev-db=postgres or mysql")
    rds_engine = RDS_ENGINES.get(db["Engine"], db["Engine"])
    if rds_engine != dev_engine:
        raise NotReady(f"the dev host runs {dev_engine} ({evidence}) but {db['DBInstanceIdentifier']} runs "
                       f"{db['Engine']}: a {dev_engine} dump cannot be restored there, so nothing is moved. Recreate the "
                       f"database with db_engine=auto (or {dev_engine}) in 03_database")
    return dev_engine, dev, evidence


def _target(ctx: Context, db: dict[str, Any], engine_name: str, app_secret: str) -> scripts.Target:
    ep = db.get("Endpoint") or {}
    master = (db.get("MasterUserSecret") or {}).get("SecretArn", "")
    if not master:
        raise NotReady(f"{db['DBInstanceIdentifier']} has no RDS-managed master secret; the restore reads the password "
                       "from it on the instance (ManageMasterUserPassword=True in 03_database)")
    return scripts.Target(engine=engine_name, major=str(db.get("EngineVersion", "16")).split(".")[0],
                          host=ep.get("Address", ""), port=int(ep.get("Port") or ctx.p.db_port),
                          database=db.get("DBName") or DB_NAME, user=db["MasterUsername"], master_secret=master,
                          app_secret=app_secret, app_user=hosts.APP_USER, region=ctx.p.region)


def _dev_script(engine_name: str, ctx: Context, bucket: str, key: str, *, dump: bool, rds_major: str = "") -> str:
    if engine_name == "postgres":   # a dev server newer than RDS is refused before the freeze
        return scripts.dev_pg(ctx.p.dev_db_name, bucket, key, ctx.p.region, dump=dump, freeze=dump, rds_major=rds_major)
    return scripts.dev_mysql(ctx.p.dev_db_name, bucket, key, ctx.p.region, dump=dump, freeze=dump)


def moved(ctx: Context) -> dict[str, str]:
    """The move ledger's tags on the RDS instance (empty when nothing was moved): what the cutover needs."""
    return _moved_tags(ctx, _rds(ctx))


def _moved_tags(ctx: Context, db: dict[str, Any]) -> dict[str, str]:
    tags = ctx.client("rds").list_tags_for_resource(ResourceName=db["DBInstanceArn"])["TagList"]
    return {t["Key"]: t["Value"] for t in tags if t["Key"] in MOVED_TAGS}


def _tag_moved(ctx: Context, db: dict[str, Any], at: str, dev: str, key: str) -> None:
    ctx.client("rds").add_tags_to_resource(ResourceName=db["DBInstanceArn"], Tags=[
        {"Key": k, "Value": v} for k, v in zip(MOVED_TAGS, (at, dev, key))])


def _frozen_key(ctx: Context, dev: str, engine_name: str) -> str:
    """The dump's key, written down with the freeze before either happens. While the freeze stands the
    same key is used: a dump command still running from an earlier cell uploads there (a dump sent again
    of the frozen database writes the same data over it)."""
    frozen = engine.ledger(ctx).get(FROZEN, {}).get(dev) or {}
    if frozen.get("key"):
        return frozen["key"]
    key = _key(engine_name)
    engine.remember(ctx, FROZEN, dev, STEP, key=key, engine=engine_name, database=ctx.p.dev_db_name)
    return key


def move_with_ssm(ctx: Context) -> MoveResult:
    """The move through SSM Run Command on the dev host and one app server (module docstring)."""
    db = _rds(ctx)
    engine_name, dev, evidence = _engines(ctx, db)
    bucket = ensure_dump_bucket(ctx).id
    app_secret = hosts.ensure_app_secret(ctx, db, engine_name)
    target = _target(ctx, db, engine_name, app_secret)
    app = hosts.restore_instance(ctx)
    tagged = _moved_tags(ctx, db)
    t: dict[str, float] = {}
    checked: dict[str, str] = {}
    with hosts.dev_access(ctx, dev, bucket), hosts.app_access(ctx, bucket, [target.master_secret, app_secret]):
        hosts.registered(ctx, app, "app server")
        probe = scripts.parse(run_command(ctx, app, scripts.target_probe(target), "workbook: read the move ledger in RDS",
                                           output_bucket=bucket))
        ledger = (probe.get("LEDGER") or [[""]])[0]
        if tagged or ledger[0] == "moved":
            return _verify_moved(ctx, db, engine_name, dev, bucket, probe, tagged)
        if not engine.ledger(ctx).get(FROZEN, {}).get(dev):   # a move resumed under its freeze had its preflight
            t0 = time.perf_counter()
            # the dump's script, for where it stages the dump (its key does not change that)
            checked = preflight.run(ctx, dev, engine_name, bucket, _dev_script(engine_name, ctx, bucket, "dumps/-",
                                                                              dump=True))
            t["preflight_s"] = time.perf_counter() - t0
        key = _frozen_key(ctx, dev, engine_name)
        t_freeze = time.time()
        restore_sent = False
        try:
            t0 = time.perf_counter()
            out = scripts.parse(run_command(ctx, dev, _dev_script(engine_name, ctx, bucket, key, dump=True,
                                                                  rds_major=target.major),
                                            "workbook: freeze, fingerprint and dump the dev database",
                                            output_bucket=bucket))
            t["freeze_dump_and_stage_s"] = time.perf_counter() - t0
            dev_fp = fingerprint_frame(out.get("FP", []))
            text = "\n".join("|".join(r) for r in out.get("FP", []))
            t0 = time.perf_counter()
            restore_sent = True
            done = scripts.parse(run_command(ctx, app, scripts.target_restore(
                target, bucket=bucket, key=key, source=f"{dev} {engine_name} {ctx.p.dev_db_name}", dev_fingerprints=text),
                "workbook: restore into RDS", output_bucket=bucket))
        except progress.StillWaiting:
            raise   # the command goes on in AWS: the freeze stays with it, and the rerun resumes it
        except Exception as e:
            _after_failure(ctx, e, dev, engine_name, app, target, bucket, restore_sent)
            raise
        t["restore_and_verify_s"] = time.perf_counter() - t0
        t["write_freeze_s"] = time.time() - t_freeze
    at = ((done.get("LEDGER") or [["", ""]])[0] + ["", ""])[1] or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _tag_moved(ctx, db, at, dev, key)
    table = compare_fingerprints(dev_fp, fingerprint_frame(done.get("FP", [])))
    freeze = (out.get("FREEZE") or [["not reported"]])[0][0]
    size = int((out.get("DUMP") or [["0"]])[0][0] or 0)
    server = [f"dev server: {e} {m} (RDS: {db.get('EngineVersion', '?')})" for e, m in out.get("SERVER", [])]
    return MoveResult(table, {k: round(v, 3) for k, v in t.items()}, bucket, key, size, freeze, engine_name,
                      notes=[f"dev engine: {evidence}", *server, f"the app's own database user {hosts.APP_USER}: secret "
                             f"{names.app_db_secret(ctx.p)}", *(f"preflight, {k}: {v}" for k, v in checked.items())])


def _after_failure(ctx: Context, error: Exception, dev: str, engine_name: str, app: str, target: scripts.Target,
                   bucket: str, restore_sent: bool) -> None:
    """A move that failed after the freeze: unless its restore committed (the move ledger in RDS says
    moved), nothing of dev went anywhere, so its write freeze is lifted, best effort. Said on the error."""
    def say(note: str) -> None:
        print(note)
        error.add_note(note)
    if restore_sent:
        try:
            probe = scripts.parse(run_command(ctx, app, scripts.target_probe(target), "workbook: read the move ledger "
                                              "in RDS", output_bucket=bucket))
        except Exception as e:  # noqa: BLE001 - the move's own error is the one raised
            return say(f"the dev database stays read-only: whether the restore committed could not be read ({e}). "
                       "Run the move again (it verifies a committed restore), or lift it: dbmove.unfreeze_dev(ctx)")
        if (probe.get("LEDGER") or [[""]])[0][0] == "moved":
            return say("the restore committed before the command failed (the move ledger in RDS says moved): the dev "
                       "database stays read-only. Run the move again: it verifies and records the move")
    try:
        say(f"the move did not complete, so the dev database's write freeze was lifted "
            f"({_lift(ctx, dev, engine_name)}): dev takes writes as before the move")
    except Exception as e:  # noqa: BLE001
        say(f"the move did not complete, and lifting the dev database's write freeze failed too ({e}): it is still "
            "read-only. Lift it with dbmove.unfreeze_dev(ctx)")


def _verify_moved(ctx: Context, db: dict[str, Any], engine_name: str, dev: str, bucket: str,
                  probe: dict[str, list[list[str]]], tagged: dict[str, str]) -> MoveResult:
    """A rerun: nothing is restored. The dev database now must equal what the ledger says was moved (no
    write lost on dev); RDS now is shown beside it, its writes since the move kept."""
    ledger = (probe.get("LEDGER") or [[]])[0] + ["", "", "", ""]
    notes = []
    if ledger[0] != "moved":
        notes.append(f"{db['DBInstanceIdentifier']} is tagged as moved ({tagged.get(MOVED_TAGS[0], '')}) but its "
                     "database holds no ledger entry: nothing is restored; compared with RDS as it is now")
    out = scripts.parse(run_command(ctx, dev, _dev_script(engine_name, ctx, bucket, "", dump=False),
                                    "workbook: fingerprint the dev database (already moved)", output_bucket=bucket))
    moved = fingerprint_frame(probe.get("MOVED", [])) if ledger[0] == "moved" else fingerprint_frame(probe.get("FP", []))
    now = fingerprint_frame(probe.get("FP", [])).rename(columns={"rows": "rows_now", "md5": "md5_now"})
    table = compare_fingerprints(fingerprint_frame(out.get("FP", [])), moved).merge(now, on="table", how="left")
    table["since_move"] = [("unchanged" if r.md5_now == r.md5_rds else f"{int(r.rows_now) - int(r.rows_rds):+d} rows, "
                            "changed since the move (kept)") if pd.notna(r.md5_now) and pd.notna(r.md5_rds) else "-"
                           for r in table.itertuples()]
    at = ledger[1] or tagged.get(MOVED_TAGS[0], "")
    if not tagged:
        _tag_moved(ctx, db, at, ledger[2].split(" ")[0] or dev, ledger[3])
        notes.append("the RDS instance's move tags were missing (the earlier run stopped after the restore): added")
    freeze = (out.get("FREEZE") or [["not reported"]])[0][0]
    return MoveResult(table, {}, bucket, ledger[3] or tagged.get(MOVED_TAGS[2], ""), 0, freeze, engine_name,
                      already_moved=True, moved_at=at, notes=notes)


def unfreeze_dev(ctx: Context) -> str:
    """Lift the dev database's write freeze through SSM Run Command (the rollback of the freeze)."""
    engine_name, _, dev = dbengine.detect(ctx)
    engine_name = engine_name or ctx.p.rds_engine
    bucket = ensure_dump_bucket(ctx).id
    with hosts.dev_access(ctx, dev, bucket):
        return _lift(ctx, dev, engine_name)


def _lift(ctx: Context, dev: str, engine_name: str, database: str = "") -> str:
    """The freeze lifted on the dev host (its access already given); the stack's ledger forgets it."""
    out = scripts.parse(run_command(ctx, dev, scripts.unfreeze(engine_name, database or ctx.p.dev_db_name),
                                    "workbook: lift the dev database's write freeze"))
    engine.forget(ctx, FROZEN, dev)
    return (out.get("FREEZE") or [["?"]])[0][0]


def mark_cut_over(ctx: Context) -> None:
    """Clients were switched to the stack: a freeze still on is no longer a destroy's to lift."""
    for dev, frozen in engine.ledger(ctx).get(FROZEN, {}).items():
        if frozen.get("cut_over"):
            continue   # a rerun of the cutover: marked when the name was switched
        engine.remember(ctx, FROZEN, dev, frozen.get("step", STEP),
                        **{k: v for k, v in frozen.items() if k != "step"}, cut_over=ctx.clock.stamp())


def lift_left_freeze(ctx: Context, step: str) -> None:
    """Before a destroy takes the dev host's move profile: a freeze the move set and nothing lifted (a move
    given up while its command ran, or never cut over) is lifted; after a cutover it stays (what production
    wrote since is in RDS only: the user decides). Each said in ctx.resources."""
    for dev, frozen in engine.ledger(ctx).get(FROZEN, {}).items():
        def note(action: str) -> None:
            ctx.note(step, "dev database", frozen.get("database") or ctx.p.dev_db_name, dev, action)
        if frozen.get("cut_over"):
            note("kept the write freeze: clients were cut over to the stack, and what production wrote since is in "
                 "RDS only; lift it once that is safe: dbmove.unfreeze_dev(ctx)")
        elif ctx.dry_run:
            note("would lift the write freeze")
        else:
            try:
                with hosts.dev_access(ctx, dev, names.dump_bucket(ctx.p, ctx.account_id)):
                    note(f"lifted the write freeze ({_lift(ctx, dev, frozen.get('engine', ''), frozen.get('database', ''))})")
            except Exception as e:  # noqa: BLE001 - a destroy goes on, and says what stayed
                note(f"failed to lift the write freeze ({e}): the dev database is still read-only; "
                     "dbmove.unfreeze_dev(ctx) lifts it")
