"""05_edge on moto: the zone, the certificate, the alias, API Gateway as the way in, and destroy."""
from __future__ import annotations

import pytest
from edge_obs_fixtures import build_stack

from conftest import make_ctx
from workbook import engine, iam_actions, names, progress, tagging
from workbook.connect import MUTATING, Context
from workbook.params import Params
from workbook.sandbox.seam import ACCOUNT, SandboxTarget
from workbook.steps import edge, edge_dns

DOMAIN = "api.example.com"


@pytest.fixture
def domain_ctx(ctx):
    return make_ctx(domain_name=DOMAIN)


def _zone_ids(ctx, name=DOMAIN + "."):
    return [z["Id"].rsplit("/", 1)[-1] for z in ctx.client("route53").list_hosted_zones()["HostedZones"]
            if z["Name"] == name]


def _records(ctx, zone_id):
    return ctx.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]


def _mutating(ctx, since):
    return [c.operation for c in ctx.calls.calls[since:] if c.operation.startswith(MUTATING)]


def _users_zone(ctx, *records):
    """A zone the user owns, with a record of their own in it (and `records`, the user's too)."""
    r53 = ctx.client("route53")
    zone_id = r53.create_hosted_zone(Name="example.com", CallerReference="owner-made")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    www = {"Name": "www.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "example.org"}]}
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": r} for r in (www, *records)]})
    return zone_id


def _with_zone_id(zone_id: str, **params) -> Context:
    """moto's zone ids do not always look like AWS's, so the params are built past validation."""
    p = Params(**{**make_ctx(**params).params.to_dict(), "hosted_zone_id": zone_id})
    return Context(p, SandboxTarget(endpoint=None), ACCOUNT)


def test_without_domain_and_alb_entry_nothing_is_created_and_the_alb_is_the_way_in(ctx, capsys):
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    mark = ctx.calls.mark()
    out = edge.apply(ctx)
    assert out.empty
    assert _mutating(ctx, mark) == []
    said = capsys.readouterr().out
    assert "nothing to do" in said and stack["lb_dns"] in said


def test_apply_makes_zone_certificate_and_alias_to_the_alb_and_a_rerun_creates_nothing(domain_ctx, capsys):
    ctx, p = domain_ctx, domain_ctx.params
    stack = build_stack(ctx, p, asg=False, rds=False)
    first = edge.apply(ctx)
    assert {"hosted_zone", "certificate", "dns_record"} <= set(first.type)   # the validation CNAME
    assert not [r for r in _records(ctx, _zone_ids(ctx)[0]) if r["Name"] == DOMAIN + "." and r["Type"] == "A"]
    edge.ensure_alias_record(ctx)   # 08's cutover points the name, once the data has moved
    (zone_id,) = _zone_ids(ctx)
    assert first[first.type == "hosted_zone"].id.item() == zone_id   # the bare id, as the kind finds it
    tags = tagging.as_dict(ctx.client("route53").list_tags_for_resource(
        ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"])
    assert tags[tagging.STACK] == "demo" and tags[tagging.STEP] == "05_edge"
    said = capsys.readouterr().out
    assert "Delegate it where example.com is served" in said and f"NS record {DOMAIN} -> ns-" in said  # every target
    assert "[sandbox] in the sandbox nothing resolves the zone" in said
    alias = [r for r in _records(ctx, zone_id) if r["Name"] == DOMAIN + "." and r["Type"] == "A"]
    assert alias[0]["AliasTarget"]["DNSName"].rstrip(".") == stack["lb_dns"]
    cert = edge.find_certificate(ctx)
    assert cert["Status"] == "ISSUED"
    # the validation CNAME is in the zone (ACM's managed renewal checks it again)
    cname = cert["DomainValidationOptions"][0]["ResourceRecord"]["Name"]
    assert any(r["Name"] == cname and r["Type"] == "CNAME" for r in _records(ctx, zone_id))
    mark = ctx.calls.mark()
    second = edge.apply(ctx)
    assert _mutating(ctx, mark) == []
    assert set(second.action) == {"exists"}
    assert len(_zone_ids(ctx)) == 1


def test_apply_calls_compute_to_put_the_certificate_on_an_https_listener(domain_ctx):
    ctx = domain_ctx
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    edge.apply(ctx)
    listeners = ctx.client("elbv2").describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]
    https = [l for l in listeners if l["Protocol"] == "HTTPS"]
    assert https and https[0]["Certificates"][0]["CertificateArn"] == edge.find_certificate(ctx)["CertificateArn"]


def test_dry_run_creates_nothing_and_says_what_it_would_create(domain_ctx):
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    mark = ctx.calls.mark()
    plan = edge.plan(ctx)
    assert _mutating(ctx, mark) == []
    assert set(plan.action) == {"would create", "would update"}
    assert {"hosted_zone", "certificate", "dns_record"} <= set(plan.type)
    # 04's listeners, which apply switches to HTTPS once the certificate is issued: 443 added, 80 redirected
    listeners = plan[plan.type == "listener"].set_index("action").name
    assert listeners["would create"].endswith(":443 (HTTPS)") and listeners["would update"].endswith(":80 (redirect to HTTPS)")


def test_records_in_the_users_zone_are_in_the_ledger_and_destroy_removes_exactly_those(domain_ctx):
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    zone_id = _users_zone(ctx)
    r53 = ctx.client("route53")
    # someone else's record that looks like a validation CNAME under the domain: not the stack's
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": f"_0123456789abcdef.{DOMAIN}", "Type": "CNAME", "TTL": 300,
        "ResourceRecords": [{"Value": "_x.acm-validations.aws."}]}}]})
    out = edge.apply(ctx)
    assert out[out.type == "hosted_zone"].action.item() == "exists"
    assert _zone_ids(ctx, "example.com.") == [zone_id]
    alias = edge.ensure_alias_record(ctx)   # 08's cutover
    written = set(out[(out.type == "dns_record") & (out.action == "created")].id) | {alias.id}
    assert set(engine.ledger(ctx)["dns_record"]) == written and len(written) == 2   # the alias and the CNAME
    assert all(e["step"] == "05_edge" for e in engine.ledger(ctx)["dns_record"].values())
    gone = edge.destroy(ctx)
    assert set(gone[gone.type == "dns_record"].id) == written and "hosted_zone" not in set(gone.type)
    left = {(r["Name"], r["Type"]) for r in _records(ctx, zone_id)}
    assert _zone_ids(ctx, "example.com.") == [zone_id]
    assert {("www.example.com.", "CNAME"), (f"_0123456789abcdef.{DOMAIN}.", "CNAME")} <= left
    assert (DOMAIN + ".", "A") not in left
    assert engine.ledger(ctx)["dns_record"] == {}


