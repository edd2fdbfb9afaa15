"""Step 03_database, the backups proven: a manual snapshot and a restore drill.

A backup counts once it has been restored. `ensure_manual_snapshot` takes a manual snapshot of the
stack's instance (kept until destroy, whatever the automated backups' retention); `restore_drill`
restores it to a temporary instance, compares that with the source setting by setting, and deletes
it (no final snapshot: it is a copy; the delete goes on in AWS, nothing waits for it). A drill that
passed is marked on the snapshot (tag workbook:restore-drill), so a rerun of the notebook repeats
nothing; a drill instance left by an interrupted run is reused, never twinned.

The drill is a chain of AWS waits (instance 15-20 min, snapshot 2-5, restore 10-20): the longest of the
build. So it is not waited for where it starts: `start_restore_drill` advances it as far as AWS allows
now and waits for nothing (03 calls it while the instance is still creating, 08 again once the
instance is available, which starts the snapshot), and `restore_drill` finishes it at the end of the
build (08), waiting where it must, each wait bounded by its cell (progress.StillWaiting).

Also here, shared with database.py: reading one DB instance as RDS describes it now, and waiting on
RDS with a progress callback.
"""
from __future__ import annotations

import contextlib
import io
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pandas as pd

from .. import engine, names
from .. import kinds as K
from ..connect import Context, Resource
from ..params import Params
from ..kinds.rds import BROKEN_STATES
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
    return names.db_drill(p)


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


def wait_db(ctx: Context, identifier: str, progress: ProgressFn | None = None, *, deleted: bool = False,
            then: str = "") -> None:
    """botocore's db_instance_available (or _deleted) waiter, with progress; bounded by the cell
    (progress.StillWaiting says so, and `then` who picks it up)."""
    with listening(progress):
        engine.wait(ctx, K.get("db_instance"), identifier, deleted=deleted, max_attempts=CREATE_MAX_ATTEMPTS,
                    what=f"{identifier} to be {'deleted' if deleted else 'available'}", then=then)


# ---- the manual snapshot ----------------------------------------------------------------------------
def start_manual_snapshot(ctx: Context, label: str = "manual") -> Resource | None:
    """The manual snapshot, created if the instance is available, else nothing yet (None): RDS refuses a
    snapshot of an instance that is not available. Waits for nothing."""
    p = ctx.p
    name, source = names.db_snapshot(p, label), names.db_instance(p)
    found = engine.find_one(ctx, "db_snapshot", name)
    if found is None and not ctx.dry_run:
        db = describe_db(ctx, source)
        if db is None:
            raise PrerequisiteError(f"DB instance {source!r} does not exist yet: create it first")
        if db["DBInstanceStatus"] != "available":
            return None
    return engine.ensure(ctx, "db_snapshot", name, step=STEP_ID, found=found, lookup=False, wait_ready=False,
                         create={"DBSnapshotIdentifier": name, "DBInstanceIdentifier": source})


def ensure_manual_snapshot(ctx: Context, label: str = "manual", progress: ProgressFn | None = None) -> Resource:
    """A manual snapshot (kept until destroy) of the production instance; waits (bounded by the cell)
    for the instance, then for the snapshot."""
    p = ctx.p
    source = names.db_instance(p)
    rec = start_manual_snapshot(ctx, label)
    if rec is None:
        wait_db(ctx, source, progress)
        rec = start_manual_snapshot(ctx, label)
    assert rec is not None
    if not engine.is_placeholder(rec.id):
        with listening(progress):
            engine.wait(ctx, K.get("db_snapshot"), rec.name, what=f"snapshot {rec.name}")
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
    # the source's subnet group and parameter group (an instance made elsewhere may have neither named)
    where = {k: v for k, v in (("DBSubnetGroupName", source.get("DBSubnetGroup", {}).get("DBSubnetGroupName")),
                               ("DBParameterGroupName", (source.get("DBParameterGroups") or [{}])[0].get(
                                   "DBParameterGroupName"))) if v}
    from .database_logs import ensure_log_export_groups
    ensure_log_export_groups(ctx, drill_id, source.get("EnabledCloudwatchLogsExports", []))
    ctx.client("rds").restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=drill_id, DBSnapshotIdentifier=snap, DBInstanceClass=source["DBInstanceClass"],
        StorageType=source.get("StorageType", "gp3"), **where,
        VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in source.get("VpcSecurityGroups", [])],
        PubliclyAccessible=False, MultiAZ=False,          # a drill needs no standby
        BackupRetentionPeriod=0,                          # no backups of a throwaway (no hours of backing-up)
        DeletionProtection=False, AutoMinorVersionUpgrade=True, CopyTagsToSnapshot=False,
        EnableCloudwatchLogsExports=source.get("EnabledCloudwatchLogsExports", []),
        **engine.tag_args(K.get("db_instance"), ctx.p, STEP_ID, drill_id))
    ctx.note(STEP_ID, "db_instance", drill_id, drill_id, "created")


