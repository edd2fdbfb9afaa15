"""The network under the rehearsal: NAT gateways and instances take their time, new EC2 resources are
NotFound for a moment, new IAM roles and profiles cannot be used yet, and interfaces of deleted
owners linger. Each test shows the naive path meeting the behaviour, then the patient path passing."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, WaiterError
from rehearsal_fixtures import error_code, rctx, vpc_with_subnets  # noqa: F401  (rctx is a fixture)

from workbook import engine, progress
from workbook.sandbox import rehearsal_facts as F
from workbook.sandbox.corrections import plain

AMI = "ami-12c6146b"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}}]})


def _nat(ctx, subnet):
    eip = plain(ctx, "ec2").allocate_address(Domain="vpc")["AllocationId"]
    return ctx.client("ec2").create_nat_gateway(SubnetId=subnet, AllocationId=eip)["NatGateway"]["NatGatewayId"]


def _nat_state(ctx, nid):
    return ctx.client("ec2").describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]["State"]


def test_nat_gateway_is_pending_then_available(rctx):
    vpc, (subnet, _) = vpc_with_subnets(rctx)
    nid = _nat(rctx, subnet)
    rctx.clock.sleep(F.point("ec2_not_found", "x"))        # past the moment it is not yet visible
    assert _nat_state(rctx, nid) == "pending"              # naive: route through it now
    t0 = rctx.clock.now()
    engine.wait(rctx, engine.K.get("nat_gateway"), nid)    # patient: the kind's waiter, on the clock
    assert F.FACTS["nat_create"].low <= rctx.clock.now() - t0 + 2 <= F.FACTS["nat_create"].high + 15
    assert _nat_state(rctx, nid) == "available"


def test_subnet_delete_meets_the_nat_interface(rctx):
    vpc, (subnet, _) = vpc_with_subnets(rctx)
    ec2 = rctx.client("ec2")
    igw = plain(rctx, "ec2").create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    plain(rctx, "ec2").attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    nid = _nat(rctx, subnet)
    rctx.clock.sleep(F.FACTS["nat_create"].high)
    ec2.delete_nat_gateway(NatGatewayId=nid)
    assert _nat_state(rctx, nid) == "deleting"
    with pytest.raises(ClientError) as e:                  # naive: delete the subnet right after its NAT
        ec2.delete_subnet(SubnetId=subnet)
    assert error_code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:                  # and the gateway still maps the NAT's address
        ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    assert error_code(e) == "DependencyViolation"
    lingering = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    assert any(i["InterfaceType"] == "nat_gateway" for i in lingering)
    # patient: the engine's bounded retry of refusals that clear by themselves, sleeping on the clock
    engine.retrying(rctx, lambda: ec2.detach_internet_gateway(InternetGatewayId=igw, VpcId=vpc), igw)
    engine.retrying(rctx, lambda: ec2.delete_subnet(SubnetId=subnet), subnet)
    assert subnet not in {s["SubnetId"] for s in plain(rctx, "ec2").describe_subnets()["Subnets"]}
    assert _nat_state(rctx, nid) == "deleted"


def test_new_vpc_is_not_found_for_a_moment(rctx):
    ec2 = rctx.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(ClientError) as e:                  # naive: describe it by id at once
        ec2.describe_vpcs(VpcIds=[vpc])
    assert error_code(e) == "InvalidVpcID.NotFound"
    vpc2 = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(WaiterError, match="InvalidVpcID.NotFound"):   # naive: botocore's waiter used bare
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc2])           # (no acceptor for NotFound: it stops)
    vpc3 = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    # patient: the workbook's wait (engine.wait -> progress.wait_for) takes an error as "not yet" and
    # looks again after the waiter's delay on the clock
    engine.wait(rctx, engine.K.get("vpc"), vpc3)
    assert ec2.describe_vpcs(VpcIds=[vpc3])["Vpcs"][0]["State"] == "available"
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc3)["GroupId"]
    with pytest.raises(ClientError) as e:
        ec2.describe_security_groups(GroupIds=[sg])
    assert error_code(e) == "InvalidGroup.NotFound"
    progress.wait_for(ec2, "security_group_exists", "sg", sleep=rctx.clock.sleep, GroupIds=[sg])


def test_instance_pending_then_running_then_shutting_down(rctx):
    vpc, (subnet, _) = vpc_with_subnets(rctx)
    ec2 = rctx.client("ec2")
    sg = plain(rctx, "ec2").create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    iid = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, SecurityGroupIds=[sg])[
        "Instances"][0]["InstanceId"]
    progress.wait_for(ec2, "instance_exists", "exists", sleep=rctx.clock.sleep, InstanceIds=[iid])
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "pending"
    progress.wait_for(ec2, "instance_running", "running", sleep=rctx.clock.sleep, InstanceIds=[iid])
    ec2.terminate_instances(InstanceIds=[iid])
    with pytest.raises(ClientError) as e:                  # naive: its group goes right after the instance
        ec2.delete_security_group(GroupId=sg)
    assert error_code(e) == "DependencyViolation"
    progress.wait_for(ec2, "instance_terminated", "terminated", sleep=rctx.clock.sleep, InstanceIds=[iid])
    ec2.delete_security_group(GroupId=sg)                  # patient: once the instance is gone


def test_flow_logs_right_after_their_role_are_refused(rctx):
    vpc, _ = vpc_with_subnets(rctx)
    iam, ec2 = rctx.client("iam"), rctx.client("ec2")
    role = iam.create_role(RoleName="flow-logs", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    args = dict(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
                LogGroupName="flow", DeliverLogsPermissionArn=role)
    with pytest.raises(ClientError) as e:                  # naive: flow logs in the same breath as the role
        ec2.create_flow_logs(**args)
    assert error_code(e) == "InvalidParameter" and "Unable to assume given IAM role" in str(e.value)
    # patient: retry this refusal with backoff on the clock
    out = engine.retrying(rctx, lambda: ec2.create_flow_logs(**args), "flow logs", codes=("InvalidParameter",),
                          attempts=5, delay_s=5)
    assert out["FlowLogIds"]


def test_run_instances_with_a_new_profile_is_refused(rctx):
    vpc, (subnet, _) = vpc_with_subnets(rctx)
    iam, ec2 = rctx.client("iam"), rctx.client("ec2")
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="app")
    iam.add_role_to_instance_profile(InstanceProfileName="app", RoleName="app")
    args = dict(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet, IamInstanceProfile={"Name": "app"})
    with pytest.raises(ClientError) as e:
        ec2.run_instances(**args)
    assert error_code(e) == "InvalidParameterValue" and "Invalid IAM Instance Profile name" in str(e.value)
    rctx.clock.sleep(F.FACTS["iam_propagation"].high)      # patient: the profile has propagated
    assert ec2.run_instances(**args)["Instances"]
