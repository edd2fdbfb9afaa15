"""The database controls: PASS on what 03_database builds, FAIL on each bad setting, NOT_EMULATED honestly."""
from __future__ import annotations

import boto3
import pandas as pd
import pytest

from fake_inventory import FakeContext
from workbook import checks, inventory, names, tagging
from workbook.inventory.rds import DB_INSTANCE_COLUMNS
from workbook.params import Params
from workbook.steps import database as db


def make_db_network(p, azs=("us-east-1a", "us-east-1b")) -> dict:
    ec2 = boto3.client("ec2", region_name=p.region)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(
        VpcId=vpc, CidrBlock=f"10.20.{100 + i}.0/24", AvailabilityZone=az, TagSpecifications=[{
            "ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", names.subnet(p, "db", az)) + [
                {"Key": names.TIER, "Value": "db"}]}])["Subnet"]["SubnetId"] for i, az in enumerate(azs)]
    ec2.create_security_group(GroupName=names.db_sg(p), Description="db", VpcId=vpc, TagSpecifications=
                              tagging.tag_spec("security-group", p, "02_network", names.db_sg(p)))
    return {"vpc": vpc, "subnets": subnets}


def findings(ctx, p: Params | None = None) -> pd.DataFrame:
    return checks.run(inventory.Inventory(ctx, "demo"), p or ctx.params, groups=["database"])


def status(df: pd.DataFrame, id_: str, resource: str = "demo-db") -> str:
    rows = df[(df.id == id_) & (df.resource == resource)]
    assert len(rows) == 1, df
    return rows.iloc[0].status


def test_what_the_step_builds_passes_and_the_standby_az_is_not_emulated(ctx):
    make_db_network(ctx.params)
    db.apply(ctx)
    df = findings(ctx)
    for id_ in ("ARTICLE.MANAGED_DATABASE", "RDS.2", "RDS.3", "RDS.11", "RDS.5", "RDS.8", "RDS.13", "RDS.9",
                "ARTICLE.DB_MANAGED_PASSWORD"):
        assert status(df, id_) == "PASS", id_
    assert status(df, "ARTICLE.DB_SUBNET_GROUP_AZS", "demo-db-subnets") == "PASS"
    assert status(df, "RDS.5", "demo-db standby") == "NOT_EMULATED"
    assert set(df.group) == {"database"}


def test_a_careless_instance_fails_every_control(ctx):
    p = ctx.params
    net = make_db_network(p, azs=("us-east-1a",))
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_subnet_group(DBSubnetGroupName="demo-db-subnets", DBSubnetGroupDescription="one AZ",
                               SubnetIds=net["subnets"], Tags=tagging.tags(p, db.STEP, "demo-db-subnets"))
    rds.create_db_instance(
        DBInstanceIdentifier="demo-db", Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="x", MasterUserPassword="typed-into-a-notebook", PubliclyAccessible=True,
        StorageEncrypted=False, BackupRetentionPeriod=0, MultiAZ=False, DeletionProtection=False,
        AutoMinorVersionUpgrade=False, DBSubnetGroupName="demo-db-subnets", Tags=tagging.tags(p, db.STEP, "demo-db"))
    df = findings(ctx)
    for id_ in ("RDS.2", "RDS.3", "RDS.11", "RDS.5", "RDS.8", "RDS.13", "RDS.9", "ARTICLE.DB_MANAGED_PASSWORD"):
        assert status(df, id_) == "FAIL", id_
    assert status(df, "ARTICLE.DB_SUBNET_GROUP_AZS", "demo-db-subnets") == "FAIL"
    assert "off" in df[(df.id == "RDS.11")].iloc[0].detail


def test_no_database_at_all_fails_the_article_check(ctx):
    df = findings(ctx)
    assert status(df, "ARTICLE.MANAGED_DATABASE") == "FAIL"
    assert len(df) == 1


def test_short_backup_retention_fails_the_workbook_threshold(ctx):
    p = ctx.params.replace(backup_retention_days=3)
    make_db_network(p)
    db.apply(ctx.replace(backup_retention_days=3))
    df = findings(ctx, p)
    assert status(df, "RDS.11") == "FAIL"
    assert ">= 7" in df[df.id == "RDS.11"].iloc[0].detail


def test_single_az_by_choice_is_not_applicable(ctx):
    p = ctx.params.replace(multi_az=False)
    make_db_network(p)
    db.apply(ctx.replace(multi_az=False))
    df = findings(ctx, p)
    assert status(df, "RDS.5") == "NOT_APPLICABLE"
    assert not (df.resource == "demo-db standby").any()


class FakeInventory:
    """Only the frames the database checks read, for what moto cannot produce (a reported standby AZ)."""

    def __init__(self, rows: list[dict], target: str):
        self.db_instances = pd.DataFrame(rows, columns=DB_INSTANCE_COLUMNS)
        self.db_subnet_groups = pd.DataFrame(columns=["id", "azs"])
        self.ctx = FakeContext(target)


@pytest.mark.parametrize("secondary,target,expected", [
    ("us-east-1b", "aws", "PASS"), ("", "aws", "FAIL"), ("us-east-1a", "aws", "FAIL"), ("", "sandbox", "NOT_EMULATED"),
    ("us-east-1b", "sandbox", "PASS"), ("us-east-1a", "sandbox", "FAIL")])
def test_the_standby_must_sit_in_another_az(secondary, target, expected):
    row = {c: "" for c in DB_INSTANCE_COLUMNS} | {"id": "demo-db", "multi_az": True, "az": "us-east-1a",
                                                  "secondary_az": secondary}
    checks.load_all()
    out = checks.get("RDS.5", "database").func(FakeInventory([row], target), Params())
    assert [(f.resource, f.status) for f in out] == [("demo-db", "PASS"), ("demo-db standby", expected)]
