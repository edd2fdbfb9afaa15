"""Step 05_edge, API Gateway as the only way in (entry="api_gateway"), and what both halves look up.

An HTTP API with a VPC link into the private app subnets, an HTTP_PROXY integration to the ALB's
listener, a `$default` route and an auto-deployed `$default` stage with access logs, and, with a
domain, a regional custom domain that the alias record points at. The ALB must then be internal,
else the gateway is not the only way in (the checks say so).

Each unit takes `ctx` and finds what it builds on by the stack's tag; in a dry run, what does not
exist yet is a placeholder and everything after it "would create".
"""
from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from .. import engine, names, progress, tagging
from ..connect import Context, Resource
from ..kinds.edge import same_record
from ..params import Params
from .network_flowlogs import ensure_retention

STEP_ID = "05_edge"
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
})
VPC_LINK_POLL_DELAY_S = 10
VPC_LINK_POLL_ATTEMPTS = 60       # Terraform waits up to 10 minutes for a VPC link
LINK_PORTS = (80, 443)


def vpc_link_sg_name(p: Params) -> str: return p.name("vpclink-sg")
def api_access_log_group(p: Params) -> str: return p.name("api-access-logs")


def not_needed(ctx: Context, type_: str, name: str, why: str) -> Resource:
    """A resource these parameters do not call for (no domain_name, or entry=alb)."""
    return ctx.note(STEP_ID, type_, name, "", f"not needed: {why}")


def would(ctx: Context, type_: str, name: str, action: str = "would create") -> Resource:
    return ctx.note(STEP_ID, type_, name, engine.placeholder(type_, name), action)


def missing(*ids: str | None) -> bool:
    """Something a unit builds on does not exist (yet): None or a dry run's placeholder."""
    return any(i is None or engine.is_placeholder(i) for i in ids)


# ---- what the edge builds on ------------------------------------------------------------------------
def find_alb(ctx: Context) -> dict[str, Any] | None:
    """04_compute's load balancer (names.alb), or None when 04 has not run."""
    it = engine.find_one(ctx, "load_balancer", names.alb(ctx.p))
    return it.raw if it else None


def alb_listeners(ctx: Context, alb_arn: str) -> list[dict[str, Any]]:
    return engine._pages(ctx, "elbv2", "describe_listeners", "Listeners", LoadBalancerArn=alb_arn)


def forwarding_listener(ctx: Context, alb_arn: str) -> dict[str, Any] | None:
    """The listener the API integrates with: HTTPS when 04 has one, else the forwarding HTTP one."""
    listeners = alb_listeners(ctx, alb_arn)
    https = [l for l in listeners if l["Protocol"] == "HTTPS"]
    forwarding = [l for l in listeners if any(a["Type"] == "forward" for a in l.get("DefaultActions", []))]
    return (https or forwarding or listeners or [None])[0]


def stack_certificate(ctx: Context) -> engine.Item | None:
    """This stack's certificate for domain_name (raw = describe_certificate's record): ISSUED first,
    then the newest; failed, expired and revoked ones do not count. 04_compute's HTTPS listener and the
    API custom domain use it."""
    if not ctx.p.domain_name:
        return None
    found = [c for c in stack_certificates(ctx) if c.raw["Status"] in ("PENDING_VALIDATION", "ISSUED", "INACTIVE")]
    found.sort(key=lambda i: (i.raw["Status"] == "ISSUED", i.raw.get("CreatedAt") or 0), reverse=True)
    return found[0] if found else None


def stack_certificates(ctx: Context) -> list[engine.Item]:
    """Every certificate of the stack for domain_name, whatever its status (raw = describe_certificate's)."""
    acm = ctx.client("acm")
    return [engine.Item(it.kind, it.id, it.name, it.tags, acm.describe_certificate(CertificateArn=it.id)["Certificate"])
            for it in engine.find(ctx, "certificate", name=ctx.p.domain_name)]


def find_certificate(ctx: Context) -> dict[str, Any] | None:
    it = stack_certificate(ctx)
    return it.raw if it else None


# ---- the VPC link and its security group ------------------------------------------------------------
def _rule_permissions(peer: str, ports: list[int]) -> list[dict[str, Any]]:
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "UserIdGroupPairs": [{"GroupId": peer, "Description": "API Gateway VPC link <-> ALB"}]} for port in ports]


