"""The edge and observability under the rehearsal: DNS changes take a minute, certificates wait for
their validation record, custom domains for their certificate, metrics arrive late, e-mail
subscriptions wait for a click. Each test shows the naive path meeting the behaviour, then the patient
path passing."""
from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError, WaiterError
from rehearsal_fixtures import error_code, rctx  # noqa: F401  (rctx is a fixture)

from workbook import progress
from workbook.sandbox import rehearsal_facts as F
from workbook.sandbox.corrections import plain


def _zone(ctx):
    return plain(ctx, "route53").create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]


def _upsert(ctx, zone, name, value, client=None):
    r53 = client or ctx.client("route53")
    return r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": "CNAME", "TTL": 300,
                                                  "ResourceRecords": [{"Value": value}]}}]})["ChangeInfo"]


def test_dns_change_is_pending_then_insync(rctx):
    change = _upsert(rctx, _zone(rctx), "www.example.com", "web.example.net")
    r53 = rctx.client("route53")
    assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "PENDING"
    progress.wait_for(r53, "resource_record_sets_changed", "dns", sleep=rctx.clock.sleep, Id=change["Id"])
    assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"


def _certificate(ctx):
    acm = ctx.client("acm")
    arn = acm.request_certificate(DomainName="api.example.com", ValidationMethod="DNS")["CertificateArn"]
    return arn, acm.describe_certificate(CertificateArn=arn)["Certificate"]


def test_certificate_waits_for_its_record_then_minutes(rctx):
    zone = _zone(rctx)
    arn, cert = _certificate(rctx)
    acm = rctx.client("acm")
    assert cert["Status"] == "PENDING_VALIDATION"
    with pytest.raises(WaiterError):                       # naive: wait without writing the record
        progress.wait_for(acm, "certificate_validated", "cert", sleep=rctx.clock.sleep, CertificateArn=arn)
    record = cert["DomainValidationOptions"][0]["ResourceRecord"]
    _upsert(rctx, zone, record["Name"], record["Value"])
    rctx.clock.sleep(F.FACTS["route53_insync"].high)
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "PENDING_VALIDATION"
    # patient: the record exists; ACM issues within its 2-30 AWS minutes (waited for in more than one look)
    progress.poll(lambda: acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED",
                  "issued", delay=60, max_attempts=40, sleep=rctx.clock.sleep)
    progress.wait_for(acm, "certificate_validated", "cert", sleep=rctx.clock.sleep, CertificateArn=arn)
    assert [c["Status"] for c in acm.list_certificates()["CertificateSummaryList"]] == ["ISSUED"]


def test_custom_domain_needs_an_issued_certificate(rctx):
    zone = _zone(rctx)
    arn, cert = _certificate(rctx)
    gw = rctx.client("apigatewayv2")
    conf = [{"CertificateArn": arn, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}]
    with pytest.raises(ClientError) as e:                  # naive: the domain right after the request
        gw.create_domain_name(DomainName="api.example.com", DomainNameConfigurations=conf)
    assert error_code(e) == "BadRequestException"
    record = cert["DomainValidationOptions"][0]["ResourceRecord"]
    _upsert(rctx, zone, record["Name"], record["Value"], client=plain(rctx, "route53"))   # written elsewhere
    progress.poll(lambda: rctx.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]["Status"]
                  == "ISSUED", "issued", delay=60, max_attempts=40, sleep=rctx.clock.sleep)
    assert gw.create_domain_name(DomainName="api.example.com", DomainNameConfigurations=conf)["DomainName"]


def _put(ctx, name="latency_ms", value=12.0):
    ctx.client("cloudwatch").put_metric_data(Namespace="Workbook/Probe", MetricData=[{
        "MetricName": name, "Dimensions": [{"Name": "phase", "Value": "after"}], "Value": value,
        "Timestamp": dt.datetime.now(dt.timezone.utc)}])


def _read(ctx, name="latency_ms"):
    now = dt.datetime.now(dt.timezone.utc)
    r = ctx.client("cloudwatch").get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {
        "Metric": {"Namespace": "Workbook/Probe", "MetricName": name, "Dimensions": [{"Name": "phase", "Value": "after"}]},
        "Period": 60, "Stat": "Average"}}], StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=2))
    return r["MetricDataResults"][0]["Values"]


def test_datapoints_arrive_a_minute_after_publishing(rctx):
    _put(rctx)
    assert _read(rctx) == []                               # naive: read right after the probe
    cw = rctx.client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    stats = cw.get_metric_statistics(Namespace="Workbook/Probe", MetricName="latency_ms", Period=60,
                                     Dimensions=[{"Name": "phase", "Value": "after"}], Statistics=["Average"],
                                     StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=2))
    assert stats["Datapoints"] == []
    rctx.clock.sleep(F.FACTS["cw_delivery"].high)          # patient: wait a minute of AWS time
    assert _read(rctx) == [12.0]


def test_list_metrics_shows_a_new_metric_15_minutes_later(rctx):
    _put(rctx, "errors", 0.0)
    cw = rctx.client("cloudwatch")
    rctx.clock.sleep(F.FACTS["cw_delivery"].high)
    assert cw.list_metrics(Namespace="Workbook/Probe")["Metrics"] == []   # naive: discover metrics by listing
    assert _read(rctx, "errors") == [0.0]                  # patient: query the known metric directly
    rctx.clock.sleep(F.FACTS["cw_list_metrics"].high)
    assert [m["MetricName"] for m in cw.list_metrics(Namespace="Workbook/Probe")["Metrics"]] == ["errors"]


def test_email_subscription_stays_pending(rctx):
    sns = rctx.client("sns")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    arn = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"]
    assert arn == "pending confirmation"
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["SubscriptionArn"] for s in subs] == ["PendingConfirmation"]   # alarms would notify nobody
    rctx.clock.sleep(3 * 24 * 3600)
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]] == ["PendingConfirmation"]
    full = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="dev@example.com", ReturnSubscriptionArn=True)
    attrs = sns.get_subscription_attributes(SubscriptionArn=full["SubscriptionArn"])["Attributes"]
    assert attrs["PendingConfirmation"] == "true"


def test_deleted_vpc_link_leaves_interfaces_for_tens_of_minutes(rctx):
    from rehearsal_fixtures import vpc_with_subnets

    from workbook import engine
    vpc, subnets = vpc_with_subnets(rctx)
    sg = plain(rctx, "ec2").create_security_group(GroupName="link", Description="link", VpcId=vpc)["GroupId"]
    gw, ec2 = rctx.client("apigatewayv2"), rctx.client("ec2")
    link = gw.create_vpc_link(Name="api", SubnetIds=subnets, SecurityGroupIds=[sg])["VpcLinkId"]
    gw.delete_vpc_link(VpcLinkId=link)
    with pytest.raises(ClientError) as e:                  # naive: the subnets go right after the link
        ec2.delete_subnet(SubnetId=subnets[0])
    assert error_code(e) == "DependencyViolation"
    with pytest.raises(ClientError) as e:                  # the engine's 10-minute budget is not enough
        engine.retrying(rctx, lambda: ec2.delete_security_group(GroupId=sg), sg)
    assert error_code(e) == "DependencyViolation"
    # patient: a budget that covers the 20-40 AWS minutes these interfaces can stay
    engine.retrying(rctx, lambda: ec2.delete_security_group(GroupId=sg), sg, attempts=200)
    engine.retrying(rctx, lambda: ec2.delete_subnet(SubnetId=subnets[0]), subnets[0])