def test_a_record_the_user_had_is_put_back_by_destroy(domain_ctx):
    ctx = domain_ctx
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    zone_id = _users_zone(ctx, old := {"Name": DOMAIN + ".", "Type": "A", "TTL": 60,
                                       "ResourceRecords": [{"Value": "192.0.2.10"}]})
    edge.apply(ctx)
    assert edge.find_record(ctx, zone_id, DOMAIN, "A")["ResourceRecords"] == [{"Value": "192.0.2.10"}]  # 05: untouched
    assert edge.ensure_alias_record(ctx).action == "updated"   # 08's cutover
    alias = edge.find_record(ctx, zone_id, DOMAIN, "A")
    assert alias["AliasTarget"]["DNSName"].rstrip(".") == stack["lb_dns"]
    edge.destroy(ctx)
    back = edge.find_record(ctx, zone_id, DOMAIN, "A")
    assert "AliasTarget" not in back and back["ResourceRecords"] == [{"Value": "192.0.2.10"}]


def _repoint(ctx, zone_id, value):
    """The name's owner moves it on by hand after the cutover."""
    ctx.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": DOMAIN + ".", "Type": "A", "TTL": 60,
                                                   "ResourceRecords": [{"Value": value}]}}]})


@pytest.mark.parametrize("had_a_record", [True, False])
def test_a_record_the_owner_changed_after_the_cutover_is_left_as_they_set_it(domain_ctx, had_a_record):
    """Teardown and rollback used to put the replaced value back (or delete the name) over whatever the
    name held by then: a record the owner had moved on was reverted to the dev host, or deleted."""
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    before = [{"Name": DOMAIN + ".", "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}]
    zone_id = _users_zone(ctx, *(before if had_a_record else []))
    edge.apply(ctx)
    edge.ensure_alias_record(ctx)                 # 08's cutover
    _repoint(ctx, zone_id, "198.51.100.7")
    said = edge.restore_alias_record(ctx)         # 08's rollback
    assert "changed since" in said and "198.51.100.7" in said, said
    assert edge.find_record(ctx, zone_id, DOMAIN, "A")["ResourceRecords"] == [{"Value": "198.51.100.7"}]
    edge.ensure_alias_record(ctx)                 # a second cutover, moved on again, then the teardown
    _repoint(ctx, zone_id, "198.51.100.8")
    out = edge.destroy(ctx)
    assert edge.find_record(ctx, zone_id, DOMAIN, "A")["ResourceRecords"] == [{"Value": "198.51.100.8"}]
    assert any(a.startswith("kept: changed since") for a in out["action"]), out
    assert not [k for k in engine.ledger(ctx).get("dns_record", {}) if k.endswith(f"{DOMAIN}/A")]


def test_the_cutover_takes_the_names_ipv6_address_off_the_dev_host_and_the_rollback_puts_it_back(domain_ctx):
    """The cutover moved the name's A record only: an AAAA pointing at the dev host kept sending IPv6
    clients there, to write into a database production no longer reads. The way in (an IPv4 ALB or API)
    has no IPv6 address to point it at, so the AAAA goes, kept in the ledger like any record replaced."""
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    aaaa = {"Name": DOMAIN + ".", "Type": "AAAA", "TTL": 60, "ResourceRecords": [{"Value": "2001:db8::10"}]}
    zone_id = _users_zone(ctx, aaaa, {"Name": DOMAIN + ".", "Type": "A", "TTL": 60,
                                      "ResourceRecords": [{"Value": "192.0.2.10"}]})
    edge.apply(ctx)
    assert edge.find_record(ctx, zone_id, DOMAIN, "AAAA") is not None      # 05 moves no name
    edge.ensure_alias_record(ctx)                                           # 08's cutover
    assert edge.find_record(ctx, zone_id, DOMAIN, "AAAA") is None
    said = edge.restore_alias_record(ctx)                                   # 08's rollback
    assert "2001:db8::10" in said, said
    assert edge.find_record(ctx, zone_id, DOMAIN, "AAAA")["ResourceRecords"] == aaaa["ResourceRecords"]
    edge.ensure_alias_record(ctx)                                           # again, then the teardown
    edge.destroy(ctx)
    assert edge.find_record(ctx, zone_id, DOMAIN, "AAAA")["ResourceRecords"] == aaaa["ResourceRecords"]
    assert edge.find_record(ctx, zone_id, DOMAIN, "A")["ResourceRecords"] == [{"Value": "192.0.2.10"}]


def test_a_cname_the_user_had_is_replaced_by_the_alias_and_put_back_by_the_rollback(domain_ctx):
    """A common dev setup: api.example.com is a CNAME to the dev host's public name. Route 53 refuses an A
    record beside a CNAME of the same name (InvalidChangeBatch), so the cutover failed there; it replaces
    the CNAME in one atomic change, and the rollback (and a teardown) put the CNAME back."""
    ctx = domain_ctx
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    zone_id = _users_zone(ctx, old := {"Name": DOMAIN + ".", "Type": "CNAME", "TTL": 300,
                                       "ResourceRecords": [{"Value": "ec2-192-0-2-10.compute-1.amazonaws.com"}]})
    edge.apply(ctx)
    assert edge.ensure_alias_record(ctx).action == "updated"   # 08's cutover
    assert edge.find_record(ctx, zone_id, DOMAIN, "CNAME") is None
    assert edge.find_record(ctx, zone_id, DOMAIN, "A")["AliasTarget"]["DNSName"].rstrip(".") == stack["lb_dns"]
    assert "put back" in edge.restore_alias_record(ctx)         # 08's rollback
    assert edge.find_record(ctx, zone_id, DOMAIN, "A") is None
    assert edge.find_record(ctx, zone_id, DOMAIN, "CNAME")["ResourceRecords"] == old["ResourceRecords"]
    assert edge.ensure_alias_record(ctx).action == "updated"   # a second cutover, then the teardown
    edge.destroy(ctx)
    assert edge.find_record(ctx, zone_id, DOMAIN, "CNAME")["ResourceRecords"] == old["ResourceRecords"]


def test_a_record_the_teardown_could_not_put_back_keeps_the_ledger_so_a_rerun_does(domain_ctx):
    """The ledger is the only proof a record is the stack's and the only copy of the user's old one: it
    went with the rest of the teardown even when putting a record back had failed, so a rerun found
    nothing and the user's CNAME was never put back."""
    from botocore.exceptions import ClientError

    from workbook.steps import teardown
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    zone_id = _users_zone(ctx, old := {"Name": DOMAIN + ".", "Type": "CNAME", "TTL": 300,
                                       "ResourceRecords": [{"Value": "dev.example.org"}]})
    edge.apply(ctx)
    edge.ensure_alias_record(ctx)              # 08's cutover: the CNAME replaced, kept in the ledger
    refused = []

    def refuse_once(params, **_):
        if not refused and DOMAIN + "." in [c["ResourceRecordSet"]["Name"] for c in params["ChangeBatch"]["Changes"]]:
            refused.append(1)
            raise ClientError({"Error": {"Code": "InvalidChangeBatch", "Message": "refused"}}, "ChangeResourceRecordSets")
    ctx.client("route53").meta.events.register("before-parameter-build.route53.ChangeResourceRecordSets", refuse_once)
    first = teardown.destroy(ctx)
    assert refused and engine.ledger(ctx).get("dns_record"), first
    kept = first[first.type == "ssm_parameter"]
    assert any(a.startswith("kept") for a in kept.action), kept
    teardown.destroy(ctx)                      # the rerun puts it back, then the ledger goes
    assert edge.find_record(ctx, zone_id, DOMAIN, "CNAME")["ResourceRecords"] == old["ResourceRecords"]
    assert engine.ledger(ctx) == {}


def test_the_sandbox_refuses_a_record_beside_a_cname_as_route53_does(domain_ctx):
    from botocore.exceptions import ClientError
    ctx = domain_ctx
    zone_id = _users_zone(ctx)   # www.example.com is a CNAME
    with pytest.raises(ClientError) as refused:
        ctx.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
            {"Action": "UPSERT", "ResourceRecordSet": {"Name": "www.example.com", "Type": "A", "TTL": 60,
                                                       "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})
    assert refused.value.response["Error"]["Code"] == "InvalidChangeBatch"
    assert "conflicting RRSet of type CNAME" in refused.value.response["Error"]["Message"]


def test_a_private_zone_given_as_hosted_zone_id_is_refused_before_any_change(ctx):
    """ACM cannot see a validation record in a private zone (the certificate would wait 72 hours and fail),
    and clients outside the VPC cannot resolve the name: refused, naming the parameter."""
    vpc = ctx.client("ec2").create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    zone = ctx.client("route53").create_hosted_zone(
        Name="example.com", CallerReference="private", HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": vpc})["HostedZone"]["Id"].rsplit("/", 1)[-1]
    zctx = _with_zone_id(zone, domain_name=DOMAIN)
    since = len(zctx.calls.calls)
    with pytest.raises(ValueError, match="hosted_zone_id.*private"):
        edge.apply(zctx)
    assert _mutating(zctx, since) == []


def test_two_public_zones_of_the_name_none_of_them_the_stacks_are_not_guessed_between(domain_ctx):
    """Route 53 allows twins; only the one the registrar delegates to is seen by ACM and by users. Picking
    whichever was listed first could validate against, and point the name in, a zone nobody resolves."""
    ctx = domain_ctx
    r53 = ctx.client("route53")
    ids = [r53.create_hosted_zone(Name="example.com", CallerReference=ref)["HostedZone"]["Id"].rsplit("/", 1)[-1]
           for ref in ("one", "two")]
    since = len(ctx.calls.calls)
    with pytest.raises(ValueError, match="hosted_zone_id") as refused:
        edge.apply(ctx)
    assert all(i in str(refused.value) for i in ids)
    assert _mutating(ctx, since) == []


def test_hosted_zone_id_must_contain_the_domain(ctx):
    zone_id = ctx.client("route53").create_hosted_zone(Name="example.org", CallerReference="x")["HostedZone"]["Id"]
    c = _with_zone_id(zone_id.rsplit("/", 1)[-1], domain_name=DOMAIN)
    with pytest.raises(ValueError, match="domain_name"):
        edge.ensure_hosted_zone(c)


def test_a_zone_created_but_not_tagged_before_a_crash_is_adopted_not_twinned(domain_ctx):
    ctx = domain_ctx
    ctx.client("route53").create_hosted_zone(Name=DOMAIN, CallerReference=edge_dns._zone_reference_prefix(ctx.p))
    r = edge.ensure_hosted_zone(ctx)
    assert r.action == "exists" and len(_zone_ids(ctx)) == 1
    assert edge.zone_created_by_stack(ctx, r.id)


def _acm_answers(ctx, change):
    """ACM's answers as AWS may give them where moto never does (after-call: the parsed response)."""
    def edit(parsed, **_):
        cert = parsed.get("Certificate")
        for c in ([cert] if cert else parsed.get("CertificateSummaryList", [])):
            change(c)
    acm = ctx.client("acm")
    acm.meta.events.register("after-call.acm.DescribeCertificate", edit)
    acm.meta.events.register("after-call.acm.ListCertificates", edit)
    return lambda: (acm.meta.events.unregister("after-call.acm.DescribeCertificate", edit),
                    acm.meta.events.unregister("after-call.acm.ListCertificates", edit))


def test_a_failed_certificate_stops_05_with_acms_reason_and_a_rerun_after_the_fix_requests_anew(domain_ctx):
    """ACM can fail a request (a CAA record that does not allow Amazon, for one). 05 used to wait two
    minutes for a validation record that never comes, then blame "the DNS validation record"; a rerun got
    the same failed certificate back (its token) and said "2-30 minutes" for ever."""
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    edge.ensure_hosted_zone(ctx)

    caa_refuses, failed = [True], set()

    def fail(c):
        if caa_refuses[0]:
            failed.add(c["CertificateArn"])
        if c["CertificateArn"] in failed:     # ACM's verdict on a request stays
            c.update(Status="FAILED", FailureReason="CAA_ERROR", DomainValidationOptions=[
                {k: v for k, v in o.items() if k != "ResourceRecord"} for o in c.get("DomainValidationOptions", [])])
    _acm_answers(ctx, fail)
    with pytest.raises(RuntimeError, match="CAA_ERROR") as e:
        edge.ensure_certificate(ctx)
    assert "CAA" in str(e.value) and "rerun" in str(e.value)
    caa_refuses[0] = False                    # the owner fixed the CAA record
    rec = edge.ensure_certificate(ctx)
    assert rec.action == "created" and rec.id not in failed
    assert edge.stack_certificate(ctx).id == rec.id


def test_validation_passed_but_not_yet_issued_keeps_the_pipeline_waiting(domain_ctx):
    """botocore's certificate_validated waiter ends on the validation status, not on ISSUED: the listener
    was then skipped with a "rerun" note, and the pipeline went on without HTTPS."""
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    edge.ensure_hosted_zone(ctx)
    edge.ensure_certificate(ctx)

    def validated_not_issued(c):
        c["Status"] = "PENDING_VALIDATION"
        for o in c.get("DomainValidationOptions", []):
            o["ValidationStatus"] = "SUCCESS"
    _acm_answers(ctx, validated_not_issued)
    with progress.budget(ctx.clock, 5), pytest.raises(progress.StillWaiting):
        edge.ensure_https_listener(ctx)


def test_a_zone_created_is_the_names_own_so_its_delegation_moves_nothing_else(domain_ctx, capsys):
    """It used to create the parent (example.com) and ask for delegation at the registrar: with example.com
    served elsewhere, following that moved www and mail into a near-empty zone. The name's own zone is
    delegated by one NS record where the parent is served; only an apex name needs the registrar."""
    assert edge.new_zone_name(make_ctx(domain_name="api.eu.example.com").params) == "api.eu.example.com"
    edge.ensure_hosted_zone(domain_ctx)
    said = capsys.readouterr().out
    assert "Delegate it where example.com is served" in said and "registrar" not in said
    apex = make_ctx(domain_name="example.co.uk")
    edge.ensure_hosted_zone(apex)
    said = capsys.readouterr().out
    assert "registrar" in said and "copy its records into this zone first" in said


def test_destroy_removes_everything_of_a_zone_it_created_and_is_safe_twice(domain_ctx):
    ctx = domain_ctx
    stack = build_stack(ctx, ctx.params, asg=False, rds=False)
    edge.apply(ctx)
    gone = edge.destroy(ctx)
    assert {"hosted_zone", "certificate", "dns_record"} <= set(gone.type)
    assert not [a for a in gone.action if a.startswith("failed")]
    assert _zone_ids(ctx) == []
    # the ALB's HTTPS listener (04_compute's) still uses the certificate: it stays until that is gone
    assert gone[gone.type == "certificate"].action.item().startswith("kept: in use by the ALB")
    elb = ctx.client("elbv2")
    for listener in elb.describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]:
        if listener["Protocol"] == "HTTPS":
            elb.delete_listener(ListenerArn=listener["ListenerArn"])
    again = edge.destroy(ctx)
    assert list(again.type) == ["certificate"] and list(again.action) == ["deleted"]
    assert edge.find_certificate(ctx) is None
    mark = ctx.calls.mark()
    assert edge.destroy(ctx).empty
    assert _mutating(ctx, mark) == []


def test_deleting_the_zone_it_created_says_to_remove_its_delegation(domain_ctx, capsys):
    """The user delegated the zone (an NS record where the parent is served). Once the zone is deleted that
    delegation points at name servers that no longer hold it, and whoever creates a zone of the name on
    them answers for it: the teardown said nothing."""
    build_stack(domain_ctx, domain_ctx.params, asg=False, rds=False)
    edge.ensure_hosted_zone(domain_ctx)
    capsys.readouterr()
    edge.destroy(domain_ctx)
    said = capsys.readouterr().out
    assert f"remove its delegation: the NS record {DOMAIN}" in said and "example.com" in said, said


def test_a_zone_it_created_keeps_the_records_others_added_and_is_kept_with_them(domain_ctx):
    """Told to delegate the new zone, a user moves their domain's records into it (www, mail): the teardown
    deleted every record of the zone with it. It deletes only the records it wrote, and keeps a zone that
    holds someone else's, saying which."""
    ctx = domain_ctx
    build_stack(ctx, ctx.params, asg=False, rds=False)
    edge.apply(ctx)
    zone_id = _zone_ids(ctx)[0]
    www = {"Name": "www.api.example.com.", "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": "shop.example.net"}]}
    ctx.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": www}]})
    gone = edge.destroy(ctx)
    kept = gone[gone.type == "hosted_zone"].action.item()
    assert kept.startswith("kept") and "www.api.example.com" in kept
    assert edge.find_record(ctx, zone_id, "www.api.example.com", "CNAME")["ResourceRecords"] == www["ResourceRecords"]
    ctx.client("route53").change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "DELETE", "ResourceRecordSet": www}]})
    again = edge.destroy(ctx)
    assert again[again.type == "hosted_zone"].action.item() == "deleted" and _zone_ids(ctx) == []


