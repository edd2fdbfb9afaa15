"""Compute under the rehearsal: the load balancer provisions, targets check in and drain, Auto Scaling
launches take their time and terminations drain first, and a deleted load balancer's interfaces
linger. Each test shows the naive path meeting the behaviour, then the patient path passing."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from rehearsal_fixtures import error_code, rctx, vpc_with_subnets  # noqa: F401  (rctx is a fixture)

from workbook import engine, progress
from workbook.kinds import get
from workbook.sandbox import rehearsal_facts as F
from workbook.sandbox.corrections import plain

AMI = "ami-12c6146b"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "ec2.amazonaws.com"}}]})


def _lb(ctx, subnets, sg):
    return ctx.client("elbv2").create_load_balancer(Name="web", Subnets=subnets, SecurityGroups=[sg])[
        "LoadBalancers"][0]["LoadBalancerArn"]


def _tg(ctx, vpc, delay=None):
    arn = plain(ctx, "elbv2").create_target_group(Name="app", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"][0]["TargetGroupArn"]
    if delay is not None:
        plain(ctx, "elbv2").modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
    return arn


def _health(ctx, tg, **kw):
    return {d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in ctx.client("elbv2").describe_target_health(TargetGroupArn=tg, **kw)["TargetHealthDescriptions"]}


def _sg(ctx, vpc, name="web"):
    return plain(ctx, "ec2").create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]


def test_load_balancer_provisions_for_minutes(rctx):
    vpc, subnets = vpc_with_subnets(rctx)
    arn = _lb(rctx, subnets, _sg(rctx, vpc))
    elb = rctx.client("elbv2")
    assert elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"] == "provisioning"
    t0 = rctx.clock.now()
    engine.wait(rctx, get("load_balancer"), arn)
    assert F.FACTS["alb_create"].low <= rctx.clock.now() - t0 <= F.FACTS["alb_create"].high + 15
    assert elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"] == "active"


def test_deleted_load_balancer_leaves_interfaces_for_minutes(rctx):
    vpc, subnets = vpc_with_subnets(rctx)
    sg = _sg(rctx, vpc)
    arn = _lb(rctx, subnets, sg)
    rctx.clock.sleep(F.FACTS["alb_create"].high)
    ec2 = rctx.client("ec2")
    rctx.client("elbv2").delete_load_balancer(LoadBalancerArn=arn)
    for call in (lambda: ec2.delete_security_group(GroupId=sg), lambda: ec2.delete_subnet(SubnetId=subnets[0]),
                 lambda: ec2.delete_vpc(VpcId=vpc)):
        with pytest.raises(ClientError) as e:              # naive: tear the network down right away
            call()
        assert error_code(e) == "DependencyViolation"
    # patient: the engine's bounded retry (15 AWS s apart) outlasts the interfaces
    engine.retrying(rctx, lambda: ec2.delete_security_group(GroupId=sg), sg)
    for s in subnets:
        engine.retrying(rctx, lambda s=s: ec2.delete_subnet(SubnetId=s), s)


def test_targets_check_in_and_drain(rctx):
    vpc, (subnet, _) = vpc_with_subnets(rctx)
    tg = _tg(rctx, vpc, delay=120)
    iid = plain(rctx, "ec2").run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)[
        "Instances"][0]["InstanceId"]
    elb = rctx.client("elbv2")
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": iid, "Port": 80}])
    assert _health(rctx, tg) == {iid: "initial"}           # naive: send traffic at once
    progress.wait_for(elb, "target_in_service", "target", sleep=rctx.clock.sleep, TargetGroupArn=tg,
                      Targets=[{"Id": iid, "Port": 80}])
    assert _health(rctx, tg) == {iid: "healthy"}
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": iid, "Port": 80}])
    assert _health(rctx, tg) == {iid: "draining"}          # naive: stop the instance now (drops requests)
    t0 = rctx.clock.now()
    progress.wait_for(elb, "target_deregistered", "drained", sleep=rctx.clock.sleep, TargetGroupArn=tg,
                      Targets=[{"Id": iid, "Port": 80}])
    assert 120 <= rctx.clock.now() - t0 <= 120 + 15       # the target group's own deregistration delay
    assert _health(rctx, tg) == {}


def _template(ctx, profile=None):
    data = {"ImageId": AMI, "InstanceType": "t3.micro", **({"IamInstanceProfile": {"Name": profile}} if profile else {})}
    return plain(ctx, "ec2").create_launch_template(LaunchTemplateName="app", LaunchTemplateData=data)[
        "LaunchTemplate"]["LaunchTemplateId"]


def _group_args(lt, subnets, tg):
    return dict(AutoScalingGroupName="app", MinSize=2, MaxSize=4, DesiredCapacity=2,
                LaunchTemplate={"LaunchTemplateId": lt, "Version": "$Latest"}, VPCZoneIdentifier=",".join(subnets),
                TargetGroupARNs=[tg], HealthCheckType="ELB", HealthCheckGracePeriod=120)


def _instances(ctx):
    g = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["app"])["AutoScalingGroups"]
    return {i["InstanceId"]: i["LifecycleState"] for i in g[0]["Instances"]} if g else {}


def test_group_refuses_a_new_profile_then_launches_in_its_time(rctx):
    vpc, subnets = vpc_with_subnets(rctx)
    iam, asg = rctx.client("iam"), rctx.client("autoscaling")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    tg, lt = _tg(rctx, vpc), _template(rctx, "app")
    with pytest.raises(ClientError) as e:                  # naive: the group right after the profile
        asg.create_auto_scaling_group(**_group_args(lt, subnets, tg))
    assert error_code(e) == "ValidationError" and "Invalid IAM Instance Profile name" in str(e.value)
    engine.retrying(rctx, lambda: asg.create_auto_scaling_group(**_group_args(lt, subnets, tg)), "group",
                    codes=("ValidationError",), attempts=5, delay_s=5)
    assert set(_instances(rctx).values()) == {"Pending"}  # naive: count InService instances now
    progress.poll(lambda: list(_instances(rctx).values()) == ["InService"] * 2, "InService", delay=15,
                  max_attempts=10, sleep=rctx.clock.sleep)
    assert set(_health(rctx, tg).values()) == {"initial"}  # registered, first health check pending
    progress.wait_for(rctx.client("elbv2"), "target_in_service", "targets", sleep=rctx.clock.sleep, TargetGroupArn=tg)


def test_instance_terminated_through_its_group_drains_first(rctx):
    vpc, subnets = vpc_with_subnets(rctx)
    tg, lt = _tg(rctx, vpc), _template(rctx)
    asg, ec2 = rctx.client("autoscaling"), rctx.client("ec2")
    asg.create_auto_scaling_group(**_group_args(lt, subnets, tg))
    rctx.clock.sleep(F.FACTS["asg_in_service"].high + F.FACTS["target_first_check"].high)
    victim = sorted(_instances(rctx))[0]
    asg.terminate_instance_in_auto_scaling_group(InstanceId=victim, ShouldDecrementDesiredCapacity=False)
    assert _instances(rctx)[victim] == "Terminating"
    assert _health(rctx, tg)[victim] == "draining"
    state = ec2.describe_instances(InstanceIds=[victim])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"                              # a graceful drain, not a crash
    t0 = rctx.clock.now()
    progress.wait_for(ec2, "instance_terminated", "victim", sleep=rctx.clock.sleep, InstanceIds=[victim])
    assert rctx.clock.now() - t0 >= F.FACTS["deregistration_delay"].low
    assert victim not in _instances(rctx)


def test_group_delete_is_in_progress_until_its_instances_are_gone(rctx):
    vpc, subnets = vpc_with_subnets(rctx)
    tg, lt = _tg(rctx, vpc), _template(rctx)
    asg = rctx.client("autoscaling")
    asg.create_auto_scaling_group(**_group_args(lt, subnets, tg))
    rctx.clock.sleep(60)
    asg.delete_auto_scaling_group(AutoScalingGroupName="app", ForceDelete=True)
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["app"])["AutoScalingGroups"]
    assert g and g[0]["Status"] == "Delete in progress"    # naive: "deleted", so its subnets can go now
    assert {i["LifecycleState"] for i in g[0]["Instances"]} == {"Terminating"}
    with pytest.raises(ClientError) as e:
        rctx.client("ec2").delete_subnet(SubnetId=subnets[0])
    assert error_code(e) == "DependencyViolation"
    # patient: the kind's delete (seeing the delete in progress) waits for the instances, then the group
    t0 = rctx.clock.now()
    engine.delete(rctx, get("auto_scaling_group"), engine.Item("auto_scaling_group", "app", "app", {}, g[0]),
                  step="teardown")
    assert rctx.clock.now() - t0 >= F.FACTS["deregistration_delay"].low - 60
    assert asg.describe_auto_scaling_groups(AutoScalingGroupNames=["app"])["AutoScalingGroups"] == []
    engine.retrying(rctx, lambda: rctx.client("ec2").delete_subnet(SubnetId=subnets[0]), subnets[0])


def _app_env(ctx, name):
    """The app settings (/etc/app/app.env) in the launch template's newest version, as a server gets them."""
    import base64
    import shlex

    from workbook.steps import compute
    data = ctx.client("ec2").describe_launch_template_versions(LaunchTemplateName=name, Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    text = compute.user_data_files(base64.b64decode(data["UserData"]).decode())["/etc/app/app.env"]
    return dict(part.split("=", 1) for line in text.splitlines() for part in shlex.split(line))


def test_04_right_after_03_waits_for_the_database_endpoint_before_the_launch_template(rctx):
    """On AWS an RDS instance has no endpoint while `creating` (15-20 minutes Multi-AZ) and 03 does not wait
    for it: 04 run right after wrote DB_HOST='' into the boot settings, so every app server's app exited at
    start and no target ever passed a health check. 04 waits (bounded by the cell) for the address instead."""
    from workbook import names
    from workbook.steps import compute, compute_prereq, database, network
    network.apply(rctx)
    database.apply(rctx)                                     # 03: the create started, not waited for
    assert compute_prereq.db_endpoint(rctx)[0] == ""        # AWS gives no address while creating
    t0 = rctx.clock.now()
    compute.ensure_launch_template(rctx)
    env = _app_env(rctx, names.launch_template(rctx.p))
    assert env["DB_HOST"], "the boot settings name no database"
    address = rctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(rctx.p))[
        "DBInstances"][0]["Endpoint"]["Address"]
    assert env["DB_HOST"] == address
    assert rctx.clock.now() - t0 >= F.FACTS["rds_create_multi"].low


def test_05s_certificate_starts_before_04_waits_for_the_database_and_only_then(rctx):
    """The database's 15-20 minutes and the certificate's 2-30 minutes of DNS validation overlap: the request
    is made before 04's wait, not after it in 05. With no wait to overlap, 04 leaves the certificate to 05."""
    from workbook.steps import compute, database, network
    ctx = rctx.replace(domain_name="api.shop.example")
    network.apply(ctx)
    database.apply(ctx)
    started = compute.start_certificate_while_db_is_created(ctx)
    assert [r.type for r in started] == ["hosted_zone", "certificate"] and started[1].action == "created"
    cert = ctx.client("acm").describe_certificate(CertificateArn=started[1].id)["Certificate"]
    assert cert["Status"] == "PENDING_VALIDATION"      # validating in AWS while 04 waits for the database
    compute.ensure_launch_template(ctx)
    assert compute.start_certificate_while_db_is_created(ctx) == []
