"""05_edge: a DNS name for the API (Route 53), a TLS certificate (ACM), and optionally API Gateway as
the only way in.

- With `domain_name`: the hosted zone (p.hosted_zone_id, else an existing public zone found by name,
  else a new one), an ACM certificate validated through a CNAME in that zone, and an alias A record
  to the way in (the ALB, or the API's custom domain when entry=api_gateway).
- With `entry="api_gateway"`: an HTTP API with a VPC link into the app subnets, an HTTP_PROXY
  integration to the ALB's listener, a `$default` route and an auto-deployed `$default` stage with
  access logs. The ALB must then be internal, else the gateway is not the only way in.
- Without a domain and with entry=alb there is nothing to do: the ALB's own DNS name is the way in.

The HTTPS listener that uses the certificate is 04_compute's; apply calls compute's
`ensure_listeners` when that module has it, else tells the reader to rerun 04.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError, WaiterError

from .. import names, progress, tagging
from ..connect import Context, Resource
from ..params import Params
from . import Step, created, exists, frame, is_placeholder, register, would_create

STEP = "05_edge"
STEP_INFO = register(Step(
    id=STEP,
    title="Edge: DNS name, TLS certificate, API Gateway as the way in",
    why=("Amazon Route 53 routes users to the Application Load Balancer, so API users talk to the API "
         "by a domain name and not by an IP address. The servers and the database sit in a VPC and can "
         "only be reached from the internet through the API Gateway."),
    permissions=(
        "route53:ListHostedZones", "route53:GetHostedZone", "route53:CreateHostedZone",
        "route53:DeleteHostedZone", "route53:ChangeTagsForResource", "route53:ListTagsForResource",
        "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:GetChange",
        "acm:RequestCertificate", "acm:DescribeCertificate", "acm:ListCertificates",
        "acm:ListTagsForCertificate", "acm:DeleteCertificate",
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeListeners",
        "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
        "ec2:DescribeSecurityGroupRules", "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup",
        "ec2:CreateTags", "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress",
        "apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE", "apigateway:TagResource",
        "logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "logs:DeleteLogGroup",
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "iam:CreateServiceLinkedRole",
    ),
))

# Names 05 needs that workbook/names.py does not have (built locally, as the brief asks).
def vpc_link_sg_name(p: Params) -> str: return p.name("vpclink-sg")
def api_access_log_group(p: Params) -> str: return p.name("api-access-logs")
def certificate_name(p: Params) -> str: return p.name("cert")
def zone_tag_name(p: Params) -> str: return p.name("zone")

# Route 53's alias hosted zone id for API Gateway regional endpoints, per region (AWS docs, "Amazon
# API Gateway endpoints and quotas"); used only when moto leaves HostedZoneId out (sandbox).
APIGW_REGIONAL_ZONES = {
    "us-east-1": "Z1UJRXOUMOOFQ8", "us-east-2": "ZOJJZC49E0EPZ", "us-west-1": "Z2MUQ32089INYE",
    "us-west-2": "Z2OJLYMUO9EFXC", "ca-central-1": "Z19DQILCV0OWEC", "eu-west-1": "ZLY8HYME6SFDD",
    "eu-west-2": "ZJ5UAJN8Y3Z2Q", "eu-west-3": "Z3KY65QIEKYHQQ", "eu-central-1": "Z1U9ULNL0V5AJ3",
    "eu-north-1": "Z3UWIKFBOOGXPP", "eu-south-1": "Z3BT4WSQ9TDYZV", "ap-south-1": "Z3VO1THU9YC4UR",
    "ap-southeast-1": "ZL327KTPIQFUL", "ap-southeast-2": "Z2RPCDW04V8134", "ap-northeast-1": "Z1YSHQZHG15GKL",
    "ap-northeast-2": "Z20JF4UZKIW1U8", "sa-east-1": "ZCMLWB8V5SYIT",
}
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
    "method": "$context.httpMethod", "path": "$context.path", "status": "$context.status",
    "latencyMs": "$context.responseLatency", "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
})
VPC_LINK_POLL_DELAY_S = 10
VPC_LINK_POLL_ATTEMPTS = 60       # Terraform waits up to 10 minutes for a VPC link (AWS-FACTS.md)


# ---- small helpers ------------------------------------------------------------------------------

def _norm(dns: str) -> str:
    """Route 53 returns names lowercase with a trailing dot; ALB alias targets may be 'dualstack.'."""
    dns = dns.lower().rstrip(".")
    return dns.removeprefix("dualstack.")


def _error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def _zone_id(raw: str) -> str:
    return raw.rsplit("/", 1)[-1]


def _candidate_zone_names(domain: str) -> list[str]:
    """api.eu.example.com -> [api.eu.example.com, eu.example.com, example.com] (never the TLD)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(0, len(labels) - 1)]


def new_zone_name(p: Params) -> str:
    """The zone created when none exists: the parent of domain_name (api.example.com -> example.com),
    or domain_name itself when it is already a registrable name (example.com, example.co.uk)."""
    labels = p.domain_name.split(".")
    if len(labels) <= 2 or (len(labels) == 3 and len(labels[-1]) == 2 and labels[-2] in ("co", "com", "org", "net", "ac", "gov")):
        return p.domain_name
    return ".".join(labels[1:])


def find_alb(ctx: Context, p: Params) -> dict[str, Any] | None:
    """04_compute's load balancer (names.alb), or None when 04 has not run."""
    try:
        lbs = ctx.client("elbv2").describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"]
    except ClientError as e:
        if _error_code(e) in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
            return None
        raise
    return lbs[0] if lbs else None


