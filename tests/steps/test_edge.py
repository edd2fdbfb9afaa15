"""05_edge on moto: the zone, the certificate, the alias, API Gateway as the way in, and destroy."""
from __future__ import annotations

import dataclasses

import pytest
from edge_obs_fixtures import build_stack

from conftest import make_ctx
from workbook import names, tagging
from workbook.connect import MUTATING
from workbook.steps import edge

DOMAIN = "api.example.com"


@pytest.fixture
def domain_ctx(ctx):
    return make_ctx(domain_name=DOMAIN)


def _zone_ids(ctx, name="example.com."):
    return [z["Id"].rsplit("/", 1)[-1] for z in ctx.client("route53").list_hosted_zones()["HostedZones"]
            if z["Name"] == name]


def _records(ctx, zone_id):
    return ctx.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]


def test_without_domain_and_alb_entry_nothing_is_created_and_the_alb_is_the_way_in(ctx, capsys):
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    mark = ctx.calls.mark()
    out = edge.apply(ctx, ctx.params)
    assert out.empty
    assert ctx.calls.count(mark, MUTATING) == 0
    said = capsys.readouterr().out
    assert "nothing to do" in said and stack["lb_dns"] in said


def test_apply_makes_zone_certificate_and_alias_to_the_alb_and_a_rerun_creates_nothing(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    stack = build_stack(ctx, p, asg=False, rds=False)
    first = edge.apply(ctx, p)
    assert {"hosted zone", "certificate", "dns record"} <= set(first.type)
    (zone_id,) = _zone_ids(ctx)
    tags = tagging.as_dict(ctx.client("route53").list_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"])
    assert tags[tagging.STACK] == "demo" and tags[tagging.STEP] == "05_edge"
    alias = [r for r in _records(ctx, zone_id) if r["Name"] == DOMAIN + "." and r["Type"] == "A"]
    assert alias[0]["AliasTarget"]["DNSName"].rstrip(".") == stack["lb_dns"]
    cert = edge.find_certificate(ctx, p)
    assert cert["Status"] == "ISSUED"
    # the validation CNAME is in the zone (ACM's managed renewal checks it again)
    cname = cert["DomainValidationOptions"][0]["ResourceRecord"]["Name"]
    assert any(r["Name"] == cname and r["Type"] == "CNAME" for r in _records(ctx, zone_id))
    mark = ctx.calls.mark()
    second = edge.apply(ctx, p)
    assert ctx.calls.count(mark, MUTATING) == 0
    assert set(second.action) == {"exists"}
    assert len(_zone_ids(ctx)) == 1


def test_apply_calls_compute_to_put_the_certificate_on_an_https_listener(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    stack = build_stack(ctx, p, asg=False, rds=False)
    edge.apply(ctx, p)
    listeners = ctx.client("elbv2").describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]
    https = [l for l in listeners if l["Protocol"] == "HTTPS"]
    assert https and https[0]["Certificates"][0]["CertificateArn"] == edge.find_certificate(ctx, p)["CertificateArn"]


def test_dry_run_creates_nothing_and_says_what_it_would_create(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    build_stack(ctx, p, asg=False, rds=False)
    mark = ctx.calls.mark()
    plan = edge.plan(ctx, p)
    assert ctx.calls.count(mark, MUTATING) == 0
    assert set(plan.action) == {"would create"}
    assert {"hosted zone", "certificate", "dns record"} <= set(plan.type)


def test_an_existing_zone_is_used_and_destroy_keeps_it_and_its_other_records(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    build_stack(ctx, p, asg=False, rds=False)
    r53 = ctx.client("route53")
    zone_id = r53.create_hosted_zone(Name="example.com", CallerReference="owner-made")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "www.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "example.org"}]}}]})
    out = edge.apply(ctx, p)
    assert out[out.type == "hosted zone"].action.item() == "exists"
    assert _zone_ids(ctx) == [zone_id]
    edge.destroy(ctx, p)
    left = {(r["Name"], r["Type"]) for r in _records(ctx, zone_id)}
    assert _zone_ids(ctx) == [zone_id]
    assert ("www.example.com.", "CNAME") in left
    assert not any(name == DOMAIN + "." or name.endswith("." + DOMAIN + ".") for name, _ in left)


def test_hosted_zone_id_must_contain_the_domain(ctx):
    zone_id = ctx.client("route53").create_hosted_zone(Name="example.org", CallerReference="x")["HostedZone"]["Id"]
    # moto's zone ids do not start with Z as real ones do, so build the params past validation
    p = dataclasses.replace(make_ctx(domain_name=DOMAIN).params, hosted_zone_id=zone_id.rsplit("/", 1)[-1])
    with pytest.raises(ValueError, match="domain_name"):
        edge.ensure_hosted_zone(ctx, p)


def test_a_zone_created_but_not_tagged_before_a_crash_is_adopted_not_twinned(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    ctx.client("route53").create_hosted_zone(Name="example.com", CallerReference=edge._zone_reference_prefix(p))
    r = edge.ensure_hosted_zone(ctx, p)
    assert r.action == "exists" and len(_zone_ids(ctx)) == 1
    assert edge.zone_created_by_stack(ctx, p, r.id)


def test_parent_zone_names():
    assert edge.new_zone_name(make_ctx(domain_name="api.example.com").params) == "example.com"
    assert edge.new_zone_name(make_ctx(domain_name="example.com").params) == "example.com"
    assert edge.new_zone_name(make_ctx(domain_name="api.example.co.uk").params) == "example.co.uk"


def test_destroy_removes_everything_of_a_zone_it_created_and_is_safe_twice(domain_ctx):
    ctx, p = domain_ctx, domain_ctx.params
    build_stack(ctx, p, asg=False, rds=False)
    edge.apply(ctx, p)
    gone = edge.destroy(ctx, p)
    assert {"hosted zone", "certificate", "dns record"} <= set(gone.type)
    assert _zone_ids(ctx) == []
    assert edge.find_certificate(ctx, p) is None
    assert edge.destroy(ctx, p).empty


@pytest.fixture
def gateway_ctx(ctx):
    c = make_ctx(domain_name=DOMAIN, entry="api_gateway")
    return c, build_stack(c, c.params, scheme="internal", asg=False, rds=False)


def test_api_gateway_reaches_the_internal_alb_through_a_vpc_link_with_access_logs(gateway_ctx):
    ctx, stack = gateway_ctx
    p = ctx.params
    edge.apply(ctx, p)
    gw = ctx.client("apigatewayv2")
    link = edge.find_vpc_link(ctx, p)
    assert sorted(link["SubnetIds"]) == sorted(stack["app"])
    api = edge.find_api(ctx, p)
    (integration,) = gw.get_integrations(ApiId=api["ApiId"])["Items"]
    listeners = {l["ListenerArn"]: l for l in ctx.client("elbv2").describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]}
    assert integration["ConnectionId"] == link["VpcLinkId"] and integration["IntegrationType"] == "HTTP_PROXY"
    assert listeners[integration["IntegrationUri"]]["Protocol"] == "HTTPS"  # 04 upgraded it with our certificate
    (route,) = gw.get_routes(ApiId=api["ApiId"])["Items"]
    assert route["RouteKey"] == "$default" and route["Target"] == f"integrations/{integration['IntegrationId']}"
    (stage,) = gw.get_stages(ApiId=api["ApiId"])["Items"]
    assert stage["AutoDeploy"] and stage["AccessLogSettings"]["DestinationArn"].endswith(edge.api_access_log_group(p))
    # the ALB's group lets the VPC link in, and only the link's group
    rules = ctx.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])
    sources = {r.get("ReferencedGroupInfo", {}).get("GroupId") for r in rules["SecurityGroupRules"] if not r["IsEgress"]}
    assert sources == {link["SecurityGroupIds"][0]}
    zone_id = _zone_ids(ctx)[0]
    alias = [r for r in _records(ctx, zone_id) if r["Name"] == DOMAIN + "." and r["Type"] == "A"][0]
    assert "execute-api" in alias["AliasTarget"]["DNSName"]
    mark = ctx.calls.mark()
    edge.apply(ctx, p)
    assert ctx.calls.count(mark, MUTATING) == 0


def test_api_gateway_destroy_leaves_the_alb_group_as_it_was_and_runs_twice(gateway_ctx):
    ctx, stack = gateway_ctx
    p = ctx.params
    edge.apply(ctx, p)
    edge.destroy(ctx, p)
    assert edge.find_api(ctx, p) is None and edge.find_vpc_link(ctx, p) is None
    rules = ctx.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])
    assert not [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]
    assert edge.destroy(ctx, p).empty


def test_internet_facing_alb_with_api_gateway_is_called_out(ctx, capsys):
    c = make_ctx(entry="api_gateway")
    build_stack(c, c.params, scheme="internet-facing", asg=False, rds=False)
    edge.apply(c, c.params)
    assert "not the only way in" in capsys.readouterr().out


def test_step_declares_the_permissions_it_calls():
    perms = set(edge.STEP_INFO.permissions)
    assert {"route53:CreateHostedZone", "acm:RequestCertificate", "route53:ChangeResourceRecordSets"} <= perms
    assert names.api  # the names the step uses come from workbook.names


def test_api_gateway_without_a_domain_serves_on_its_execute_api_endpoint(ctx, capsys):
    c = make_ctx(entry="api_gateway")
    build_stack(c, c.params, scheme="internal", asg=False, rds=False)
    out = edge.apply(c, c.params)
    assert "hosted zone" not in set(out.type) and "certificate" not in set(out.type)
    api = edge.find_api(c, c.params)
    assert api["ApiEndpoint"] in capsys.readouterr().out
    assert c.client("route53").list_hosted_zones()["HostedZones"] == []