@pytest.fixture
def gateway_ctx(ctx):
    c = make_ctx(domain_name=DOMAIN, entry="api_gateway")
    return c, build_stack(c, c.params, scheme="internal", asg=False, rds=False)


def test_a_vpc_link_idle_for_60_days_is_used_again_not_a_failure(gateway_ctx, capsys):
    """AWS makes a VPC link INACTIVE after 60 days without traffic and brings it back when requests resume:
    a rerun of 05 after a quiet month stopped there with "VPC link ... is INACTIVE"."""
    ctx, _ = gateway_ctx
    edge.apply(ctx)

    def idle(parsed, **_):
        for link in parsed.get("Items", [parsed]):
            if "VpcLinkStatus" in link:
                link["VpcLinkStatus"] = "INACTIVE"
    gw = ctx.client("apigatewayv2")
    gw.meta.events.register("after-call.apigatewayv2.GetVpcLinks", idle)
    gw.meta.events.register("after-call.apigatewayv2.GetVpcLink", idle)
    done = edge.apply(ctx)
    assert dict(zip(done.type, done.action))["vpc_link"] == "exists"
    assert "INACTIVE" in capsys.readouterr().out


def test_api_gateway_reaches_the_internal_alb_through_a_vpc_link_with_access_logs(gateway_ctx, capsys):
    ctx, stack = gateway_ctx
    p = ctx.params
    edge.apply(ctx)
    gw = ctx.client("apigatewayv2")
    link = edge.find_vpc_link(ctx)
    assert sorted(link["SubnetIds"]) == sorted(stack["app"])
    api = edge.find_api(ctx)
    (integration,) = gw.get_integrations(ApiId=api["ApiId"])["Items"]
    listeners = {l["ListenerArn"]: l for l in ctx.client("elbv2").describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]}
    assert integration["ConnectionId"] == link["VpcLinkId"] and integration["IntegrationType"] == "HTTP_PROXY"
    assert listeners[integration["IntegrationUri"]]["Protocol"] == "HTTPS"  # 04 upgraded it with our certificate
    (route,) = gw.get_routes(ApiId=api["ApiId"])["Items"]
    assert route["RouteKey"] == "$default" and route["Target"] == f"integrations/{integration['IntegrationId']}"
    (stage,) = gw.get_stages(ApiId=api["ApiId"])["Items"]
    assert stage["AutoDeploy"] and stage["AccessLogSettings"]["DestinationArn"].endswith(edge.api_access_log_group(p))
    # the ALB's group lets the VPC link in, and only the link's group; the link's group reaches only the ALB's
    ec2 = ctx.client("ec2")
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])
    sources = {r.get("ReferencedGroupInfo", {}).get("GroupId") for r in rules["SecurityGroupRules"] if not r["IsEgress"]}
    assert sources == {link["SecurityGroupIds"][0]}
    link_rules = ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [link["SecurityGroupIds"][0]]}])["SecurityGroupRules"]
    assert {(r["IsEgress"], r.get("ReferencedGroupInfo", {}).get("GroupId"), r["FromPort"]) for r in link_rules} == {
        (True, stack["alb_sg"], 80), (True, stack["alb_sg"], 443)}
    # the alias (08's cutover) goes to the custom domain's regional name (the sandbox supplies what moto leaves out)
    edge.ensure_alias_record(ctx)
    zone_id = _zone_ids(ctx)[0]
    alias = [r for r in _records(ctx, zone_id) if r["Name"] == DOMAIN + "." and r["Type"] == "A"][0]
    target = alias["AliasTarget"]["DNSName"].rstrip(".")
    assert target.startswith("d-") and target.endswith(".execute-api.us-east-1.amazonaws.com")
    assert alias["AliasTarget"]["HostedZoneId"] == "Z1UJRXOUMOOFQ8"
    assert "[sandbox] moto gives an API custom domain no regional target" in capsys.readouterr().out
    mark = ctx.calls.mark()
    again = edge.apply(ctx)
    assert _mutating(ctx, mark) == []
    assert set(again.action) == {"exists"}


