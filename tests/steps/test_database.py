"""03_database on moto: subnet group, parameter group, the RDS instance, the restore drill, teardown."""
from __future__ import annotations

import re

import boto3
import pytest
from botocore.stub import Stubber

from conftest import make_ctx
from workbook import names, tagging
from workbook.connect import mask
from workbook.engine import ForeignResource
from workbook.iam_actions import actions_for_calls
from workbook.params import ParameterError
from workbook.steps import database as db

AZS = ("us-east-1a", "us-east-1b", "us-east-1c")


def make_network(ctx, azs=AZS[:2], stack: str | None = None) -> dict:
    """What 02_network provides: a VPC, private-db subnets tagged tier=db, the DB security group."""
    p = ctx.params if stack is None else ctx.params.replace(stack_name=stack)
    ec2 = boto3.client("ec2", region_name=p.region)  # not ctx's client: keep the step's call log clean
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for i, az in enumerate(azs):
        name = names.subnet(p, "db", az)
        subnets.append(ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.20.{100 + i}.0/24", AvailabilityZone=az,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", name) + [
                {"Key": names.TIER, "Value": "db"}]}])["Subnet"]["SubnetId"])
    sg = ec2.create_security_group(GroupName=names.db_sg(p), Description="db", VpcId=vpc, TagSpecifications=
                                   tagging.tag_spec("security-group", p, "02_network", names.db_sg(p)))["GroupId"]
    return {"vpc": vpc, "subnets": subnets, "sg": sg}


@pytest.fixture
def net(ctx):
    return make_network(ctx)


def rds_rows(df):
    """The RDS resources of a step's frame (the log exports' groups and their retention aside)."""
    return df[~df.type.isin(["log_group", "log_retention"])]


def created_ops(ctx, since: int = 0) -> list[str]:
    return [c.operation for c in ctx.calls.calls[since:] if c.operation.startswith(
        ("Create", "Restore", "Modify", "Delete"))]


def instance(name: str) -> dict:
    return boto3.client("rds", region_name="us-east-1").describe_db_instances(
        DBInstanceIdentifier=name)["DBInstances"][0]


# ---- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("engine,version,family", [("postgres", "16.4", "postgres16"), ("postgres", "17.2", "postgres17"),
                                                   ("mysql", "8.0.39", "mysql8.0"), ("mysql", "8.4.3", "mysql8.4")])
def test_parameter_group_family_follows_engine_and_version(engine, version, family):
    from workbook.params import Params
    assert db.parameter_group_family(Params(db_engine=engine, db_engine_version=version, dev_db_engine=engine)) == family


def test_a_version_of_the_other_engine_is_refused_before_any_call(ctx, net):
    mark = ctx.calls.mark()
    with pytest.raises(ParameterError, match="db_engine_version.*postgres"):
        # refused where the parameters are made (Params checks the engine's version form), before apply
        db.apply(ctx.replace(db_engine="postgres", db_engine_version="8.0.39"))
    assert ctx.calls.mark() == mark