def _drill_state(ctx: Context) -> tuple[dict[str, Any] | None, engine.Item | None, engine.Item | None, str]:
    """(source description, snapshot, live drill instance, passed-at) as AWS reports them now."""
    p = ctx.p
    source = describe_db(ctx, names.db_instance(p))
    snapshot = engine.find_one(ctx, "db_snapshot", names.db_snapshot(p, "manual"))
    drill = engine.find_one(ctx, "db_instance", drill_instance_id(p))   # one that is not the stack's is refused
    if drill is not None and drill.raw["DBInstanceStatus"] in BROKEN_STATES and not ctx.dry_run:
        # A restore that ended failed or incompatible never becomes available: it is deleted (a copy: no
        # snapshot) and the drill restores afresh once it is gone, instead of waiting on it at every rerun.
        print(f"the drill instance {drill.id} ended {drill.raw['DBInstanceStatus']}: deleted; a new one is restored "
              "once it is gone")
        ctx.client("rds").delete_db_instance(DBInstanceIdentifier=drill.id, SkipFinalSnapshot=True,
                                             DeleteAutomatedBackups=True)
        ctx.note(STEP_ID, "db_instance", drill.id, drill.id, f"deleted ({drill.raw['DBInstanceStatus']})")
        drill = None
    elif drill is not None and drill.raw["DBInstanceStatus"] == "deleting":
        drill = None   # an earlier drill going away is not this one
    return source, snapshot, drill, (snapshot.tags.get(DRILL_TAG, "") if snapshot else "")


def start_restore_drill(ctx: Context) -> pd.DataFrame:
    """Advance the drill as far as AWS allows now, waiting for nothing: the snapshot once the instance
    is available, the restore once the snapshot is. One row per stage: where it stands."""
    p = ctx.p
    if ctx.dry_run:
        return snapshot_drill_plan(p)
    source, snapshot, drill, passed = _drill_state(ctx)
    if source is None:
        raise PrerequisiteError(f"DB instance {names.db_instance(p)!r} does not exist yet: create it first")
    if snapshot is None and not passed:
        rec = start_manual_snapshot(ctx)
        snapshot = engine.find_one(ctx, "db_snapshot", rec.name) if rec is not None else None
    snap_status = snapshot.raw.get("Status", "") if snapshot else ""
    if snapshot is not None and snap_status == "available" and drill is None and not passed \
            and engine.find_one(ctx, "db_instance", drill_instance_id(p)) is None:   # none still going away
        drill_rec = _start_restore(ctx, snapshot.name, source)
        drill = engine.find_one(ctx, "db_instance", drill_rec)
    rows = [("instance", names.db_instance(p), source["DBInstanceStatus"]),
            ("manual snapshot", names.db_snapshot(p, "manual"),
             snap_status or f"starts when {names.db_instance(p)} is available"),
            ("drill instance", drill_instance_id(p), passed or (drill.raw["DBInstanceStatus"] if drill else
                                                              "restored once the snapshot is available"))]
    if not passed:
        print("the restore drill goes on in AWS as each stage becomes possible; restore_drill(ctx) finishes it "
              "(08_cutover_compare does, at the end of the build)")
    return pd.DataFrame(rows, columns=["stage", "name", "state"])


def _start_restore(ctx: Context, snap: str, source: dict[str, Any]) -> str:
    drill_id = drill_instance_id(ctx.p)
    _restore(ctx, drill_id, snap, source)
    return drill_id


