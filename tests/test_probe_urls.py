"""The probe's URLs on a real account (in-process moto, target=aws), right for each entry and state (issue 10,
finding #4): with entry=api_gateway the ALB is internal, so the API's own endpoint; https://domain only when
its certificate is issued and the name resolves; the dev host on the port its layout serves."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import dataplane, names, probe

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setenv("MOTO_ACM_VALIDATION_WAIT", "0")
    with mock_aws():
        yield monkeypatch


def _ctx(_stack=None, **params):
    ctx = make_ctx(target="aws", aws_account_id="123456789012", **params)
    return ctx, create_stack(ctx, ctx.params, rds=False, release=False, **(_stack or {}))


def _alb(ctx):
    return ctx.client("elbv2").describe_load_balancers(Names=[names.alb(ctx.p)])["LoadBalancers"][0]["DNSName"]


def _api(ctx):
    p = ctx.p
    tags = {"workbook:stack": p.stack_name, "workbook:step": "05_edge", "Name": names.api(p)}
    return ctx.client("apigatewayv2").create_api(Name=names.api(p), ProtocolType="HTTP", Tags=tags)["ApiEndpoint"]


def test_with_api_gateway_the_probe_goes_to_the_api_not_the_internal_alb(aws):
    ctx, _ = _ctx(entry="api_gateway", domain_name="")
    with pytest.raises(LookupError, match="API"):        # not built yet: no URL rather than an unreachable one
        probe.endpoint_url(ctx, "lb")
    endpoint = _api(ctx)
    assert probe.endpoint_url(ctx, "lb") == endpoint.rstrip("/")
    assert _alb(ctx) not in probe.endpoint_url(ctx, "lb")


def test_https_domain_only_when_its_certificate_is_issued_and_the_name_resolves(aws):
    ctx, _ = _ctx(entry="alb", domain_name="api.example.com")
    aws.setattr(dataplane, "resolves", lambda host: True)
    assert probe.endpoint_url(ctx, "lb") == f"http://{_alb(ctx)}"     # no certificate yet
    ctx.client("acm").request_certificate(DomainName="api.example.com", ValidationMethod="DNS")
    assert probe.endpoint_url(ctx, "lb") == "https://api.example.com"
    aws.setattr(dataplane, "resolves", lambda host: False)             # the zone is not delegated yet
    assert probe.endpoint_url(ctx, "lb") == f"http://{_alb(ctx)}"


def test_the_stacks_dev_host_is_probed_on_the_port_its_layout_serves(aws):
    ctx, stack = _ctx(entry="alb", domain_name="")
    ip = ctx.client("ec2").describe_instances(InstanceIds=[stack["dev"]])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"]
    assert probe.endpoint_url(ctx, "dev") == f"http://{ip}:80" and names.DEV_HTTP_PORT == 80


def test_a_users_dev_host_is_probed_on_the_app_port(aws):
    ctx, stack = _ctx(entry="alb", domain_name="", app_port=8081, _stack={"dev_owner": "user"})
    ip = ctx.client("ec2").describe_instances(InstanceIds=[stack["dev"]])["Reservations"][0]["Instances"][0][
        "PublicIpAddress"]
    assert probe.endpoint_url(ctx, "dev") == f"http://{ip}:8081"