# ---- apply -----------------------------------------------------------------------------------
def test_apply_creates_a_private_encrypted_multi_az_instance_with_managed_password(ctx, net):
    p = ctx.params
    df = db.apply(ctx)
    assert list(rds_rows(df).action) == ["created"] * 3
    # the log exports' groups, made before RDS would make them untagged (their retention set right after)
    assert sorted(df[df.type == "log_group"].name) == [f"/aws/rds/instance/{names.db_instance(p)}/{t}"
                                                       for t in sorted(db.log_exports(p))]
    d = instance(names.db_instance(p))
    assert d["Engine"] == "postgres" and d["EngineVersion"] == db.resolve_engine_version(ctx) == "16.11"
    assert d["DBInstanceClass"] == p.db_instance_class and d["StorageType"] == "gp3"
    assert d["AllocatedStorage"] == p.db_allocated_storage
    assert d["PubliclyAccessible"] is False and d["StorageEncrypted"] is True
    assert d["BackupRetentionPeriod"] == p.backup_retention_days and d["MultiAZ"] is True
    assert d["DeletionProtection"] is True and d["AutoMinorVersionUpgrade"] is True and d["CopyTagsToSnapshot"] is True
    assert d["EnabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert d["MasterUserSecret"]["SecretArn"].startswith("arn:aws:secretsmanager:")
    assert [g["VpcSecurityGroupId"] for g in d["VpcSecurityGroups"]] == [net["sg"]]
    assert d["DBSubnetGroup"]["DBSubnetGroupName"] == names.db_subnet_group(p)
    assert {s["SubnetIdentifier"] for s in d["DBSubnetGroup"]["Subnets"]} == set(net["subnets"])
    assert d["DBParameterGroups"][0]["DBParameterGroupName"] == names.db_parameter_group(p)
    assert tagging.as_dict(d["TagList"]) == tagging.tag_dict(p, db.STEP, names.db_instance(p))


def test_no_password_is_passed_or_logged(ctx, net):
    db.apply(ctx)
    args = db._instance_arguments(ctx.params, "sg-1", "16.11")
    assert "MasterUserPassword" not in args and args["ManageMasterUserPassword"] is True
    assert mask(args)["ManageMasterUserPassword"] == "***"  # the call log masks anything named password
    arn = instance(names.db_instance(ctx.params))["MasterUserSecret"]["SecretArn"]
    value = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=arn)["SecretString"]
    log = ctx.calls.frame().to_string()
    assert value not in log and "GetSecretValue" not in log
    secret = db.describe_db_secret(ctx).to_string()
    assert value not in secret and "never shown" in secret


def test_second_apply_creates_nothing(ctx, net):
    db.apply(ctx)
    mark = ctx.calls.mark()
    df = db.apply(ctx)
    assert set(df.action) == {"exists"} and len(rds_rows(df)) == 3
    assert created_ops(ctx, mark) == []


def test_the_create_call_returns_before_any_wait(ctx, net):
    p = ctx.params
    db.ensure_db_subnet_group(ctx)
    db.ensure_db_parameter_group(ctx)
    r = db.start_db_instance_create(ctx)
    assert r.action == "created" and r.id == names.db_instance(p)
    assert ctx.calls.calls[-1].operation == "CreateDBInstance"


def test_wait_reports_each_poll_and_what_it_waits_for(ctx, net, monkeypatch):
    monkeypatch.setattr("workbook.progress.time.sleep", lambda s: None)
    p = ctx.params
    name = names.db_instance(p)
    rds = ctx.client("rds")
    heard = []
    with Stubber(rds) as stub:
        for status in ("creating", "backing-up", "available"):
            stub.add_response("describe_db_instances", {"DBInstances": [
                {"DBInstanceIdentifier": name, "DBInstanceStatus": status}]}, {"DBInstanceIdentifier": name})
        stub.add_response("describe_db_instances", {"DBInstances": [
            {"DBInstanceIdentifier": name, "DBInstanceStatus": "available"}]}, {"DBInstanceIdentifier": name})
        d = db.wait_db_available(ctx, progress=lambda *a: heard.append(a))
    assert d["DBInstanceStatus"] == "available"
    assert [h[1] for h in heard] == [1, 2, db.CREATE_MAX_ATTEMPTS]  # two polls pending, then done
    assert all(name in h[0] and "available" in h[0] for h in heard)


def test_wait_stops_at_a_terminal_failure(ctx, net, monkeypatch):
    from botocore.exceptions import WaiterError
    monkeypatch.setattr("workbook.progress.time.sleep", lambda s: None)
    name = names.db_instance(ctx.params)
    with Stubber(ctx.client("rds")) as stub:
        stub.add_response("describe_db_instances", {"DBInstances": [
            {"DBInstanceIdentifier": name, "DBInstanceStatus": "incompatible-parameters"}]})
        with pytest.raises(WaiterError, match="terminal failure"):
            db.wait_db_available(ctx)


def test_dry_run_creates_nothing_and_says_what_it_would_create(ctx, net):
    df = db.apply(ctx.replace(dry_run=True))
    assert list(rds_rows(df).action) == ["would create"] * 3
    assert created_ops(ctx) == []
    assert boto3.client("rds", region_name="us-east-1").describe_db_instances()["DBInstances"] == []


def test_plan_shows_existing_and_missing_without_creating(ctx, net):
    db.ensure_db_subnet_group(ctx)
    df = db.plan(ctx)
    assert list(rds_rows(df).action) == ["exists", "would create", "would create"]
    assert "CreateDBParameterGroup" not in created_ops(ctx)


