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
    assert "AWS-FACTS" in pt.source and pt.as_of == "2026" and pt.hours == 730
    assert pt.monthly(pt["nat_gateway_hour"]) == 32.85


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


def test_before_after_splits_one_stack_by_the_step_that_made_each_resource():
    inv = FakeInventory(
        instances=[{"id": "i-dev", "name": "dev-backend", "state": "running", "instance_type": "t3.small",
                    "public_ip": "54.1.2.3", "step": "00_setup"},
                   {"id": "i-app", "name": "demo-app", "state": "running", "instance_type": "t3.micro",
                    "public_ip": "", "step": "04_compute"}],
        addresses=[{"id": "eipalloc-1", "name": "demo-nat", "public_ip": "3.3.3.3", "instance_id": "",
                    "step": "02_network"}],
        db_instances=[{"id": "demo-db", "name": "demo-db", "instance_class": "db.t4g.micro", "multi_az": True,
                       "status": "available", "allocated_storage": 20, "step": "03_database"}])
    table = cost.before_after(inv, Params())
    before = table[table.phase == "before"]
    assert set(before.resource) == {"i-dev", "i-dev public IPv4"}       # the dev server and its address
    assert before.monthly_usd.sum().round(2) == 18.83
    after = table[table.phase == "after"]
    assert set(after.step) == {"02_network", "03_database", "04_compute"}
    assert "demo-db storage" in set(after.resource)                      # extra rows keep their resource's step


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
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and (
                    (isinstance(node.value, str) and re.search(r"\$\s?\d", node.value))
                    or (isinstance(node.value, float) and node.value in figures)):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.value!r:.60}")
    return found


def test_every_price_comes_from_the_one_table():
    found = _price_copies()
    assert found == [], "\n".join(found)