def test_04_again_once_the_certificate_is_issued_moves_the_api_to_https_before_port_80_redirects(gateway_ctx):
    """05 ran while ACM still validated the certificate (2-30 minutes), so the API reached the ALB on its
    plain port 80. Then 04 ran again with the certificate issued: port 80 became a redirect to HTTPS
    while the API still sent every request there, so each answer through the API was a 301 to itself."""
    from compute_fixtures import issue_certificate
    from workbook.steps import compute
    ctx, stack = gateway_ctx
    edge.ensure_api_gateway(ctx)                  # the API on port 80: no HTTPS listener yet
    gw = ctx.client("apigatewayv2")
    api_id = edge.find_api(ctx)["ApiId"]
    assert [i["IntegrationUri"] for i in gw.get_integrations(ApiId=api_id)["Items"]] == [stack["listener"]]
    issue_certificate(ctx, DOMAIN)
    mark = ctx.calls.mark()
    compute.ensure_listeners(ctx)                 # 04 again
    used = iam_actions.actions_for_calls(ctx.calls.calls[mark:])
    assert sorted(used - set(compute.STEP.all_permissions())) == []   # 04 may do it
    listeners = {l["ListenerArn"]: l for l in ctx.client("elbv2").describe_listeners(LoadBalancerArn=stack["lb"])["Listeners"]}
    assert listeners[stack["listener"]]["DefaultActions"][0]["Type"] == "redirect"
    (integration,) = gw.get_integrations(ApiId=api_id)["Items"]
    used = listeners[integration["IntegrationUri"]]
    assert used["Protocol"] == "HTTPS" and used["DefaultActions"][0]["Type"] == "forward"
    assert integration["TlsConfig"]["ServerNameToVerify"] == DOMAIN