# ---- subnet group ------------------------------------------------------------------------------
def test_subnet_group_refuses_a_single_az(ctx):
    make_network(ctx, azs=AZS[:1])
    with pytest.raises(db.PrerequisiteError, match="at least 2 availability zones"):
        db.ensure_db_subnet_group(ctx)
    assert created_ops(ctx) == []


def test_missing_network_names_the_step_to_run(ctx):
    with pytest.raises(db.PrerequisiteError, match="02_network"):
        db.ensure_db_subnet_group(ctx)


def test_subnet_group_spans_every_db_subnet(ctx):
    make_network(ctx, azs=AZS)
    db.ensure_db_subnet_group(ctx)
    g = boto3.client("rds", region_name="us-east-1").describe_db_subnet_groups(
        DBSubnetGroupName=names.db_subnet_group(ctx.params))["DBSubnetGroups"][0]
    assert sorted(s["SubnetAvailabilityZone"]["Name"] for s in g["Subnets"]) == list(AZS)


def test_subnets_of_another_stack_are_not_used(ctx):
    make_network(ctx, stack="other")
    with pytest.raises(db.PrerequisiteError, match="02_network"):
        db.ensure_db_subnet_group(ctx)


def test_an_untagged_instance_of_the_same_name_is_not_adopted(ctx, net):
    p = ctx.params
    db.ensure_db_subnet_group(ctx)
    boto3.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, MasterUsername="x", ManageMasterUserPassword=True)
    with pytest.raises(ForeignResource, match="does not carry the tag"):
        db.start_db_instance_create(ctx)


# ---- parameter group -----------------------------------------------------------------------------
def user_params(name: str) -> dict[str, str]:
    rds = boto3.client("rds", region_name="us-east-1")
    return {x["ParameterName"]: x["ParameterValue"] for page in rds.get_paginator("describe_db_parameters").paginate(
        DBParameterGroupName=name, Source="user") for x in page["Parameters"]}


def test_postgres_parameter_group_forces_ssl_and_logs_slow_statements(ctx):
    db.ensure_db_parameter_group(ctx)
    got = user_params(names.db_parameter_group(ctx.params))
    assert got["rds.force_ssl"] == "1" and got["log_min_duration_statement"] == "500"
    g = boto3.client("rds", region_name="us-east-1").describe_db_parameter_groups(
        DBParameterGroupName=names.db_parameter_group(ctx.params))["DBParameterGroups"][0]
    assert g["DBParameterGroupFamily"] == "postgres16"


def test_mysql_parameter_group_requires_tls_and_slow_query_log(ctx):
    mysql = ctx.replace(db_engine="mysql", db_engine_version="8.0.39", dev_db_engine="mysql")
    p = mysql.params
    db.ensure_db_parameter_group(mysql)
    got = user_params(names.db_parameter_group(p))
    assert got["require_secure_transport"] == "1" and got["slow_query_log"] == "1"
    assert db.log_exports(p) == ["error", "slowquery"]
    # With binary logging on (automated backups), RDS refuses the master user (no SUPER) a trigger or a
    # stored function (ERROR 1419) unless this is set: the move of a dev database that has them stopped.
    assert got["log_bin_trust_function_creators"] == "1"


def test_settings_not_yet_in_force_when_the_instance_starts_are_put_in_force_before_data_is_there(ctx, net):
    """AWS asks for 5 minutes between creating (or changing) a parameter group and creating the first
    instance that uses it; 03 creates both at once, so an instance can start with the group's settings
    pending a reboot (require_secure_transport, rds.force_ssl among them) and serve without them until some
    maintenance reboot. Once available and before any data is moved, it is rebooted to put them in force."""
    db.apply(ctx)
    rds, state = ctx.client("rds"), {"pending": True}

    def not_yet_applied(parsed, **_):
        for d in parsed.get("DBInstances", []):
            for g in d.get("DBParameterGroups", []):
                if state["pending"]:
                    g["ParameterApplyStatus"] = "pending-reboot"
    rds.meta.events.register("after-call.rds.DescribeDBInstances", not_yet_applied)
    rds.meta.events.register("before-call.rds.RebootDBInstance", lambda **_: state.update(pending=False))
    mark = ctx.calls.mark()
    got = db.wait_db_available(ctx)
    assert "RebootDBInstance" in [c.operation for c in ctx.calls.calls[mark:]]
    assert {g["ParameterApplyStatus"] for g in got["DBParameterGroups"]} == {"in-sync"}
    from workbook import dbmove
    assert db.MOVED_AT == dbmove.MOVED_TAGS[0]     # after the move it would not reboot production