def _ensure_link_rules(ctx: Context, group_id: str, peer_id: str, *, egress: bool, label: str) -> None:
    """80/443 between the link's group and the ALB's, tagged 05_edge; only what is missing is added."""
    ec2 = ctx.client("ec2")
    rules = [] if missing(group_id, peer_id) else engine._pages(
        ctx, "ec2", "describe_security_group_rules", "SecurityGroupRules",
        Filters=[{"Name": "group-id", "Values": [group_id]}])
    have = {r["FromPort"] for r in rules
            if r["IsEgress"] == egress and r.get("ReferencedGroupInfo", {}).get("GroupId") == peer_id}
    want = [port for port in LINK_PORTS if port not in have]
    if not want:
        return
    name = f"{label} {'egress to' if egress else 'ingress from'} {'ALB' if egress else 'VPC link'} " \
           f"{'/'.join(map(str, want))}"
    if ctx.dry_run or missing(group_id, peer_id):
        ctx.note(STEP_ID, "security_group_rule", name, group_id, "would create")
        return
    spec = tagging.tag_spec("security-group-rule", ctx.p, STEP_ID, vpc_link_sg_name(ctx.p))
    authorize = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    authorize(GroupId=group_id, IpPermissions=_rule_permissions(peer_id, want), TagSpecifications=spec)
    ctx.note(STEP_ID, "security_group_rule", name, group_id, "created")


