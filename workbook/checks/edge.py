"""Checks of 05_edge: the API's name, its certificate, and API Gateway as the only way in.

Frames used: records, certificates, apis (inventory/edge.py); load_balancers (04's
inventory/compute.py) only when `inv.has` it, else the check says what it could not see.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .. import names
from ..params import Params
from . import Finding, check

GROUP = "edge"
EXPIRY_WARNING_DAYS = 30     # ACM.1's default daysToExpiration


def _frame(inv: Any, name: str) -> pd.DataFrame | None:
    return inv.frame(name) if inv.has(name) else None


def _norm(dns: str) -> str:
    return str(dns).lower().rstrip(".").removeprefix("dualstack.")


def _stack_albs(inv: Any, p: Params) -> pd.DataFrame | None:
    lbs = _frame(inv, "load_balancers")
    if lbs is None:
        return None
    return lbs[lbs.get("type", pd.Series("application", index=lbs.index)).fillna("application") == "application"]


@check(id="ARTICLE.DNS_ALIAS", title="The API's domain name is an alias record to the way in",
       severity="medium",
       risk="Users reach the API by an IP address or a generated AWS host name; any change of the load "
            "balancer or API breaks every client that hard-coded it.",
       remediation="Run 05_edge with domain_name set, then 08's cutover: it writes an alias A record to the ALB "
                   "(entry=alb) or to the API's custom domain (entry=api_gateway).",
       group=GROUP)
def dns_alias(inv: Any, p: Params) -> list[Finding]:
    if not p.domain_name:
        return [Finding("(no domain_name)", "NOT_APPLICABLE", "no domain_name: the ALB's own DNS name is the way in")]
    recs = inv.frame("records")
    mine = recs[(recs.name == p.domain_name) & (recs.type == "A")]
    if mine.empty:
        return [Finding(p.domain_name, "NOT_APPLICABLE", "no A record for the name yet: 08's cutover points it at "
                        "the way in once the data has moved (or a rollback removed it)")]
    r = mine.iloc[0]
    if not r.alias:
        return [Finding(p.domain_name, "FAIL", f"A record with fixed addresses {r.target}, not an alias")]
    if p.entry == "api_gateway":
        ok = "execute-api" in r.target
        return [Finding(p.domain_name, "PASS" if ok else "FAIL",
                        f"alias -> {r.target}" + ("" if ok else " (expected the API's custom domain)"))]
    lbs = _stack_albs(inv, p)
    if lbs is None:
        return [Finding(p.domain_name, "FAIL", f"alias -> {r.target}, but no load balancer inventory to compare with")]
    alb = lbs[lbs.name == names.alb(p)]
    if alb.empty:
        return [Finding(p.domain_name, "FAIL", f"alias -> {r.target}, but {names.alb(p)} does not exist")]
    ok = _norm(alb.iloc[0].dns_name) == _norm(r.target)
    return [Finding(p.domain_name, "PASS" if ok else "FAIL",
                    f"alias -> {r.target}" + ("" if ok else f" (the ALB is {alb.iloc[0].dns_name})"))]


@check(id="ARTICLE.TLS_CERTIFICATE", title="The API's certificate is issued and in use", severity="high",
       risk="Without an issued certificate in use, clients talk plain HTTP (readable and changeable on the "
            "way) or get certificate errors.",
       remediation="Run 05_edge (DNS validation through the hosted zone), then 04_compute so the ALB's HTTPS "
                   "listener uses the certificate (or the API custom domain with entry=api_gateway).",
       group=GROUP)
def certificate_in_use(inv: Any, p: Params) -> list[Finding]:
    if not p.domain_name:
        return [Finding("(no domain_name)", "NOT_APPLICABLE", "no domain_name, so no certificate")]
    certs = inv.frame("certificates")
    mine = certs[certs.domain == p.domain_name]
    if mine.empty:
        return [Finding(p.domain_name, "FAIL", "no certificate for the domain in this stack")]
    out = []
    for c in mine.itertuples():
        if c.status != "ISSUED":
            out.append(Finding(c.id, "FAIL", f"status {c.status}"))
        elif not c.in_use:
            out.append(Finding(c.id, "FAIL", "issued but nothing uses it (no HTTPS listener or API domain)"))
        else:
            out.append(Finding(c.id, "PASS", f"issued, used by {len(c.in_use_by)} resource(s)"))
    # One good certificate is enough; a spare pending one is not a failure of the name.
    return out if not any(f.status == "PASS" for f in out) else [f for f in out if f.status == "PASS"]


@check(id="ACM.1", title="Certificates should be renewed at least 30 days before they expire",
       severity="medium",
       risk="An expired certificate takes the API down for every client at once.",
       remediation="Keep the DNS validation CNAME in the zone: ACM then renews DNS-validated certificates "
                   "itself. Replace a certificate that cannot be renewed.",
       group=GROUP)
def certificate_expiry(inv: Any, p: Params) -> list[Finding]:
    certs = inv.frame("certificates")
    if certs.empty:
        return [Finding("(no certificate)", "NOT_APPLICABLE", "the stack has no certificate")]
    now = pd.Timestamp.now(tz="UTC")
    out = []
    for c in certs.itertuples():
        if pd.isna(c.not_after):
            out.append(Finding(c.id, "NOT_APPLICABLE", f"status {c.status}: not issued yet"))
            continue
        days = (pd.Timestamp(c.not_after).tz_convert("UTC") - now).days
        out.append(Finding(c.id, "PASS" if days >= EXPIRY_WARNING_DAYS else "FAIL", f"expires in {days} days"))
    return out


@check(id="ARTICLE.API_GATEWAY_ONLY_WAY_IN", title="API Gateway is the only way in (the ALB is internal)",
       severity="high",
       risk="With an internet-facing ALB next to the API, clients bypass the gateway and with it its "
            "throttling, authorisation and access logs.",
       remediation="Run 04_compute with entry=api_gateway (an internal ALB), then 05_edge (HTTP API with a "
                   "VPC link to it).",
       group=GROUP)
def api_gateway_only_way_in(inv: Any, p: Params) -> list[Finding]:
    if p.entry != "api_gateway":
        return [Finding("(entry=alb)", "NOT_APPLICABLE", "entry=alb: the ALB is meant to be the way in")]
    out = []
    api = inv.frame("apis")
    if api.empty:
        out.append(Finding(names.api(p), "FAIL", "no HTTP API in the stack"))
    for a in api.itertuples():
        out.append(Finding(a.id, "PASS" if a.vpc_link_id else "FAIL",
                           f"integrates through VPC link {a.vpc_link_id}" if a.vpc_link_id
                           else "no VPC link integration: the API does not reach a private ALB"))
    lbs = _stack_albs(inv, p)
    if lbs is None:
        out.append(Finding(names.alb(p), "FAIL", "no load balancer inventory: cannot tell whether the ALB is internal"))
    else:
        for lb in lbs.itertuples():
            internal = lb.scheme == "internal"
            out.append(Finding(f"{lb.name} ({lb.scheme})", "PASS" if internal else "FAIL",
                               "internal: reachable only inside the VPC" if internal
                               else f"internet-facing at {lb.dns_name}: the gateway is not the only way in"))
            if internal:
                out += _alb_groups_admit_only_the_link(inv, lb)
    return out


def _alb_groups_admit_only_the_link(inv: Any, lb: Any) -> list[Finding]:
    """Internal keeps the internet out, not the VPC: with 0.0.0.0/0 on its group, anything in the VPC (or
    routed into it: peering, VPN) reaches the ALB around the gateway."""
    rules = _frame(inv, "sg_rules")
    groups = set(lb.security_groups) if isinstance(lb.security_groups, (list, tuple, set)) else set()
    if rules is None or rules.empty or not groups:
        return []
    mine = rules[rules.group_id.isin(groups) & (rules.direction == "ingress")]
    wide = mine[mine.open_to_internet.astype(bool)]
    name = str(mine.group_name.iloc[0]) if not mine.empty else ", ".join(sorted(groups))
    if wide.empty:
        return [Finding(name, "PASS", "admits only the security groups named in its rules (the VPC link's)")]
    ports = ", ".join(sorted({str(r.from_port) for r in wide.itertuples()}))
    return [Finding(name, "FAIL", f"admits {wide.source.iloc[0]} on {ports}: anything inside the VPC reaches the "
                                  "ALB without the gateway; only the VPC link's group belongs there")]


@check(id="APIGateway.9", title="Access logging should be configured for API Gateway V2 stages",
       severity="medium",
       risk="Without access logs nobody can tell who called what, when an incident or an abuse happens.",
       remediation="Set the $default stage's AccessLogSettings to a CloudWatch log group (05_edge does).",
       group=GROUP)
def api_access_logging(inv: Any, p: Params) -> list[Finding]:
    api = inv.frame("apis")
    if api.empty:
        return [Finding("(no API)", "NOT_APPLICABLE" if p.entry == "alb" else "FAIL",
                        "no HTTP API in the stack")]
    return [Finding(a.id, "PASS" if a.access_log_arn else "FAIL",
                    f"access logs -> {a.access_log_arn}" if a.access_log_arn else "no access logging")
            for a in api.itertuples()]
