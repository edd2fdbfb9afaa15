"""What 02_network leaves behind, made directly, for the tests of 04_compute (engineer C's step
may not exist yet; this is the contract 04_compute reads: subnets by workbook:tier, SGs by Name)."""
from __future__ import annotations

from typing import Any

import pytest
from moto import mock_aws

from workbook import names, tagging


@pytest.fixture(scope="module")
def moto():
    """One in-process moto per test module: its EC2/IAM data load takes seconds per start. Tests stay
    independent by using a stack of their own (the account is the state, keyed by stack)."""
    with pytest.MonkeyPatch.context() as mp:
        # AWS-managed policies (AmazonSSMManagedInstanceCore ...) exist in moto only with this set.
        mp.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        with mock_aws():
            yield


def build_network(ctx: Any, p: Any, azs: tuple[str, ...] = ("a", "b")) -> dict[str, Any]:
    """VPC, a public and an app subnet per AZ, the ALB and app security groups with their rules."""
    ec2 = ctx.client("ec2")
    step = "02_network"
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", p, step, names.vpc(p)))["Vpc"]["VpcId"]
    out: dict[str, Any] = {"vpc": vpc, "public": [], "app": []}
    for n, suffix in enumerate(azs):
        az = f"{p.region}{suffix}"
        for k, tier in enumerate(("public", "app")):
            tags = tagging.tags(p, step, names.subnet(p, tier, az)) + [{"Key": names.TIER, "Value": tier}]
            sid = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{n * 16 + k}.0/24", AvailabilityZone=az,
                                    TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}])["Subnet"]["SubnetId"]
            out[tier].append(sid)
    for key, name in (("alb_sg", names.alb_sg(p)), ("app_sg", names.app_sg(p))):
        out[key] = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc,
                                             TagSpecifications=tagging.tag_spec("security-group", p, step, name))["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=out["alb_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        for port in (80, 443)])
    ec2.authorize_security_group_ingress(GroupId=out["app_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p.app_port, "ToPort": p.app_port,
         "UserIdGroupPairs": [{"GroupId": out["alb_sg"]}]}])
    return out


def create_database(ctx: Any, p: Any) -> dict[str, Any]:
    """What 03_database leaves: the stack's RDS instance (moto's is available at once), whose address the
    app servers' settings name."""
    return ctx.client("rds").create_db_instance(
        DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro", DBName="app",
        AllocatedStorage=20, MasterUsername="app", ManageMasterUserPassword=True)["DBInstance"]


def issue_certificate(ctx: Any, domain: str) -> str:
    """What 05_edge leaves: an ISSUED certificate (moto issues at once with MOTO_ACM_VALIDATION_WAIT=0)."""
    acm = ctx.client("acm")
    arn = acm.request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"]
    acm.get_waiter("certificate_validated").wait(CertificateArn=arn)
    return arn