def restore_drill(ctx: Context, progress: ProgressFn | None = None, keep: bool = False,
                  force: bool = False) -> pd.DataFrame:
    """Finish the drill: wait (each wait bounded by the cell) for the instance, the snapshot and the
    restored drill instance, compare it with the source, delete it (the delete goes on in AWS).

    Idempotent: a drill instance left by an interrupted run is reused, never twinned, and a snapshot
    that already passed a drill (tagged workbook:restore-drill) is not drilled again unless `force`:
    a rerun of the notebook creates nothing. Returns one row per compared setting (source, drill, same).
    """
    p = ctx.p
    source_id, drill_id, snap = names.db_instance(p), drill_instance_id(p), names.db_snapshot(p, "manual")
    if ctx.dry_run:
        ctx.note(STEP_ID, "db_instance", drill_id, engine.placeholder("db_instance", drill_id), "would create")
        return snapshot_drill_plan(p)
    source, snapshot, drill, passed_at = _drill_state(ctx)
    if source is None:
        raise PrerequisiteError(f"the drill needs {source_id!r} and its snapshot {snap!r}: run "
                                "ensure_db_instance and ensure_manual_snapshot first")
    if passed_at and drill is None and not force:
        print(f"restore drill of {snap} already {passed_at}; not repeated (restore_drill(ctx, force=True) repeats it)")
        df = pd.DataFrame([{"setting": "restore drill", "source": snap, "restored drill": passed_at, "same": True}])
        df.attrs["passed"] = True
        return df
    if snapshot is None:
        ensure_manual_snapshot(ctx, progress=progress)
        source = describe_db(ctx, source_id) or source
    elif snapshot.raw.get("Status") != "available":
        with listening(progress):
            engine.wait(ctx, K.get("db_snapshot"), snap, what=f"snapshot {snap}")
    if drill is None:
        gone = engine.find_one(ctx, "db_instance", drill_id)
        if gone is not None:   # a previous drill is still going away: let it, then restore afresh
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
        _delete_drill(ctx, drill_id)
    df = pd.DataFrame(rows)
    df.attrs["passed"] = bool(df["same"].all())
    if df.attrs["passed"] and not keep:
        when = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx.client("rds").add_tags_to_resource(ResourceName=engine.find_one(ctx, "db_snapshot", snap).raw["DBSnapshotArn"],
                                               Tags=[{"Key": DRILL_TAG, "Value": f"passed {when}"}])
    print(f"restore drill {'passed' if df.attrs['passed'] else 'FAILED'}: {int(df['same'].sum())} of {len(df)} "
          f"settings of {drill_id} match {source_id}" + ("" if keep else f"; {drill_id} deleted"))
    return df


def _delete_drill(ctx: Context, drill_id: str) -> None:
    """The drill instance goes without a final snapshot (a copy); nothing waits for the delete (5-10
    minutes on AWS): teardown waits for it if it is still going then."""
    ctx.client("rds").delete_db_instance(DBInstanceIdentifier=drill_id, SkipFinalSnapshot=True,
                                         DeleteAutomatedBackups=True)
    left = describe_db(ctx, drill_id)
    ctx.note(STEP_ID, "db_instance", drill_id, drill_id, "deleted" if left is None else "deleting (goes on in AWS)")


# ---- the drill beside other waits ---------------------------------------------------------------------
class DrillAdvancer:
    """A progress listener for the steps after 03, up to 08: while they wait on something of their own
    (05's certificate, 04's load balancer, 08's metrics), the drill's next stage starts as soon as AWS allows instead
    of when 08 gets to it, so the build's longest chain (instance, snapshot, restore: about 40 AWS
    minutes) runs beside those waits rather than after them (measured by `make rehearse`). It looks at
    most every LOOK_S AWS seconds and stops once the restore has started, or when there is nothing it
    may do (no instance in this stack, a refusal): 08 then advances the drill itself. `due` asks the wait
    it rides on to call it at its own cadence (progress._pause), not only when that wait looks: ACM's
    waiter looks every 60 s, and each stage waited up to a minute more (measured by `make rehearse`)."""
    LOOK_S = 30.0   # the RDS waiters' own cadence (botocore's db_instance_available: 30 s)

    def __init__(self, ctx: Context) -> None:
        self.ctx, self.next_look, self.busy, self.done = ctx, 0.0, False, False

    @property
    def due(self) -> float | None:
        return None if self.done else self.next_look

    def __call__(self, what: str, attempt: int, total: int, elapsed: float) -> None:
        now = self.ctx.clock.now()
        if self.done or self.busy or now < self.next_look:
            return
        self.busy, self.next_look = True, now + self.LOOK_S
        try:
            with contextlib.redirect_stdout(io.StringIO()):   # its own lines, below; not the drill's
                rows = start_restore_drill(self.ctx)
        except Exception as e:   # noqa: BLE001 - best effort beside another wait: 08 does it anyway
            self.done = True
            print(f"(the restore drill is left to 08: {type(e).__name__})")
            return
        finally:
            self.busy = False
        state = dict(zip(rows.stage, rows.state))
        if not str(state.get("drill instance", "")).startswith("restored once"):
            self.done = True
            print(f"(beside this wait, 03's restore drill started its restore: {state.get('drill instance')})")
        elif not str(state.get("manual snapshot", "")).startswith("starts when") and not getattr(self, "said", False):
            self.said = True
            print(f"(beside this wait, 03's restore drill took its snapshot: {state.get('manual snapshot')})")


def advance_beside_waits(ctx: Context, step: str) -> None:
    """Called by nb.start: in the steps after 03_database up to 08, the drill advances beside their waits
    (DrillAdvancer). Nothing in a dry run."""
    from . import ordered
    ids = [s.id for s in ordered()]
    if ctx.dry_run or step not in ids or STEP_ID not in ids or "08_cutover_compare" not in ids:
        return
    if ids.index(STEP_ID) < ids.index(step) <= ids.index("08_cutover_compare"):
        add_listener(DrillAdvancer(ctx))
