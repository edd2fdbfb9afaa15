"""notebooks/02_network.ipynb, headless against the sandbox: what it builds, that a rerun builds nothing,
the findings it shows, the diagram it draws."""
from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import nbformat
import papermill
import pytest

from workbook import names, outputs, tagging
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "02_network.ipynb"
STACK = "netnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
TIMEOUT = 300


def client(sandbox, service: str):
    return boto3.client(service, endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def run(out: Path, **parameters) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(NB), str(out), parameters={"stack_name": STACK, **parameters, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    return nbformat.read(str(out), as_version=4)


def tagged(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if tag in c.metadata.get("tags", []))


def text_of(cell: nbformat.NotebookNode) -> str:
    return json.dumps(cell.get("outputs", []))


@pytest.fixture(scope="module")
def runs(sandbox, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb02")
    started = time.time()
    # one NAT gateway (not the default one per AZ): the cost trade-off the notebook explains and reports
    first = run(out / "first.ipynb", nat_per_az=False)
    second = run(out / "second.ipynb", nat_per_az=False)
    yield {"first": first, "second": second, "started": started}
    # Leave the shared sandbox as found.
    from workbook.connect import connect
    from workbook.steps import network
    p = Params(stack_name=STACK)
    network.destroy(connect(p))


def test_notebook_builds_the_private_network(sandbox, runs):
    ec2 = client(sandbox, "ec2")
    p = Params(stack_name=STACK)
    flt = [{"Name": f"tag:{tagging.STACK}", "Values": [STACK]}]
    vpcs = ec2.describe_vpcs(Filters=flt)["Vpcs"]
    assert [v["CidrBlock"] for v in vpcs] == [p.vpc_cidr]
    subnets = ec2.describe_subnets(Filters=flt)["Subnets"]
    tiers = sorted(tagging.as_dict(s["Tags"])[names.TIER] for s in subnets)
    assert tiers == ["app", "app", "db", "db", "public", "public"]
    nats = [n for n in ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])["NatGateways"]
            if n["State"] == "available"]
    assert len(nats) == 1
    assert len(ec2.describe_flow_logs(Filter=[{"Name": "resource-id", "Values": [vpcs[0]["VpcId"]]}])["FlowLogs"]) == 1


def test_plan_shows_the_nat_cost_and_the_rerun_creates_nothing(runs):
    assert "32.85" in text_of(tagged(runs["first"], "plan"))
    first = text_of(tagged(runs["first"], "resources"))
    second = text_of(tagged(runs["second"], "resources"))
    assert "created" in first
    assert "created" not in second and "exists" in second


def test_findings_table_shows_only_the_nat_trade_off_failing(runs):
    html = text_of(tagged(runs["second"], "findings"))
    for check_id in ("EC2.2", "EC2.6", "EC2.15", "ARTICLE.NO_SSH", "ARTICLE.ONLY_ALB_PUBLIC", "ARTICLE.SG_CHAIN"):
        assert check_id in html
    # the only FAIL row is the low-severity NAT redundancy one
    rows = [r for r in html.split("<tr>") if "FAIL" in r]
    assert rows and all("ARTICLE.NAT_REDUNDANCY" in r and "low" in r for r in rows)


def test_diagram_is_drawn(runs):
    png = outputs.home() / "diagrams" / "02_network.png"
    shown = tagged(runs["first"], "diagram").get("outputs", [])
    assert any("image/png" in o.get("data", {}) for o in shown)
    assert png.exists() and png.stat().st_mtime >= runs["started"]
