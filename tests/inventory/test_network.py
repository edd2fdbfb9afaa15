"""The network frames (internet_gateways, nat_gateways, route_tables, flow_logs) after 02_network."""
from __future__ import annotations

import boto3
import pytest

from conftest import make_ctx
from workbook import names
from workbook.inventory import BASE_COLUMNS, Inventory
from workbook.inventory import network as net_inv
from workbook.steps import network


@pytest.fixture(scope="module")
def two_stacks():
    """demo (single NAT) and other (NAT per AZ) in one account, plus an untagged IGW."""
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx()
        network.apply(ctx)
        network.apply(ctx.replace(stack_name="other", vpc_cidr="10.30.0.0/16", nat_per_az=True))
        boto3.client("ec2", region_name="us-east-1").create_internet_gateway()
        yield ctx


def test_frames_have_the_contract_columns(two_stacks):
    inv = Inventory(two_stacks, "demo")
    for name, cols in net_inv.COLUMNS.items():
        assert list(inv.frame(name).columns) == BASE_COLUMNS + cols


def test_stack_filter_keeps_other_stacks_and_untagged_out(two_stacks):
    demo, other, everything = Inventory(two_stacks, "demo"), Inventory(two_stacks, "other"), Inventory(two_stacks, None)
    assert len(demo.nat_gateways) == 1 and len(other.nat_gateways) == 2
    assert set(demo.nat_gateways["stack"]) == {"demo"}
    assert len(demo.internet_gateways) == 1 and len(everything.internet_gateways) >= 3
    assert len(demo.route_tables) == 4 and set(demo.route_tables["stack"]) == {"demo"}  # public, 2 app, db
    assert len(demo.flow_logs) == 1 and len(everything.flow_logs) == 2


def test_route_tables_say_where_each_subnet_goes(two_stacks):
    inv = Inventory(two_stacks, "demo")
    p = two_stacks.params
    rts = inv.route_tables.set_index("name")
    subnets = dict(zip(inv.subnets["name"], inv.subnets["id"]))
    public = rts.loc[names.route_table(p, "public")]
    assert public.default_target.startswith("igw-") and public.igw_route and not public.main
    assert sorted(public.subnet_ids) == sorted(subnets[names.subnet(p, "public", az)] for az in ("us-east-1a", "us-east-1b"))
    app = rts.loc[names.route_table(p, "app", "us-east-1b")]
    assert app.default_target == inv.nat_gateways.id.iloc[0] and not app.igw_route
    db = rts.loc[names.route_table(p, "db")]
    assert db.default_target == "" and len(db.subnet_ids) == 2 and not db.igw_route
    assert any(r.startswith(f"{p.vpc_cidr} -> local") for r in db.routes)
    main = Inventory(two_stacks, None).route_tables
    assert main[main.vpc_id == inv.vpcs.id.iloc[0]].main.sum() == 1  # the untagged main table shows region-wide


def test_nat_gateways_carry_their_az_and_address(two_stacks):
    nats = Inventory(two_stacks, "other").nat_gateways
    assert sorted(nats.az) == ["us-east-1a", "us-east-1b"]
    assert (nats.state == "available").all() and nats.public_ip.str.len().gt(0).all()
    assert nats.allocation_id.str.startswith("eipalloc-").all()
    subnet_az = dict(zip(Inventory(two_stacks, "other").subnets.id, Inventory(two_stacks, "other").subnets.az))
    assert all(subnet_az[s] == az for s, az in zip(nats.subnet_id, nats.az))


def test_flow_logs_point_at_the_stack_log_group(two_stacks):
    inv = Inventory(two_stacks, "demo")
    fl = inv.flow_logs.iloc[0]
    assert fl.resource_id == inv.vpcs.id.iloc[0] and fl.log_group == names.flow_log_group(two_stacks.params)
    assert fl.traffic_type == "ALL" and fl.status == "ACTIVE" and fl.destination_type == "cloud-watch-logs"


def test_empty_account_gives_empty_frames_with_columns():
    from moto import mock_aws
    with mock_aws():
        inv = Inventory(make_ctx(), "nothing")
        for name, cols in net_inv.COLUMNS.items():
            df = inv.frame(name)
            assert df.empty and list(df.columns) == BASE_COLUMNS + cols