def alb_listeners(ctx: Context, alb_arn: str) -> list[dict[str, Any]]:
    pages = ctx.client("elbv2").get_paginator("describe_listeners").paginate(LoadBalancerArn=alb_arn)
    return [l for page in pages for l in page["Listeners"]]


def _forwarding_listener(ctx: Context, alb_arn: str) -> dict[str, Any] | None:
    """The listener the API integrates with: HTTPS when 04 has one, else the forwarding HTTP one."""
    listeners = alb_listeners(ctx, alb_arn)
    https = [l for l in listeners if l["Protocol"] == "HTTPS"]
    forwarding = [l for l in listeners if any(a["Type"] == "forward" for a in l.get("DefaultActions", []))]
    return (https or forwarding or listeners or [None])[0]


def not_needed(ctx: Context, type_: str, name: str, why: str) -> Resource:
    """A resource these parameters do not call for (no domain_name, or entry=alb)."""
    return ctx.note(STEP, type_, name, "", f"not needed: {why}")


def skipped(r: Resource | None) -> bool:
    return r is None or r.action.startswith("not needed")


def intent(p: Params) -> str:
    """What this step does with these parameters, in one paragraph."""
    parts = []
    if p.domain_name:
        parts.append(f"{p.domain_name}: a Route 53 alias record in "
                     f"{'zone ' + p.hosted_zone_id if p.hosted_zone_id else 'its parent zone (found by name, else created)'}"
                     " and an ACM certificate validated by DNS")
    if p.entry == "api_gateway":
        parts.append("an HTTP API (API Gateway) with a VPC link to the internal ALB: the only way in")
    if not parts:
        return ("No domain_name and entry=alb: nothing to do in this step. The way in is the ALB's own DNS name "
                "(and plain HTTP, since a certificate needs a domain).")
    return "This step creates " + "; ".join(parts) + "."


# ---- hosted zone --------------------------------------------------------------------------------

def _zone_tags(ctx: Context, zone_id: str) -> dict[str, str]:
    tags = ctx.client("route53").list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
    return tagging.as_dict(tags["ResourceTagSet"].get("Tags"))


def zone_created_by_stack(ctx: Context, p: Params, zone_id: str) -> bool:
    t = _zone_tags(ctx, zone_id)
    return t.get(tagging.STACK) == p.stack_name and t.get(tagging.STEP) == STEP


def find_zone(ctx: Context, p: Params) -> dict[str, Any] | None:
    """p.hosted_zone_id, else the closest public zone whose name is domain_name or one of its
    parents; with twins of one name (Route 53 allows them), the one tagged with this stack wins."""
    r53 = ctx.client("route53")
    if p.hosted_zone_id:
        try:
            return r53.get_hosted_zone(Id=p.hosted_zone_id)["HostedZone"]
        except ClientError as e:
            if _error_code(e) == "NoSuchHostedZone":
                raise ValueError(f"hosted_zone_id: zone {p.hosted_zone_id} does not exist in this account") from None
            raise
    zones = [z for page in r53.get_paginator("list_hosted_zones").paginate() for z in page["HostedZones"]
             if not z.get("Config", {}).get("PrivateZone")]
    for name in _candidate_zone_names(p.domain_name):
        same = [z for z in zones if _norm(z["Name"]) == name]
        if same:
            ours = [z for z in same if zone_created_by_stack(ctx, p, _zone_id(z["Id"]))]
            return (ours or same)[0]
    return None


def ensure_hosted_zone(ctx: Context, p: Params) -> Resource:
    """The public zone that will hold the API's name; created only when none exists."""
    if not p.domain_name:
        return not_needed(ctx, "hosted zone", "-", "no domain_name")
    r53 = ctx.client("route53")
    zone = find_zone(ctx, p)
    if zone:
        if p.hosted_zone_id and not (p.domain_name == _norm(zone["Name"]) or p.domain_name.endswith("." + _norm(zone["Name"]))):
            raise ValueError(f"domain_name: {p.domain_name} is not inside zone {p.hosted_zone_id} ({_norm(zone['Name'])})")
        zid = _zone_id(zone["Id"])
        # A crash between create and tag leaves our zone untagged: its CallerReference proves it ours.
        if zone.get("CallerReference", "").startswith(_zone_reference_prefix(p)) and not _zone_tags(ctx, zid):
            _tag_zone(ctx, p, zid)
        return exists(ctx, STEP, "hosted zone", _norm(zone["Name"]), zid)
    name = new_zone_name(p)
    if p.dry_run:
        return would_create(ctx, STEP, "hosted zone", name)
    # CallerReference from stack + zone name: a retried request cannot make a twin. Route 53 refuses
    # a reference used before (even by a zone since deleted), so a later generation gets a suffix.
    for generation in range(1, 20):
        ref = _zone_reference_prefix(p) + (f"-{generation}" if generation > 1 else "")
        try:
            zone = r53.create_hosted_zone(Name=name, CallerReference=ref, HostedZoneConfig={
                "Comment": f"{p.stack_name}: public zone for {p.domain_name} (workbook 05_edge)",
                "PrivateZone": False})["HostedZone"]
            break
        except ClientError as e:
            if _error_code(e) != "HostedZoneAlreadyExists":
                raise
    else:
        raise RuntimeError(f"could not create hosted zone {name}: every CallerReference was used")
    zid = _zone_id(zone["Id"])
    _tag_zone(ctx, p, zid)
    ns = r53.get_hosted_zone(Id=zid).get("DelegationSet", {}).get("NameServers", [])
    if ctx.sandbox:
        print(f"hosted zone {name} created; in the sandbox nothing resolves it (no delegation is needed).")
    else:
        print(f"hosted zone {name} created. Delegate it at your registrar to: {', '.join(ns)} "
              "- until then neither the name nor the certificate's DNS validation resolve.")
    return created(ctx, STEP, "hosted zone", name, zid)


