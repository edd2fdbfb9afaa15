"""Diagrams drawn from inventories: the dev environment in both layouts, a production stack, an empty one."""
from __future__ import annotations

import re

import pandas as pd

import pytest

from conftest import make_ctx
from fake_inventory import FakeInventory, production_stack
from workbook import architecture, inventory
from workbook.inventory import ec2 as inv_ec2
from workbook.steps import dev


def labels() -> str:
    """Every node, cluster and edge label of the last drawing, one per line, line breaks flattened."""
    found = re.findall(r'label=("(?:[^"\\]|\\.)*"|[^\s\]]+)', architecture.last_dot_source)
    return "\n".join(v.strip('"').replace("\n", " ") for v in found)


def is_png(path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_before_draws_the_postgres_layout_with_its_open_ports(ctx, tmp_path):
    dev.apply(ctx)
    inv = inv_ec2.discover_dev(ctx, ctx.params)
    out = architecture.draw_before(inv, tmp_path / "before.png")
    assert out == tmp_path / "before.png" and is_png(out)
    text = labels()
    assert "PostgreSQL on the same host" in text and "MySQL" not in text
    assert "open 22, 80" in text and "open 5432" in text
    assert f"instance dev-backend {inv.instances.id.iloc[0]}" in text
    assert "(default VPC)" in text and "0 snapshots" in text and "unencrypted" in text
    assert "Elastic IP" not in text


def test_before_draws_the_second_layout_eip_two_groups_mysql(tmp_path):
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="layout2", dev_db_engine="mysql", dev_elastic_ip=True, dev_split_security_groups=True)
        dev.apply(ctx)
        inv = inv_ec2.discover_dev(ctx, ctx.params)
        out = architecture.draw_before(inv, tmp_path / "layout2.png")
    assert is_png(out)
    text = labels()
    assert "MySQL on the same host" in text and "PostgreSQL" not in text
    assert f"Elastic IP {inv.addresses.public_ip.iloc[0]}" in text
    assert "dev-backend-sg-web open 22, 80" in text and "dev-backend-sg-db open 3306" in text


def test_before_finds_the_engine_from_the_port_when_untagged(ctx, tmp_path):
    """aws mode: nothing carries the workbook's engine tag; an open 3306 says MySQL."""
    dev.apply(ctx.replace(dev_db_engine="mysql"))
    inv = inv_ec2.discover_dev(ctx, ctx.params)
    inv.instances["dev_db"] = ""
    architecture.draw_before(inv, tmp_path / "b.png")
    assert "MySQL on the same host" in labels()


def test_before_without_a_dev_instance_says_so(ctx, tmp_path):
    out = architecture.draw_before(inv_ec2.discover_dev(ctx, ctx.params, missing_ok=True), tmp_path / "none.png")
    assert is_png(out) and "no dev instance found" in labels()


def test_stack_draws_what_the_frames_hold(tmp_path):
    out = architecture.draw_stack(production_stack(), tmp_path / "after.png", "After")
    assert is_png(out)
    text = labels()
    assert len(re.findall(r"^AZ us-east-1[ab]$", text, re.M)) == 2
    for tier in ("public", "app", "db"):
        assert text.count(f"{tier} subnet") == 2, tier
    assert text.count("NAT gateway") == 2 and "Internet gateway igw-1" in text
    assert "demo-alb internet-facing" in text and text.count("ASG demo-app-asg") == 2
    assert "demo-db primary, backups 7 d" in text and "demo-db standby (Multi-AZ)" in text
    assert "Route 53 example.com" in text and "ACM api.example.com" in text
    assert "CloudWatch 1 alarm(s), 1 log group(s)" in text and "SNS 1 topic(s)" in text and "demo-app-role" in text


def test_stack_single_az_database_has_no_standby(tmp_path):
    architecture.draw_stack(production_stack(multi_az=False), tmp_path / "a.png", "After")
    assert "standby" not in labels() and "demo-db primary" in labels()


def test_stack_with_missing_frames_draws_what_exists(tmp_path):
    """Frames not implemented yet (no RDS, no load balancers ...) are simply empty."""
    stack = production_stack()
    partial = FakeInventory(**{n: stack.frames[n] for n in ("vpcs", "subnets", "internet_gateways", "nat_gateways")})
    out = architecture.draw_stack(partial, tmp_path / "02.png", "After 02")
    assert is_png(out)
    text = labels()
    assert "VPC demo-vpc 10.20.0.0/16" in text and text.count("NAT gateway") == 2
    assert "RDS" not in text and "demo-alb" not in text


def test_stack_leaves_the_dev_environment_out(ctx, tmp_path):
    dev.apply(ctx)
    architecture.draw_stack(inventory.Inventory(ctx, ctx.params.stack_name), tmp_path / "s.png", "After 00")
    assert "dev-backend" not in labels() and "nothing of the production stack exists yet" in labels()


