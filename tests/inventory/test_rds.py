"""The RDS frames: contract columns, the stack filter, snapshot types, subnet group AZs."""
from __future__ import annotations

import boto3
import pytest

from workbook import inventory, names, tagging
from workbook.inventory import rds as rds_inv
from workbook.steps import database as db

CONTRACT = {
    "db_instances": ["arn", "engine", "engine_version", "instance_class", "multi_az", "az", "secondary_az", "vpc_id",
                     "subnet_ids", "publicly_accessible", "encrypted", "backup_retention", "deletion_protection",
                     "endpoint", "port", "status", "security_groups", "secret_arn"],
    "db_snapshots": ["db_instance_id", "type", "status", "created"],
    "db_subnet_groups": ["vpc_id", "subnet_ids", "azs"],
}


def make_db_network(p) -> dict:
    ec2 = boto3.client("ec2", region_name=p.region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(
        VpcId=vpc, CidrBlock=f"10.20.{100 + i}.0/24", AvailabilityZone=az, TagSpecifications=[{
            "ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", names.subnet(p, "db", az)) + [
                {"Key": names.TIER, "Value": "db"}]}])["Subnet"]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))]
    sg = ec2.create_security_group(GroupName=names.db_sg(p), Description="db", VpcId=vpc, TagSpecifications=
                                   tagging.tag_spec("security-group", p, "02_network", names.db_sg(p)))["GroupId"]
    return {"vpc": vpc, "subnets": subnets, "sg": sg}


@pytest.fixture
def built(ctx):
    net = make_db_network(ctx.params)
    db.apply(ctx)
    db.ensure_manual_snapshot(ctx)
    return net


@pytest.mark.parametrize("frame", sorted(CONTRACT))
def test_frames_have_base_and_contract_columns_even_when_empty(ctx, frame):
    df = inventory.Inventory(ctx, "demo").frame(frame)
    assert df.empty
    assert set(inventory.BASE_COLUMNS + CONTRACT[frame]) <= set(df.columns)


def test_db_instance_row_describes_the_instance(ctx, built):
    df = inventory.Inventory(ctx, "demo").db_instances
    assert len(df) == 1
    r = df.iloc[0]
    assert (r["id"], r["name"], r["stack"], r["step"]) == ("demo-db", "demo-db", "demo", db.STEP)
    assert r.engine == "postgres" and r.multi_az and r.encrypted and not r.publicly_accessible
    assert r.backup_retention == 7 and r.deletion_protection and r.status == "available"
    assert r.vpc_id == built["vpc"] and sorted(r.subnet_ids) == sorted(built["subnets"])
    assert r.security_groups == [built["sg"]] and r.port == 5432 and r.endpoint.startswith("demo-db.")
    assert r.secret_arn.startswith("arn:aws:secretsmanager:") and r.secondary_az == ""
    assert r.subnet_azs == ["us-east-1a", "us-east-1b"] and r.log_exports == ["postgresql", "upgrade"]


def test_other_stacks_are_filtered_out_and_discovery_sees_all(ctx, built):
    boto3.client("rds", region_name="us-east-1").create_db_instance(
        DBInstanceIdentifier="other-db", Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="x", ManageMasterUserPassword=True, Tags=[{"Key": tagging.STACK, "Value": "other"}])
    assert list(rds_inv.db_instances(ctx, "demo").id) == ["demo-db"]
    assert set(rds_inv.db_instances(ctx, None).id) == {"demo-db", "other-db"}


def test_snapshots_are_typed_manual_or_automated(ctx, built):
    df = inventory.Inventory(ctx, "demo").db_snapshots
    manual = df[df.type == "manual"]
    assert list(manual.id) == [names.db_snapshot(ctx.params, "manual")]
    assert (manual.db_instance_id == "demo-db").all() and (manual.status == "available").all()
    assert manual.created.notna().all()
    # CopyTagsToSnapshot carries the stack tag onto RDS's own automated snapshots
    assert (df[df.type == "automated"].db_instance_id == "demo-db").all()


def test_subnet_group_lists_its_azs(ctx, built):
    df = inventory.Inventory(ctx, "demo").db_subnet_groups
    assert list(df.id) == [names.db_subnet_group(ctx.params)]
    assert df.iloc[0].azs == ["us-east-1a", "us-east-1b"] and df.iloc[0].vpc_id == built["vpc"]
    assert df.iloc[0].stack == "demo"