def _zone_reference_prefix(p: Params) -> str:
    return "wb-" + tagging.client_token(p, f"zone/{new_zone_name(p)}")


def _tag_zone(ctx: Context, p: Params, zone_id: str) -> None:
    ctx.client("route53").change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id, AddTags=tagging.tags(p, STEP, zone_tag_name(p)))


def change_records(ctx: Context, zone_id: str, changes: list[dict[str, Any]], what: str) -> str:
    """One change batch, waited for until INSYNC (resource_record_sets_changed)."""
    r53 = ctx.client("route53")
    change = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={
        "Comment": f"workbook 05_edge: {what}", "Changes": changes})["ChangeInfo"]
    progress.wait_for(r53, "resource_record_sets_changed", what, Id=change["Id"])
    return change["Id"]


def list_records(ctx: Context, zone_id: str) -> list[dict[str, Any]]:
    pages = ctx.client("route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [r for page in pages for r in page["ResourceRecordSets"]]


def find_record(ctx: Context, zone_id: str, name: str, type_: str) -> dict[str, Any] | None:
    out = ctx.client("route53").list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=type_, MaxItems="1")["ResourceRecordSets"]
    return out[0] if out and _norm(out[0]["Name"]) == _norm(name) and out[0]["Type"] == type_ else None


# ---- certificate --------------------------------------------------------------------------------

