"""Issue 10 #1 in the sandbox, as a user meets it: 04_compute's app servers boot from the release the
step builds (a wheel in the stack's bucket, its location in an SSM parameter, readable through the
instance role), and 04 returns only once the load balancer's targets are healthy. Without the
release, the parameter or the role's permission, a new instance never turns healthy and 04 says
which target is unhealthy and why.

A private moto server and data plane (real processes: the app from the unpacked wheel, PostgreSQL,
the load balancer); one stack, the tests run in order on it.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from compute_fixtures import build_network
from dataplane_stack import private_sandbox
from workbook import names
from workbook.params import Params
from workbook.steps import compute

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    with private_sandbox(tmp_path_factory.mktemp("release-state")):
        p = Params.from_mapping({"stack_name": "rel", "sample_rows": 100})
        ctx = connect(p, step=compute.STEP_ID)
        build_network(ctx, p)
        # What 03_database leaves: the app's health check reads its database.
        ctx.client("rds").create_db_instance(
            DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20, DBName="app", MasterUsername="app", ManageMasterUserPassword=True)
        yield {"ctx": ctx, "p": p, "dp": dataplane}


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def in_service(ctx, p) -> list[str]:
    g = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    return sorted(i["InstanceId"] for i in g["Instances"] if i["LifecycleState"] == "InService")


def replace_one_instance(ctx, p) -> str:
    """What the group does to an unhealthy instance: terminate it and launch a new one."""
    before = in_service(ctx, p)
    ctx.client("autoscaling").terminate_instance_in_auto_scaling_group(InstanceId=before[0],
                                                                       ShouldDecrementDesiredCapacity=False)
    new = sorted(set(in_service(ctx, p)) - set(before))
    assert len(new) == 1
    return new[0]


def test_04_returns_once_every_target_serves_the_release(stack):
    ctx, p, dp = stack["ctx"], stack["p"], stack["dp"]
    compute.apply(ctx)
    targets = dp.daemon_status().get("targets", [])
    assert sorted(t["instance_id"] for t in targets) == in_service(ctx, p)
    assert {t["state"] for t in targets} == {"healthy"}
    # Each answer comes from an app process started from the unpacked wheel, not from this checkout.
    answers = [get(dp.endpoint("lb") + p.health_check_path) for _ in range(4)]
    assert {status for status, _ in answers} == {200}
    assert {body["release"] for _, body in answers} == {compute.release_version()}
    assert {body["instance"] for _, body in answers} == set(in_service(ctx, p))


def test_the_log_group_the_servers_agent_writes_to_is_the_stacks(stack):
    """A server's CloudWatch agent creates the log group it ships to when it is missing (its role may:
    CloudWatchAgentServerPolicy), untagged and kept forever; 06 then found a group of its name without the
    stack's tag and stopped ("not this stack's"), at every rerun. 04 makes the group first, the stack's."""
    from workbook.steps import observability
    ctx, p = stack["ctx"], stack["p"]
    logs = ctx.client("logs")
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=names.app_log_group(p))["logGroups"]
             if g["logGroupName"] == names.app_log_group(p)]
    assert found and found[0].get("retentionInDays") == p.log_retention_days
    tags = logs.list_tags_for_resource(resourceArn=found[0]["arn"].removesuffix(":*"))["tags"]
    assert tags.get("workbook:stack") == p.stack_name
    assert [r.action for r in observability.ensure_log_groups(ctx)][0] == "exists"


def test_without_the_roles_read_permission_a_new_instance_never_turns_healthy(stack):
    ctx, p = stack["ctx"], stack["p"]
    iam = ctx.client("iam")
    doc, _ = compute.role_policy(ctx)
    doc["Statement"] = [s for s in doc["Statement"] if s["Action"] != "s3:GetObject"]
    iam.put_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME, PolicyDocument=json.dumps(doc))
    new = replace_one_instance(ctx, p)
    with pytest.raises(compute.TargetsUnhealthy) as failed:
        compute.wait_for_healthy_targets(ctx, max_attempts=5)
    text = str(failed.value)
    assert new in text and "unhealthy" in text and "Target.FailedHealthChecks" in text
    assert "s3:GetObject" in text          # the instance's boot log (its console output) says what was refused
    assert "1 of 2 targets" in text        # the instance that booted before keeps serving
    assert [i for i in in_service(ctx, p) if i != new and i in text] == []


def test_the_permission_back_the_replacement_serves(stack):
    ctx, p, dp = stack["ctx"], stack["p"], stack["dp"]
    assert compute.ensure_instance_role(ctx).action == "exists"   # the role itself was never deleted ...
    assert compute.wait_for_healthy_targets(ctx).state.tolist() == ["healthy"] * p.desired_capacity
    assert {t["state"] for t in dp.daemon_status()["targets"]} == {"healthy"}


def test_an_instance_the_group_replaces_during_the_wait_is_not_waited_for(stack):
    """On AWS the group terminates an instance that fails its checks after the grace period and launches
    another: 04's wait follows the group's instances as they are now, instead of watching the first
    list until its bound runs out and calling a group that serves unhealthy."""
    ctx, p = stack["ctx"], stack["p"]
    iam = ctx.client("iam")
    doc, _ = compute.role_policy(ctx)
    doc["Statement"] = [s for s in doc["Statement"] if s["Action"] != "s3:GetObject"]
    iam.put_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME, PolicyDocument=json.dumps(doc))
    doomed = replace_one_instance(ctx, p)        # boots without the release: never healthy
    real_sleep, replaced = ctx.clock.sleep, []

    def sleep(seconds: float) -> None:           # the first pause of the wait: the group replaces it
        if not replaced:
            compute.ensure_instance_role(ctx)
            ctx.client("autoscaling").terminate_instance_in_auto_scaling_group(
                InstanceId=doomed, ShouldDecrementDesiredCapacity=False)
            replaced.append(doomed)
        real_sleep(seconds)

    ctx.target.clock.sleep = sleep
    try:
        health = compute.wait_for_healthy_targets(ctx)
    finally:
        del ctx.target.clock.sleep
    assert replaced and doomed not in health.instance.tolist()
    assert sorted(health.instance) == in_service(ctx, p)
    assert health.state.tolist() == ["healthy"] * p.desired_capacity


