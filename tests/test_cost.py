"""Cost estimate from the shipped price table, on inventories shaped as the frame contract says."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from workbook import cost
from workbook.params import Params


class FakeInventory:
    """Frames as the fetchers deliver them; a frame not given is one nobody has built yet."""

    def __init__(self, **frames: list[dict]):
        self.frames = {k: pd.DataFrame(v) for k, v in frames.items()}

    def has(self, name: str) -> bool:
        return name in self.frames

    def frame(self, name: str) -> pd.DataFrame:
        return self.frames[name]


DEV = FakeInventory(
    instances=[{"id": "i-dev", "name": "dev-backend", "state": "running", "instance_type": "t3.small",
                "public_ip": "54.1.2.3"}],
    addresses=[])


def prod(nat_azs=("us-east-1a",), multi_az=True, alarms=3) -> FakeInventory:
    return FakeInventory(
        instances=[{"id": f"i-app{n}", "name": "demo-app", "state": "running", "instance_type": "t3.micro",
                    "public_ip": ""} for n in range(2)]
        + [{"id": "i-old", "name": "gone", "state": "terminated", "instance_type": "t3.micro", "public_ip": ""}],
        addresses=[{"id": f"eipalloc-{az}", "name": f"demo-nat-{az}", "public_ip": f"3.3.3.{i}", "instance_id": ""}
                   for i, az in enumerate(nat_azs)],
        nat_gateways=[{"id": f"nat-{az}", "name": f"demo-nat-{az}", "az": az, "state": "available"} for az in nat_azs],
        load_balancers=[{"id": "arn:alb", "name": "demo-alb", "type": "application", "scheme": "internet-facing",
                         "azs": ["us-east-1a", "us-east-1b"]}],
        db_instances=[{"id": "demo-db", "name": "demo-db", "instance_class": "db.t4g.micro", "engine": "postgres",
                       "multi_az": multi_az, "status": "available"}],
        hosted_zones=[{"id": "Z1", "domain": "example.com", "name": ""}],
        alarms=[{"id": f"demo-alarm-{n}", "name": ""} for n in range(alarms)],
        dashboards=[{"id": "demo-dashboard", "name": ""}])


def by_type(df: pd.DataFrame) -> dict[str, float]:
    return df.groupby("type")["monthly_usd"].sum().round(2).to_dict()


def test_price_table_says_where_and_when_it_is_from():
    pt = cost.load_prices()
    assert "2026" in pt.source and pt.as_of == "2026" and pt.hours == 730
    assert pt.monthly(pt.region("us-east-1").rate("nat_gateway_hour")) == 32.85


def test_dev_server_costs_its_instance_and_its_public_address():
    df = cost.estimate(DEV)
    assert list(df.columns) == cost.COLUMNS
    assert by_type(df) == {"EC2 instance": 15.18, "public IPv4": 3.65}


def test_production_prices_per_resource_with_the_article_figures():
    df = cost.estimate(prod(), Params())
    t = by_type(df)
    assert t["EC2 instance"] == 2 * 7.59           # the terminated one costs nothing
    assert t["NAT gateway"] == 32.85
    assert t["load balancer"] == round(16.43 + 5.84, 2)
    assert t["RDS instance"] == 23.36              # Multi-AZ: twice 11.68
    assert t["RDS storage"] == round(20 * 0.115 * 2, 2)
    assert t["public IPv4"] == 3 * 3.65            # NAT's Elastic IP + the ALB's two AZs
    assert t["Route 53 zone"] == 0.5 and t["CloudWatch dashboard"] == 3.0
    assert t["CloudWatch alarms"] == 0.0           # 3 alarms: inside the 10 free ones
    assert "i-old" not in set(df.resource)


def test_single_az_database_costs_half():
    single = by_type(cost.estimate(prod(multi_az=False), Params()))
    assert single["RDS instance"] == 11.68 and single["RDS storage"] == 2.3


def test_alarms_beyond_the_free_ten_are_billed():
    row = cost.estimate(prod(alarms=13)).query("type == 'CloudWatch alarms'").iloc[0]
    assert row["count"] == 13 and row.monthly_usd == 0.3


def test_unknown_instance_type_is_not_given_a_made_up_price():
    inv = FakeInventory(instances=[{"id": "i-big", "name": "", "state": "running", "instance_type": "m7g.4xlarge",
                                    "public_ip": ""}])
    row = cost.estimate(inv).iloc[0]
    assert math.isnan(row.monthly_usd) and "m7g.4xlarge" in row.note and "prices.yaml" in row.note


def test_frames_not_built_yet_are_skipped():
    df = cost.estimate(FakeInventory(instances=[]))
    assert df.empty and list(df.columns) == cost.COLUMNS


def test_compare_totals_and_explanation_name_the_drivers():
    nat_azs = ("us-east-1a", "us-east-1b")
    table = cost.compare(cost.estimate(DEV), cost.estimate(prod(nat_azs=nat_azs), Params(nat_per_az=True)))
    assert set(table.phase) == {"before", "after"}
    tot = cost.totals(table).groupby("phase").monthly_usd.sum().round(2)
    assert tot["before"] == 18.83
    text = cost.explain(table, Params(nat_per_az=True))
    assert "Before $18.83 a month" in text
    assert "2 x $32.85" in text and "single NAT would save $32.85" in text
    assert "Multi-AZ" in text and "twice single-AZ" in text
    assert "Load balancer" in text and "2026" in text


def test_explanation_of_a_single_nat_says_what_one_per_az_would_cost():
    table = cost.compare(cost.estimate(DEV), cost.estimate(prod(), Params(az_count=3)))
    assert "would cost $65.70 more" in cost.explain(table, Params(az_count=3))


@pytest.mark.parametrize("missing", ["source", "as_of"])
def test_a_price_table_without_source_or_date_is_refused(tmp_path, missing):
    data = {"source": "s", "as_of": "2026", "hours_per_month": 730}
    data.pop(missing)
    import yaml
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ValueError, match=missing):
        cost.load_prices(str(path))


def test_before_after_the_sandbox_dev_host_is_before_and_the_stack_after():
    import boto3
    from moto import mock_aws
    from conftest import make_ctx
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

        def run(name, itype, step):
            tags = [{"Key": "Name", "Value": name}, {"Key": "workbook:stack", "Value": "demo"},
                    {"Key": "workbook:step", "Value": step}]
            return ec2.run_instances(ImageId=image, InstanceType=itype, MinCount=1, MaxCount=1,
                                     TagSpecifications=[{"ResourceType": "instance", "Tags": tags}]
                                     )["Instances"][0]["InstanceId"]
        dev, app = run("dev-backend", "t3.small", "00_setup"), run("demo-app", "t3.micro", "04_compute")
        table = cost.before_after(make_ctx())
    before, after = table[table.phase == "before"], table[table.phase == "after"]
    assert dev in set(before.resource) and dev not in set(after.resource)
    assert app in set(after.resource) and app not in set(before.resource)


def _price_copies() -> list[str]:
    """Dollar figures in string literals and price-looking numbers (more than one decimal) equal to a
    figure of the table, hourly or monthly, anywhere in workbook/ (the table itself aside)."""
    import ast
    import re
    from pathlib import Path

    pt = cost.load_prices()
    figures: set[float] = set()

    def collect(d):
        for v in (d.values() if isinstance(d, dict) else []):
            if isinstance(v, dict):
                collect(v)
            elif isinstance(v, float):
                figures.update({v, pt.monthly(v)})
    collect(pt.data)
    figures = {f for f in figures if round(f * 10, 6) != int(f * 10)}   # 0.5, 3.0, 10.0 are everywhere
    root = Path(cost.__file__).resolve().parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if "sandbox" in path.relative_to(root).parts:   # the stand-ins' sleeps and timeouts price nothing
            continue
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            # a price in text has cents ($36.50); shell scripts' $1 and docstrings' examples are not prices
            if isinstance(node, ast.Constant) and id(node) not in docs and (
                    (isinstance(node.value, str) and re.search(r"\$\s?\d+\.\d\d", node.value))
                    or (isinstance(node.value, float) and node.value in figures)):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.value!r:.60}")
    return found


def test_every_price_comes_from_the_one_table():
    found = _price_copies()
    assert found == [], "\n".join(found)


# ---- per region, the unpriced items, the dev host we did not create (issue 10 #12, #13) -------------
def app_stack(**extra: list[dict]) -> FakeInventory:
    """Two app servers with detailed monitoring in two AZs behind one NAT (in the first AZ)."""
    frames = dict(
        instances=[{"id": f"i-app{n}", "name": "demo-app", "state": "running", "instance_type": "t3.micro",
                    "public_ip": "", "az": az, "monitoring": True, "asg_name": "demo-asg"}
                   for n, az in enumerate(("us-east-1a", "us-east-1b"))],
        auto_scaling_groups=[{"id": "demo-asg", "name": "demo-asg"}],
        nat_gateways=[{"id": "nat-a", "name": "demo-nat", "az": "us-east-1a", "state": "available"}],
        volumes=[{"id": f"vol-app{n}", "name": "", "instance_id": f"i-app{n}", "size": 8, "volume_type": "gp3"}
                 for n in range(2)])
    frames.update(extra)
    return FakeInventory(**frames)


def test_a_region_without_figures_is_not_priced_and_names_the_items():
    p = Params(region="eu-west-3")
    df = cost.estimate(prod(), p)
    same_everywhere = df.type.isin(["public IPv4", "Route 53 zone"])       # one price in every region
    regional = df[~same_everywhere]
    assert regional.monthly_usd.isna().all(), regional[["type", "monthly_usd"]]   # never us-east-1's figures
    assert regional.note.str.contains("not priced for eu-west-3").all()
    assert df[same_everywhere].monthly_usd.notna().all()
    text = cost.explain(cost.compare(cost.estimate(DEV, p), df), p)
    assert "Not priced for eu-west-3" in text
    for item in ("t3.small", "NAT gateway", "load balancer", "db.t4g.micro"):
        assert item in text, item


def test_a_region_uses_its_own_figures_and_only_those():
    p = Params(region="eu-west-1")
    df = cost.estimate(FakeInventory(instances=[
        {"id": "i-1", "name": "", "state": "running", "instance_type": "t3.micro", "public_ip": "54.1.1.1"},
        {"id": "i-2", "name": "", "state": "running", "instance_type": "t3.small", "public_ip": ""}]), p)
    rows = df.set_index("resource")
    assert rows.loc["i-1", "monthly_usd"] == round(0.0114 * 730, 2)          # eu-west-1's own t3.micro
    assert math.isnan(rows.loc["i-2", "monthly_usd"]) and "not priced for eu-west-1" in rows.loc["i-2", "note"]
    assert rows.loc["i-1 public IPv4", "monthly_usd"] == 3.65               # one price in every region


def test_every_figure_says_where_it_comes_from():
    pt = cost.load_prices()
    for region in pt.regions:
        rp = pt.region(region)
        for key in rp.keys():
            assert rp.source(key), f"{region}: {key} has no source line"
    assert "us-east-1" in pt.regions and len(pt.regions) > 1


def test_detailed_monitoring_and_the_agents_metrics_are_priced():
    df = cost.estimate(app_stack(), Params())
    t = by_type(df)
    # 2 instances x 7 detailed-monitoring metrics + (2 x 2 + 2) agent metrics = 20; the first 10 are free
    assert t["CloudWatch metrics"] == round(10 * 0.30, 2)
    row = df[df.type == "CloudWatch metrics"].iloc[0]
    assert row["count"] == 20 and "detailed monitoring" in row.note and "free" in row.note


def test_nat_data_and_the_cross_az_traffic_to_one_nat_are_priced_with_their_assumption():
    df = cost.estimate(app_stack(), Params())
    nat_data = df[df.type == "NAT data"].iloc[0]
    assert nat_data.monthly_usd == round(10 * 0.045, 2) and "assumed 10 GB" in nat_data.note
    cross = df[df.type == "cross-AZ data"].iloc[0]
    # half the traffic comes from the AZ without a NAT, charged each way
    assert cross.monthly_usd == round(5 * 0.01 * 2, 2) and "us-east-1b" in cross.note


def test_volumes_snapshots_flow_logs_api_requests_and_the_drill_are_priced():
    inv = app_stack(
        snapshots=[{"id": "snap-1", "name": "", "volume_id": "vol-app0", "volume_size": 8, "state": "completed"}],
        db_instances=[{"id": "demo-db", "name": "demo-db", "instance_class": "db.t4g.micro", "engine": "postgres",
                       "multi_az": False, "status": "available", "allocated_storage": 20}],
        db_snapshots=[{"id": "demo-db-manual", "name": "", "db_instance_id": "demo-db", "type": "manual",
                       "status": "available", "allocated_storage": 30,
                       "tags": {"workbook:restore-drill": "passed"}}],
        flow_logs=[{"id": "fl-1", "name": "", "destination_type": "cloud-watch-logs", "status": "ACTIVE"}],
        log_groups=[{"id": "/demo/app", "name": "", "stored_bytes": 2 * 1024 ** 3}],
        apis=[{"id": "api1", "name": "demo-api", "protocol": "HTTP"}])
    t = by_type(cost.estimate(inv, Params()))
    assert t["EBS volume"] == round(2 * 8 * 0.08, 2)
    assert t["EBS snapshot"] == round(8 * 0.05, 2)
    assert t["RDS backup storage"] == round((30 - 20) * 0.095, 2)      # beyond the free 100% of 20 GB
    assert t["restore drill"] == round(0.016 * 0.5, 2)
    assert t["flow-log ingestion"] == 0.5 and t["log storage"] == round(2 * 0.03, 2)
    assert t["API Gateway requests"] == 1.0


def test_what_is_not_in_the_estimate_is_said():
    table = cost.compare(cost.estimate(DEV, Params()), cost.estimate(app_stack(), Params()))
    text = cost.explain(table, Params())
    assert "Not included" in text and "data transfer to the internet" in text
    assert "assumed" in text and "10 GB" in text


def test_the_before_cost_prices_the_dev_host_01_found_though_the_workbook_did_not_create_it():
    import boto3
    from moto import mock_aws
    from conftest import make_ctx
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        inst = ec2.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1, SubnetId=subnet,
                                 BlockDeviceMappings=[{"DeviceName": "/dev/xvda",
                                                       "Ebs": {"VolumeSize": 30, "VolumeType": "gp3"}}],
                                 TagSpecifications=[{"ResourceType": "instance",
                                                     "Tags": [{"Key": "Name", "Value": "dev-backend"}]}])
        iid = inst["Instances"][0]["InstanceId"]
        eip = ec2.allocate_address(Domain="vpc")
        ec2.associate_address(AllocationId=eip["AllocationId"], InstanceId=iid)
        ctx = make_ctx(stack_name="theirs")
        table = cost.before_after(ctx)
    before = table[table.phase == "before"]
    t = by_type(before)
    assert t["EC2 instance"] == 15.18                        # its instance type
    assert t["public IPv4"] == 3.65                          # its Elastic IP (no second charge for the same address)
    assert t["EBS volume"] >= round(30 * 0.08, 2)            # its volume(s)
    assert before.monthly_usd.sum() > 0
    assert iid in set(before.resource)


def test_a_stopped_dev_host_is_priced_as_it_runs():
    inv = FakeInventory(instances=[{"id": "i-dev", "name": "dev-backend", "state": "stopped",
                                    "instance_type": "t3.small", "public_ip": "", "subnet_id": "subnet-1"}],
                        subnets=[{"id": "subnet-1", "public": True}])
    df = cost.estimate(inv, Params(), as_running=True)
    t = by_type(df)
    assert t["EC2 instance"] == 15.18 and t["public IPv4"] == 3.65
    assert "stopped now" in df[df.type == "EC2 instance"].iloc[0].note


def test_the_nat_cost_of_02s_plan_is_the_regions_or_says_it_is_not_priced():
    from workbook.steps import network
    sg = network.nat_cost(Params(region="ap-southeast-1", nat_per_az=False))
    assert sg.attrs["monthly_usd"] == round(0.059 * 730 + 0.005 * 730, 2)
    per_az = network.nat_cost(Params(region="ap-southeast-1", nat_per_az=True, az_count=3))
    assert per_az.attrs["monthly_usd"] == round(3 * (0.059 * 730 + 0.005 * 730), 2)
    unknown = network.nat_cost(Params(region="eu-west-3"))
    assert math.isnan(unknown.attrs["monthly_usd"])
    assert unknown.note.str.contains("not priced for eu-west-3").any()