def find_certificate(ctx: Context, p: Params) -> dict[str, Any] | None:
    """This stack's certificate for domain_name (describe_certificate's record), newest first;
    failed, expired and revoked ones are skipped. 04_compute can call this for its HTTPS listener."""
    if not p.domain_name:
        return None
    acm = ctx.client("acm")
    found = []
    for page in acm.get_paginator("list_certificates").paginate(
            CertificateStatuses=["PENDING_VALIDATION", "ISSUED", "INACTIVE"]):
        for c in page["CertificateSummaryList"]:
            if c["DomainName"] != p.domain_name:
                continue
            t = tagging.as_dict(acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"]).get("Tags"))
            if t.get(tagging.STACK) == p.stack_name:
                found.append(acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"])
    found.sort(key=lambda c: (c["Status"] == "ISSUED", c.get("CreatedAt") or 0), reverse=True)
    return found[0] if found else None


def _validation_records(cert: dict[str, Any]) -> list[dict[str, str]]:
    return [o["ResourceRecord"] for o in cert.get("DomainValidationOptions", []) if o.get("ResourceRecord")]


def ensure_certificate(ctx: Context, p: Params, zone: Resource) -> Resource:
    """An ACM certificate for domain_name, validated by DNS through a CNAME in the zone."""
    if skipped(zone):
        return not_needed(ctx, "certificate", "-", "no domain_name")
    acm = ctx.client("acm")
    cert = find_certificate(ctx, p)
    if cert is None:
        if p.dry_run:
            return would_create(ctx, STEP, "certificate", p.domain_name)
        arn = acm.request_certificate(
            DomainName=p.domain_name, ValidationMethod="DNS",
            # IdempotencyToken: \w{1,32}; a retry within an hour returns the same certificate.
            IdempotencyToken=tagging.client_token(p, f"cert/{p.domain_name}")[:32],
            Options={"CertificateTransparencyLoggingPreference": "ENABLED"},
            Tags=tagging.tags(p, STEP, certificate_name(p)))["CertificateArn"]
        action = "created"
    else:
        arn, action = cert["CertificateArn"], "exists"
    # ACM fills in the validation record a few seconds after the request; there is no waiter for that.
    records: list[dict[str, str]] = []

    def record_ready() -> bool:
        nonlocal cert, records
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        records = _validation_records(cert)
        return bool(records) or cert["Status"] == "ISSUED"
    progress.poll(record_ready, "the DNS validation record", delay=3, max_attempts=40)
    assert cert is not None
    if is_placeholder(zone.id):
        return ctx.note(STEP, "certificate", p.domain_name, arn, action)
    # The CNAME stays after validation too: ACM's managed renewal checks it again before expiry.
    missing = [r for r in records if find_record(ctx, zone.id, r["Name"], r["Type"]) is None]
    if missing and p.dry_run:
        ctx.note(STEP, "dns record", f"{missing[0]['Name']} CNAME", "(validation)", "would create")
    elif missing:
        change_records(ctx, zone.id, [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": r["Name"], "Type": r["Type"], "TTL": 300, "ResourceRecords": [{"Value": r["Value"]}]}}
            for r in missing], "the certificate's validation CNAME")
    if cert["Status"] != "ISSUED" and not p.dry_run:
        try:
            progress.wait_for(acm, "certificate_validated", f"certificate for {p.domain_name}", CertificateArn=arn)
        except WaiterError:
            # Not fatal: a zone not yet delegated keeps the certificate pending; the next run goes on.
            print(f"certificate for {p.domain_name} is still {cert['Status']}: ACM validates once the zone's "
                  "name servers are delegated at the registrar (up to 72 h). Rerun this step afterwards.")
            return ctx.note(STEP, "certificate", p.domain_name, arn, "pending validation")
    return ctx.note(STEP, "certificate", p.domain_name, arn, action)


def ensure_https_listener(ctx: Context, p: Params, cert: Resource) -> list[Resource]:
    """The HTTPS listener (and HTTP->HTTPS redirect) are 04_compute's: call its ensure_listeners
    (it finds the ISSUED certificate itself) when that function exists, else say that a rerun of 04
    picks up the certificate."""
    if skipped(cert):
        return []
    if cert.action in ("would create", "pending validation") or find_alb(ctx, p) is None:
        print("HTTPS listener: once the certificate is issued and the ALB exists, rerun 04_compute "
              "to add the HTTPS listener and the HTTP->HTTPS redirect.")
        return []
    try:
        from . import compute
    except ImportError:
        compute = None  # type: ignore[assignment]
    fn = getattr(compute, "ensure_listeners", None) if compute else None
    if fn is None:
        print("HTTPS listener: rerun 04_compute; it finds the certificate and upgrades the listeners.")
        return []
    try:
        out = fn(ctx, p)
    except RuntimeError as e:  # compute's PrerequisiteMissing: the target group is not there yet
        print(f"HTTPS listener: {e}; rerun 04_compute.")
        return []
    return list(out) if isinstance(out, list) else [out]


# ---- API Gateway (entry=api_gateway) ------------------------------------------------------------

def _find_sg(ctx: Context, p: Params, group_name: str) -> dict[str, Any] | None:
    sgs = ctx.client("ec2").describe_security_groups(
        Filters=[*tagging.ec2_filters(p), {"Name": "group-name", "Values": [group_name]}])["SecurityGroups"]
    return sgs[0] if sgs else None


def _app_subnets(ctx: Context, p: Params) -> list[dict[str, Any]]:
    pages = ctx.client("ec2").get_paginator("describe_subnets").paginate(
        Filters=[*tagging.ec2_filters(p), {"Name": f"tag:{names.TIER}", "Values": ["app"]}])
    return sorted((s for page in pages for s in page["Subnets"]), key=lambda s: s["AvailabilityZone"])


def ensure_vpc_link_sg(ctx: Context, p: Params) -> Resource:
    """The VPC link's own security group: egress only to the ALB's group on 80/443, and the ALB's
    group lets it in on those ports (rules tagged 05_edge, so destroy removes exactly these)."""
    if p.entry != "api_gateway":
        return not_needed(ctx, "security group", vpc_link_sg_name(p), "entry=alb")
    ec2 = ctx.client("ec2")
    alb_sg = _find_sg(ctx, p, names.alb_sg(p))
    vpcs = ec2.describe_vpcs(Filters=tagging.ec2_filters(p, name=names.vpc(p)))["Vpcs"]
    if (not vpcs or alb_sg is None) and p.dry_run:
        return would_create(ctx, STEP, "security group", vpc_link_sg_name(p))
    if not vpcs or alb_sg is None:
        raise RuntimeError("entry=api_gateway needs the VPC and the ALB's security group: run 02_network "
                           "(and 04_compute) first")
    name = vpc_link_sg_name(p)
    sg = _find_sg(ctx, p, name)
    if sg is None:
        if p.dry_run:
            return would_create(ctx, STEP, "security group", name)
        sg_id = ec2.create_security_group(
            GroupName=name, Description="API Gateway VPC link to the ALB", VpcId=vpcs[0]["VpcId"],
            TagSpecifications=tagging.tag_spec("security-group", p, STEP, name))["GroupId"]
        # The default allow-all egress goes; only the ALB's listener ports stay reachable.
        ec2.revoke_security_group_egress(GroupId=sg_id, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        action = "created"
    else:
        sg_id, action = sg["GroupId"], "exists"
    _ensure_sg_rule(ctx, p, sg_id, alb_sg["GroupId"], egress=True)
    _ensure_sg_rule(ctx, p, alb_sg["GroupId"], sg_id, egress=False)
    return ctx.note(STEP, "security group", name, sg_id, action)


def _ensure_sg_rule(ctx: Context, p: Params, group_id: str, peer_id: str, *, egress: bool) -> None:
    ec2 = ctx.client("ec2")
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": [group_id]}])
    have = {r["FromPort"] for page in pages for r in page["SecurityGroupRules"]
            if r["IsEgress"] == egress and r.get("ReferencedGroupInfo", {}).get("GroupId") == peer_id}
    want = [port for port in (80, 443) if port not in have]
    if not want:
        return
    perms = [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
              "UserIdGroupPairs": [{"GroupId": peer_id, "Description": "API Gateway VPC link <-> ALB"}]} for port in want]
    spec = tagging.tag_spec("security-group-rule", p, STEP, vpc_link_sg_name(p))
    if egress:
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=perms, TagSpecifications=spec)
    else:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms, TagSpecifications=spec)


def _vpc_links(ctx: Context) -> list[dict[str, Any]]:
    """apigatewayv2 has no paginator for GetVpcLinks: follow NextToken ourselves."""
    api, items, token = ctx.client("apigatewayv2"), [], None
    while True:
        page = api.get_vpc_links(**({"NextToken": token} if token else {}))
        items += page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return items


def find_vpc_link(ctx: Context, p: Params) -> dict[str, Any] | None:
    # By exact name: the tagging API does not list API Gateway resources in the sandbox.
    return next((v for v in _vpc_links(ctx) if v["Name"] == names.vpc_link(p)
                 and v.get("Tags", {}).get(tagging.STACK) == p.stack_name), None)


