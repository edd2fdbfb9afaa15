"""Edge kinds: Route 53 hosted zones and records, ACM certificates, API Gateway v2 HTTP APIs, VPC links
and custom domains. Zones and certificates have their tags read per item; API Gateway v2 items carry
theirs. A record cannot carry a tag: the ones the stack wrote into a zone it does not own are found
through the stack's ledger (see engine)."""
from __future__ import annotations

from typing import Any

from . import Kind, declare, hook

declare(
    Kind("dns_record", "route53", "list_resource_record_sets", "ResourceRecordSets", "Name", title="DNS record",
         name_key="Name", taggable=False,
         extra_permissions=("route53:ChangeResourceRecordSets", "route53:GetChange")),
    Kind("hosted_zone", "route53", "list_hosted_zones", "HostedZones", "ZoneId", title="hosted zone", name_key="Name",
         create="create_hosted_zone", token="CallerReference", created_key="HostedZone",
         delete="delete_hosted_zone", after=("dns_record", "api_domain"),
         extra_permissions=("route53:ChangeTagsForResource", "route53:ListTagsForResource", "route53:GetHostedZone",
                            "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
                            "route53:GetChange")),
    Kind("certificate", "acm", "list_certificates", "CertificateSummaryList", "CertificateArn", title="certificate",
         name_key="DomainName", arn_key="CertificateArn", create="request_certificate", create_tags="list:Tags",
         token="IdempotencyToken", delete="delete_certificate", retry_codes=("ResourceInUseException",),
         after=("load_balancer", "api_domain"),
         extra_permissions=("acm:ListTagsForCertificate", "acm:DescribeCertificate", "acm:AddTagsToCertificate")),
    Kind("api_domain", "apigatewayv2", "get_domain_names", "Items", "DomainName", title="API custom domain",
         name_key="DomainName", tags_key="Tags", create="create_domain_name", create_tags="dict:Tags",
         delete="delete_domain_name", after=("dns_record",)),
    Kind("http_api", "apigatewayv2", "get_apis", "Items", "ApiId", title="HTTP API", name_key="Name", tags_key="Tags",
         create="create_api", create_tags="dict:Tags", delete="delete_api", after=("api_domain",)),
    Kind("vpc_link", "apigatewayv2", "get_vpc_links", "Items", "VpcLinkId", title="VPC link", name_key="Name",
         tags_key="Tags", create="create_vpc_link", create_tags="dict:Tags", delete="delete_vpc_link",
         after=("http_api",)),
)


@hook("hosted_zone", "find")
def _zones(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """Zone ids without the /hostedzone/ prefix. The user's own zone (hosted_zone_id) is never the
    stack's, whatever its tags say: only the records the stack wrote into it are."""
    from ..engine import _pages
    zones = [{**z, "ZoneId": z["Id"].rsplit("/", 1)[-1]} for z in _pages(ctx, "route53", "list_hosted_zones",
                                                                           "HostedZones")]
    return [z for z in zones if z["ZoneId"] != ctx.p.hosted_zone_id]


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
def _delete_zone(ctx: Any, kind: Kind, it: Any) -> None:
    """A zone must be empty but for its SOA and NS records."""
    from ..engine import _pages
    changes = [{"Action": "DELETE", "ResourceRecordSet": r}
               for r in _pages(ctx, "route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=it.id)
               if not (r["Type"] in ("SOA", "NS") and r["Name"].rstrip(".") == it.name.rstrip("."))]
    if changes:
        change_and_wait(ctx, it.id, changes, f"records of zone {it.name} deleted")
    ctx.client("route53").delete_hosted_zone(Id=it.id)
