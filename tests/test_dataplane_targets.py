"""workbook/dataplane.py: one data-plane interface on both targets; the real account's side (AwsDataPlane)
on in-process moto: what serves, endpoints, faults through the documented APIs, the move through SSM Run
Command. (The sandbox's stand-ins run for real in tests/sandbox/test_dataplane.py.)"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import dbmove, names, probe, steps
from workbook.aws import AwsTarget
from workbook.dataplane import AwsDataPlane, DataPlane
from workbook.iam_actions import actions_for_calls
from workbook.sandbox.plane import SandboxDataPlane
from workbook.sandbox.seam import SandboxTarget
from workbook.steps import cutover

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402

INTERFACE = ("resolve", "start", "endpoint_url", "fault", "flush", "database_identity", "move_database",
             "dev_instance_id", "restore", "fault_settle_s")


def test_both_targets_answer_the_same_interface():
    assert isinstance(AwsTarget().dataplane, AwsDataPlane) and isinstance(SandboxTarget().dataplane, SandboxDataPlane)
    for cls in (AwsDataPlane, SandboxDataPlane):
        for name in INTERFACE:
            method = getattr(cls, name)
            assert inspect.signature(method) == inspect.signature(getattr(DataPlane, name)), (cls, name)
        # every target-specific part is the target's own, none is left to the base's NotImplementedError
        for name in ("start", "endpoint_url", "_fault", "flush", "database_identity", "_restart_dev"):
            assert getattr(cls, name) is not getattr(DataPlane, name), (cls, name)


def test_steps_dbmove_and_probe_never_ask_which_target():
    root = Path(__file__).resolve().parents[1] / "workbook"
    for path in (root / "steps" / "cutover.py", root / "steps" / "dev.py", root / "dbmove.py", root / "probe.py",
                 root / "dataplane.py"):
        text = path.read_text()
        for asks in ("ctx.sandbox", "workaround(", 'target == "sandbox"', "from .sandbox", "from ..sandbox",
                     "workbook.sandbox"):
            assert asks not in text, (path.name, asks)


@pytest.fixture
def aws(monkeypatch):
    """A real-account context (no sandbox corrections) on in-process moto, with the stack 08 needs."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")   # the app role's AmazonSSMManagedInstanceCore
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012")
        yield ctx, create_stack(ctx, ctx.params, managed_secret=True, release=False)


def test_resolve_reads_what_serves_from_the_control_plane(aws):
    ctx, stack = aws
    found = ctx.target.dataplane.resolve(ctx)
    assert found["dev"] == {"instance_id": stack["dev"]}
    assert found["rds"]["id"] == names.db_instance(ctx.p) and found["rds"]["endpoint"].endswith(":5432")
    assert len(found["asg"]["instance_ids"]) == ctx.p.desired_capacity
    assert found["lb"]["arn"] == stack["lb"] and found["lb"]["health"]["interval_s"] == 10.0
    table = cutover.prerequisites(ctx)
    assert "MISSING" not in set(table.found)


def test_nothing_there_is_missing_not_an_error():
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012", dev_tag="Name=nobody")
        assert ctx.target.dataplane.resolve(ctx) == {"dev": None, "rds": None, "asg": None, "lb": None}
        assert set(cutover.prerequisites(ctx).found) == {"MISSING"}
        with pytest.raises(LookupError, match="dev_tag"):
            ctx.target.dataplane.dev_instance_id(ctx)


def test_on_a_real_account_the_instances_serve_and_start_shows_their_health(aws):
    ctx, _ = aws
    health = cutover.data_plane(ctx)
    assert list(health.columns) == ["instance", "port", "state", "reason"]
    assert len(health) == ctx.p.desired_capacity and set(health.port) == {ctx.p.app_port}
    assert ctx.target.dataplane.flush() == {"calls": 0, "datums": 0}       # AWS publishes its own metrics
    assert ctx.target.dataplane.database_identity(ctx, "rds") == ""       # not reachable from here


def test_endpoints_are_the_dev_hosts_address_and_the_load_balancer(aws):
    ctx, stack = aws
    ctx = ctx.replace(entry="alb")   # each entry and state: tests/test_probe_urls.py
    inst = ctx.client("ec2").describe_instances(InstanceIds=[stack["dev"]])["Reservations"][0]["Instances"][0]
    assert probe.endpoint_url(ctx, "dev") == f"http://{inst['PublicIpAddress']}:{names.DEV_HTTP_PORT}"
    dns = ctx.client("elbv2").describe_load_balancers(Names=[names.alb(ctx.p)])["LoadBalancers"][0]["DNSName"]
    assert probe.endpoint_url(ctx, "lb") == f"http://{dns}"