def ensure_vpc_link(ctx: Context, p: Params, sg: Resource) -> Resource:
    """A VPC link (V2) with an ENI in each private app subnet, so the API reaches an internal ALB."""
    name = names.vpc_link(p)
    if skipped(sg):
        return not_needed(ctx, "vpc link", name, "entry=alb")
    link = find_vpc_link(ctx, p)
    if link is None:
        if p.dry_run or is_placeholder(sg.id):
            return would_create(ctx, STEP, "vpc link", name)
        subnets = _app_subnets(ctx, p)
        if not subnets:
            raise RuntimeError("no subnets tagged workbook:tier=app in this stack: run 02_network first")
        link = ctx.client("apigatewayv2").create_vpc_link(
            Name=name, SubnetIds=[s["SubnetId"] for s in subnets], SecurityGroupIds=[sg.id],
            Tags=tagging.tag_dict(p, STEP, name))
        action = "created"
    else:
        action = "exists"
    link_id = link["VpcLinkId"]
    if link.get("VpcLinkStatus") != "AVAILABLE":
        api = ctx.client("apigatewayv2")

        def available() -> bool:
            status = api.get_vpc_link(VpcLinkId=link_id)["VpcLinkStatus"]
            if status in ("FAILED", "DELETING", "INACTIVE"):
                raise RuntimeError(f"VPC link {link_id} is {status}")
            return status == "AVAILABLE"
        # No botocore waiter exists for VPC links: poll with the same progress bar.
        progress.poll(available, f"VPC link {name}", delay=VPC_LINK_POLL_DELAY_S, max_attempts=VPC_LINK_POLL_ATTEMPTS)
    return ctx.note(STEP, "vpc link", name, link_id, action)


def find_api(ctx: Context, p: Params) -> dict[str, Any] | None:
    pages = ctx.client("apigatewayv2").get_paginator("get_apis").paginate()
    return next((a for page in pages for a in page["Items"] if a["Name"] == names.api(p)
                 and a.get("Tags", {}).get(tagging.STACK) == p.stack_name), None)


def ensure_api(ctx: Context, p: Params) -> Resource:
    """The HTTP API that becomes the one way in."""
    name = names.api(p)
    if p.entry != "api_gateway":
        return not_needed(ctx, "http api", name, "entry=alb")
    api = find_api(ctx, p)
    if api:
        return exists(ctx, STEP, "http api", name, api["ApiId"])
    if p.dry_run:
        return would_create(ctx, STEP, "http api", name)
    api = ctx.client("apigatewayv2").create_api(
        Name=name, ProtocolType="HTTP", Description=f"{p.stack_name}: the only way in (workbook 05_edge)",
        Tags=tagging.tag_dict(p, STEP, name))
    return created(ctx, STEP, "http api", name, api["ApiId"])


def ensure_integration(ctx: Context, p: Params, api: Resource, link: Resource) -> Resource:
    """HTTP_PROXY through the VPC link to the ALB's listener (HTTPS when 04 has one); an
    integration that still points at an older listener is updated."""
    if skipped(api) or skipped(link):
        return not_needed(ctx, "integration", "-", "entry=alb")
    if is_placeholder(api.id) or is_placeholder(link.id):
        return would_create(ctx, STEP, "integration", f"{names.api(p)} -> {names.alb(p)}")
    alb = find_alb(ctx, p)
    listener = _forwarding_listener(ctx, alb["LoadBalancerArn"]) if alb else None
    if listener is None and p.dry_run:
        return would_create(ctx, STEP, "integration", f"{names.api(p)} -> {names.alb(p)}")
    if alb is None:
        raise RuntimeError(f"no load balancer {names.alb(p)}: run 04_compute first")
    if listener is None:
        raise RuntimeError(f"{names.alb(p)} has no listener yet: run 04_compute first")
    gw = ctx.client("apigatewayv2")
    want: dict[str, Any] = {"IntegrationType": "HTTP_PROXY", "IntegrationMethod": "ANY",
                            "IntegrationUri": listener["ListenerArn"], "ConnectionType": "VPC_LINK",
                            "ConnectionId": link.id, "PayloadFormatVersion": "1.0"}
    if listener["Protocol"] == "HTTPS" and p.domain_name:
        want["TlsConfig"] = {"ServerNameToVerify": p.domain_name}
    have = [i for page in gw.get_paginator("get_integrations").paginate(ApiId=api.id) for i in page["Items"]
            if i.get("ConnectionType") == "VPC_LINK"]
    label = f"{names.api(p)} -> {names.alb(p)}:{listener['Port']}"
    if have:
        i = have[0]
        if i.get("IntegrationUri") == want["IntegrationUri"] and i.get("ConnectionId") == link.id:
            return exists(ctx, STEP, "integration", label, i["IntegrationId"])
        if p.dry_run:
            return ctx.note(STEP, "integration", label, i["IntegrationId"], "would update")
        gw.update_integration(ApiId=api.id, IntegrationId=i["IntegrationId"], **want)
        return ctx.note(STEP, "integration", label, i["IntegrationId"], "updated")
    if p.dry_run:
        return would_create(ctx, STEP, "integration", label)
    i = gw.create_integration(ApiId=api.id, **want)
    return created(ctx, STEP, "integration", label, i["IntegrationId"])


