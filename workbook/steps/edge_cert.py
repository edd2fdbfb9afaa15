"""05_edge's certificate: requested from ACM, validated by DNS through a CNAME in the stack's zone, and
waited for only where it is needed (the HTTPS listener, the API's custom domain), so ACM's minutes overlap
the rest of the build. A certificate ACM ends (failed, timed out) is said with its reason."""
from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import WaiterError

from .. import engine, names, progress
from ..connect import Context, Resource
from .edge_api import STEP_ID, find_alb, not_needed, stack_certificate, stack_certificates
from .edge_dns import _zone_id, certificate_name, ensure_hosted_zone, ensure_record


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
    return sum(c.raw["Status"] in ENDED for c in stack_certificates(ctx))


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
    waits on the user (the zone's delegation), not on ACM."""
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
              "delegated (see the zone's message: an NS record where the parent is served; up to 72 h). Rerun this step "
              "afterwards.")
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
