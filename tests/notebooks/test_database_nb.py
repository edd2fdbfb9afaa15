"""notebooks/03_database.ipynb, headless against the sandbox: what it builds, and no secret in its outputs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import nbformat
import papermill
import pytest

from workbook import names, tagging
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "03_database.ipynb"
NETWORK_NB = ROOT / "notebooks" / "02_network.ipynb"
STACK = "dbnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
TIMEOUT = 300


def client(sandbox, service: str):
    return boto3.client(service, endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def stand_in_network(sandbox, p: Params) -> None:
    """What 02_network provides (VPC, private-db subnets in two AZs, the DB security group), for when
    that notebook does not exist yet."""
    ec2 = client(sandbox, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", p, "02_network", names.vpc(p)))["Vpc"]["VpcId"]
    for i, az in enumerate(("us-east-1a", "us-east-1b")):
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{100 + i}.0/24", AvailabilityZone=az, TagSpecifications=[{
            "ResourceType": "subnet", "Tags": tagging.tags(p, "02_network", names.subnet(p, "db", az)) + [
                {"Key": names.TIER, "Value": "db"}]}])
    ec2.create_security_group(GroupName=names.db_sg(p), Description="db", VpcId=vpc, TagSpecifications=
                              tagging.tag_spec("security-group", p, "02_network", names.db_sg(p)))


def run(src: Path, out: Path, **parameters) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(src), str(out), parameters={**parameters, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    return nbformat.read(str(out), as_version=4)


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.outputs)


@pytest.fixture(scope="module")
def executed(sandbox, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("nb03")
    p = Params(stack_name=STACK)
    if NETWORK_NB.exists():
        run(NETWORK_NB, out_dir / "02_network.ipynb", stack_name=STACK)
    else:
        stand_in_network(sandbox, p)
    out = out_dir / "03_database.ipynb"
    nb = run(NB, out, stack_name=STACK)
    yield {"nb": nb, "path": out}
    # Leave the shared sandbox as found: the stack's database (no final snapshot) and the stand-in network.
    from workbook.connect import connect
    from workbook.steps import database
    database.destroy(connect(p).replace(keep_final_snapshot=False))
    if not NETWORK_NB.exists():
        ec2 = client(sandbox, "ec2")
        flt = tagging.ec2_filters(p, step="02_network")
        for g in ec2.describe_security_groups(Filters=flt)["SecurityGroups"]:
            ec2.delete_security_group(GroupId=g["GroupId"])
        for s in ec2.describe_subnets(Filters=flt)["Subnets"]:
            ec2.delete_subnet(SubnetId=s["SubnetId"])
        for v in ec2.describe_vpcs(Filters=flt)["Vpcs"]:
            ec2.delete_vpc(VpcId=v["VpcId"])


def test_notebook_builds_the_production_database(sandbox, executed):
    rds = client(sandbox, "rds")
    d = rds.describe_db_instances(DBInstanceIdentifier=f"{STACK}-db")["DBInstances"][0]
    assert d["DBInstanceStatus"] == "available" and d["MultiAZ"] and d["StorageEncrypted"]
    assert not d["PubliclyAccessible"] and d["DeletionProtection"] and d["BackupRetentionPeriod"] == 7
    assert d["DBSubnetGroup"]["DBSubnetGroupName"] == f"{STACK}-db-subnets"
    ids = {x["DBInstanceIdentifier"] for x in rds.describe_db_instances()["DBInstances"]}
    assert f"{STACK}-db-drill" in ids  # the drill started as far as AWS allowed (08 finishes and deletes it)
    snaps = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert f"{STACK}-db-manual" in snaps


def test_notebook_reports_findings_and_the_drill(executed):
    nb = executed["nb"]
    findings = outputs_of(nb, "findings")
    assert "RDS.2" in findings and "RDS.5" in findings and "NOT_EMULATED" in findings
    assert "FAIL" not in findings
    drill = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code" and "start_restore_drill" in c.source])
    assert "manual snapshot" in drill and f"{STACK}-db-drill" in drill and "restore_drill(ctx) finishes it" in drill
    created = outputs_of(nb, "resources")
    for name in (f"{STACK}-db-subnets", f"{STACK}-db-params", f"{STACK}-db", f"{STACK}-db-manual"):
        assert name in created


def test_no_secret_appears_in_the_executed_notebook(sandbox, executed):
    rds, sm = client(sandbox, "rds"), client(sandbox, "secretsmanager")
    arn = rds.describe_db_instances(DBInstanceIdentifier=f"{STACK}-db")["DBInstances"][0]["MasterUserSecret"]["SecretArn"]
    secret = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    text = executed["path"].read_text()
    assert secret["password"] not in text
    assert sm.get_secret_value(SecretId=arn)["SecretString"] not in text
    outputs = json.dumps([c.get("outputs", []) for c in executed["nb"].cells])
    # The call tables list every operation made; GetSecretValue is only ever named as a permission.
    assert not re.search(r"(?<!secretsmanager:)\bGetSecretValue\b", outputs)