def ensure_default_route(ctx: Context, p: Params, api: Resource, integration: Resource) -> Resource:
    """$default: every method and path goes to the ALB."""
    if skipped(api) or skipped(integration):
        return not_needed(ctx, "route", "$default", "entry=alb")
    if is_placeholder(api.id) or is_placeholder(integration.id):
        return would_create(ctx, STEP, "route", "$default")
    gw = ctx.client("apigatewayv2")
    target = f"integrations/{integration.id}"
    route = next((r for page in gw.get_paginator("get_routes").paginate(ApiId=api.id) for r in page["Items"]
                  if r["RouteKey"] == "$default"), None)
    if route and route.get("Target") == target:
        return exists(ctx, STEP, "route", "$default", route["RouteId"])
    if p.dry_run:
        return would_create(ctx, STEP, "route", "$default")
    if route:
        gw.update_route(ApiId=api.id, RouteId=route["RouteId"], Target=target)
        return ctx.note(STEP, "route", "$default", route["RouteId"], "updated")
    route = gw.create_route(ApiId=api.id, RouteKey="$default", Target=target)
    return created(ctx, STEP, "route", "$default", route["RouteId"])


def ensure_access_log_group(ctx: Context, p: Params) -> Resource:
    """Where the stage writes one JSON line per request (retention = log_retention_days)."""
    name = api_access_log_group(p)
    if p.entry != "api_gateway":
        return not_needed(ctx, "log group", name, "entry=alb")
    logs = ctx.client("logs")
    found = [g for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
             for g in page["logGroups"] if g["logGroupName"] == name]
    if found:
        if found[0].get("retentionInDays") != p.log_retention_days and not p.dry_run:
            logs.put_retention_policy(logGroupName=name, retentionInDays=p.log_retention_days)
        return exists(ctx, STEP, "log group", name, found[0]["arn"].removesuffix(":*"))
    if p.dry_run:
        return would_create(ctx, STEP, "log group", name)
    logs.create_log_group(logGroupName=name, tags=tagging.tag_dict(p, STEP, name))
    logs.put_retention_policy(logGroupName=name, retentionInDays=p.log_retention_days)
    arn = f"arn:aws:logs:{p.region}:{ctx.account_id}:log-group:{name}"
    return created(ctx, STEP, "log group", name, arn)


def ensure_default_stage(ctx: Context, p: Params, api: Resource, log_group: Resource) -> Resource:
    """$default stage, auto-deployed, with access logs to the log group."""
    if skipped(api) or skipped(log_group):
        return not_needed(ctx, "stage", "$default", "entry=alb")
    if is_placeholder(api.id) or is_placeholder(log_group.id):
        return would_create(ctx, STEP, "stage", "$default")
    gw = ctx.client("apigatewayv2")
    logging = {"DestinationArn": log_group.id, "Format": ACCESS_LOG_FORMAT}
    stage = next((s for page in gw.get_paginator("get_stages").paginate(ApiId=api.id) for s in page["Items"]
                  if s["StageName"] == "$default"), None)
    if stage:
        if stage.get("AccessLogSettings", {}).get("DestinationArn") == log_group.id and stage.get("AutoDeploy"):
            return exists(ctx, STEP, "stage", "$default", f"{api.id}/$default")
        if p.dry_run:
            return ctx.note(STEP, "stage", "$default", f"{api.id}/$default", "would update")
        gw.update_stage(ApiId=api.id, StageName="$default", AutoDeploy=True, AccessLogSettings=logging)
        return ctx.note(STEP, "stage", "$default", f"{api.id}/$default", "updated")
    if p.dry_run:
        return would_create(ctx, STEP, "stage", "$default")
    gw.create_stage(ApiId=api.id, StageName="$default", AutoDeploy=True, AccessLogSettings=logging,
                    Tags=tagging.tag_dict(p, STEP, names.api(p) + "-default"))
    return created(ctx, STEP, "stage", "$default", f"{api.id}/$default")


def find_api_domain(ctx: Context, p: Params) -> dict[str, Any] | None:
    try:
        return ctx.client("apigatewayv2").get_domain_name(DomainName=p.domain_name)
    except ClientError as e:
        if _error_code(e) == "NotFoundException":
            return None
        raise


def ensure_api_domain(ctx: Context, p: Params, api: Resource, cert: Resource) -> Resource:
    """The API's custom domain (regional, TLS 1.2) mapped to its $default stage."""
    if skipped(api) or skipped(cert):
        return not_needed(ctx, "api domain", p.domain_name or "-", "entry=alb" if skipped(api) else "no domain_name")
    gw = ctx.client("apigatewayv2")
    dom = find_api_domain(ctx, p)
    if dom is None:
        if p.dry_run or is_placeholder(cert.id) or cert.action == "pending validation":
            return would_create(ctx, STEP, "api domain", p.domain_name)
        dom = gw.create_domain_name(DomainName=p.domain_name, DomainNameConfigurations=[{
            "CertificateArn": cert.id, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}],
            Tags=tagging.tag_dict(p, STEP, p.domain_name))
        action = "created"
    else:
        action = "exists"
    if not is_placeholder(api.id) and not p.dry_run:
        mappings = gw.get_api_mappings(DomainName=p.domain_name).get("Items", [])
        if not any(m["ApiId"] == api.id and m.get("Stage") == "$default" for m in mappings):
            gw.create_api_mapping(ApiId=api.id, DomainName=p.domain_name, Stage="$default")
    return ctx.note(STEP, "api domain", p.domain_name, dom.get("DomainNameArn", p.domain_name), action)


