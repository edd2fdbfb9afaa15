"""Step 03_database, the backups proven: a manual snapshot and a restore drill.

A backup counts once it has been restored. `ensure_manual_snapshot` takes a manual snapshot of the
stack's instance (kept until destroy, whatever the automated backups' retention); `restore_drill`
restores it to a temporary instance, compares that with the source setting by setting, and deletes
it through the db_instance kind's delete (deletion protection off, and no final snapshot: it is a
copy). A drill that passed is marked on the snapshot (tag workbook:restore-drill), so a rerun of the
notebook repeats nothing; a drill instance left by an interrupted run is reused, never twinned.

Also here, shared with database.py: reading one DB instance as RDS describes it now, and waiting on
RDS with a progress callback.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pandas as pd

from .. import engine, names
from .. import kinds as K
from ..connect import Context, Resource
from ..params import Params
from ..progress import add_listener, remove_listener

STEP_ID = "03_database"
DRILL_TAG = "workbook:restore-drill"
# Longer than the waiter's 30 s x 60: a Multi-AZ create "sometimes takes half an hour" and Terraform
# allows 40 minutes (its default create timeout).
CREATE_MAX_ATTEMPTS = 80
# A progress callback hears (what it waits for, attempt, max attempts, elapsed seconds) after every
# poll, on top of the bar that workbook.progress shows.
ProgressFn = Callable[[str, int, int, float], None]


class PrerequisiteError(RuntimeError):
    """Something another step (or an earlier unit) provides is missing or unfit; raised before any create."""


def drill_instance_id(p: Params) -> str:
    return p.name("db-drill")


# ---- reading and waiting ------------------------------------------------------------------------
def describe_db(ctx: Context, identifier: str) -> dict[str, Any] | None:
    """One DB instance as RDS describes it now, or None. Read fresh every time (the secret ARN can
    change, and so does the status)."""
    found = engine.list_items(ctx, K.get("db_instance"), None, DBInstanceIdentifier=identifier)
    return found[0] if found else None


@contextmanager
def listening(progress: ProgressFn | None) -> Iterator[None]:
    """The caller's progress callback hears every poll of the waits inside."""
    if progress:
        add_listener(progress)
    try:
        yield
    finally:
        if progress:
            remove_listener(progress)


def wait_db(ctx: Context, identifier: str, progress: ProgressFn | None = None, *, deleted: bool = False) -> None:
    """botocore's db_instance_available (or _deleted) waiter, with progress."""
    with listening(progress):
        engine.wait(ctx, K.get("db_instance"), identifier, deleted=deleted, max_attempts=CREATE_MAX_ATTEMPTS,
                    what=f"{identifier} to be {'deleted' if deleted else 'available'}")


# ---- the manual snapshot ----------------------------------------------------------------------------
def ensure_manual_snapshot(ctx: Context, label: str = "manual", progress: ProgressFn | None = None) -> Resource:
    """A manual snapshot (kept until destroy) of the production instance; waits until it is available."""
    p = ctx.p
    name, source = names.db_snapshot(p, label), names.db_instance(p)
    found = engine.find_one(ctx, "db_snapshot", name)
    if found is None and not ctx.dry_run and describe_db(ctx, source) is None:
        raise PrerequisiteError(f"DB instance {source!r} does not exist yet: create it first")
    rec = engine.ensure(ctx, "db_snapshot", name, step=STEP_ID, found=found, lookup=False, wait_ready=False,
                        create={"DBSnapshotIdentifier": name, "DBInstanceIdentifier": source})
    if not engine.is_placeholder(rec.id):
        with listening(progress):
            engine.wait(ctx, K.get("db_snapshot"), name, what=f"snapshot {name}")
    return rec


# ---- the restore drill --------------------------------------------------------------------------------
def snapshot_drill_plan(p: Params) -> pd.DataFrame:
    """The restore drill, step by step, before it runs."""
    snap, drill = names.db_snapshot(p, "manual"), drill_instance_id(p)
    steps = [
        ("take a manual snapshot", f"{snap} of {names.db_instance(p)}", "db_snapshot_available"),
        ("restore it to a temporary instance", f"{drill} (single-AZ, no backups, same subnets, SG, parameters)",
         "db_instance_available"),
        ("compare", "status, engine, version, encryption, class, network and parameters with the source", "-"),
        ("delete the drill instance", f"{drill}, no final snapshot, deletion protection off", "db_instance_deleted"),
    ]
    return pd.DataFrame(steps, columns=["step", "what", "botocore waiter"])


