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

import time
from typing import Any

import pandas as pd
from botocore.exceptions import WaiterError

from .. import checks, engine, inventory, names, plan_cost, progress, tagging
from ..connect import Context, Resource
from ..kinds.edge import change_and_wait, record_id, record_key, record_value, same_record
from ..params import Params
from . import Step, destroy_kinds, register
from .edge_api import (STEP_ID, api_access_log_group, api_domain_alias_target, close_alb_to_anywhere,  # noqa: F401
                       ensure_access_log_group, ensure_api, ensure_api_domain, ensure_api_gateway, ensure_default_route,
                       ensure_default_stage, ensure_integration, ensure_vpc_link, ensure_vpc_link_sg, find_alb,
                       find_api, find_certificate, find_vpc_link, not_needed, stack_certificate,
                       vpc_link_sg_name, warn_if_alb_public)

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


def certificate_name(p: Params) -> str: return p.name("cert")
def zone_tag_name(p: Params) -> str: return p.name("zone")


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


def intent(p: Params) -> str:
    """What this step does with these parameters, in one paragraph."""
    parts = []
    if p.domain_name:
        parts.append(f"{p.domain_name}: its Route 53 zone "
                     f"({'zone ' + p.hosted_zone_id if p.hosted_zone_id else 'the parent zone, found by name, else created'})"
                     " and an ACM certificate validated by DNS (the name itself is pointed at the way in by 08's "
                     "cutover, after the data has moved)")
    if p.entry == "api_gateway":
        parts.append("an HTTP API (API Gateway) with a VPC link to the internal ALB: the only way in")
    if not parts:
        return ("No domain_name and entry=alb: nothing to do in this step. The way in is the ALB's own DNS name "
                "(and plain HTTP, since a certificate needs a domain).")
    return "This step creates " + "; ".join(parts) + "."


# ---- hosted zone --------------------------------------------------------------------------------
def _zone_reference_prefix(p: Params) -> str:
    return "wb-" + tagging.client_token(p, f"zone/{new_zone_name(p)}")


def _zone_tags(ctx: Context, zone: dict[str, Any]) -> dict[str, str]:
    return engine.tags_of(ctx, engine.K.get("hosted_zone"), zone)


def zone_created_by_stack(ctx: Context, zone_id: str) -> bool:
    t = _zone_tags(ctx, {"ZoneId": zone_id})
    return t.get(tagging.STACK) == ctx.p.stack_name and t.get(tagging.STEP) == STEP_ID


def find_zone(ctx: Context) -> dict[str, Any] | None:
    """hosted_zone_id, else the closest public zone whose name is domain_name or one of its parents;
    with twins of one name (Route 53 allows them), the one tagged with this stack, and none is guessed. The zone's
    description has ZoneId (bare) and ZoneName (no final dot) added."""
    p, r53 = ctx.p, ctx.client("route53")
    if not p.domain_name:
        return None
    if p.hosted_zone_id:
        try:
            z = r53.get_hosted_zone(Id=p.hosted_zone_id)["HostedZone"]
        except r53.exceptions.NoSuchHostedZone:
            raise ValueError(f"hosted_zone_id: zone {p.hosted_zone_id} does not exist in this account") from None
        if z.get("Config", {}).get("PrivateZone"):
            raise ValueError(f"hosted_zone_id: zone {p.hosted_zone_id} is private (resolved only inside its VPCs): ACM "
                             f"cannot validate {p.domain_name} there and clients cannot resolve it; give the public "
                             "zone's id, or leave hosted_zone_id empty to find it by name")
        return {**z, "ZoneId": z["Id"].rsplit("/", 1)[-1], "ZoneName": record_key(z["Name"])}
    zones = [{**z, "ZoneId": z["Id"].rsplit("/", 1)[-1], "ZoneName": record_key(z["Name"])}
             for z in engine._pages(ctx, "route53", "list_hosted_zones", "HostedZones")
             if not z.get("Config", {}).get("PrivateZone")]
    for name in _candidate_zone_names(p.domain_name):
        same = [z for z in zones if z["ZoneName"] == name]
        if same:
            ours = [z for z in same if _zone_tags(ctx, z).get(tagging.STACK) == p.stack_name]
            if len(same) > 1 and not ours:
                # Only the twin the registrar delegates to is seen by ACM and by users: not guessed at
                raise ValueError(f"hosted_zone_id: {len(same)} public zones are named {name} "
                                 f"({', '.join(z['ZoneId'] for z in same)}) and none is this stack's: give the id of "
                                 "the one your registrar delegates to")
            return (ours or same)[0]
    return None


