"""RDS under the rehearsal: creates, modifications, snapshots, restores, reboots and deletes take their
AWS minutes; RDS refuses what it refuses meanwhile; engine versions come from the dated list.
Each test shows the naive path meeting the behaviour, then the patient path passing."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, WaiterError
from rehearsal_fixtures import error_code, rctx  # noqa: F401  (rctx is a fixture)

from workbook import engine, progress
from workbook.sandbox import rehearsal_facts as F

DB = dict(Engine="postgres", EngineVersion="16.11", DBInstanceClass="db.t4g.micro", MasterUsername="app",
          MasterUserPassword="password1", AllocatedStorage=20)


def _create(ctx, ident="db1", **kw):
    return ctx.client("rds").create_db_instance(DBInstanceIdentifier=ident, **{**DB, **kw})["DBInstance"]


def _status(ctx, ident="db1"):
    return ctx.client("rds").describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]["DBInstanceStatus"]


def _wait(ctx, waiter, **kw):
    return progress.wait_for(ctx.client("rds"), waiter, waiter, sleep=ctx.clock.sleep, **kw)


def test_create_takes_its_minutes(rctx):
    db = _create(rctx)
    assert db["DBInstanceStatus"] == "creating" and "Endpoint" not in db
    described = rctx.client("rds").describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
    with pytest.raises(KeyError):            # naive: read the endpoint right after the create
        described["Endpoint"]["Address"]
    t0 = rctx.clock.now()
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")    # patient: the botocore waiter
    waited = rctx.clock.now() - t0
    assert F.FACTS["rds_create_single"].low <= waited <= F.FACTS["rds_create_single"].high + 30
    assert _status(rctx) == "available"


def test_multi_az_create_outlasts_one_cell(rctx):
    """A 15-20 minute create waited for in a budget of 10 AWS minutes (a 600 s cell) runs out."""
    _create(rctx, MultiAZ=True)
    with pytest.raises(WaiterError):
        _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1", max_attempts=20)   # 20 x 30 s
    assert _status(rctx) == "creating"        # the next cell resumes from AWS's state, no second create
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    assert _status(rctx) == "available"


def test_snapshot_refused_until_available_then_takes_minutes(rctx):
    _create(rctx)
    rds = rctx.client("rds")
    with pytest.raises(ClientError) as e:
        rds.create_db_snapshot(DBInstanceIdentifier="db1", DBSnapshotIdentifier="s1")
    assert error_code(e) == "InvalidDBInstanceState"
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    snap = rds.create_db_snapshot(DBInstanceIdentifier="db1", DBSnapshotIdentifier="s1")["DBSnapshot"]
    assert snap["Status"] == "creating"
    with pytest.raises(ClientError) as e:    # naive: restore from it at once
        rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="drill", DBSnapshotIdentifier="s1")
    assert error_code(e) == "InvalidDBSnapshotState"
    _wait(rctx, "db_snapshot_available", DBSnapshotIdentifier="s1")
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0]["Status"] == "available"


def test_restore_with_backups_stays_backing_up_for_hours(rctx):
    rds = rctx.client("rds")
    _create(rctx, BackupRetentionPeriod=7)
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    rds.create_db_snapshot(DBInstanceIdentifier="db1", DBSnapshotIdentifier="s1")
    _wait(rctx, "db_snapshot_available", DBSnapshotIdentifier="s1")
    drill = rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="drill", DBSnapshotIdentifier="s1",
                                                     BackupRetentionPeriod=7)["DBInstance"]
    assert drill["DBInstanceStatus"] == "creating"
    with pytest.raises(WaiterError):          # naive: the waiter's 30 AWS minutes end in backing-up
        _wait(rctx, "db_instance_available", DBInstanceIdentifier="drill")
    assert _status(rctx, "drill") == "backing-up"
    # patient: a backing-up instance accepts connections; wait for "not creating" instead
    progress.poll(lambda: _status(rctx, "drill") not in ("creating",), "drill usable", delay=30, max_attempts=80,
                  sleep=rctx.clock.sleep)
    assert _status(rctx, "drill") == "backing-up"
    # or restore a throwaway copy without automated backups: available once created
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="drill2", DBSnapshotIdentifier="s1",
                                             BackupRetentionPeriod=0)
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="drill2")
    assert _status(rctx, "drill2") == "available"


def test_modify_to_multi_az_and_reboot_with_failover(rctx):
    rds = rctx.client("rds")
    _create(rctx)
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    m = rds.modify_db_instance(DBInstanceIdentifier="db1", MultiAZ=True, ApplyImmediately=True)["DBInstance"]
    assert m["DBInstanceStatus"] == "modifying"
    with pytest.raises(ClientError) as e:    # naive: reboot with failover right after the modify
        rds.reboot_db_instance(DBInstanceIdentifier="db1", ForceFailover=True)
    assert error_code(e) == "InvalidDBInstanceState"
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    assert rds.reboot_db_instance(DBInstanceIdentifier="db1", ForceFailover=True)["DBInstance"]["DBInstanceStatus"] \
        == "rebooting"
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    assert _status(rctx) == "available"


def test_delete_with_final_snapshot_takes_minutes(rctx):
    rds = rctx.client("rds")
    _create(rctx)
    with pytest.raises(ClientError) as e:    # naive: delete (keeping a final snapshot) while it is creating
        rds.delete_db_instance(DBInstanceIdentifier="db1", SkipFinalSnapshot=False, FinalDBSnapshotIdentifier="final")
    assert error_code(e) == "InvalidDBInstanceState"
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    rds.delete_db_instance(DBInstanceIdentifier="db1", SkipFinalSnapshot=False, FinalDBSnapshotIdentifier="final")
    assert _status(rctx) == "deleting"
    assert [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]] == ["db1"]
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="final")["DBSnapshots"][0]["Status"] == "creating"
    with pytest.raises(ClientError) as e:    # naive: reuse the name at once
        _create(rctx)
    assert error_code(e) == "DBInstanceAlreadyExists"
    _wait(rctx, "db_instance_deleted", DBInstanceIdentifier="db1")
    assert rds.describe_db_instances()["DBInstances"] == []
    assert rds.describe_db_snapshots(DBSnapshotIdentifier="final")["DBSnapshots"][0]["Status"] == "available"


def test_retired_engine_version_refused_and_the_newest_minor_resolved(rctx):
    rds = rctx.client("rds")
    with pytest.raises(ClientError) as e:    # naive: a pinned minor that RDS has retired
        _create(rctx, EngineVersion="16.4")
    assert error_code(e) == "InvalidParameterCombination" and "16.4" in str(e.value)
    # patient: resolve the newest available minor of the major
    versions = rds.describe_db_engine_versions(Engine="postgres", EngineVersion="16")["DBEngineVersions"]
    newest = max((v["EngineVersion"] for v in versions), key=lambda v: tuple(map(int, v.split("."))))
    assert all(v["Status"] == "available" and v["DBParameterGroupFamily"] == "postgres16" for v in versions)
    assert _create(rctx, EngineVersion=newest)["EngineVersion"] == newest
    listed = rds.describe_db_engine_versions(Engine="postgres", IncludeAll=True)["DBEngineVersions"]
    assert {"16.4", newest} <= {v["EngineVersion"] for v in listed}
    assert len(rds.describe_db_engine_versions(Engine="postgres", DefaultOnly=True)["DBEngineVersions"]) == 1


def test_teardown_deletes_through_the_deleting_state(rctx):
    """The engine's delete of a DB instance (kind hook) waits through `deleting` on the clock."""
    from workbook.kinds import get
    _create(rctx, DeletionProtection=False, Tags=[{"Key": "workbook:stack", "Value": "wb"}])
    _wait(rctx, "db_instance_available", DBInstanceIdentifier="db1")
    it = engine.find_one(rctx, "db_instance", "db1", stack="wb")
    t0 = rctx.clock.now()
    engine.delete(rctx, get("db_instance"), it, step="teardown")
    assert rctx.clock.now() - t0 >= F.FACTS["rds_delete"].low - 30
    assert rctx.client("rds").describe_db_instances()["DBInstances"] == []