def test_api_gateway_closes_the_alb_group_an_alb_entry_build_opened_to_anywhere(gateway_ctx):
    """A stack first built with entry=alb has 02's 0.0.0.0/0 on 80/443 in the ALB's group: once the gateway
    is the way in, 05 takes those two rules back (the stack's own), so the link's group is the only client."""
    ctx, stack = gateway_ctx
    ec2 = ctx.client("ec2")
    ec2.authorize_security_group_ingress(GroupId=stack["alb_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for port in (80, 443)])
    edge.apply(ctx)
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])
    assert not [r for r in rules["SecurityGroupRules"] if not r["IsEgress"] and r.get("CidrIpv4") == "0.0.0.0/0"]
    mark = ctx.calls.mark()
    assert set(edge.apply(ctx).action) == {"exists"} and _mutating(ctx, mark) == []


def _open_to_anywhere(ctx, alb_sg):
    rules = ctx.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [alb_sg]}])
    return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"] and r.get("CidrIpv4") == "0.0.0.0/0"]


def test_a_live_alb_the_name_points_at_stays_open_until_the_cutover_moves_the_name_to_the_api(ctx):
    """A stack live with entry=alb (the name aliases the internet-facing ALB) switched to entry=api_gateway:
    05 used to close the ALB to anywhere in its first cell, before any API existed and while the name
    still sent every client to the ALB - an outage until 08 ran."""
    alb_ctx = make_ctx(domain_name=DOMAIN, entry="alb")
    stack = build_stack(alb_ctx, alb_ctx.params, asg=False, rds=False)
    alb_ctx.client("ec2").authorize_security_group_ingress(GroupId=stack["alb_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for port in (80, 443)])
    edge.apply(alb_ctx)
    edge.ensure_alias_record(alb_ctx)           # live: 08's cutover with entry=alb
    gw = make_ctx(domain_name=DOMAIN, entry="api_gateway")
    edge.apply(gw)
    assert len(_open_to_anywhere(gw, stack["alb_sg"])) == 2, "closed while the name still points at the ALB"
    edge.ensure_alias_record(gw)                # 08 again: the name moves to the API's domain
    edge.close_alb_to_anywhere(gw)
    assert _open_to_anywhere(gw, stack["alb_sg"]) == []


def test_api_gateway_destroy_leaves_the_alb_group_as_it_was_and_runs_twice(gateway_ctx):
    ctx, stack = gateway_ctx
    ec2 = ctx.client("ec2")
    app_sg = stack["app_sg"]
    # 02_network's own rule in the ALB's group: a step destroy must not take it
    ec2.authorize_security_group_egress(GroupId=stack["alb_sg"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": app_sg}]}])
    before = {r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])["SecurityGroupRules"]}
    edge.apply(ctx)
    gone = edge.destroy(ctx)
    assert {"api_domain", "http_api", "vpc_link", "security_group", "log_group"} <= set(gone.type)
    assert not [a for a in gone.action if a.startswith("failed")], gone
    assert edge.find_api(ctx) is None and edge.find_vpc_link(ctx) is None
    after = {r["SecurityGroupRuleId"] for r in ec2.describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [stack["alb_sg"]]}])["SecurityGroupRules"]}
    assert after == before
    mark = ctx.calls.mark()
    again = edge.destroy(ctx)   # the certificate stays while 04's HTTPS listener uses it
    assert list(again.type) == ["certificate"] and again.action.item().startswith("kept")
    assert _mutating(ctx, mark) == []


