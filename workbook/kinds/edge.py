"""Edge kinds: Route 53 hosted zones and records, ACM certificates, API Gateway v2 HTTP APIs, VPC links
and custom domains. Zones and certificates have their tags read per item; API Gateway v2 items carry
theirs. A record cannot carry a tag: every record the stack writes is written down in the stack's
ledger (engine.remember) with the zone, the type and the record it replaced, if any; teardown deletes
exactly those (or puts back what they replaced), never records that merely look like the stack's."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import Kept, Kind, declare, hook

declare(
    Kind("dns_record", "route53", "list_resource_record_sets", "ResourceRecordSets", "RecordId", title="DNS record",
         name_key="RecordId", taggable=False,
         extra_permissions=("route53:ChangeResourceRecordSets", "route53:GetChange")),
    Kind("hosted_zone", "route53", "list_hosted_zones", "HostedZones", "ZoneId", title="hosted zone", name_key="ZoneName",
         create="create_hosted_zone", token="CallerReference", created_key="HostedZone",
         delete="delete_hosted_zone", after=("dns_record", "api_domain"),
         extra_permissions=("route53:ChangeTagsForResource", "route53:ListTagsForResource", "route53:GetHostedZone",
                            "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
                            "route53:GetChange",
                            "route53:ListTagsForResources")),   # the inventory reads zone tags 10 at a time
    Kind("certificate", "acm", "list_certificates", "CertificateSummaryList", "CertificateArn", title="certificate",
         name_key="DomainName", arn_key="CertificateArn", create="request_certificate", create_tags="list:Tags",
         token="IdempotencyToken", delete="delete_certificate", retry_codes=("ResourceInUseException",),
         after=("load_balancer", "api_domain"),
         extra_permissions=("acm:ListTagsForCertificate", "acm:DescribeCertificate", "acm:AddTagsToCertificate")),
    Kind("api_domain", "apigatewayv2", "get_domain_names", "Items", "DomainName", title="API custom domain",
         name_key="DomainName", tags_key="Tags", create="create_domain_name", create_tags="dict:Tags",
         delete="delete_domain_name", after=("dns_record",),
         exists_codes=("ConflictException",)),   # one namespace with REST APIs' custom domains
    Kind("http_api", "apigatewayv2", "get_apis", "Items", "ApiId", title="HTTP API", name_key="Name", tags_key="Tags",
         create="create_api", create_tags="dict:Tags", delete="delete_api", after=("api_domain",)),
    Kind("vpc_link", "apigatewayv2", "get_vpc_links", "Items", "VpcLinkId", title="VPC link", name_key="Name",
         tags_key="Tags", create="create_vpc_link", create_tags="dict:Tags", delete="delete_vpc_link",
         after=("http_api",), lingers=True,
         live_key="VpcLinkStatus", gone_states=("DELETING",)),   # listed for minutes after its delete
)


@hook("hosted_zone", "find")
def _zones(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """Zone ids without the /hostedzone/ prefix, names without the final dot. The user's own zone
    (hosted_zone_id) is never the stack's, whatever its tags say: only the records the stack wrote into
    it are."""
    from ..calls import _pages
    zones = [_bare(z) for z in _pages(ctx, "route53", "list_hosted_zones", "HostedZones")]
    return [z for z in zones if z["ZoneId"] != ctx.p.hosted_zone_id]


def _bare(zone: dict[str, Any]) -> dict[str, Any]:
    return {**zone, "ZoneId": zone["Id"].rsplit("/", 1)[-1], "ZoneName": zone["Name"].rstrip(".")}


@hook("hosted_zone", "created")
def _zone_created(ctx: Any, kind: Kind, raw: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """CreateHostedZone takes no tags and answers the id as /hostedzone/Z...: tag it, give the bare id."""
    zone = _bare(raw)
    ctx.client("route53").change_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone["ZoneId"], AddTags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return zone


@hook("hosted_zone", "tags")
def _zone_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    r = ctx.client("route53").list_tags_for_resource(ResourceType="hostedzone", ResourceId=raw["ZoneId"])
    return r["ResourceTagSet"].get("Tags", [])


@hook("certificate", "tags")
def _certificate_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return ctx.client("acm").list_tags_for_certificate(CertificateArn=raw["CertificateArn"]).get("Tags", [])


def change_and_wait(ctx: Any, zone_id: str, changes: list[dict[str, Any]], what: str) -> None:
    """ChangeResourceRecordSets in batches of 100, each waited for until INSYNC."""
    from .. import progress
    r53 = ctx.client("route53")
    for i in range(0, len(changes), 100):
        change = r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes[i:i + 100]})
        progress.wait_for(r53, "resource_record_sets_changed", what, sleep=ctx.clock.sleep,
                          Id=change["ChangeInfo"]["Id"])


@hook("hosted_zone", "delete")
def _delete_zone(ctx: Any, kind: Kind, it: Any) -> Any:
    """A zone must be empty but for its SOA and NS records to be deleted. The records the stack wrote are
    gone by now (dns_record goes first); any other is someone else's (a user who delegated the zone and
    moved their domain's records into it): the zone is kept with them, and the note says which."""
    from ..calls import _pages
    others = [r for r in _pages(ctx, "route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=it.id)
              if not (r["Type"] in ("SOA", "NS") and r["Name"].rstrip(".") == it.name.rstrip("."))]
    if others:
        shown = ", ".join(f"{record_key(r['Name'])} {r['Type']}" for r in others[:5]) + (" ..." if len(others) > 5 else "")
        return ctx.note(ctx.step or it.step, kind.name, it.name, it.id,
                        f"kept: holds {len(others)} record(s) the workbook did not write ({shown}); delete or move "
                        "them, then run the teardown again")
    ctx.client("route53").delete_hosted_zone(Id=it.id)
    name = it.name.rstrip(".")
    # A delegation left pointing at name servers that no longer hold the zone lets whoever creates a zone of
    # that name on them answer for it (a dangling delegation).
    print(f"hosted zone {name} deleted: remove its delegation: the NS record {name} where "
          f"{name.partition('.')[2] or name} is served (or at the registrar, for a whole domain)")
    return None


# ---- records: found through the stack's ledger -------------------------------------------------------
def record_key(name: str) -> str:
    """A record's name as the workbook compares it: lower case, no final dot."""
    return name.lower().rstrip(".")


def record_id(zone_id: str, name: str, type_: str) -> str:
    """What the ledger keys a record by: `<zone id>/<name>/<type>` (one name may hold several types)."""
    return f"{zone_id}/{record_key(name)}/{type_}"


def _norm(dns: str) -> str:
    """Route 53 answers names lower case with a final dot; an ALB alias target may start 'dualstack.'."""
    return record_key(dns).removeprefix("dualstack.")


def same_record(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """Whether a record as Route 53 answers it is the one written (names and targets normalised)."""
    if "AliasTarget" in want:
        a, b = have.get("AliasTarget", {}), want["AliasTarget"]
        return _norm(a.get("DNSName", "")) == _norm(b["DNSName"]) and a.get("HostedZoneId") == b["HostedZoneId"]
    values = lambda r: sorted(_norm(v["Value"]) for v in r.get("ResourceRecords", []))  # noqa: E731
    return "AliasTarget" not in have and values(have) == values(want)


def record_value(rec: dict[str, Any]) -> str:
    """A record's target in words: the alias's name, or its values."""
    return (rec.get("AliasTarget", {}).get("DNSName", "").rstrip(".")
            or ", ".join(r["Value"] for r in rec.get("ResourceRecords", [])))


@hook("dns_record", "find")
def _records(ctx: Any, kind: Kind, stack: str | None, entries: dict[str, Any] | None = None,
             **kw: Any) -> list[dict[str, Any]]:
    """The records the ledger names, as they are now (one read each); gone ones are not returned."""
    r53, out = ctx.client("route53"), []
    for rid, e in sorted((entries or {}).items()):
        zone, rest = rid.split("/", 1)
        name, type_ = rest.rsplit("/", 1)
        try:
            got = r53.list_resource_record_sets(HostedZoneId=zone, StartRecordName=name, StartRecordType=type_,
                                                MaxItems="1")["ResourceRecordSets"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "NoSuchHostedZone":
                continue
            raise
        rec = next((r for r in got if record_key(r["Name"]) == name and r["Type"] == type_), None)
        if rec or e.get("removed"):   # a record the stack took off is the stack's to put back
            out.append({"RecordId": rid, "Name": name, "Type": type_, "ZoneId": zone, "Record": rec,
                        "Previous": e.get("previous"), "Written": e.get("written"), "Removed": e.get("removed")})
    return out


@hook("dns_record", "delete")
def _delete_record(ctx: Any, kind: Kind, it: Any) -> None:
    """What the stack replaced goes back; a record it added is deleted. A record someone changed since
    the workbook wrote it is theirs now: it stays as they set it, and leaves the ledger."""
    raw, previous = it.raw, it.raw.get("Previous")
    if raw.get("Removed"):   # taken off by the stack: put back, unless someone wrote the name again since
        if raw["Record"] is not None:
            raise Kept(f"written again since the workbook took it off (now {record_value(raw['Record'])}); left as "
                       f"it is", disowned=True)
        change_and_wait(ctx, raw["ZoneId"], [{"Action": "UPSERT", "ResourceRecordSet": previous}],
                        f"{raw['Name']} {raw['Type']} put back")
        return
    if raw.get("Written") and not same_record(raw["Record"], raw["Written"]):
        raise Kept(f"changed since the workbook wrote it (now {record_value(raw['Record'])}); left as it is",
                   disowned=True)
    if previous and previous.get("Type", raw["Type"]) != raw["Type"]:   # a CNAME the record replaced
        changes = [{"Action": "DELETE", "ResourceRecordSet": raw["Record"]},
                   {"Action": "UPSERT", "ResourceRecordSet": previous}]
    elif previous:
        changes = [{"Action": "UPSERT", "ResourceRecordSet": previous}]
    else:
        changes = [{"Action": "DELETE", "ResourceRecordSet": raw["Record"]}]
    change_and_wait(ctx, raw["ZoneId"], changes, f"{raw['Name']} {raw['Type']} "
                    f"{'put back' if previous else 'deleted'}")


@hook("api_domain", "before_delete")
def _delete_api_mappings(ctx: Any, kind: Kind, it: Any) -> None:
    """A custom domain with API mappings is refused (and breaks moto): the mappings go first."""
    gw = ctx.client("apigatewayv2")
    for m in gw.get_api_mappings(DomainName=it.id).get("Items", []):
        gw.delete_api_mapping(ApiMappingId=m["ApiMappingId"], DomainName=it.id)