def ensure_vpc_link_sg(ctx: Context) -> Resource:
    """The VPC link's own security group: egress only to the ALB's group on 80/443, and the ALB's group
    lets it in on those ports (rules tagged 05_edge; deleting the link's group removes exactly these)."""
    p, name = ctx.p, vpc_link_sg_name(ctx.p)
    if p.entry != "api_gateway":
        return not_needed(ctx, "security_group", name, "entry=alb")
    vpc = engine.find_one(ctx, "vpc", names.vpc(p))
    alb_sg = engine.find_one(ctx, "security_group", names.alb_sg(p))
    if (vpc is None or alb_sg is None) and not ctx.dry_run:
        raise RuntimeError("entry=api_gateway needs the VPC and the ALB's security group: run 02_network "
                           "(and 04_compute) first")
    rec = engine.ensure(ctx, "security_group", name, step=STEP_ID, create=lambda: {
        "GroupName": name, "Description": "API Gateway VPC link to the ALB", "VpcId": vpc.id})
    allow_all = [r for r in rec.item.get("IpPermissionsEgress", [])
                 if r.get("IpProtocol") == "-1" and any(c.get("CidrIp") == "0.0.0.0/0" for c in r.get("IpRanges", []))]
    if allow_all or rec.action == "created":
        # AWS gives a new group allow-all egress: it goes, only the ALB's listener ports stay reachable.
        label = f"{name} egress to 0.0.0.0/0"
        if ctx.dry_run or engine.is_placeholder(rec.id):
            ctx.note(STEP_ID, "security_group_rule", label, rec.id, "would delete")
        else:
            ctx.client("ec2").revoke_security_group_egress(GroupId=rec.id, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            ctx.note(STEP_ID, "security_group_rule", label, rec.id, "deleted")
    alb_id = alb_sg.id if alb_sg else engine.placeholder("security_group", names.alb_sg(p))
    _ensure_link_rules(ctx, rec.id, alb_id, egress=True, label=name)
    _ensure_link_rules(ctx, alb_id, rec.id, egress=False, label=names.alb_sg(p))
    return rec


def _names_on_the_alb(ctx: Context) -> list[str]:
    """The stack's DNS names that still alias the ALB itself (clients reach it directly by them)."""
    alb = find_alb(ctx)
    if alb is None:
        return []
    on_alb = {"AliasTarget": {"DNSName": alb["DNSName"], "HostedZoneId": alb["CanonicalHostedZoneId"]}}
    return [it.raw["Name"] for it in engine.find(ctx, "dns_record") if same_record(it.raw["Record"], on_alb)]


def close_alb_to_anywhere(ctx: Context, settle_s: float = 0) -> None:
    """An entry=alb build's 0.0.0.0/0 ingress on the ALB's group goes once the gateway is the way in: the
    API is up, and no name of the stack still sends clients to the ALB itself (08's cutover moves it and
    calls this again, with `settle_s`: the TTL for which resolvers may still answer with the ALB), so
    closing it never cuts off live traffic."""
    alb_sg = engine.find_one(ctx, "security_group", names.alb_sg(ctx.p))
    if ctx.p.entry != "api_gateway" or alb_sg is None:
        return
    alb_id = alb_sg.id
    rules = engine._pages(ctx, "ec2", "describe_security_group_rules", "SecurityGroupRules",
                          Filters=[{"Name": "group-id", "Values": [alb_id]}])
    wide = [r for r in rules if not r["IsEgress"] and (r.get("CidrIpv4") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0")]
    if not wide:
        return
    label = f"{names.alb_sg(ctx.p)} ingress from anywhere ({', '.join(str(r['FromPort']) for r in wide)})"
    live = _names_on_the_alb(ctx)
    if live or (find_api(ctx) is None and not ctx.dry_run):
        print(f"{label} stays: " + (f"{', '.join(live)} still points at the ALB itself; 08's cutover moves it to "
                                    f"the API and closes this then" if live else "the API is not up yet"))
        return
    if settle_s and not ctx.dry_run:
        print(f"{label}: closed in {settle_s:.0f} s, once resolvers no longer answer with the ALB")
        ctx.clock.sleep(settle_s)
    if not ctx.dry_run:
        ctx.client("ec2").revoke_security_group_ingress(GroupId=alb_id, SecurityGroupRuleIds=[
            r["SecurityGroupRuleId"] for r in wide])
    ctx.note(STEP_ID, "security_group_rule", label, alb_id, "would delete" if ctx.dry_run else "deleted")


def app_subnets(ctx: Context) -> list[engine.Item]:
    return sorted((s for s in engine.find(ctx, "subnet") if s.tags.get(names.TIER) == "app"),
                  key=lambda s: s.raw["AvailabilityZone"])


def find_vpc_link(ctx: Context) -> dict[str, Any] | None:
    it = engine.find_one(ctx, "vpc_link", names.vpc_link(ctx.p))
    return it.raw if it else None


def ensure_vpc_link(ctx: Context) -> Resource:
    """A VPC link (V2) with an interface in each private app subnet, so the API reaches an internal ALB.
    No botocore waiter exists for VPC links: it is polled until AVAILABLE."""
    p, name = ctx.p, names.vpc_link(ctx.p)
    if p.entry != "api_gateway":
        return not_needed(ctx, "vpc_link", name, "entry=alb")
    sg = engine.find_one(ctx, "security_group", vpc_link_sg_name(p))
    _replace_failed_link(ctx)
    refused: dict[str, str] = {}   # zone id -> AZ name, where AWS offers no VPC links

    def create() -> dict[str, Any]:
        subnets = [s for s in app_subnets(ctx) if s.raw.get("AvailabilityZoneId") not in refused]
        if not subnets or sg is None:
            raise RuntimeError("no app subnets or no VPC link security group in this stack: run 02_network, "
                               "then ensure_vpc_link_sg" + (f" (VPC links are not offered in {refused})" if refused else ""))
        return {"Name": name, "SubnetIds": [s.id for s in subnets], "SecurityGroupIds": [sg.id]}
    while True:
        try:
            rec = engine.ensure(ctx, "vpc_link", name, step=STEP_ID, create=create)
            break
        except ClientError as e:
            zone = _zone_without_links(ctx, e)
            if not zone or zone in refused:
                raise
            refused[zone] = next((s.raw["AvailabilityZone"] for s in app_subnets(ctx)
                                  if s.raw.get("AvailabilityZoneId") == zone), "?")
            print(f"VPC link {name}: API Gateway offers no VPC links in zone {zone} ({refused[zone]}) of this "
                  "account; the link uses the other zones' app subnets (the internal ALB still serves every zone)")
    if engine.is_placeholder(rec.id) or rec.item.get("VpcLinkStatus") == "AVAILABLE":
        return rec
    gw = ctx.client("apigatewayv2")

    def available() -> bool:
        link = gw.get_vpc_link(VpcLinkId=rec.id)
        status = link["VpcLinkStatus"]
        if status == "INACTIVE":
            # No traffic for 60 days: AWS removed its interfaces and makes them again when requests resume
            # (a few minutes). The link is still this stack's way in; nothing to create or wait for here.
            print(f"VPC link {name} is INACTIVE (no traffic for 60 days): API Gateway provisions its network "
                  "interfaces again when requests resume, which takes a few minutes")
            return True
        if status in ("FAILED", "DELETING"):
            raise RuntimeError(f"VPC link {rec.id} is {status}: {link.get('VpcLinkStatusMessage') or 'no reason given'}; "
                               "a rerun of this step replaces a failed link")
        return status == "AVAILABLE"
    progress.poll(available, f"VPC link {name}", delay=VPC_LINK_POLL_DELAY_S, max_attempts=VPC_LINK_POLL_ATTEMPTS,
                  sleep=ctx.clock.sleep)
    return rec


def _replace_failed_link(ctx: Context) -> None:
    """A link AWS failed (no free address in a subnet, for one) never recovers: the stack's own goes, with
    AWS's reason said, and ensure_vpc_link makes a new one."""
    for it in engine.find(ctx, "vpc_link", name=names.vpc_link(ctx.p)):
        if it.raw.get("VpcLinkStatus") == "FAILED":
            print(f"VPC link {it.id} FAILED ({it.raw.get('VpcLinkStatusMessage') or 'no reason given'}): "
                  "replaced by a new one")
            engine.delete(ctx, "vpc_link", it, step=STEP_ID, wait_gone=False)


def _zone_without_links(ctx: Context, e: ClientError) -> str:
    """The zone id of CreateVpcLink's refusal "Subnet is in Availability Zone '<id>' where service is not
    available" (VPC links for HTTP APIs exist in some zone ids only; API Gateway developer guide)."""
    m = re.search(r"Availability Zone '([^']+)' where service is not available", str(e.response.get("Error", {}).get("Message", "")))
    return m.group(1) if engine.code(e) == "BadRequestException" and m else ""


# ---- the HTTP API -----------------------------------------------------------------------------------
def find_api(ctx: Context) -> dict[str, Any] | None:
    it = engine.find_one(ctx, "http_api", names.api(ctx.p))
    return it.raw if it else None


def _api_id(ctx: Context) -> str | None:
    api = find_api(ctx)
    return api["ApiId"] if api else (engine.placeholder("http_api", names.api(ctx.p)) if ctx.dry_run else None)


def ensure_api(ctx: Context) -> Resource:
    """The HTTP API that becomes the one way in."""
    p, name = ctx.p, names.api(ctx.p)
    if p.entry != "api_gateway":
        return not_needed(ctx, "http_api", name, "entry=alb")
    return engine.ensure(ctx, "http_api", name, step=STEP_ID, create={
        "Name": name, "ProtocolType": "HTTP", "Description": f"{p.stack_name}: the only way in (workbook 05_edge)"})


def _link_integration(ctx: Context, api_id: str) -> dict[str, Any] | None:
    if engine.is_placeholder(api_id):
        return None
    return next((i for i in engine._pages(ctx, "apigatewayv2", "get_integrations", "Items", ApiId=api_id)
                 if i.get("ConnectionType") == "VPC_LINK"), None)


def ensure_integration(ctx: Context) -> Resource | None:
    """HTTP_PROXY through the VPC link to the ALB's listener (HTTPS when 04 has one); an integration
    that still points at an older listener is updated."""
    p = ctx.p
    if p.entry != "api_gateway":
        return None
    label = f"{names.api(p)} -> {names.alb(p)}"
    api_id = _api_id(ctx)
    link = find_vpc_link(ctx)
    alb = find_alb(ctx)
    listener = forwarding_listener(ctx, alb["LoadBalancerArn"]) if alb else None
    if missing(api_id) or link is None or listener is None:
        if not ctx.dry_run:
            raise RuntimeError(f"the integration needs the API, the VPC link and a listener on {names.alb(p)}: "
                               "run 04_compute, then ensure_vpc_link and ensure_api")
        return would(ctx, "integration", label)
    label = f"{label}:{listener['Port']}"
    want: dict[str, Any] = {"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "ANY",
                            "IntegrationUri": listener["ListenerArn"], "ConnectionType": "VPC_LINK",
                            "ConnectionId": link["VpcLinkId"], "PayloadFormatVersion": "1.0"}
    if listener["Protocol"] == "HTTPS" and p.domain_name:
        want["TlsConfig"] = {"ServerNameToVerify": p.domain_name}
    gw, have = ctx.client("apigatewayv2"), _link_integration(ctx, api_id)
    if have and have.get("IntegrationUri") == want["IntegrationUri"] and have.get("ConnectionId") == link["VpcLinkId"]:
        return ctx.note(STEP_ID, "integration", label, have["IntegrationId"], "exists")
    if ctx.dry_run:
        return would(ctx, "integration", label, "would update" if have else "would create")
    if have:
        gw.update_integration(ApiId=api_id, IntegrationId=have["IntegrationId"], **want)
        return ctx.note(STEP_ID, "integration", label, have["IntegrationId"], "updated")
    made = gw.create_integration(ApiId=api_id, **want)
    return ctx.note(STEP_ID, "integration", label, made["IntegrationId"], "created")


def follow_https_listener(ctx: Context) -> Resource | None:
    """04 calls this once its HTTPS listener exists and before its port 80 turns into a redirect: an
    integration 05 made while the certificate was pending (on port 80) moves to HTTPS first, or every
    request through the API would get the redirect. Nothing when there is no such integration."""
    if ctx.p.entry != "api_gateway" or ctx.dry_run:
        return None
    api_id = _api_id(ctx)
    if missing(api_id) or find_vpc_link(ctx) is None or _link_integration(ctx, api_id) is None:
        return None
    return ensure_integration(ctx)


def ensure_default_route(ctx: Context) -> Resource | None:
    """$default: every method and path goes to the ALB."""
    if ctx.p.entry != "api_gateway":
        return None
    api_id = _api_id(ctx)
    integration = None if missing(api_id) else _link_integration(ctx, api_id)
    if integration is None:
        if not ctx.dry_run:
            raise RuntimeError("the $default route needs the API's integration: run ensure_integration first")
        return would(ctx, "route", "$default")
    gw, target = ctx.client("apigatewayv2"), f"integrations/{integration['IntegrationId']}"
    route = next((r for r in engine._pages(ctx, "apigatewayv2", "get_routes", "Items", ApiId=api_id)
                  if r["RouteKey"] == "$default"), None)
    if route and route.get("Target") == target:
        return ctx.note(STEP_ID, "route", "$default", route["RouteId"], "exists")
    if ctx.dry_run:
        return would(ctx, "route", "$default", "would update" if route else "would create")
    if route:
        gw.update_route(ApiId=api_id, RouteId=route["RouteId"], Target=target)
        return ctx.note(STEP_ID, "route", "$default", route["RouteId"], "updated")
    made = gw.create_route(ApiId=api_id, RouteKey="$default", Target=target)
    return ctx.note(STEP_ID, "route", "$default", made["RouteId"], "created")


def ensure_access_log_group(ctx: Context) -> Resource:
    """Where the stage writes one JSON line per request, kept log_retention_days."""
    name = api_access_log_group(ctx.p)
    if ctx.p.entry != "api_gateway":
        return not_needed(ctx, "log_group", name, "entry=alb")
    rec = engine.ensure(ctx, "log_group", name, step=STEP_ID, create={"logGroupName": name})
    ensure_retention(ctx, rec, STEP_ID)
    return rec


def ensure_default_stage(ctx: Context) -> Resource | None:
    """$default stage, auto-deployed, with access logs to the log group."""
    p = ctx.p
    if p.entry != "api_gateway":
        return None
    api_id = _api_id(ctx)
    group = engine.find_one(ctx, "log_group", api_access_log_group(p))
    if missing(api_id) or group is None:
        if not ctx.dry_run:
            raise RuntimeError("the stage needs the API and its access log group: run ensure_api and "
                               "ensure_access_log_group first")
        return would(ctx, "stage", "$default")
    sid = f"{api_id}/$default"
    logging = {"DestinationArn": group.raw.get("logGroupArn") or group.raw["arn"].removesuffix(":*"),
               "Format": ACCESS_LOG_FORMAT}
    gw = ctx.client("apigatewayv2")
    stage = next((s for s in engine._pages(ctx, "apigatewayv2", "get_stages", "Items", ApiId=api_id)
                  if s["StageName"] == "$default"), None)
    if stage and stage.get("AccessLogSettings", {}).get("DestinationArn") == logging["DestinationArn"] \
            and stage.get("AutoDeploy"):
        return ctx.note(STEP_ID, "stage", "$default", sid, "exists")
    if ctx.dry_run:
        return ctx.note(STEP_ID, "stage", "$default", sid, "would update" if stage else "would create")
    if stage:
        gw.update_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, AccessLogSettings=logging)
        return ctx.note(STEP_ID, "stage", "$default", sid, "updated")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True, AccessLogSettings=logging,
                    Tags=tagging.tag_dict(p, STEP_ID, names.api(p) + "-default"))
    return ctx.note(STEP_ID, "stage", "$default", sid, "created")


# ---- the API's custom domain --------------------------------------------------------------------------
def find_api_domain(ctx: Context) -> dict[str, Any] | None:
    try:
        return ctx.client("apigatewayv2").get_domain_name(DomainName=ctx.p.domain_name)
    except ClientError as e:
        if engine.missing(e):
            return None
        raise


def ensure_api_domain(ctx: Context) -> Resource | None:
    """The API's custom domain (regional, TLS 1.2) with the issued certificate, mapped to the $default
    stage. Waits for the certificate: a domain cannot use one that is not issued yet."""
    p = ctx.p
    if p.entry != "api_gateway":
        return None
    if not p.domain_name:
        return not_needed(ctx, "api_domain", "-", "no domain_name: the API's execute-api endpoint serves")
    found = engine.find_one(ctx, "api_domain", p.domain_name)
    if found is None and not ctx.dry_run:
        from .edge_cert import wait_certificate
        wait_certificate(ctx, needed=True)   # where the certificate is needed: bounded by the cell
    cert = stack_certificate(ctx)
    if found is None and (cert is None or cert.raw["Status"] != "ISSUED"):
        if not ctx.dry_run:
            print(f"API custom domain: the certificate for {p.domain_name} is not issued yet; rerun this step "
                  "once it is.")
        return would(ctx, "api_domain", p.domain_name)
    rec = engine.ensure(ctx, "api_domain", p.domain_name, step=STEP_ID, found=found, lookup=False, create=lambda: {
        "DomainName": p.domain_name, "DomainNameConfigurations": [{
            "CertificateArn": cert.id, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}]})
    api_id = _api_id(ctx)
    if missing(api_id) or engine.is_placeholder(rec.id):
        return rec
    gw = ctx.client("apigatewayv2")
    mappings = gw.get_api_mappings(DomainName=p.domain_name).get("Items", [])
    if not any(m["ApiId"] == api_id and m.get("Stage") == "$default" for m in mappings):
        if not ctx.dry_run:
            gw.create_api_mapping(ApiId=api_id, DomainName=p.domain_name, Stage="$default")
        ctx.note(STEP_ID, "api_mapping", f"{p.domain_name} -> {names.api(p)} $default", api_id,
                 "would create" if ctx.dry_run else "created")
    return rec


def api_domain_alias_target(ctx: Context) -> dict[str, str] | None:
    """Where the alias of domain_name points with entry=api_gateway: the custom domain's regional name."""
    dom = find_api_domain(ctx)
    if dom is None:
        return None
    conf = dom["DomainNameConfigurations"][0]
    if not (conf.get("ApiGatewayDomainName") and conf.get("HostedZoneId")):
        raise RuntimeError(f"API domain {ctx.p.domain_name} has no regional target name yet; rerun in a minute")
    return {"DNSName": conf["ApiGatewayDomainName"], "HostedZoneId": conf["HostedZoneId"]}


def warn_if_alb_public(ctx: Context) -> bool:
    """With entry=api_gateway an internet-facing ALB is a second way in; say so (the check FAILs)."""
    alb = find_alb(ctx)
    if alb is not None and alb["Scheme"] == "internet-facing":
        print(f"WARNING: {names.alb(ctx.p)} is internet-facing, so API Gateway is not the only way in; "
              "04_compute with entry=api_gateway makes it internal (the checks report it).")
        return True
    return False


def ensure_api_gateway(ctx: Context) -> list[Resource]:
    """Everything of the API, in order (nothing with entry=alb)."""
    if ctx.p.entry != "api_gateway":
        return []
    warn_if_alb_public(ctx)
    out = [ensure_vpc_link_sg(ctx), ensure_vpc_link(ctx), ensure_api(ctx), ensure_integration(ctx),
           ensure_default_route(ctx), ensure_access_log_group(ctx), ensure_default_stage(ctx), ensure_api_domain(ctx)]
    close_alb_to_anywhere(ctx)
    return [r for r in out if r is not None]