def api_domain_alias_target(ctx: Context, p: Params) -> dict[str, str] | None:
    dom = find_api_domain(ctx, p)
    if dom is None:
        return None
    conf = dom["DomainNameConfigurations"][0]
    if conf.get("ApiGatewayDomainName") and conf.get("HostedZoneId"):
        return {"DNSName": conf["ApiGatewayDomainName"], "HostedZoneId": conf["HostedZoneId"]}
    if ctx.sandbox:
        ctx.workaround("moto's API custom domain has no ApiGatewayDomainName/HostedZoneId; the alias "
                       "points at the API's execute-api host and the regional API Gateway zone instead")
        api = find_api(ctx, p)
        host = api["ApiEndpoint"].split("//", 1)[-1] if api else f"{p.domain_name}.execute-api"
        return {"DNSName": host, "HostedZoneId": APIGW_REGIONAL_ZONES.get(p.region, "Z1UJRXOUMOOFQ8")}
    raise RuntimeError(f"API domain {p.domain_name} has no regional target name yet; rerun in a minute")


# ---- DNS name of the way in ---------------------------------------------------------------------

def entry_alias_target(ctx: Context, p: Params) -> dict[str, str] | None:
    """Where the name points: the ALB (entry=alb) or the API's custom domain (entry=api_gateway)."""
    if p.entry == "api_gateway":
        return api_domain_alias_target(ctx, p)
    alb = find_alb(ctx, p)
    if alb is None:
        return None
    return {"DNSName": alb["DNSName"], "HostedZoneId": alb["CanonicalHostedZoneId"]}


def ensure_alias_record(ctx: Context, p: Params, zone: Resource) -> Resource:
    """An alias A record domain_name -> the way in (UPSERT: a record pointing elsewhere is moved)."""
    if skipped(zone):
        return not_needed(ctx, "dns record", "-", "no domain_name: the ALB's own DNS name is the way in")
    label = f"{p.domain_name} A (alias)"
    target = None if is_placeholder(zone.id) else entry_alias_target(ctx, p)
    if target is None:
        if not is_placeholder(zone.id) and not p.dry_run:
            print(f"alias record: the {'API custom domain' if p.entry == 'api_gateway' else 'load balancer'} "
                  "does not exist yet; rerun this step after 04_compute.")
        return ctx.note(STEP, "dns record", label, "(waits for the way in)", "would create")
    have = find_record(ctx, zone.id, p.domain_name, "A")
    if have and _norm(have.get("AliasTarget", {}).get("DNSName", "")) == _norm(target["DNSName"]):
        return exists(ctx, STEP, "dns record", label, f"{zone.id}/{p.domain_name}/A")
    if p.dry_run:
        return ctx.note(STEP, "dns record", label, f"{zone.id}/{p.domain_name}/A",
                        "would update" if have else "would create")
    change_records(ctx, zone.id, [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": p.domain_name, "Type": "A",
        "AliasTarget": {**target, "EvaluateTargetHealth": True}}}], f"{p.domain_name} -> {target['DNSName']}")
    return ctx.note(STEP, "dns record", label, f"{zone.id}/{p.domain_name}/A", "updated" if have else "created")


# ---- the step -----------------------------------------------------------------------------------

def the_way_in(ctx: Context, p: Params) -> str:
    """One sentence: how users reach the API after this step."""
    alb = find_alb(ctx, p)
    if p.entry == "api_gateway":
        api = find_api(ctx, p)
        host = api["ApiEndpoint"] if api else "(the API once created)"
        return f"API Gateway: {'https://' + p.domain_name if p.domain_name else host}"
    if p.domain_name:
        return f"https://{p.domain_name} -> {alb['DNSName'] if alb else names.alb(p)}"
    return f"http://{alb['DNSName']}" if alb else f"the ALB {names.alb(p)} once 04_compute has run"


def apply(ctx: Context, p: Params) -> pd.DataFrame:
    """Every resource in order; what these parameters do not call for is listed as "not needed"."""
    print(intent(p))
    zone = ensure_hosted_zone(ctx, p)
    cert = ensure_certificate(ctx, p, zone)
    records = [zone, cert, *ensure_https_listener(ctx, p, cert)]
    if p.entry == "api_gateway":
        warn_if_alb_public(ctx, p)
    sg = ensure_vpc_link_sg(ctx, p)
    link = ensure_vpc_link(ctx, p, sg)
    api = ensure_api(ctx, p)
    integ = ensure_integration(ctx, p, api, link)
    route = ensure_default_route(ctx, p, api, integ)
    logs = ensure_access_log_group(ctx, p)
    stage = ensure_default_stage(ctx, p, api, logs)
    domain = ensure_api_domain(ctx, p, api, cert)
    alias = ensure_alias_record(ctx, p, zone)
    records += [sg, link, api, integ, route, logs, stage, domain, alias]
    print("The way in: " + the_way_in(ctx, p))
    return frame([r for r in records if not skipped(r)])


def warn_if_alb_public(ctx: Context, p: Params) -> bool:
    """With entry=api_gateway an internet-facing ALB is a second way in; say so (the check FAILs)."""
    alb = find_alb(ctx, p)
    if alb is not None and alb["Scheme"] == "internet-facing":
        print(f"WARNING: {names.alb(p)} is internet-facing, so API Gateway is not the only way in; "
              "04_compute with entry=api_gateway makes it internal (the checks report it).")
        return True
    return False


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return apply(ctx, p.replace(dry_run=True))


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    from .. import checks, inventory
    return checks.run(inventory.Inventory(ctx, p.stack_name), p, groups=["edge"])


