"""Checks of 05_edge over hand-made frames: each control fails on the case it exists for."""
from __future__ import annotations

import pandas as pd

from workbook.checks import edge as c
from workbook.inventory import BASE_COLUMNS
from workbook.inventory.edge import COLUMNS
from workbook.inventory.ec2 import COLUMNS as EC2_COLUMNS
from conftest import MINIMAL
from workbook.params import Params

ALB_DNS = "demo-alb-1.us-east-1.elb.amazonaws.com"
LB_COLS = ["scheme", "vpc_id", "subnets", "azs", "security_groups", "dns_name", "type"]


class Inv:
    """Only the frames a check reads; a frame not given is one nobody provides."""

    def __init__(self, **frames: list[dict]):
        cols = {**EC2_COLUMNS, **COLUMNS, "load_balancers": LB_COLS}
        self.frames = {k: pd.DataFrame(v, columns=BASE_COLUMNS + cols[k]) for k, v in frames.items()}

    def has(self, name: str) -> bool:
        return name in self.frames

    def frame(self, name: str) -> pd.DataFrame:
        return self.frames.get(name, pd.DataFrame(columns=BASE_COLUMNS + COLUMNS.get(name, [])))


def lb(scheme="internet-facing", dns=ALB_DNS):
    return {"id": "arn:lb", "name": "demo-alb", "stack": "demo", "scheme": scheme, "dns_name": dns, "type": "application"}


def alias(target):
    return {"id": "z/api", "name": "api.example.com", "zone_id": "z", "type": "A", "target": target, "alias": True}


def cert(status="ISSUED", in_use=True, days=300):
    return {"id": "arn:cert", "domain": "api.example.com", "status": status, "in_use": in_use,
            "in_use_by": ["arn:listener"] if in_use else [], "type": "AMAZON_ISSUED",
            "not_after": pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=days) if status == "ISSUED" else pd.NaT}


P = Params(**{**MINIMAL, "domain_name": "api.example.com"})
GW = Params(**{**MINIMAL, "domain_name": "api.example.com", "entry": "api_gateway"})


def statuses(findings):
    return [f.status for f in findings]


def test_dns_alias_passes_only_when_it_points_at_the_alb():
    assert statuses(c.dns_alias(Inv(records=[alias(ALB_DNS + ".")], load_balancers=[lb()]), P)) == ["PASS"]
    assert statuses(c.dns_alias(Inv(records=[alias("elsewhere.example.org")], load_balancers=[lb()]), P)) == ["FAIL"]
    # not pointed yet: 08's cutover does it, after the data has moved
    assert statuses(c.dns_alias(Inv(records=[], load_balancers=[lb()]), P)) == ["NOT_APPLICABLE"]
    fixed = {**alias("192.0.2.1"), "alias": False}
    assert statuses(c.dns_alias(Inv(records=[fixed], load_balancers=[lb()]), P)) == ["FAIL"]
    assert statuses(c.dns_alias(Inv(records=[]), Params(**MINIMAL))) == ["NOT_APPLICABLE"]


def test_with_api_gateway_the_name_must_point_at_the_api_not_the_alb():
    inv = Inv(records=[alias(ALB_DNS)], load_balancers=[lb("internal")])
    assert statuses(c.dns_alias(inv, GW)) == ["FAIL"]
    inv = Inv(records=[alias("d-abc.execute-api.us-east-1.amazonaws.com")], load_balancers=[lb("internal")])
    assert statuses(c.dns_alias(inv, GW)) == ["PASS"]


def test_certificate_must_be_issued_and_used():
    assert statuses(c.certificate_in_use(Inv(certificates=[cert()]), P)) == ["PASS"]
    assert statuses(c.certificate_in_use(Inv(certificates=[cert(in_use=False)]), P)) == ["FAIL"]
    assert statuses(c.certificate_in_use(Inv(certificates=[cert("PENDING_VALIDATION", False)]), P)) == ["FAIL"]
    assert statuses(c.certificate_in_use(Inv(certificates=[]), P)) == ["FAIL"]


def test_certificate_expiring_within_30_days_fails():
    assert statuses(c.certificate_expiry(Inv(certificates=[cert(days=10)]), P)) == ["FAIL"]
    assert statuses(c.certificate_expiry(Inv(certificates=[cert(days=200)]), P)) == ["PASS"]


def test_api_gateway_is_not_the_only_way_in_while_the_alb_is_internet_facing():
    api = {"id": "a1", "name": "demo-api", "protocol": "HTTP", "vpc_link_id": "vl1", "access_log_arn": "arn:logs"}
    public = c.api_gateway_only_way_in(Inv(apis=[api], load_balancers=[lb("internet-facing")]), GW)
    assert "FAIL" in statuses(public)
    assert statuses(c.api_gateway_only_way_in(Inv(apis=[api], load_balancers=[lb("internal")]), GW)) == ["PASS", "PASS"]
    assert "FAIL" in statuses(c.api_gateway_only_way_in(Inv(apis=[], load_balancers=[lb("internal")]), GW))
    assert statuses(c.api_gateway_only_way_in(Inv(), P)) == ["NOT_APPLICABLE"]


def test_an_internal_alb_whose_group_admits_anywhere_is_not_behind_the_gateway_only():
    """Internal only keeps the internet out: with 0.0.0.0/0 on its group, anything in the VPC (or routed
    into it: peering, VPN) reaches the ALB around the gateway. Only the VPC link's group belongs there."""
    api = {"id": "a1", "name": "demo-api", "protocol": "HTTP", "vpc_link_id": "vl1", "access_log_arn": "arn:logs"}
    internal = {**lb("internal"), "security_groups": ["sg-alb"]}

    def rule(source, anywhere):
        return {"id": f"r-{source}", "group_id": "sg-alb", "group_name": "demo-alb-sg", "direction": "ingress",
                "protocol": "tcp", "from_port": 443, "to_port": 443, "source": source, "open_to_internet": anywhere}
    open_ = c.api_gateway_only_way_in(Inv(apis=[api], load_balancers=[internal],
                                          sg_rules=[rule("0.0.0.0/0", True), rule("sg-link", False)]), GW)
    assert "FAIL" in statuses(open_)
    assert any("0.0.0.0/0" in f.detail and "demo-alb-sg" in f.resource for f in open_ if f.status == "FAIL")
    closed = c.api_gateway_only_way_in(Inv(apis=[api], load_balancers=[internal], sg_rules=[rule("sg-link", False)]), GW)
    assert set(statuses(closed)) == {"PASS"}


def test_api_access_logging():
    api = {"id": "a1", "name": "demo-api", "protocol": "HTTP", "vpc_link_id": "vl1"}
    assert statuses(c.api_access_logging(Inv(apis=[{**api, "access_log_arn": "arn:logs"}]), GW)) == ["PASS"]
    assert statuses(c.api_access_logging(Inv(apis=[{**api, "access_log_arn": ""}]), GW)) == ["FAIL"]
    assert statuses(c.api_access_logging(Inv(apis=[]), P)) == ["NOT_APPLICABLE"]
