"""Step 05_edge: a DNS name for the API (Route 53), a TLS certificate (ACM), and optionally API Gateway
as the only way in (edge_api.py).

Why (the article, in our words): users should reach the API by a domain name that Route 53 points at
the load balancer, never by an address; and with the servers and the database inside the private
network, API Gateway is the one door to them from the internet.

- With `domain_name`: the hosted zone (hosted_zone_id, else an existing public zone found by name, else
  a new one) and an ACM certificate validated through a CNAME in that zone. The alias A record to the
  way in (the ALB, or the API's custom domain when entry=api_gateway) is written here but called by 08's
  cutover (`ensure_alias_record`), once the data has moved: an existing name keeps pointing where it did
  until then. A record cannot carry a tag: each one the workbook writes is written in the stack's ledger
  first, with the record it replaces, so a rollback (`restore_alias_record`) and destroy delete exactly
  those (or put back what they replaced), whoever owns the zone.
- With `entry="api_gateway"`: edge_api.py (HTTP API, VPC link, integration, route, stage, custom domain).
- Without a domain and with entry=alb there is nothing to do: the ALB's own DNS name is the way in.

The HTTPS listener that uses the certificate is 04_compute's: apply calls its `ensure_listeners`.
"""
from __future__ import annotations

import pandas as pd

from .. import checks, engine, inventory, names, plan_cost
from ..connect import Context, Resource
from ..kinds.edge import record_key, record_value
from ..params import Params
from . import Step, destroy_kinds, register
from .edge_api import (STEP_ID, api_access_log_group, api_domain_alias_target, close_alb_to_anywhere,  # noqa: F401
                       ensure_access_log_group, ensure_api, ensure_api_domain, ensure_api_gateway, ensure_default_route,
                       ensure_default_stage, ensure_integration, ensure_vpc_link, ensure_vpc_link_sg, find_alb,
                       find_api, find_certificate, find_vpc_link, not_needed, stack_certificate,
                       vpc_link_sg_name, warn_if_alb_public)
from .edge_cert import (CERT_WAIT_ATTEMPTS, CertificateFailed, ensure_certificate, ensure_https_listener,  # noqa: F401
                        start_certificate, wait_certificate)
from .edge_dns import (_zone_id, certificate_name, ensure_hosted_zone, ensure_record, find_record,  # noqa: F401
                       find_zone, new_zone_name, remove_record, zone_created_by_stack, zone_tag_name)

STEP = register(Step(
    STEP_ID, "Edge: DNS name, TLS certificate, API Gateway as the way in",
    why=("Users should reach the API by a domain name that Route 53 points at the load balancer, never by an "
         "address; and with the servers and the database inside the private network, API Gateway is the one "
         "door to them from the internet."),
    short="Edge", module="edge",
    kinds=("hosted_zone", "certificate", "dns_record", "security_group", "vpc_link", "http_api", "log_group",
           "api_domain"),
    permissions=(
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags",
        "elasticloadbalancing:DescribeListeners",
        # 04_compute's ensure_listeners, called once the certificate is issued (HTTPS and the redirect)
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:AddTags",
        "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:CreateTags",
        "apigateway:PATCH", "iam:CreateServiceLinkedRole",   # tags on create: apigateway:POST on /tags
        # HTTP API access logs to CloudWatch Logs (API Gateway's log delivery)
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
        "ssm:GetParameter", "ssm:PutParameter", "ssm:AddTagsToResource",   # the stack's ledger (DNS records)
    ),
))


def intent(p: Params) -> str:
    """What this step does with these parameters, in one paragraph."""
    parts = []
    if p.domain_name:
        parts.append(f"{p.domain_name}: its Route 53 zone "
                     f"({'zone ' + p.hosted_zone_id if p.hosted_zone_id else 'a zone found by name, else one for the name itself'})"
                     " and an ACM certificate validated by DNS (the name itself is pointed at the way in by 08's "
                     "cutover, after the data has moved)")
    if p.entry == "api_gateway":
        parts.append("an HTTP API (API Gateway) with a VPC link to the internal ALB: the only way in")
    if not parts:
        return ("No domain_name and entry=alb: nothing to do in this step. The way in is the ALB's own DNS name "
                "(and plain HTTP, since a certificate needs a domain).")
    return "This step creates " + "; ".join(parts) + "."


# ---- the name of the way in -----------------------------------------------------------------------
def entry_alias_target(ctx: Context) -> dict[str, str] | None:
    """Where the name points: the ALB (entry=alb) or the API's custom domain (entry=api_gateway)."""
    if ctx.p.entry == "api_gateway":
        return api_domain_alias_target(ctx)
    alb = find_alb(ctx)
    if alb is None:
        return None
    return {"DNSName": alb["DNSName"], "HostedZoneId": alb["CanonicalHostedZoneId"]}