def ensure_hosted_zone(ctx: Context) -> Resource:
    """The public zone that will hold the API's name; created only when none exists (its CallerReference
    comes from the stack and the zone's name, so a retried request cannot make a twin)."""
    p = ctx.p
    if not p.domain_name:
        return not_needed(ctx, "hosted_zone", "-", "no domain_name")
    zone = find_zone(ctx)
    if zone:
        if p.hosted_zone_id and not (p.domain_name == zone["ZoneName"] or p.domain_name.endswith("." + zone["ZoneName"])):
            raise ValueError(f"domain_name: {p.domain_name} is not inside zone {p.hosted_zone_id} ({zone['ZoneName']})")
        # A crash between create and tag leaves our zone untagged: its CallerReference proves it ours.
        if zone.get("CallerReference", "").startswith(_zone_reference_prefix(p)) and not _zone_tags(ctx, zone) \
                and not ctx.dry_run:
            ctx.client("route53").change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone["ZoneId"],
                                                           AddTags=tagging.tags(p, STEP_ID, zone_tag_name(p)))
        return ctx.note(STEP_ID, "hosted_zone", zone["ZoneName"], zone["ZoneId"], "exists", item=zone)
    name = new_zone_name(p)
    create = {"Name": name, "HostedZoneConfig": {
        "Comment": f"{p.stack_name}: public zone for {p.domain_name} (workbook 05_edge)", "PrivateZone": False}}
    # Route 53 refuses a CallerReference used before, even by a zone deleted since (HostedZoneAlreadyExists):
    # a later generation of the zone gets a suffix.
    for generation in range(1, 20):
        ref = f"{_zone_reference_prefix(p)}-{engine.build_id(ctx)}" + (f"-{generation}" if generation > 1 else "")
        try:
            rec = engine.ensure(ctx, "hosted_zone", name, step=STEP_ID, lookup=False, create=create, token=ref,
                                extra_tags={"Name": zone_tag_name(p)})
            break
        except engine.ForeignResource:
            continue
    else:
        raise RuntimeError(f"could not create hosted zone {name}: every CallerReference was used")
    if rec.action == "created":
        ns = ctx.client("route53").get_hosted_zone(Id=rec.id).get("DelegationSet", {}).get("NameServers", [])
        print(f"hosted zone {name} created. Delegate it at your registrar to: {', '.join(ns)} - until then "
              "neither the name nor the certificate's DNS validation resolve.")
        gap = ctx.gap("dns_resolution")
        if gap:
            ctx.say(gap)
    return rec


def _zone_id(ctx: Context) -> str | None:
    """The zone records go into; a placeholder in a dry run before it exists."""
    zone = find_zone(ctx)
    if zone:
        return zone["ZoneId"]
    return engine.placeholder("hosted_zone", new_zone_name(ctx.p)) if ctx.dry_run else None


# ---- records ------------------------------------------------------------------------------------
def find_record(ctx: Context, zone_id: str, name: str, type_: str) -> dict[str, Any] | None:
    out = ctx.client("route53").list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName=name, StartRecordType=type_, MaxItems="1")["ResourceRecordSets"]
    return out[0] if out and record_key(out[0]["Name"]) == record_key(name) and out[0]["Type"] == type_ else None