def test_internet_facing_alb_with_api_gateway_is_called_out(ctx, capsys):
    c = make_ctx(entry="api_gateway")
    build_stack(c, c.params, scheme="internet-facing", asg=False, rds=False)
    edge.apply(c)
    assert "not the only way in" in capsys.readouterr().out


def test_api_gateway_without_a_domain_serves_on_its_execute_api_endpoint(ctx, capsys):
    c = make_ctx(entry="api_gateway")
    build_stack(c, c.params, scheme="internal", asg=False, rds=False)
    out = edge.apply(c)
    assert "hosted_zone" not in set(out.type) and "certificate" not in set(out.type)
    api = edge.find_api(c)
    assert api["ApiEndpoint"] in capsys.readouterr().out
    assert c.client("route53").list_hosted_zones()["HostedZones"] == []


@pytest.mark.parametrize("entry", ["alb", "api_gateway"])
def test_declared_permissions_cover_every_call_of_apply_and_destroy(ctx, entry):
    c = make_ctx(domain_name=DOMAIN, entry=entry)
    build_stack(c, c.params, scheme="internal" if entry == "api_gateway" else "internet-facing", asg=False, rds=False)
    mark = c.calls.mark()
    edge.apply(c)
    edge.destroy(c)
    used = iam_actions.actions_for_calls(c.calls.calls[mark:])
    assert sorted(used - set(edge.STEP.all_permissions())) == []
    assert names.api  # the names the step uses come from workbook.names


def test_the_aws_path_is_the_same_path(ctx, capsys):
    """target=aws runs the very same code (no sandbox corrections): the zone, certificate and alias."""
    build_stack(ctx, ctx.params, asg=False, rds=False)
    aws = make_ctx(target="aws", aws_account_id=ACCOUNT, domain_name=DOMAIN)
    out = edge.apply(aws)
    assert {"hosted_zone", "certificate", "dns_record"} <= set(out.type)
    said = capsys.readouterr().out
    assert "Delegate it where example.com is served" in said and "[sandbox]" not in said