def test_faults_use_the_documented_apis(aws):
    ctx, stack = aws
    mark = ctx.calls.mark()
    stopped = probe.fault_action(ctx, "stop_dev")()
    assert (stopped["stopped"], stopped["state"]) == (stack["dev"], "stopping")
    killed = probe.fault_action(ctx, "kill_app_instance")()
    assert killed["killed"].startswith("i-")
    assert probe.fault_action(ctx, "db_failover")()["rebooted"] == names.db_instance(ctx.p)
    ops = [c.operation for c in ctx.calls.calls[mark:] if not c.operation.startswith("Describe")]
    assert ops == ["StopInstances", "TerminateInstances", "RebootDBInstance"]   # the app server crashes


@pytest.fixture
def ssm_outputs(aws):
    """What the instances would print (tests/ssm_agent.py): the commands sent are recorded."""
    from ssm_agent import agent
    ctx, stack = aws
    sent: list[dict] = []
    agent(ctx, sent)
    yield ctx, stack, sent


def test_the_move_on_a_real_account_runs_on_the_instances_through_ssm(ssm_outputs):
    ctx, stack, sent = ssm_outputs
    result = dbmove.move(ctx)
    assert result.ok and result.verification["rows_rds"].sum() == 10 and result.freeze_held
    app = sent[0]["InstanceIds"][0]
    # the ledger, the preflight and the dump on dev (nothing frozen before the preflight passed), the restore
    assert [c["InstanceIds"][0] for c in sent] == [app, stack["dev"], stack["dev"], app]
    assert "preflight" in sent[1]["Comment"] and "default_transaction_read_only" not in str(sent[1]["Parameters"])
    assert all(c["DocumentName"] == "AWS-RunShellScript" for c in sent)
    dump, restore = ("\n".join(c["Parameters"]["commands"]) for c in sent[2:])
    assert "default_transaction_read_only = on" in dump and "pg_dump -Fc" in dump and "--sse AES256" in dump
    assert "pg_restore" in restore and "secretsmanager get-secret-value" in restore   # read on the instance
    assert "bash \"$f\"" in restore and result.bucket == names.dump_bucket(ctx.p, ctx.account_id)
    # the dev host is the stack's: it got the move profile for the move and lost it afterwards
    ec2 = ctx.client("ec2")
    assocs = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [stack["dev"]]}])["IamInstanceProfileAssociations"]
    assert all(a["State"] in ("disassociating", "disassociated") for a in assocs)
    # the app role's read permission existed only during the move; the ledger is on the RDS instance's tags
    assert "workbook-dbmove" not in ctx.client("iam").list_role_policies(RoleName=names.app_role(ctx.p))["PolicyNames"]
    db = ctx.client("rds").describe_db_instances()["DBInstances"][0]
    tags = {t["Key"]: t["Value"] for t in ctx.client("rds").list_tags_for_resource(
        ResourceName=db["DBInstanceArn"])["TagList"]}
    assert tags["workbook:moved-dump"] == result.key and tags["workbook:moved-from"] == stack["dev"]


def test_a_rerun_on_a_real_account_restores_nothing(ssm_outputs):
    ctx, stack, sent = ssm_outputs
    first = dbmove.move(ctx)
    n = len(sent)
    again = dbmove.move(ctx)
    assert again.already_moved and first.key
    assert not any("restore into RDS" in c["Comment"] for c in sent[n:])
    assert not any("pg_dump" in "\n".join(c["Parameters"]["commands"]) for c in sent[n:])


def test_declared_permissions_cover_every_call_08_makes_on_a_real_account(ssm_outputs):
    ctx, _, _ = ssm_outputs
    mark = ctx.calls.mark()
    cutover.prerequisites(ctx)
    cutover.data_plane(ctx)
    dbmove.move(ctx)
    probe.endpoint_url(ctx, "dev")
    probe.endpoint_url(ctx.replace(entry="alb"), "lb")
    for fault in ("stop_dev", "kill_app_instance", "db_failover"):
        probe.fault_action(ctx, fault)()
    cutover.destroy(ctx)
    used = actions_for_calls(ctx.calls.calls[mark:])
    declared = set(steps.get("08_cutover_compare").all_permissions())
    assert used <= declared, used - declared
