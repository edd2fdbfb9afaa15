"""The rehearsal of the edge: DNS changes take a minute, certificates wait for their validation record.

- Route 53: a change is PENDING for up to 60 AWS seconds, then INSYNC; a record counts as existing
  from then on.
- ACM: a DNS-validated certificate requested through the sandbox stays PENDING_VALIDATION until its
  validation CNAME exists in a hosted zone, then becomes ISSUED 2-30 AWS minutes later.
- API Gateway: a custom domain cannot be created with a certificate that is not issued yet
  (BadRequestException; the code is the API's, the message is the sandbox's wording); a deleted VPC
  link's interfaces stay in its subnets and security groups for 20-40 AWS minutes.
Figures and sources: rehearsal_facts.py.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..connect import Context
from . import rehearsal_facts as F
from .corrections import plain
from .rehearsal import Refusal, Rehearsal, model, note
from .rehearsal_consistency import linger


def _fqdn(name: str) -> str:
    return name.rstrip(".").lower() + "."


# ---- Route 53 ----------------------------------------------------------------------------------------------
@model("route53", "ChangeResourceRecordSets")
def change_pending(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    info = parsed.get("ChangeInfo", {})
    cid = info.get("Id", "").rsplit("/", 1)[-1]
    now = rh.now()
    insync = rh.timeline.begin(f"r53_change:{cid}", "PENDING", now, F.point("route53_insync", cid), "route53_insync")
    info["Status"] = "PENDING"
    with rh.timeline.change() as data:
        for c in (params.get("ChangeBatch") or {}).get("Changes", []):
            key = f"dns_record:{_fqdn(c['ResourceRecordSet']['Name'])}|{c['ResourceRecordSet']['Type']}"
            data[key] = {"exists_from": None} if c.get("Action") == "DELETE" else {"exists_from": round(insync, 3)}


@model("route53", "GetChange")
def change_status(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    cid = params.get("Id", "").rsplit("/", 1)[-1]
    if rh.timeline.state(f"r53_change:{cid}", rh.now()) == "PENDING":
        parsed.setdefault("ChangeInfo", {})["Status"] = "PENDING"
        note(ctx, "a Route 53 change is PENDING for up to a minute before it is INSYNC")


# ---- ACM --------------------------------------------------------------------------------------------------
@model("acm", "RequestCertificate")
def certificate_requested(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    if params.get("ValidationMethod", "DNS") == "DNS":
        arn = parsed.get("CertificateArn", "")
        with rh.timeline.change() as data:
            data.setdefault(f"certificate:{arn}", {"requested": round(rh.now(), 3)})   # a retried request: same one


def _record_exists_from(rh: Rehearsal, ctx: Context, name: str) -> float | None:
    """When the validation CNAME `name` exists in a hosted zone (AWS time), or None."""
    entry = rh.timeline.get(f"dns_record:{_fqdn(name)}|CNAME")
    if entry:
        return entry.get("exists_from")
    r53 = plain(ctx, "route53")   # written some other way: look in the zones once, and remember
    try:
        for page in r53.get_paginator("list_hosted_zones").paginate():
            for z in page["HostedZones"]:
                if not _fqdn(name).endswith(_fqdn(z["Name"])):
                    continue
                sets = r53.list_resource_record_sets(HostedZoneId=z["Id"], StartRecordName=name, StartRecordType="CNAME",
                                                     MaxItems="1")["ResourceRecordSets"]
                if sets and _fqdn(sets[0]["Name"]) == _fqdn(name) and sets[0]["Type"] == "CNAME":
                    now = round(rh.now(), 3)
                    rh.timeline.put(f"dns_record:{_fqdn(name)}|CNAME", exists_from=now)
                    return now
    except ClientError:
        return None
    return None


def issued_at(rh: Rehearsal, ctx: Context, arn: str, cert: dict[str, Any] | None = None) -> float | None:
    """When the certificate is (or will be) ISSUED in AWS time; None while its record is missing.
    Only certificates requested through the rehearsal are modelled (`modelled` says which)."""
    entry = rh.timeline.get(f"certificate:{arn}")
    if entry.get("issued_at") is not None:
        return entry["issued_at"]
    if cert is None:
        try:
            cert = plain(ctx, "acm").describe_certificate(CertificateArn=arn)["Certificate"]
        except ClientError:
            return None
    names = [o["ResourceRecord"]["Name"] for o in cert.get("DomainValidationOptions", []) if o.get("ResourceRecord")]
    seen = [_record_exists_from(rh, ctx, n) for n in names]
    if not names or any(s is None for s in seen):
        return None
    at = max(s for s in seen if s is not None) + F.point("acm_validation", arn)
    rh.timeline.begin(f"certificate:{arn}", "PENDING_VALIDATION", entry.get("requested", rh.now()),
                      at - entry.get("requested", rh.now()), "acm_validation", issued_at=round(at, 3))
    return at


def modelled(rh: Rehearsal, arn: str) -> bool:
    return bool(rh.timeline.get(f"certificate:{arn}"))


def _issued(rh: Rehearsal, ctx: Context, arn: str, cert: dict[str, Any] | None = None) -> bool:
    at = issued_at(rh, ctx, arn, cert)
    return at is not None and rh.now() >= at


@model("acm", "DescribeCertificate")
def certificate_status(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    cert = parsed.get("Certificate", {})
    arn = cert.get("CertificateArn", params.get("CertificateArn", ""))
    if not modelled(rh, arn) or cert.get("Status") in ("FAILED", "REVOKED", "EXPIRED"):
        return
    done = _issued(rh, ctx, arn, cert)
    cert["Status"] = "ISSUED" if done else "PENDING_VALIDATION"
    for o in cert.get("DomainValidationOptions", []):
        o["ValidationStatus"] = "SUCCESS" if done else "PENDING_VALIDATION"
    if not done:
        cert.pop("IssuedAt", None)
        note(ctx, "an ACM certificate stays PENDING_VALIDATION until its validation CNAME exists in a hosted zone, "
                  "then is ISSUED 2-30 AWS minutes later")


@model("acm", "ListCertificates")
def certificate_list_status(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for s in parsed.get("CertificateSummaryList", []):
        arn = s.get("CertificateArn", "")
        if modelled(rh, arn) and s.get("Status") in ("ISSUED", "PENDING_VALIDATION"):
            s["Status"] = "ISSUED" if _issued(rh, ctx, arn) else "PENDING_VALIDATION"


# ---- API Gateway custom domains ----------------------------------------------------------------------------
@model("apigatewayv2", "CreateDomainName", when="before")
def domain_needs_an_issued_certificate(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    for conf in params.get("DomainNameConfigurations", []):
        arn = conf.get("CertificateArn", "")
        if arn and modelled(rh, arn) and not _issued(rh, ctx, arn):
            note(ctx, "API Gateway refuses a custom domain whose certificate is not issued yet")
            return Refusal("BadRequestException", f"Certificate {arn} is not issued yet (its status is "
                                                  f"PENDING_VALIDATION): a custom domain needs an ISSUED certificate.")
    return None


@model("apigatewayv2", "DeleteVpcLink", when="before")
def vpc_link_interfaces_seen(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> None:
    link_id = params.get("VpcLinkId", "")
    try:
        link = plain(ctx, "apigatewayv2").get_vpc_link(VpcLinkId=link_id)
        subnets = link.get("SubnetIds", [])
        vpc = plain(ctx, "ec2").describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"] if subnets else ""
    except (ClientError, IndexError):
        return None
    rh.pending[("vpc_link", link_id)] = (link, vpc)
    return None


@model("apigatewayv2", "DeleteVpcLink")
def vpc_link_interfaces_linger(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    link_id = params.get("VpcLinkId", "")
    seen = rh.pending.pop(("vpc_link", link_id), None)
    if seen:
        link, vpc = seen
        linger(rh, f"vpc_link:{link_id}", f"VPC link {link.get('Name', link_id)}", subnets=link.get("SubnetIds", []),
               groups=link.get("SecurityGroupIds", []), vpc=vpc, seconds=F.point("eni_vpc_link", link_id),
               fact="eni_vpc_link")
