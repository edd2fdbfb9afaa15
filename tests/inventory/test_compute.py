"""inventory/compute.py: the frames of 04_compute, filtered by stack, with the contract's columns."""
from __future__ import annotations

import pytest
from moto import mock_aws

from compute_fixtures import build_network, create_database
from conftest import make_ctx
from workbook import inventory, names
from workbook.inventory import compute as inv_compute
from workbook.steps import compute

CONTRACT = {
    "launch_templates": ["version", "imds_tokens", "image_id", "instance_type", "associate_public_ip",
                         "encrypted_volumes"],
    "load_balancers": ["scheme", "vpc_id", "subnets", "azs", "security_groups", "dns_name", "type"],
    "target_groups": ["port", "protocol", "health_check_path", "lb_arns"],
    "listeners": ["lb_arn", "port", "protocol", "action", "redirect_to"],
    "auto_scaling_groups": ["min", "desired", "max", "subnets", "azs", "instance_ids", "target_group_arns",
                            "health_check_type", "grace_period", "launch_template_id"],
}


@pytest.fixture(scope="module")
def two_stacks():
    """Stack 'prod' applied and stack 'other' applied: the frames must keep them apart."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        with mock_aws():
            out = {}
            for stack in ("prod", "other"):
                ctx = make_ctx(stack_name=stack)
                net = build_network(ctx, ctx.params)
                create_database(ctx, ctx.params)
                compute.apply(ctx)
                out[stack] = (ctx, net)
            yield out


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_frames_have_the_contract_columns_and_only_the_stack(two_stacks, name):
    ctx, _ = two_stacks["prod"]
    df = inventory.Inventory(ctx, "prod").frame(name)
    assert set(inventory.BASE_COLUMNS + CONTRACT[name]) <= set(df.columns)
    assert len(df) >= 1 and set(df["stack"]) == {"prod"}
    everything = inventory.Inventory(ctx, None).frame(name)
    assert {"prod", "other"} <= set(everything["stack"])


def test_values_describe_what_was_built(two_stacks):
    ctx, net = two_stacks["prod"]
    p = ctx.params
    inv = inventory.Inventory(ctx, "prod")
    lt = inv.launch_templates.iloc[0]
    assert (lt["name"], lt.imds_tokens, lt.associate_public_ip, lt.encrypted_volumes) == (
        names.launch_template(p), "required", False, True)
    assert lt.security_groups == [net["app_sg"]] and lt.instance_profile == names.app_role(p)
    lb = inv.load_balancers.iloc[0]
    assert lb["name"] == names.alb(p) and lb.scheme == "internet-facing" and lb.azs == ["us-east-1a", "us-east-1b"]
    assert sorted(lb.subnets) == sorted(net["public"]) and lb.deletion_protection and lb.drop_invalid_headers
    tg = inv.target_groups.iloc[0]
    assert (tg.port, tg.health_check_path, tg.lb_arns) == (p.app_port, p.health_check_path, [lb.id])
    ls = inv.listeners
    assert list(zip(ls.port, ls.action, ls.redirect_to)) == [(80, "forward", "")]
    assert set(ls["stack"]) == {"prod"}  # inherited from the load balancer when needed
    g = inv.auto_scaling_groups.iloc[0]
    assert g.id == names.asg(p) and (g["min"], g.desired, g["max"]) == (2, 2, 4)
    assert len(g.instance_ids) == 2 and g.target_group_arns == [tg.id] and g.health_check_type == "ELB"
    assert g.launch_template_id == lt.id
    assert sorted(g.policies) == ["ALBRequestCountPerTarget", "ASGAverageCPUUtilization"]


def test_redirect_listener_reads_as_redirect_to_https():
    action, to = inv_compute._describe_action([{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    assert (action, to) == ("redirect", "HTTPS:443")


def test_empty_account_gives_empty_frames_with_columns():
    with mock_aws():
        ctx = make_ctx()
        for name, cols in CONTRACT.items():
            df = inventory.Inventory(ctx, "demo").frame(name)
            assert df.empty and set(cols) <= set(df.columns)