def ensure_record(ctx: Context, zone_id: str, record: dict[str, Any], what: str) -> Resource:
    """One record set written (UPSERT, waited for until INSYNC). It goes into the stack's ledger before
    the write, with the record it replaces: destroy deletes it, or puts that one back."""
    rid = record_id(zone_id, record["Name"], record["Type"])
    label = f"{record_key(record['Name'])} {record['Type']}"
    have = None if engine.is_placeholder(zone_id) else find_record(ctx, zone_id, record["Name"], record["Type"])
    if have and same_record(have, record):
        return ctx.note(STEP_ID, "dns_record", label, rid, "exists", item=have)
    changes = [{"Action": "UPSERT", "ResourceRecordSet": record}]
    if have is None and record["Type"] != "CNAME" and not engine.is_placeholder(zone_id):
        # A CNAME owns its name (Route 53 refuses any other record beside it): the name's CNAME (a dev
        # host's public name, often) is replaced in the same atomic change, and kept to be put back.
        have = find_record(ctx, zone_id, record["Name"], "CNAME")
        if have:
            changes = [{"Action": "DELETE", "ResourceRecordSet": have}, {"Action": "UPSERT", "ResourceRecordSet": record}]
    if ctx.dry_run or engine.is_placeholder(zone_id):
        return ctx.note(STEP_ID, "dns_record", label, rid, "would update" if have else "would create")
    entry = engine.ledger(ctx).get("dns_record", {}).get(rid)
    if entry is None:
        engine.remember(ctx, "dns_record", rid, STEP_ID, written=record, **({"previous": have} if have else {}))
    elif entry.get("written") != record:   # what it writes now is what a teardown may undo
        engine.remember(ctx, "dns_record", rid, entry.get("step", STEP_ID),
                        **{**{k: v for k, v in entry.items() if k != "step"}, "written": record})
    change_and_wait(ctx, zone_id, changes, what)
    return ctx.note(STEP_ID, "dns_record", label, rid, "updated" if have else "created", item=record)


# ---- certificate --------------------------------------------------------------------------------
def _validation_records(cert: dict[str, Any]) -> list[dict[str, str]]:
    return [o["ResourceRecord"] for o in cert.get("DomainValidationOptions", []) if o.get("ResourceRecord")]


# What ACM's FailureReason asks of the domain's owner (ACM API reference, CertificateDetail).
_FAILURE_ADVICE = {
    "CAA_ERROR": "a CAA record on the domain does not allow Amazon to issue for it: add one with "
                 "0 issue \"amazon.com\" (or remove the CAA records)",
    "DOMAIN_NOT_ALLOWED": "ACM does not issue certificates for this domain",
    "ADDITIONAL_VERIFICATION_REQUIRED": "ACM needs more information about the domain: open a case with AWS Support",
    "INVALID_PUBLIC_DOMAIN": "the name is not a valid public domain",
}
ENDED = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED")


class CertificateFailed(RuntimeError):
    """ACM ended the request: it will never be issued; the owner has to change something first."""


def _failed(cert: dict[str, Any]) -> CertificateFailed:
    reason = cert.get("FailureReason") or cert["Status"]
    return CertificateFailed(
        f"the certificate for {cert.get('DomainName')} is {cert['Status']} ({reason}): "
        f"{_FAILURE_ADVICE.get(reason, 'see ACM troubleshooting for this reason')}. Once that is fixed, rerun this "
        f"step: it requests a new certificate (the failed one goes with the teardown)")


def _ended_certificates(ctx: Context) -> int:
    """How many of the stack's certificates for domain_name ACM has ended (failed, timed out): each one
    moves the request's token on, so a rerun after the owner's fix asks again instead of getting the
    failed one back (ACM answers a token with the same certificate for an hour)."""
    acm = ctx.client("acm")
    return sum(acm.describe_certificate(CertificateArn=it.id)["Certificate"]["Status"] in ENDED
               for it in engine.find(ctx, "certificate", name=ctx.p.domain_name))