DRILL_COMPARED = [
    ("status", lambda d: d["DBInstanceStatus"]),
    ("engine", lambda d: d["Engine"]),
    ("engine version", lambda d: d["EngineVersion"]),
    ("storage encrypted", lambda d: d.get("StorageEncrypted")),
    ("instance class", lambda d: d["DBInstanceClass"]),
    ("storage type", lambda d: d.get("StorageType")),
    ("publicly accessible", lambda d: d.get("PubliclyAccessible")),
    ("subnet group", lambda d: d.get("DBSubnetGroup", {}).get("DBSubnetGroupName")),
    ("security groups", lambda d: sorted(g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups", []))),
    ("parameter group", lambda d: [g["DBParameterGroupName"] for g in d.get("DBParameterGroups", [])]),
    ("master username", lambda d: d.get("MasterUsername")),
    ("database name", lambda d: d.get("DBName")),
]


def _restore(ctx: Context, drill_id: str, snap: str, source: dict[str, Any]) -> None:
    """The drill instance from the snapshot, in the source's network and with its parameters."""
    ctx.client("rds").restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=drill_id, DBSnapshotIdentifier=snap, DBInstanceClass=source["DBInstanceClass"],
        StorageType=source.get("StorageType", "gp3"), DBSubnetGroupName=source["DBSubnetGroup"]["DBSubnetGroupName"],
        VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]],
        DBParameterGroupName=source["DBParameterGroups"][0]["DBParameterGroupName"],
        PubliclyAccessible=False, MultiAZ=False,          # a drill needs no standby
        BackupRetentionPeriod=0,                          # no backups of a throwaway (no hours of backing-up)
        DeletionProtection=False, AutoMinorVersionUpgrade=True, CopyTagsToSnapshot=False,
        EnableCloudwatchLogsExports=source.get("EnabledCloudwatchLogsExports", []),
        **engine.tag_args(K.get("db_instance"), ctx.p, STEP_ID, drill_id))
    ctx.note(STEP_ID, "db_instance", drill_id, drill_id, "created")


def restore_drill(ctx: Context, progress: ProgressFn | None = None, keep: bool = False,
                  force: bool = False) -> pd.DataFrame:
    """Restore the manual snapshot to a temporary instance, compare it with the source, delete it.

    Idempotent: a drill instance left by an interrupted run is reused, never twinned, and a snapshot
    that already passed a drill (tagged workbook:restore-drill) is not drilled again unless `force`:
    a rerun of the notebook creates nothing. Returns one row per compared setting (source, drill, same).
    """
    p = ctx.p
    source_id, drill_id, snap = names.db_instance(p), drill_instance_id(p), names.db_snapshot(p, "manual")
    if ctx.dry_run:
        ctx.note(STEP_ID, "db_instance", drill_id, engine.placeholder("db_instance", drill_id), "would create")
        return snapshot_drill_plan(p)
    source = describe_db(ctx, source_id)
    snapshot = engine.find_one(ctx, "db_snapshot", snap)
    if source is None or snapshot is None:
        raise PrerequisiteError(f"the drill needs {source_id!r} and its snapshot {snap!r}: run "
                                "ensure_db_instance and ensure_manual_snapshot first")
    drill = engine.find_one(ctx, "db_instance", drill_id)   # one that is not the stack's is refused
    passed_at = snapshot.tags.get(DRILL_TAG, "")
    if passed_at and drill is None and not force:
        print(f"restore drill of {snap} already {passed_at}; not repeated (restore_drill(ctx, force=True) repeats it)")
        df = pd.DataFrame([{"setting": "restore drill", "source": snap, "restored drill": passed_at, "same": True}])
        df.attrs["passed"] = True
        return df
    if drill is None or drill.raw["DBInstanceStatus"] == "deleting":
        if drill is not None:  # a previous drill is still going away: let it, then restore afresh
            wait_db(ctx, drill_id, progress, deleted=True)
        _restore(ctx, drill_id, snap, source)
    else:
        ctx.note(STEP_ID, "db_instance", drill_id, drill.id, "exists", item=drill.raw)
    wait_db(ctx, drill_id, progress)
    got = describe_db(ctx, drill_id) or {}
    rows = []
    for label, get in DRILL_COMPARED:
        want = "available" if label == "status" else get(source)
        rows.append({"setting": label, "source": want, "restored drill": get(got), "same": want == get(got)})
    if not keep:
        kind = K.get("db_instance")
        with listening(progress):
            engine.delete(ctx, kind, engine.item(ctx, kind, got), step=STEP_ID)
    df = pd.DataFrame(rows)
    df.attrs["passed"] = bool(df["same"].all())
    if df.attrs["passed"] and not keep:
        when = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx.client("rds").add_tags_to_resource(ResourceName=snapshot.raw["DBSnapshotArn"],
                                               Tags=[{"Key": DRILL_TAG, "Value": f"passed {when}"}])
    print(f"restore drill {'passed' if df.attrs['passed'] else 'FAILED'}: {int(df['same'].sum())} of {len(df)} "
          f"settings of {drill_id} match {source_id}" + ("" if keep else f"; {drill_id} deleted"))
    return df
