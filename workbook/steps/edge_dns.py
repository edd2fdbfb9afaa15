"""05_edge's DNS: the hosted zone (the user's, an existing public one found by name, or one the stack
creates) and the records the workbook writes into it. A record cannot carry a tag: each one is written
in the stack's ledger before the write, with the record it replaces and the record written, so a rollback
and the teardown undo exactly those, and leave a record its owner has changed since."""
from __future__ import annotations

from typing import Any

from .. import engine, tagging
from ..connect import Context, Resource
from ..kinds.edge import change_and_wait, record_id, record_key, same_record
from ..params import Params
from .edge_api import STEP_ID, not_needed


def certificate_name(p: Params) -> str: return p.name("cert")
def zone_tag_name(p: Params) -> str: return p.name("zone")


def _candidate_zone_names(domain: str) -> list[str]:
    """api.eu.example.com -> [api.eu.example.com, eu.example.com, example.com] (never the TLD)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(0, len(labels) - 1)]


def new_zone_name(p: Params) -> str:
    """The zone created when the account has none for the name: the name's own (api.example.com), which
    the parent's owner delegates with four NS records wherever the parent is served. A zone for the parent
    (example.com) would have to be delegated at the registrar, moving every name of the domain (www, mail)
    into a near-empty zone: the workbook never asks for that. An apex name (example.com) has no other way."""
    return p.domain_name


def is_apex(p: Params) -> bool:
    """domain_name is a registrable name itself (example.com, example.co.uk): only a registrar delegates it."""
    labels = p.domain_name.split(".")
    return len(labels) <= 2 or (len(labels) == 3 and len(labels[-1]) == 2
                                and labels[-2] in ("co", "com", "org", "net", "ac", "gov"))


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
        parent = name.partition(".")[2]
        print(f"hosted zone {name} created. " + (
            f"Delegate it at your registrar to: {', '.join(ns)}. If {name} is served elsewhere today, copy its "
            f"records into this zone first: delegation moves every name under it." if is_apex(p) else
            f"Delegate it where {parent} is served (that zone's DNS provider, or its Route 53 zone in another "
            f"account): an NS record {name} -> {', '.join(ns)}. Nothing else of {parent} changes.")
              + " Until then neither the name nor the certificate's DNS validation resolve.")
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


def remove_record(ctx: Context, zone_id: str, name: str, type_: str, why: str) -> Resource | None:
    """A record of the name that would keep sending clients elsewhere is taken off (a dev host's AAAA
    when the way in has no IPv6 address): kept in the ledger first, so a rollback or the teardown puts
    it back. None when the name has no such record (and the workbook never took one)."""
    rid, label = record_id(zone_id, name, type_), f"{record_key(name)} {type_}"
    have = None if engine.is_placeholder(zone_id) else find_record(ctx, zone_id, name, type_)
    if have is None:
        return None
    if ctx.dry_run:
        return ctx.note(STEP_ID, "dns_record", label, rid, "would delete")
    if rid not in engine.ledger(ctx).get("dns_record", {}):
        engine.remember(ctx, "dns_record", rid, STEP_ID, previous=have, removed=True)
    change_and_wait(ctx, zone_id, [{"Action": "DELETE", "ResourceRecordSet": have}], f"{label} taken off ({why})")
    return ctx.note(STEP_ID, "dns_record", label, rid, "deleted", item=have)