def ensure_certificate(ctx: Context) -> Resource:
    """An ACM certificate for domain_name, validated by DNS through a CNAME in the zone, requested and
    not waited for (wait_certificate). The CNAME stays after validation: ACM's managed renewal checks it
    again before the certificate expires."""
    p = ctx.p
    if not p.domain_name:
        return not_needed(ctx, "certificate", "-", "no domain_name")
    rec = engine.ensure(ctx, "certificate", p.domain_name, step=STEP_ID, found=stack_certificate(ctx), lookup=False,
                        token=engine.client_token(ctx, f"cert/{p.domain_name}/{_ended_certificates(ctx)}")[:32],
                        extra_tags={"Name": certificate_name(p)}, create={
                            "DomainName": p.domain_name, "ValidationMethod": "DNS",
                            "Options": {"CertificateTransparencyLoggingPreference": "ENABLED"}})
    if engine.is_placeholder(rec.id):   # a dry run: ACM names the validation record once asked
        ctx.note(STEP_ID, "dns_record", f"(validation CNAME of {p.domain_name})", "", "would create")
        return rec
    acm = ctx.client("acm")
    cert: dict[str, Any] = {}

    def record_ready() -> bool:
        # ACM adds the validation record a few seconds after the request; no waiter exists for that.
        nonlocal cert
        cert = acm.describe_certificate(CertificateArn=rec.id)["Certificate"]
        if cert["Status"] in ENDED:
            raise _failed(cert)
        return bool(_validation_records(cert)) or cert["Status"] == "ISSUED"
    progress.poll(record_ready, "the DNS validation record", delay=3, max_attempts=40, sleep=ctx.clock.sleep)
    zone_id = _zone_id(ctx)
    if zone_id is None:
        raise RuntimeError(f"no hosted zone for {p.domain_name} yet: run ensure_hosted_zone first")
    for r in _validation_records(cert):
        ensure_record(ctx, zone_id, {"Name": r["Name"], "Type": r["Type"], "TTL": 300,
                                     "ResourceRecords": [{"Value": r["Value"]}]}, "the certificate's validation CNAME")
    if cert["Status"] != "ISSUED" and not ctx.dry_run:
        # Not waited for here: ACM goes on in AWS while the rest is built; the HTTPS listener and the API's
        # custom domain wait for it where they need it (wait_certificate, bounded by their cells).
        progress.started(f"DNS validation of the certificate for {p.domain_name}",
                         "2-30 minutes after its validation record exists", "the HTTPS listener needs it")
        if rec.action == "exists":
            rec.action = "pending validation"
    return rec


# ACM validates 2-30 minutes after the record exists, sometimes over an hour (ACM documentation); botocore's
# certificate_validated waiter gives up after 5 (60 s x 5). The workbook waits up to 45 minutes, each
# cell only as long as its time allows: the certificate goes on in AWS and the next wait picks it up.
CERT_WAIT_ATTEMPTS = 45


def _validation_may_still_come(cert: engine.Item | None) -> bool:
    """Within CERT_WAIT_ATTEMPTS minutes of the request (ACM's CreatedAt, wall time): past that, validation
    waits on the user (the zone's delegation at the registrar), not on ACM."""
    created = (cert.raw.get("CreatedAt") if cert is not None else None)
    return created is None or time.time() - created.timestamp() < CERT_WAIT_ATTEMPTS * 60


def wait_certificate(ctx: Context, arn: str | None = None, needed: bool = False) -> bool:
    """Wait (bounded by the cell and by CERT_WAIT_ATTEMPTS minutes) until the stack's certificate is
    ISSUED; True when it is. A certificate still pending says why and who goes on. `needed` (the HTTPS
    listener, the API's custom domain): while validation may still come, a cell that runs out of time
    raises progress.StillWaiting, so the pipeline runs 05 again (`make rehearse` found builds that ended
    without HTTPS and without the API's domain); past that, the step goes on without them and says why."""
    p = ctx.p
    found = stack_certificate(ctx) if arn is None or needed else None
    if arn is None:
        if found is None:
            return False
        arn = found.id
    if found is not None and found.raw["Status"] == "ISSUED":
        return True
    acm = ctx.client("acm")
    then = "a rerun of 05_edge waits for it again (the pipeline runs it again by itself)"

    def issued() -> bool:
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        if cert["Status"] in ENDED:
            raise _failed(cert)
        return cert["Status"] == "ISSUED"

    def wait() -> bool:
        progress.wait_for(acm, "certificate_validated", f"certificate for {p.domain_name}",
                          max_attempts=CERT_WAIT_ATTEMPTS, clock=ctx.clock, CertificateArn=arn, then=then)
        # The waiter ends when every domain's validation status is SUCCESS; ISSUED may follow a moment later.
        progress.poll(issued, f"certificate for {p.domain_name} to be ISSUED", delay=10, max_attempts=30,
                      clock=ctx.clock, then=then)
        return True
    try:
        if needed and _validation_may_still_come(found):
            return wait()
        done = progress.ended_early(wait, then="the HTTPS listener and the API's custom domain wait for it again, "
                                               "or a rerun of 05_edge does")
    except WaiterError:
        issued()   # a certificate ACM failed says so, with its reason
        # Not fatal: a zone not yet delegated keeps the certificate pending; the next run goes on.
        print(f"certificate for {p.domain_name} is still pending: ACM validates once the zone's name servers are "
              "delegated at the registrar (up to 72 h). Rerun this step afterwards.")
        return False
    return done