def _delete_records(ctx: Context, zone_id: str, records: list[dict[str, Any]], what: str) -> None:
    if records:
        change_records(ctx, zone_id, [{"Action": "DELETE", "ResourceRecordSet": r} for r in records], what)


def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """API domain, API, VPC link and its group, access logs; the alias and validation records; the
    certificate; the zone only when this stack created it. Safe to run twice."""
    out: list[Resource] = []
    gw, ec2, logs, acm = (ctx.client(s) for s in ("apigatewayv2", "ec2", "logs", "acm"))
    dom = find_api_domain(ctx, p) if p.domain_name else None
    if dom and dom.get("Tags", {}).get(tagging.STACK) == p.stack_name:
        # Mappings first: a domain name with mappings is refused on AWS (and breaks moto).
        for m in gw.get_api_mappings(DomainName=p.domain_name).get("Items", []):
            gw.delete_api_mapping(ApiMappingId=m["ApiMappingId"], DomainName=p.domain_name)
        gw.delete_domain_name(DomainName=p.domain_name)
        out.append(ctx.note(STEP, "api domain", p.domain_name, p.domain_name, "deleted"))
    api = find_api(ctx, p)
    if api:
        gw.delete_api(ApiId=api["ApiId"])  # takes its integrations, routes and stages with it
        out.append(ctx.note(STEP, "http api", api["Name"], api["ApiId"], "deleted"))
    link = find_vpc_link(ctx, p)
    if link:
        gw.delete_vpc_link(VpcLinkId=link["VpcLinkId"])
        out.append(ctx.note(STEP, "vpc link", link["Name"], link["VpcLinkId"], "deleted"))
    sg = _find_sg(ctx, p, vpc_link_sg_name(p))
    if sg:
        # Our rule in the ALB's group goes first, else the group cannot be deleted (it is referenced).
        pages = ec2.get_paginator("describe_security_group_rules").paginate(
            Filters=[{"Name": f"tag:{tagging.STEP}", "Values": [STEP]}, {"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}])
        for r in (r for page in pages for r in page["SecurityGroupRules"] if r["GroupId"] != sg["GroupId"]):
            if r["IsEgress"]:
                ec2.revoke_security_group_egress(GroupId=r["GroupId"], SecurityGroupRuleIds=[r["SecurityGroupRuleId"]])
            else:
                ec2.revoke_security_group_ingress(GroupId=r["GroupId"], SecurityGroupRuleIds=[r["SecurityGroupRuleId"]])
        try:
            ec2.delete_security_group(GroupId=sg["GroupId"])
            out.append(ctx.note(STEP, "security group", sg["GroupName"], sg["GroupId"], "deleted"))
        except ClientError as e:
            if _error_code(e) != "DependencyViolation":
                raise
            # The VPC link's ENIs go a little after the link: a rerun finishes the job.
            out.append(ctx.note(STEP, "security group", sg["GroupName"], sg["GroupId"], "in use: rerun destroy"))
    name = api_access_log_group(p)
    if any(g["logGroupName"] == name for page in logs.get_paginator("describe_log_groups").paginate(
            logGroupNamePrefix=name) for g in page["logGroups"]):
        logs.delete_log_group(logGroupName=name)
        out.append(ctx.note(STEP, "log group", name, name, "deleted"))
    if p.domain_name:
        zone = find_zone(ctx, p)
        cert = find_certificate(ctx, p)
        if zone:
            zid = _zone_id(zone["Id"])
            ours = zone_created_by_stack(ctx, p, zid)
            apex = _norm(zone["Name"])
            recs = list_records(ctx, zid)
            if ours:  # our zone: everything but its own SOA and NS goes, then the zone
                doomed = [r for r in recs if not (_norm(r["Name"]) == apex and r["Type"] in ("SOA", "NS"))]
            else:     # someone else's zone: only what we wrote (the alias and ACM validation CNAMEs)
                doomed = [r for r in recs if (_norm(r["Name"]) == p.domain_name and r["Type"] == "A"
                                              and "AliasTarget" in r) or
                          (r["Type"] == "CNAME" and _norm(r["Name"]).startswith("_")
                           and _norm(r["Name"]).endswith("." + p.domain_name)
                           and any(_norm(v["Value"]).endswith("acm-validations.aws") for v in r.get("ResourceRecords", [])))]
            _delete_records(ctx, zid, doomed, f"remove {len(doomed)} record(s) of {p.stack_name}")
            out += [ctx.note(STEP, "dns record", f"{_norm(r['Name'])} {r['Type']}", zid, "deleted") for r in doomed]
            if ours:
                ctx.client("route53").delete_hosted_zone(Id=zid)
                out.append(ctx.note(STEP, "hosted zone", apex, zid, "deleted"))
        if cert:
            try:
                acm.delete_certificate(CertificateArn=cert["CertificateArn"])
                out.append(ctx.note(STEP, "certificate", p.domain_name, cert["CertificateArn"], "deleted"))
            except ClientError as e:
                if _error_code(e) != "ResourceInUseException":
                    raise
                # The ALB's HTTPS listener (04_compute) still uses it: destroy 04, then run this again.
                out.append(ctx.note(STEP, "certificate", p.domain_name, cert["CertificateArn"],
                                    "in use by the ALB: destroy 04_compute, then rerun"))
    return frame(out)