def test_show_displays_the_png_inline(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    out = architecture.draw_stack(FakeInventory(), tmp_path / "e.png", "Empty")
    architecture.show(out)
    assert len(shown) == 1 and shown[0].data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["diagrams.py", "diagrams/__init__.py"])
def test_nothing_shadows_the_diagrams_package(name):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    assert not (root / name).exists() and not (root / "workbook" / name).exists()


# ---- what 02 teaches, drawn; what runs where, drawn honestly ------------------------------------------
def _nodes(dot: str) -> list[str]:
    return re.findall(r'^\s*"?(\w+)"? \[([^\]]*)\]', dot, re.M)


def test_network_diagram_draws_the_security_group_chain_and_no_loose_ends(ctx, tmp_path):
    from workbook.steps import network
    network.apply(ctx)
    architecture.draw_stack(inventory.Inventory(ctx, ctx.params.stack_name), tmp_path / "02.png", "After 02")
    dot, text = architecture.last_dot_source, labels()
    assert {"demo-alb-sg", "demo-app-sg", "demo-db-sg"} <= set(text.splitlines())   # the groups, drawn
    ids = {m.group(2): m.group(1) for m in re.finditer(r'^\s*"?(\w+)"? \[label="?([\w-]+)"?', dot, re.M)}
    edge = lambda a, b, port: re.search(rf'"?{ids[a]}"? -> "?{ids[b]}"? \[[^\]]*label="?{port}"?', dot)  # noqa: E731
    assert edge("demo-alb-sg", "demo-app-sg", "8080") and edge("demo-app-sg", "demo-db-sg", "5432")
    assert edge("users", "demo-alb-sg", '"?80, 443')                  # the users icon is connected
    assert "shape=point" not in dot                                     # no stray "." in the subnets
    # every AZ's public subnet one rank below the internet gateway: the AZ columns line up
    igw = next(i for i, attrs in _nodes(dot) if "Internet gateway" in attrs)
    assert len(re.findall(rf'"?{igw}"? -> \S+ \[[^\]]*style=invis', dot)) >= 2


def test_no_users_icon_when_nothing_lets_them_in(tmp_path):
    stack = production_stack()
    partial = FakeInventory(**{n: stack.frames[n] for n in ("vpcs", "subnets", "internet_gateways")})
    architecture.draw_stack(partial, tmp_path / "02.png", "After 02")
    assert "users" not in labels().splitlines()


def test_app_servers_drawn_where_they_run_and_the_group_spread_labelled(tmp_path):
    """The sandbox starts a group's instances in one AZ: both are drawn there, and the other AZ the group
    is configured for says that none runs there now (not two servers in two AZs that do not exist)."""
    stack = production_stack()
    inst = stack.frames["instances"].copy()
    inst["subnet_id"], inst["az"] = "subnet-app0", "us-east-1a"
    stack.frames["instances"] = inst
    architecture.draw_stack(stack, tmp_path / "after.png", "After")
    text = labels()
    assert text.count("ASG demo-app-asg") == 2
    assert "Auto Scaling group demo-app-asg spans this AZ; no instance runs here now" in text


def test_the_restore_drills_temporary_copy_is_not_drawn_as_part_of_the_stack(tmp_path):
    """The drill's copy lives a few minutes while 08 runs; the after diagram is the stack users keep."""
    stack = production_stack()
    db = stack.frames["db_instances"]
    drill = {**db.iloc[0].to_dict(), "id": "demo-db-drill", "multi_az": False, "secondary_az": "", "stack": "demo"}
    stack.frames["db_instances"] = pd.concat([db.assign(stack="demo"), pd.DataFrame([drill])], ignore_index=True)
    architecture.draw_stack(stack, tmp_path / "after.png", "After")
    assert "demo-db primary" in labels() and "demo-db-drill" not in labels()


def test_the_zones_are_drawn_left_to_right_in_name_order_behind_an_internal_alb(tmp_path):
    """With the API Gateway in front, the internal ALB's edges into both zones made Graphviz draw
    us-east-1b left of us-east-1a. Where Graphviz puts each NAT gateway (one per zone) is read back."""
    import json
    import subprocess
    stack = production_stack()
    stack.frames["load_balancers"] = stack.frames["load_balancers"].assign(scheme="internal")
    stack.frames["apis"] = pd.DataFrame([{"id": "api1", "name": "demo-api", "protocol": "HTTP", "vpc_link_id": "vl1",
                                          "stack": "demo", "step": "05_edge", "tags": {}}])
    architecture.draw_stack(stack, tmp_path / "after.png", "After")
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=architecture.last_dot_source, capture_output=True,
                                       text=True, check=True).stdout)
    x = {o["label"].split("\n")[-1]: float(o["pos"].split(",")[0]) for o in layout["objects"]
         if "pos" in o and o.get("label", "").startswith("NAT gateway")}
    assert x["nat-0"] < x["nat-1"], x      # nat-0 runs in us-east-1a, nat-1 in us-east-1b