def test_a_drifted_parameter_is_set_back(ctx):
    p = ctx.params
    db.ensure_db_parameter_group(ctx)
    boto3.client("rds", region_name="us-east-1").modify_db_parameter_group(
        DBParameterGroupName=names.db_parameter_group(p), Parameters=[
            {"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "pending-reboot"}])
    mark = len(ctx.resources)
    assert db.ensure_db_parameter_group(ctx).action == "exists"
    fixed = ctx.resources_frame(mark)
    assert fixed.iloc[-1].action.startswith("updated") and "rds.force_ssl" in fixed.iloc[-1]["name"], fixed
    # set back with pending-reboot: the database enforces it only after its next reboot, and says so
    assert "next reboot" in fixed.iloc[-1].action
    assert user_params(names.db_parameter_group(p))["rds.force_ssl"] == "1"
    mark = len(ctx.resources)
    db.ensure_db_parameter_group(ctx)
    assert list(ctx.resources_frame(mark).action) == ["exists"]


# ---- snapshot and restore drill --------------------------------------------------------------
def test_restore_drill_restores_compares_and_deletes(ctx, net, capsys):
    p = ctx.params
    db.apply(ctx)
    assert db.ensure_manual_snapshot(ctx).action == "created"
    df = db.restore_drill(ctx)
    assert df["same"].all() and df.attrs["passed"], df
    assert set(df.setting) >= {"status", "engine", "storage encrypted", "parameter group"}
    ids = [d["DBInstanceIdentifier"] for d in boto3.client("rds", region_name="us-east-1").describe_db_instances()[
        "DBInstances"]]
    assert ids == [names.db_instance(p)]
    drill = ctx.resources_frame()
    drill = drill[drill.name == db.drill_instance_id(p)]
    assert list(drill.action) == ["created", "deleted"]
    # moto keeps DeletionProtection on the restore; the sandbox's correction says so, labelled
    out = capsys.readouterr().out
    assert "[sandbox]" in out and "DeletionProtection" in out


def test_rerun_drill_reuses_a_leftover_instance_and_leaves_no_twin(ctx, net):
    p = ctx.params
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    db.restore_drill(ctx, keep=True)          # an interrupted run left its drill instance
    mark = ctx.calls.mark()
    assert db.ensure_manual_snapshot(ctx).action == "exists"
    db.restore_drill(ctx)
    assert "RestoreDBInstanceFromDBSnapshot" not in created_ops(ctx, mark)
    ids = [d["DBInstanceIdentifier"] for d in boto3.client("rds", region_name="us-east-1").describe_db_instances()[
        "DBInstances"]]
    assert ids == [names.db_instance(p)]


def test_a_drill_whose_restore_failed_is_deleted_and_restored_afresh(ctx, net):
    """A restore can end `failed` or `incompatible-parameters`, and then never becomes available: the
    drill reused it (the waiter stops at once on those states), so 08's last cell failed at every rerun
    and the broken copy was billed until the teardown."""
    p = ctx.params
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    db.restore_drill(ctx, keep=True)                      # a drill instance is there ...
    rds, broken = ctx.client("rds"), {"on": True}

    def failed_restore(parsed, **_):                      # ... and AWS says its restore failed
        for d in parsed.get("DBInstances", []):
            if broken["on"] and d["DBInstanceIdentifier"] == db.drill_instance_id(p):
                d["DBInstanceStatus"] = "incompatible-parameters"
    rds.meta.events.register("after-call.rds.DescribeDBInstances", failed_restore)
    rds.meta.events.register("before-call.rds.DeleteDBInstance", lambda **_: broken.update(on=False))
    mark = ctx.calls.mark()
    df = db.restore_drill(ctx)
    assert df["same"].all() and df.attrs["passed"], df
    assert {"DeleteDBInstance", "RestoreDBInstanceFromDBSnapshot"} <= set(created_ops(ctx, mark))


def test_a_passed_drill_is_not_repeated_unless_forced(ctx, net):
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    assert db.restore_drill(ctx).attrs["passed"]
    mark = ctx.calls.mark()
    again = db.restore_drill(ctx)
    assert again.attrs["passed"] and again["restored drill"].iloc[0].startswith("passed ")
    assert "RestoreDBInstanceFromDBSnapshot" not in created_ops(ctx, mark)
    db.restore_drill(ctx, force=True)
    assert "RestoreDBInstanceFromDBSnapshot" in created_ops(ctx, mark)


def test_a_drill_instance_of_someone_else_is_refused(ctx, net):
    p = ctx.params
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    boto3.client("rds", region_name="us-east-1").restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier=db.drill_instance_id(p), DBSnapshotIdentifier=names.db_snapshot(p, "manual"),
        Tags=[{"Key": "owner", "Value": "someone else"}])
    with pytest.raises(ForeignResource):
        db.restore_drill(ctx)
    assert instance(db.drill_instance_id(p))["DBInstanceStatus"] == "available"   # left alone


def test_verify_ignores_the_drill_instance(ctx, net):
    p = ctx.params
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    db.restore_drill(ctx, keep=True)
    findings = db.verify(ctx)
    assert db.drill_instance_id(p) not in set(findings.resource)
    assert not (findings.status == "FAIL").any(), findings[findings.status == "FAIL"]


def test_the_declared_permissions_cover_every_call(ctx, net):
    """The workbook's least-privilege policy is built from the registry: nothing 03 calls may be missing."""
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    db.restore_drill(ctx)
    db.describe_db_secret(ctx)
    db.destroy(ctx)
    needed = actions_for_calls(ctx.calls.calls)
    assert needed <= set(db.STEP_INFO.all_permissions()), needed - set(db.STEP_INFO.all_permissions())


# ---- destroy -----------------------------------------------------------------------------------
def snapshots() -> set[str]:
    return {s["DBSnapshotIdentifier"] for s in boto3.client("rds", region_name="us-east-1").describe_db_snapshots(
        SnapshotType="manual")["DBSnapshots"]}


def test_destroy_keeps_a_final_snapshot_and_is_safe_twice(ctx, net):
    p = ctx.params
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    db.restore_drill(ctx, keep=True)          # a drill instance left behind goes too, without a snapshot
    df = db.destroy(ctx.replace(keep_final_snapshot=True))
    rds = boto3.client("rds", region_name="us-east-1")
    assert rds.describe_db_instances()["DBInstances"] == []
    assert snapshots() == {names.db_snapshot(p, "final")}
    assert "kept (final snapshot)" in set(df.action)
    assert set(df[(df.action == "deleted") & (df.type != "log_group")].name) == {
        names.db_instance(p), db.drill_instance_id(p), names.db_snapshot(p, "manual"), names.db_subnet_group(p),
        names.db_parameter_group(p)}
    with pytest.raises(rds.exceptions.DBSubnetGroupNotFoundFault):
        rds.describe_db_subnet_groups(DBSubnetGroupName=names.db_subnet_group(p))
    assert names.db_parameter_group(p) not in {g["DBParameterGroupName"] for g in
                                               rds.describe_db_parameter_groups()["DBParameterGroups"]}
    mark = ctx.calls.mark()
    again = db.destroy(ctx)
    assert set(again.action) <= {"kept (final snapshot)"}
    assert created_ops(ctx, mark) == []
    assert snapshots() == {names.db_snapshot(p, "final")}


def test_destroy_without_final_snapshot_leaves_none(ctx, net):
    db.apply(ctx)
    db.destroy(ctx.replace(keep_final_snapshot=False))
    assert snapshots() == set()


def test_a_second_teardown_keeps_the_first_final_snapshot(ctx, net):
    p = ctx.params
    db.apply(ctx)
    db.destroy(ctx)
    db.apply(ctx)
    db.destroy(ctx)
    kept = snapshots()
    final = names.db_snapshot(p, "final")
    assert len(kept) == 2 and final in kept
    dated = (kept - {final}).pop()
    assert re.fullmatch(re.escape(final) + r"-\d{8}-\d{6}", dated), dated


def test_destroy_dry_run_deletes_nothing(ctx, net):
    p = ctx.params
    db.apply(ctx)
    df = db.destroy(ctx.replace(dry_run=True))
    assert "would delete" in set(df.action)
    assert instance(names.db_instance(p))["DBInstanceStatus"] == "available"


def test_mysql_instance_exports_error_and_slowquery_logs():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(db_engine="mysql", db_engine_version="8.0.39", dev_db_engine="mysql", multi_az=False)
        make_network(ctx)
        db.apply(ctx)
        d = instance(names.db_instance(ctx.params))
        assert d["Engine"] == "mysql" and d["DbInstancePort"] == 3306 and d["MultiAZ"] is False
        assert d["EnabledCloudwatchLogsExports"] == ["error", "slowquery"]


def test_rerun_with_multi_az_turns_it_on_in_place(ctx, net):
    single = ctx.replace(multi_az=False, backup_retention_days=3)
    p = single.params
    db.apply(single)
    arn = instance(names.db_instance(p))["DBInstanceArn"]
    assert db.plan(ctx).action.tolist()[-1] == "would update"
    df = db.apply(ctx)
    assert df.action.tolist()[-1] == "updated" and "MultiAZ" in df.name.tolist()[-1]
    d = instance(names.db_instance(p))
    assert d["MultiAZ"] is True and d["BackupRetentionPeriod"] == 7 and d["DBInstanceArn"] == arn
    assert db.apply(ctx).action.tolist()[-1] == "exists"


def test_secret_is_found_again_after_a_sandbox_restart(state_dir):
    """moto's replay gives the RDS-managed secret a new ARN: the step reads it fresh, never caches it."""
    from workbook.connect import connect
    from workbook.params import Params
    from workbook.sandbox import server
    p = Params(stack_name="replay")
    ctx = connect(p)
    ec2 = ctx.session.client("ec2", endpoint_url=ctx.endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    for i, az in enumerate(AZS[:2]):
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{100 + i}.0/24", AvailabilityZone=az, TagSpecifications=[{
            "ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", names.subnet(p, "db", az)) + [
                {"Key": names.TIER, "Value": "db"}]}])
    ec2.create_security_group(GroupName=names.db_sg(p), Description="db", VpcId=vpc, TagSpecifications=
                              tagging.tag_spec("security-group", p, "02_network", names.db_sg(p)))
    db.apply(ctx)
    before = db.db_secret_arn(ctx)
    server.stop()
    ctx = connect(p)  # starts the server again and replays the journal
    after = db.db_secret_arn(ctx)
    assert after and after != before
    table = db.describe_db_secret(ctx)
    assert table.loc[table.property == "secret name", "value"].item() == after.split(":secret:")[1].rsplit("-", 1)[0]
    assert set(db.apply(ctx).action) == {"exists"}


def test_a_new_db_subnet_keeps_the_group_in_the_sandbox_and_says_why(ctx, net, capsys):
    p = ctx.params
    db.ensure_db_subnet_group(ctx)
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.create_subnet(VpcId=net["vpc"], CidrBlock="10.20.110.0/24", AvailabilityZone=AZS[2], TagSpecifications=[{
        "ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", names.subnet(p, "db", AZS[2])) + [
            {"Key": names.TIER, "Value": "db"}]}])
    mark = len(ctx.resources)
    assert db.ensure_db_subnet_group(ctx).action == "exists"
    # The step asks RDS to add the subnet (what a real account does); moto would lose the group on that
    # call, so the sandbox keeps it as it was and says why, labelled.
    assert "ModifyDBSubnetGroup" in created_ops(ctx)
    assert "[sandbox] moto loses a DB subnet group" in capsys.readouterr().out
    group = boto3.client("rds", region_name="us-east-1").describe_db_subnet_groups(
        DBSubnetGroupName=names.db_subnet_group(p))["DBSubnetGroups"][0]
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == set(net["subnets"])
    update = ctx.resources_frame(mark).iloc[-1]
    assert update.type == "db_subnet_group_subnets" and update.action.startswith("kept ")  # what RDS answered
