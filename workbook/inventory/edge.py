"""Edge frames: hosted_zones, records, certificates, apis, vpc_links.

- `hosted_zones` (id = zone id without /hostedzone/): domain, private, record_count.
  With a stack: only zones tagged with it (a zone the stack merely uses is not the stack's).
- `records`: zone_id, type, target (alias DNS name, or the values joined by ","), alias (bool),
  alias_zone_id. With a stack: every record of the stack's zones, plus the records the stack wrote
  into zones it does not own, as its ledger names them (a record carries no tag; a name that looks
  like the stack's proves nothing).
- `certificates` (id = ARN): domain, status, in_use (bool), in_use_by (list), not_after, type.
- `apis` (id = api id): protocol, endpoint, vpc_link_id (of its VPC_LINK integration or ""),
  integration_uri, access_log_arn (of the $default stage or ""), execute_api_disabled (bool).
- `vpc_links` (id = vpc link id): subnets (list), security_groups (list), status.
API Gateway resources are listed directly: the tagging API does not return them in the sandbox.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .. import engine
from ..connect import Context
from ..tagging import STACK, as_dict
from . import BASE_COLUMNS, fetcher, tag_columns

COLUMNS: dict[str, list[str]] = {
    "hosted_zones": ["domain", "private", "record_count"],
    "records": ["zone_id", "type", "target", "alias", "alias_zone_id"],
    "certificates": ["domain", "status", "in_use", "in_use_by", "not_after", "type"],
    "apis": ["protocol", "endpoint", "vpc_link_id", "integration_uri", "access_log_arn", "execute_api_disabled"],
    "vpc_links": ["subnets", "security_groups", "status"],
}


def _frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=BASE_COLUMNS + COLUMNS[kind])


def _norm(dns: str) -> str:
    return dns.lower().rstrip(".")


def _all_zones(ctx: Context) -> list[tuple[dict[str, Any], dict[str, str]]]:
    r53 = ctx.client("route53")
    zones = [z for page in r53.get_paginator("list_hosted_zones").paginate() for z in page["HostedZones"]]
    out = []
    for i in range(0, len(zones), 10):  # ListTagsForResources takes up to 10 ids
        chunk = zones[i:i + 10]
        ids = [z["Id"].rsplit("/", 1)[-1] for z in chunk]
        if not ids:
            continue
        sets = r53.list_tags_for_resources(ResourceType="hostedzone", ResourceIds=ids)["ResourceTagSets"]
        by_id = {s["ResourceId"]: as_dict(s.get("Tags")) for s in sets}
        out += [(z, by_id.get(zid, {})) for z, zid in zip(chunk, ids)]
    return out


@fetcher("hosted_zones")
def hosted_zones(ctx: Context, stack: str | None) -> pd.DataFrame:
    rows = [{"id": z["Id"].rsplit("/", 1)[-1], **tag_columns(t), "domain": _norm(z["Name"]),
             "private": bool(z.get("Config", {}).get("PrivateZone")), "record_count": z.get("ResourceRecordSetCount", 0)}
            for z, t in _all_zones(ctx) if stack is None or t.get(STACK) == stack]
    return _frame("hosted_zones", rows)


def _record_row(zone_id: str, r: dict[str, Any], stack: str, step: str) -> dict[str, Any]:
    alias = r.get("AliasTarget")
    target = _norm(alias["DNSName"]) if alias else ",".join(v["Value"] for v in r.get("ResourceRecords", []))
    return {"id": f"{zone_id}/{_norm(r['Name'])}/{r['Type']}", "name": _norm(r["Name"]), "stack": stack,
            "step": step, "tags": {}, "zone_id": zone_id, "type": r["Type"], "target": target,
            "alias": bool(alias), "alias_zone_id": alias["HostedZoneId"] if alias else ""}


@fetcher("records")
def records(ctx: Context, stack: str | None) -> pd.DataFrame:
    r53 = ctx.client("route53")
    rows = []
    whole = {}   # zone id -> the stack tag of a zone listed in full
    for z, t in _all_zones(ctx):
        if stack is None or t.get(STACK) == stack:
            whole[z["Id"].rsplit("/", 1)[-1]] = (t.get(STACK, ""), t.get("workbook:step", ""))
    for zid, (zone_stack, step) in whole.items():
        pages = r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zid)
        rows += [_record_row(zid, r, zone_stack, step) for page in pages for r in page["ResourceRecordSets"]]
    if stack:
        rows += [_record_row(it.raw["ZoneId"], it.raw["Record"], stack, it.step)
                 for it in engine.find(ctx, "dns_record", stack=stack) if it.raw["ZoneId"] not in whole]
    return _frame("records", rows)


@fetcher("certificates")
def certificates(ctx: Context, stack: str | None) -> pd.DataFrame:
    acm = ctx.client("acm")
    rows = []
    for page in acm.get_paginator("list_certificates").paginate():
        for c in page["CertificateSummaryList"]:
            arn = c["CertificateArn"]
            tags = as_dict(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags"))
            if stack is not None and tags.get(STACK) != stack:
                continue
            d = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            rows.append({"id": arn, **tag_columns(tags), "domain": d["DomainName"], "status": d["Status"],
                         "in_use": bool(d.get("InUseBy")), "in_use_by": list(d.get("InUseBy", [])),
                         "not_after": pd.Timestamp(d["NotAfter"]) if d.get("NotAfter") else pd.NaT,
                         "type": d.get("Type", "")})
    return _frame("certificates", rows)


@fetcher("apis")
def apis(ctx: Context, stack: str | None) -> pd.DataFrame:
    gw = ctx.client("apigatewayv2")
    rows = []
    for page in gw.get_paginator("get_apis").paginate():
        for a in page["Items"]:
            tags = a.get("Tags", {})
            if stack is not None and tags.get(STACK) != stack:
                continue
            integrations = [i for p in gw.get_paginator("get_integrations").paginate(ApiId=a["ApiId"]) for i in p["Items"]]
            linked = [i for i in integrations if i.get("ConnectionType") == "VPC_LINK"]
            stages = [s for p in gw.get_paginator("get_stages").paginate(ApiId=a["ApiId"]) for s in p["Items"]]
            default = next((s for s in stages if s["StageName"] == "$default"), stages[0] if stages else {})
            rows.append({"id": a["ApiId"], **tag_columns(tags), "protocol": a.get("ProtocolType", ""),
                         "endpoint": a.get("ApiEndpoint", ""),
                         "vpc_link_id": linked[0].get("ConnectionId", "") if linked else "",
                         "integration_uri": (linked or integrations or [{}])[0].get("IntegrationUri", ""),
                         "access_log_arn": default.get("AccessLogSettings", {}).get("DestinationArn", ""),
                         "execute_api_disabled": bool(a.get("DisableExecuteApiEndpoint"))})
    return _frame("apis", rows)


@fetcher("vpc_links")
def vpc_links(ctx: Context, stack: str | None) -> pd.DataFrame:
    gw, rows, token = ctx.client("apigatewayv2"), [], None
    while True:  # GetVpcLinks has no botocore paginator
        page = gw.get_vpc_links(**({"NextToken": token} if token else {}))
        for v in page.get("Items", []):
            tags = v.get("Tags", {})
            if stack is None or tags.get(STACK) == stack:
                rows.append({"id": v["VpcLinkId"], **tag_columns(tags), "subnets": list(v.get("SubnetIds", [])),
                             "security_groups": list(v.get("SecurityGroupIds", [])),
                             "status": v.get("VpcLinkStatus", "")})
        token = page.get("NextToken")
        if not token:
            return _frame("vpc_links", rows)
