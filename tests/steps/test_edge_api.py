"""05_edge's API Gateway side on moto, where AWS answers what moto never does: a VPC link that failed
or is being deleted, and a zone where VPC links are not offered."""
from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError
from edge_obs_fixtures import build_stack

from conftest import AccountClock, make_ctx
from workbook import engine
from workbook.steps import edge

DOMAIN = "api.example.com"


@pytest.fixture
def gateway_ctx(ctx):
    c = make_ctx(domain_name=DOMAIN, entry="api_gateway")
    return c, build_stack(c, c.params, scheme="internal", asg=False, rds=False)


def _link_status(ctx, status, message=""):
    """Every answer about the stack's links says `status` (for links created so far)."""
    seen = {link["VpcLinkId"] for link in ctx.client("apigatewayv2").get_vpc_links()["Items"]}

    def edit(parsed, **_):
        for link in parsed.get("Items", [parsed]):
            if link.get("VpcLinkId") in seen:
                link.update(VpcLinkStatus=status, VpcLinkStatusMessage=message)
    gw = ctx.client("apigatewayv2")
    for op in ("GetVpcLinks", "GetVpcLink"):
        gw.meta.events.register(f"after-call.apigatewayv2.{op}", edit)
    return seen


def test_a_failed_vpc_link_is_replaced_and_its_reason_said(gateway_ctx, capsys):
    """A link AWS failed was found by tag on every rerun and raised "is FAILED" for ever, its reason unsaid."""
    ctx, _ = gateway_ctx
    edge.apply(ctx)
    old = _link_status(ctx, "FAILED", "insufficient free addresses in subnet")
    rec = edge.ensure_vpc_link(ctx)
    assert rec.action == "created" and rec.id not in old
    assert "insufficient free addresses" in capsys.readouterr().out
    assert [it.id for it in engine.find(ctx, "vpc_link")] == [rec.id]


def test_a_link_being_deleted_is_not_taken_for_the_stacks_link(gateway_ctx):
    """Right after 05's destroy, AWS lists the old link as DELETING for minutes: a rebuild raised on it."""
    ctx, _ = gateway_ctx
    edge.apply(ctx)
    old = _link_status(ctx, "DELETING")
    rec = edge.ensure_vpc_link(ctx)
    assert rec.action == "created" and rec.id not in old


def test_a_zone_without_vpc_links_is_left_out_of_the_link_and_said(gateway_ctx, capsys):
    """HTTP APIs' VPC links are offered in some zone ids only (use1-az3 is not one); CreateVpcLink refuses
    a subnet there. Which zone id an AZ name is differs per account, so 02 cannot avoid it by name."""
    ctx, stack = gateway_ctx
    subnets = ctx.client("ec2").describe_subnets(SubnetIds=stack["app"])["Subnets"]
    refused = subnets[0]

    def refuse(params, **_):
        if refused["SubnetId"] in params.get("SubnetIds", []):
            raise ClientError({"Error": {"Code": "BadRequestException", "Message":
                               f"Subnet is in Availability Zone '{refused['AvailabilityZoneId']}' where service is "
                               "not available"}}, "CreateVpcLink")
    ctx.client("apigatewayv2").meta.events.register("before-parameter-build.apigatewayv2.CreateVpcLink", refuse)
    edge.ensure_vpc_link_sg(ctx)
    rec = edge.ensure_vpc_link(ctx)
    link = ctx.client("apigatewayv2").get_vpc_link(VpcLinkId=rec.id)
    assert link["SubnetIds"] == [s["SubnetId"] for s in subnets[1:]]
    said = capsys.readouterr().out
    assert re.search(rf"{refused['AvailabilityZoneId']}.*{refused['AvailabilityZone']}|"
                     rf"{refused['AvailabilityZone']}.*{refused['AvailabilityZoneId']}", said), said


def test_someone_elses_custom_domain_of_the_name_is_refused_in_words_not_a_raw_conflict(gateway_ctx):
    """Custom domain names are one namespace for REST and HTTP APIs: a domain another API owns answers
    ConflictException, which went up raw instead of the workbook's "not this stack's" refusal."""
    ctx, _ = gateway_ctx
    edge.apply(ctx)
    gw = ctx.client("apigatewayv2")
    for m in gw.get_api_mappings(DomainName=DOMAIN)["Items"]:
        gw.delete_api_mapping(ApiMappingId=m["ApiMappingId"], DomainName=DOMAIN)
    gw.delete_domain_name(DomainName=DOMAIN)
    gw.create_domain_name(DomainName=DOMAIN)            # another team's, untagged
    with pytest.raises(engine.ForeignResource, match="not this stack's"):
        edge.ensure_api_domain(ctx)


def test_the_certificate_goes_although_acm_calls_it_in_use_for_minutes_after_its_domain(gateway_ctx):
    """ACM goes on calling a certificate in use for 10-20 minutes after the custom domain that used it
    is deleted (ResourceInUseException); the default ten-minute retry left it behind as a failure."""
    ctx, stack = gateway_ctx
    edge.apply(ctx)
    ctx.target.clock = AccountClock()
    elb = ctx.client("elbv2")
    for listener in elb.describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]:
        if listener["Protocol"] == "HTTPS":      # 04's listener, gone first as its destroy does
            elb.delete_listener(ListenerArn=listener["ListenerArn"])
    freed_at = []

    def still_in_use(params, **_):
        if not freed_at:
            freed_at.append(ctx.clock.now() + 15 * 60)
        if ctx.clock.now() < freed_at[0]:
            raise ClientError({"Error": {"Code": "ResourceInUseException", "Message": "Certificate is in use"}},
                              "DeleteCertificate")
    ctx.client("acm").meta.events.register("before-parameter-build.acm.DeleteCertificate", still_in_use)
    gone = edge.destroy(ctx)
    assert gone[gone.type == "certificate"].action.tolist() == ["deleted"], gone