def ensure_alias_record(ctx: Context) -> Resource:
    """An alias A record domain_name -> the way in (a record pointing elsewhere is moved, and put back
    by destroy)."""
    p = ctx.p
    if not p.domain_name:
        return not_needed(ctx, "dns_record", "-", "no domain_name: the ALB's own DNS name is the way in")
    zone_id = _zone_id(ctx)
    target = entry_alias_target(ctx)
    if target is None or zone_id is None:
        if not ctx.dry_run:
            print(f"alias record: the {'API custom domain' if p.entry == 'api_gateway' else 'load balancer'} "
                  "or the zone does not exist yet; rerun this step after 04_compute.")
        return ctx.note(STEP_ID, "dns_record", f"{p.domain_name} A", "(waits for the way in)", "would create")
    switched = ensure_record(ctx, zone_id, {"Name": p.domain_name, "Type": "A",
                                            "AliasTarget": {**target, "EvaluateTargetHealth": True}},
                             f"{p.domain_name} -> {target['DNSName']}")
    # The way in (an IPv4 ALB, a regional API domain) has no IPv6 address to alias: an AAAA the name had
    # would keep IPv6 clients on the dev host, writing where production no longer reads.
    remove_record(ctx, zone_id, p.domain_name, "AAAA", "the way in has no IPv6 address")
    return switched


def restore_alias_record(ctx: Context) -> str:
    """The rollback of the cutover's DNS switch: the record the alias replaced put back (or the alias
    deleted when the name had none), the ledger entry forgotten. What it did, in words."""
    p = ctx.p
    if not p.domain_name:
        return "no domain_name: no DNS record was changed"
    mine = {it.raw["Type"]: it for it in engine.find(ctx, "dns_record") if it.raw["Name"] == record_key(p.domain_name)}
    if "A" not in mine:
        return f"{p.domain_name}: no record the workbook wrote (nothing to put back)"
    return "; ".join(_put_back(ctx, mine[t]) for t in ("A", "AAAA") if t in mine)


def _put_back(ctx: Context, it: engine.Item) -> str:
    """One record of the cutover undone, in words."""
    name, type_, previous = ctx.p.domain_name, it.raw["Type"], it.raw.get("Previous")
    done = engine.delete(ctx, "dns_record", it, step=STEP_ID)
    if done.action.startswith("kept"):
        return f"{name} {type_}: {done.action.removeprefix('kept: ')}, so not rolled back"
    if previous:
        return (f"{name} {previous.get('Type', type_)}: the record it had before the cutover put back "
                f"({record_value(previous)})")
    return f"{name} {type_}: the alias the cutover added deleted (the name had no {type_} record before)"


# ---- the step -----------------------------------------------------------------------------------
def the_way_in(ctx: Context) -> str:
    """One sentence: how users reach the API after this step."""
    p = ctx.p
    alb = find_alb(ctx)
    if p.entry == "api_gateway":
        api = find_api(ctx)
        host = api["ApiEndpoint"] if api else "(the API once created)"
        return f"API Gateway: {'https://' + p.domain_name if p.domain_name else host}"
    if p.domain_name:
        return f"https://{p.domain_name} -> {alb['DNSName'] if alb else names.alb(p)}"
    return f"http://{alb['DNSName']}" if alb else f"the ALB {names.alb(p)} once 04_compute has run"


def apply(ctx: Context) -> pd.DataFrame:
    """Zone, certificate, HTTPS listener, the API (entry=api_gateway), the alias; what these parameters
    do not call for is left out."""
    print(intent(ctx.p))
    mark = len(ctx.resources)
    ensure_hosted_zone(ctx)
    ensure_certificate(ctx)
    ensure_https_listener(ctx)
    ensure_api_gateway(ctx)
    if ctx.p.domain_name:   # DNS moves clients: only at the cutover (08), when the data is there
        print(f"{ctx.p.domain_name} is not pointed at the way in yet: 08's cutover does it once the data has moved "
              "(the record it replaces is kept, and put back by a rollback or a teardown).")
    print("The way in: " + the_way_in(ctx))
    df = ctx.resources_frame(mark)
    return df[~df.action.str.startswith("not needed")].reset_index(drop=True)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def verify(ctx: Context) -> pd.DataFrame:
    return checks.run(inventory.Inventory(ctx, ctx.p.stack_name), ctx.p, groups=["edge"])


def _in_use(it: engine.Item) -> str:
    """A certificate the ALB's HTTPS listener (04_compute) still uses stays until 04 is destroyed."""
    if it.kind == "certificate" and it.raw.get("InUse"):
        return "kept: in use by the ALB (destroy 04_compute, then rerun)"
    return ""


def destroy(ctx: Context) -> pd.DataFrame:
    """What this step made, in the kinds' deletion order: the records it wrote (or what they replaced put
    back), the API's custom domain, API, VPC link and its group (with the ALB group's rule that names it),
    access logs, the certificate, the zone when this stack created it. Safe to run twice."""
    return destroy_kinds(ctx, STEP, keep=_in_use)