def start_certificate(ctx: Context) -> list[Resource]:
    """The zone and the certificate, requested and not waited for. ACM's DNS validation takes AWS 2-30
    minutes: 04_compute starts it before it waits for the database's address, so the two waits overlap
    instead of queueing; 05 finds both (and 04 puts an issued certificate on its HTTPS listener)."""
    if not ctx.p.domain_name:
        return []
    return [ensure_hosted_zone(ctx), ensure_certificate(ctx)]


def ensure_https_listener(ctx: Context) -> list[Resource]:
    """The HTTPS listener (and the HTTP->HTTPS redirect) are 04_compute's: its ensure_listeners finds the
    ISSUED certificate itself. Before the certificate is issued or the ALB exists, a rerun of 04 does it."""
    p = ctx.p
    if not p.domain_name:
        return []
    if not ctx.dry_run:
        wait_certificate(ctx, needed=True)   # where the certificate is needed: bounded by the cell
    cert = stack_certificate(ctx)
    if cert is None or cert.raw["Status"] != "ISSUED" or find_alb(ctx) is None:
        if ctx.dry_run:   # the plan: apply requests the certificate first, then adds the listener
            return [ctx.note("04_compute", "listener", f"{names.alb(p)}:443 (HTTPS)", "", "would create"),
                    ctx.note("04_compute", "listener", f"{names.alb(p)}:80 (redirect to HTTPS)", "", "would update")]
        print("HTTPS listener: once the certificate is issued and the ALB exists, rerun 05_edge (or 04_compute) "
              "to add the HTTPS listener and the HTTP->HTTPS redirect.")
        return []
    from .compute import PrerequisiteMissing, ensure_listeners
    try:
        return ensure_listeners(ctx)
    except PrerequisiteMissing as e:   # the target group is not there yet
        print(f"HTTPS listener: {e}; rerun 04_compute.")
        return []


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
    return ensure_record(ctx, zone_id, {"Name": p.domain_name, "Type": "A",
                                        "AliasTarget": {**target, "EvaluateTargetHealth": True}},
                         f"{p.domain_name} -> {target['DNSName']}")


def restore_alias_record(ctx: Context) -> str:
    """The rollback of the cutover's DNS switch: the record the alias replaced put back (or the alias
    deleted when the name had none), the ledger entry forgotten. What it did, in words."""
    p = ctx.p
    if not p.domain_name:
        return "no domain_name: no DNS record was changed"
    mine = [it for it in engine.find(ctx, "dns_record")
            if it.raw["Name"] == record_key(p.domain_name) and it.raw["Type"] == "A"]
    if not mine:
        return f"{p.domain_name}: no record the workbook wrote (nothing to put back)"
    it = mine[0]
    previous = it.raw.get("Previous")
    done = engine.delete(ctx, "dns_record", it, step=STEP_ID)
    if done.action.startswith("kept"):
        return f"{p.domain_name} A: {done.action.removeprefix('kept: ')}, so not rolled back"
    if previous:
        return (f"{p.domain_name} {previous.get('Type', 'A')}: the record it had before the cutover put back "
                f"({record_value(previous)})")
    return f"{p.domain_name} A: the alias the cutover added deleted (the name had no A record before)"


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
