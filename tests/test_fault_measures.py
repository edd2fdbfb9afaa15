"""The injected faults measure what they say (issue 10, finding #9), on a real account's path (in-process
moto, target=aws): the target group's deregistration delay is set on purpose (not AWS's 300 s default);
"an app server dies" is a crash of the instance itself (EC2 TerminateInstances), not the Auto Scaling
group's graceful terminate, which drains first; the probe lasts long enough for each fault to play out
(an RDS failover takes 1-2 minutes) and says what its figure covers."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from moto import mock_aws

from compute_fixtures import build_network
from conftest import make_ctx
from workbook import probe
from workbook.steps import compute

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(target="aws", aws_account_id="123456789012", probe_seconds=10)
        yield ctx, create_stack(ctx, ctx.params, release=False)


def test_the_target_group_drains_for_a_delay_chosen_on_purpose():
    with mock_aws():
        ctx = make_ctx()
        build_network(ctx, ctx.params)
        tg = compute.ensure_target_group(ctx)
        attrs = {a["Key"]: a["Value"] for a in ctx.client("elbv2").describe_target_group_attributes(
            TargetGroupArn=tg.id)["Attributes"]}
        assert attrs["deregistration_delay.timeout_seconds"] == str(compute.DEREGISTRATION_DELAY_S)
        assert compute.DEREGISTRATION_DELAY_S < 300


def test_an_app_server_dying_is_a_crash_of_the_instance_not_a_graceful_drain(aws):
    ctx, _ = aws
    mark = ctx.calls.mark()
    killed = probe.fault_action(ctx, "kill_app_instance")()
    ops = [c.operation for c in ctx.calls.calls[mark:] if not c.operation.startswith("Describe")]
    assert ops == ["TerminateInstances"] and killed["how"].startswith("crash")
    assert ctx.client("ec2").describe_instances(InstanceIds=[killed["killed"]])["Reservations"][0]["Instances"][0][
        "State"]["Name"] in ("shutting-down", "terminated")


def test_the_probe_is_long_enough_for_the_fault_to_play_out(aws, monkeypatch):
    ctx, _ = aws
    seen = {}

    def run(url, rate, seconds, **kw):
        seen["seconds"] = seconds
        raise RuntimeError("measured enough")
    monkeypatch.setattr(probe, "run", run)
    monkeypatch.setattr(type(ctx.target.dataplane), "endpoint_url", lambda self, c, kind: "http://127.0.0.1:9")
    for fault, at_least in (("db_failover", 120), ("kill_app_instance", 2 * 10 + 5)):
        covers = probe.probe_seconds(ctx, fault)
        assert covers - covers / 3 >= at_least, fault           # what follows the fault covers its recovery
        with pytest.raises(RuntimeError):
            probe.probe(ctx, "lb", "after", fault=fault)
        assert seen["seconds"] == covers
    assert probe.probe_seconds(ctx, "none") == ctx.p.probe_seconds
