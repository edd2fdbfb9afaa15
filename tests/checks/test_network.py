"""The network checks: all pass on what 02_network builds; each one fails on its own misconfiguration."""
from __future__ import annotations

import boto3
import pytest

from conftest import make_ctx
from workbook import checks, names
from workbook.steps import network

NETWORK_CHECKS = {"ARTICLE.SUBNETS_MULTI_AZ", "EC2.15", "ARTICLE.PRIVATE_NO_IGW_ROUTE", "EC2.2",
                  "ARTICLE.ONLY_ALB_PUBLIC", "ARTICLE.NO_SSH", "EC2.6", "ARTICLE.NAT_REDUNDANCY", "ARTICLE.SG_CHAIN"}


def ec2():
    return boto3.client("ec2", region_name="us-east-1")


def status(findings, check_id: str) -> set[str]:
    return set(findings[findings.id == check_id].status)


def failing(findings) -> set[str]:
    return set(findings[findings.status == "FAIL"].id)


@pytest.fixture
def built(ctx):
    network.apply(ctx)
    vpc_id = network.vpc_id(ctx)
    groups = {g["GroupName"]: g["GroupId"] for g in ec2().describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
    subnets = {{t["Key"]: t["Value"] for t in s["Tags"]}["Name"]: s["SubnetId"]
               for s in ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]}
    return {"ctx": ctx, "p": ctx.params, "vpc": vpc_id, "sg": groups, "subnet": subnets}


def test_the_checks_are_registered_in_the_network_group():
    checks.load_all()
    mine = {c.id for c in checks.REGISTRY.values() if c.group == "network"}
    assert mine == NETWORK_CHECKS
    assert checks.get("ARTICLE.NAT_REDUNDANCY", "network").severity == "low"
    assert "$32.85" in checks.get("ARTICLE.NAT_REDUNDANCY", "network").risk


def test_no_vpc_yet_is_not_applicable(ctx):
    findings = network.verify(ctx)
    assert set(findings.id) == NETWORK_CHECKS and set(findings.status) == {"NOT_APPLICABLE"}


def test_a_fresh_network_passes_all_but_nat_redundancy(built):
    findings = network.verify(built["ctx"])
    assert set(findings.id) == NETWORK_CHECKS
    assert failing(findings) == {"ARTICLE.NAT_REDUNDANCY"}
    detail = findings[findings.id == "ARTICLE.NAT_REDUNDANCY"].detail.iloc[0]
    assert "us-east-1b -> NAT in us-east-1a" in detail and "$36.50/month" in detail


def test_nat_per_az_passes_nat_redundancy():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(nat_per_az=True)
        network.apply(ctx)
        findings = network.verify(ctx)
        assert failing(findings) == set() and status(findings, "ARTICLE.NAT_REDUNDANCY") == {"PASS"}


def test_ssh_and_extra_internet_ports_fail(built):
    b = built
    ec2().authorize_security_group_ingress(GroupId=b["sg"][names.app_sg(b["p"])], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2().authorize_security_group_ingress(GroupId=b["sg"][names.alb_sg(b["p"])], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    findings = network.verify(b["ctx"])
    assert {"ARTICLE.NO_SSH", "ARTICLE.ONLY_ALB_PUBLIC", "ARTICLE.SG_CHAIN"} <= failing(findings)
    only_alb = findings[(findings.id == "ARTICLE.ONLY_ALB_PUBLIC") & (findings.status == "FAIL")]
    assert set(only_alb.resource) == {b["sg"][names.app_sg(b["p"])], b["sg"][names.alb_sg(b["p"])]}
    assert "8080" in " ".join(only_alb.detail)


def test_ssh_from_inside_the_vpc_fails_too(built):
    b = built
    ec2().authorize_security_group_ingress(GroupId=b["sg"][names.db_sg(b["p"])], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 20, "ToPort": 25, "IpRanges": [{"CidrIp": "10.20.0.0/16"}]}])
    findings = network.verify(b["ctx"])
    ssh = findings[(findings.id == "ARTICLE.NO_SSH") & (findings.status == "FAIL")]
    assert list(ssh.resource) == [b["sg"][names.db_sg(b["p"])]] and "10.20.0.0/16" in ssh.detail.iloc[0]
    assert status(findings, "ARTICLE.ONLY_ALB_PUBLIC") == {"PASS"}  # not open to the internet


def test_reopened_default_security_group_fails_ec2_2(built):
    b = built
    ec2().authorize_security_group_ingress(GroupId=b["sg"]["default"], IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": b["sg"]["default"]}]}])
    findings = network.verify(b["ctx"])
    assert status(findings, "EC2.2") == {"FAIL"}
    assert status(findings, "ARTICLE.NO_SSH") >= {"FAIL"}  # all traffic includes port 22


def test_private_subnet_routed_to_the_internet_gateway_fails(built):
    """db subnet moved onto the VPC's main table, which is given an IGW route: found through the main table."""
    b = built
    p = b["p"]
    db_subnet = b["subnet"][names.subnet(p, "db", "us-east-1a")]
    tables = ec2().describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [b["vpc"]]}])["RouteTables"]
    assoc = next(a for t in tables for a in t["Associations"] if a.get("SubnetId") == db_subnet)
    ec2().disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
    main = next(t for t in tables if any(a.get("Main") for a in t["Associations"]))
    igw = ec2().describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [b["vpc"]]}])
    ec2().create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                       GatewayId=igw["InternetGateways"][0]["InternetGatewayId"])
    findings = network.verify(b["ctx"])
    bad = findings[(findings.id == "ARTICLE.PRIVATE_NO_IGW_ROUTE") & (findings.status == "FAIL")]
    assert list(bad.resource) == [db_subnet]


def test_public_ip_on_launch_and_missing_flow_log_fail(built):
    b = built
    p = b["p"]
    ec2().modify_subnet_attribute(SubnetId=b["subnet"][names.subnet(p, "app", "us-east-1a")],
                                  MapPublicIpOnLaunch={"Value": True})
    logs = ec2().describe_flow_logs(Filter=[{"Name": "resource-id", "Values": [b["vpc"]]}])["FlowLogs"]
    ec2().delete_flow_logs(FlowLogIds=[f["FlowLogId"] for f in logs])
    findings = network.verify(b["ctx"])
    assert status(findings, "EC2.15") == {"PASS", "FAIL"} and status(findings, "EC2.6") == {"FAIL"}


def test_a_tier_in_one_az_fails_multi_az(built):
    b = built
    p = b["p"]
    ec2().delete_subnet(SubnetId=b["subnet"][names.subnet(p, "db", "us-east-1b")])
    findings = network.verify(b["ctx"])
    row = findings[findings.id == "ARTICLE.SUBNETS_MULTI_AZ"].iloc[0]
    assert row.status == "FAIL" and "db: 1 AZ (us-east-1a)" in row.detail