def test_without_the_parameter_a_new_instance_never_turns_healthy_until_04_runs_again(stack):
    ctx, p = stack["ctx"], stack["p"]
    ctx.client("ssm").delete_parameter(Name=compute.artifact_parameter(p))
    new = replace_one_instance(ctx, p)
    with pytest.raises(compute.TargetsUnhealthy) as failed:
        compute.wait_for_healthy_targets(ctx, max_attempts=5)
    assert new in str(failed.value) and "ParameterNotFound" in str(failed.value)
    done = compute.apply(ctx)
    assert dict(zip(done.name, done.action))[compute.artifact_parameter(p)] == "created"
    assert {t["state"] for t in stack["dp"].daemon_status()["targets"]} == {"healthy"}


def test_boot_settings_without_the_database_never_turn_healthy_until_04_runs_again(stack):
    """As on AWS: the app reads DB_HOST from /etc/app/app.env and exits when it is empty (systemd restarts
    it, forever), so an instance launched from such a template never passes a health check."""
    import base64
    ctx, p = stack["ctx"], stack["p"]
    ec2 = ctx.client("ec2")
    lt = ec2.describe_launch_templates(LaunchTemplateNames=[names.launch_template(p)])["LaunchTemplates"][0]
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"], Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    data["UserData"] = base64.b64encode(compute.user_data(p, db_host="").encode()).decode()
    ec2.create_launch_template_version(LaunchTemplateId=lt["LaunchTemplateId"], LaunchTemplateData=data)
    new = replace_one_instance(ctx, p)
    with pytest.raises(compute.TargetsUnhealthy) as failed:
        compute.wait_for_healthy_targets(ctx, max_attempts=5)
    assert new in str(failed.value) and "DB_HOST is empty" in str(failed.value)
    compute.ensure_launch_template(ctx)    # 04 again: a new version with the database's address
    ctx.client("autoscaling").terminate_instance_in_auto_scaling_group(   # what the group does to the stale one
        InstanceId=new, ShouldDecrementDesiredCapacity=False)
    assert compute.wait_for_healthy_targets(ctx).state.tolist() == ["healthy"] * p.desired_capacity


def _wheel_of_version(body: bytes, version: str) -> bytes:
    """The same wheel, its metadata saying another version: a new release of the app."""
    import io
    import re
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(body)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/METADATA"):
                data = re.sub(rb"(?m)^Version: .*$", f"Version: {version}".encode(), data)
            dst.writestr(item, data)
    return out.getvalue()


def test_04_again_with_a_new_release_rolls_every_server_onto_it(stack):
    """A user changes the app and runs 04 again: the parameter then names the new release, but a server
    reads it only at boot, so without replacing them every server went on serving the old one while 04
    reported the targets healthy. Now 04 replaces the servers launched before the change (an instance
    refresh), and a second rerun replaces nothing."""
    ctx, p = stack["ctx"], stack["p"]
    lb = stack["dp"].endpoint("lb") + p.health_check_path
    before = in_service(ctx, p)
    bucket, _, key = compute.release_location(ctx)[len("s3://"):].partition("/")
    s3 = ctx.client("s3")
    new_key = key.rsplit("/", 1)[0] + "/next/" + key.rsplit("/", 1)[1]
    s3.put_object(Bucket=bucket, Key=new_key, Body=_wheel_of_version(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), "9.9.9"))
    done = compute.apply(ctx, artifact_url=f"s3://{bucket}/{new_key}")
    after = in_service(ctx, p)
    assert len(after) == p.desired_capacity and not set(after) & set(before)
    assert {body["release"] for status, body in (get(lb) for _ in range(4)) if status == 200} == {"9.9.9"}
    assert "instance_refresh" in set(done.type)
    again = compute.apply(ctx, artifact_url=f"s3://{bucket}/{new_key}")
    assert "instance_refresh" not in set(again.type) and in_service(ctx, p) == after


def test_after_08_the_servers_move_to_the_apps_own_user_and_the_old_ones_keep_their_secret_meanwhile(stack):
    """08 makes the app's own database user; 04 again points the servers' settings at its secret and
    narrows the role to it. The servers already running name the master secret, which they read again at
    every restart and after each rotation: the role keeps it while any of them runs, 04 replaces them, and
    only then is the role narrowed to the app's secret alone."""
    from workbook import dbmove_hosts
    ctx, p = stack["ctx"], stack["p"]
    iam = ctx.client("iam")
    master = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
    app_secret = dbmove_hosts.ensure_app_secret(ctx, master, "postgres")

    def readable() -> set[str]:
        doc = iam.get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        found = [s["Resource"] for s in doc["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
        return {r for res in found for r in ([res] if isinstance(res, str) else res)}

    before = in_service(ctx, p)
    compute.ensure_instance_role(ctx)
    assert readable() == {app_secret, master["MasterUserSecret"]["SecretArn"]}   # the running servers' too
    compute.apply(ctx, artifact_url=compute.release_location(ctx))
    assert not set(in_service(ctx, p)) & set(before)
    assert readable() == {app_secret}
