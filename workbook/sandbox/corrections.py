"""moto's gaps, corrected where the answer comes back: botocore event handlers on the sandbox's clients.

Each correction is one function registered for one operation with `@correct(service, operation)`:
- "after" (the default) sees the call's parameters and moto's parsed answer and may fix the answer or
  finish what AWS would also have done (an RDS delete takes the managed secret with it);
- "before" may answer in moto's place (return the parsed answer) where moto would do harm.
What a correction does is said once per session on the notebook's output, labelled sandbox-only.
Corrections make their own calls on plain clients of the same session, which carry no corrections and
stay out of the call log: they are the emulator's business, not the workbook's calls.

Each correction names the moto gap it fills (measured); the ones that cannot be corrected are seam.GAPS.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable

from botocore.config import Config

from ..connect import Context
from ..kinds import tag_dict
from .motoserver import NOTE as SPREAD_NOTE

PLAIN = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class Correction:
    service: str
    operation: str
    when: str            # "before" | "after"
    note: str
    fn: Callable[..., Any]


CORRECTIONS: list[Correction] = []
_plain: "weakref.WeakKeyDictionary[Context, dict[str, Any]]" = weakref.WeakKeyDictionary()


def correct(service: str, operation: str, *, when: str = "after", note: str = ""):
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        CORRECTIONS.append(Correction(service, operation, when, note, fn))
        return fn
    return wrap


def plain(ctx: Context, service: str) -> Any:
    """A client of the same session without corrections or call log."""
    cache = _plain.setdefault(ctx, {})
    if service not in cache:
        cache[service] = ctx.session.client(service, endpoint_url=ctx.endpoint, config=PLAIN)
    return cache[service]


class _Ok:
    """The HTTP side of an answer given in moto's place."""
    status_code = 200
    headers: dict[str, str] = {}


class _Refused(_Ok):
    status_code = 400


class Refuse(Exception):
    """Raised by a "before" correction: the call fails with this AWS error, as AWS would refuse it."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def install(client: Any, ctx: Context) -> None:
    service = client.meta.service_model.service_name
    sid = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events
    mine = [c for c in CORRECTIONS if c.service == service]
    if not mine:
        return

    def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["sandbox_params"] = dict(params)
    events.register(f"before-parameter-build.{sid}", stash)

    for c in mine:
        if c.when == "after":
            def after(parsed: Any, context: dict[str, Any], http_response: Any = None, _c: Correction = c,
                      **_: Any) -> None:
                if http_response is not None and http_response.status_code >= 300:
                    return
                if _c.fn(ctx=ctx, params=context.get("sandbox_params", {}), parsed=parsed) and _c.note:
                    ctx.say(_c.note)
            events.register(f"after-call.{sid}.{c.operation}", after)
        else:
            def before(context: dict[str, Any], _c: Correction = c, **_: Any) -> Any:
                try:
                    answer = _c.fn(ctx=ctx, params=context.get("sandbox_params", {}))
                except Refuse as r:
                    return _Refused(), {"Error": {"Code": r.code, "Message": r.message}, "ResponseMetadata": {}}
                if answer is None:
                    return None
                if _c.note:
                    ctx.say(_c.note)
                return _Ok(), answer
            events.register(f"before-call.{sid}.{c.operation}", before)


# ---- EC2 ----------------------------------------------------------------------------------------------
@correct("ec2", "DescribeNatGateways",
         note="moto 5.2.5 ignores tag filters on DescribeNatGateways: the sandbox filters NAT gateways by tag")
def nat_gateway_tag_filters(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    wanted = {f["Name"][4:]: f["Values"] for f in params.get("Filter", []) if f["Name"].startswith("tag:")}
    if not wanted:
        return False
    before = parsed.get("NatGateways", [])
    parsed["NatGateways"] = [n for n in before
                             if all(tag_dict(n.get("Tags")).get(k) in v for k, v in wanted.items())]
    return len(parsed["NatGateways"]) != len(before)


# ---- RDS engine versions ------------------------------------------------------------------------------
@correct("rds", "DescribeDBEngineVersions", when="before",
         note="moto 5.2.5 cannot list RDS engine versions (HTTP 500): the sandbox answers from the dated list in "
              "workbook/sandbox/rds_engine_versions.yaml")
def engine_versions_listed(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    from .rehearsal_consistency import dated_versions
    return dated_versions(params)


# ---- Auto Scaling -----------------------------------------------------------------------------------
_corrected_instances: set[tuple[str | None, str]] = set()   # (server, instance): a seeded server repeats ids


@correct("autoscaling", "CreateAutoScalingGroup", note=SPREAD_NOTE)
def group_instances_spread_over_zones(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    """Done by the sandbox's moto server (motoserver.py: an instance cannot change subnet afterwards); said
    here, when there is more than one subnet and a server (the in-process mock of tests keeps moto's way)."""
    return bool(ctx.endpoint) and "," in str(params.get("VPCZoneIdentifier", ""))


@correct("autoscaling", "DescribeAutoScalingGroups",
         note="moto launches Auto Scaling instances without the launch template's metadata options, security "
              "groups and instance profile: the sandbox sets them on each new instance, as AWS launches it")
def group_instances_take_the_template(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ec2 = plain(ctx, "ec2")
    acted = False
    for g in parsed.get("AutoScalingGroups", []):
        todo = [i["InstanceId"] for i in g.get("Instances", [])
                if i.get("LifecycleState") == "InService" and (ctx.endpoint, i["InstanceId"]) not in _corrected_instances]
        spec = g.get("LaunchTemplate") or {}
        if not todo or not spec.get("LaunchTemplateId"):
            continue
        data = ec2.describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version") or "$Latest"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        meta = data.get("MetadataOptions") or {}
        groups = [gid for n in data.get("NetworkInterfaces", []) for gid in n.get("Groups", [])] \
            or data.get("SecurityGroupIds", [])
        profile = (data.get("IamInstanceProfile") or {}).get("Name")
        associated = {a["InstanceId"] for a in ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": todo}])["IamInstanceProfileAssociations"]
            if a.get("State") in ("associating", "associated")}
        for r in ec2.describe_instances(InstanceIds=todo)["Reservations"]:
            for i in r["Instances"]:
                if meta.get("HttpTokens") and i.get("MetadataOptions", {}).get("HttpTokens") != meta["HttpTokens"]:
                    ec2.modify_instance_metadata_options(
                        InstanceId=i["InstanceId"], HttpTokens=meta["HttpTokens"],
                        HttpPutResponseHopLimit=meta.get("HttpPutResponseHopLimit", 1),
                        HttpEndpoint=meta.get("HttpEndpoint", "enabled"))
                    acted = True
                if groups and sorted(g2["GroupId"] for g2 in i.get("SecurityGroups", [])) != sorted(groups):
                    ec2.modify_instance_attribute(InstanceId=i["InstanceId"], Groups=groups)
                    acted = True
                if profile and i["InstanceId"] not in associated:
                    ec2.associate_iam_instance_profile(InstanceId=i["InstanceId"], IamInstanceProfile={"Name": profile})
                    acted = True
                _corrected_instances.add((ctx.endpoint, i["InstanceId"]))
    return acted


@correct("ec2", "GetConsoleOutput",
         note="moto's console output is a fixed text: the sandbox gives the boot log of the instance's stand-in")
def console_output_is_the_boot_log(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    import base64
    text = ctx.target.dataplane.console_output(ctx, params.get("InstanceId", ""))
    if text:
        parsed["Output"] = base64.b64encode(text.encode()).decode()
    return bool(text)


# ---- ELB ------------------------------------------------------------------------------------------------
@correct("elbv2", "DescribeTargetHealth",
         note="moto reports every target healthy at once: the sandbox answers what its load balancer sees of the "
              "instances its data plane booted")
def target_health_from_the_data_plane(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    return ctx.target.dataplane.target_health(ctx, params, parsed)


# ---- RDS ------------------------------------------------------------------------------------------------
@correct("rds", "DeleteDBInstance",
         note="moto keeps the RDS-managed secret after its DB instance is deleted: the sandbox deletes it, as RDS does")
def managed_secret_goes_with_its_instance(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ident = params.get("DBInstanceIdentifier", "")
    sm = plain(ctx, "secretsmanager")
    acted = False
    for page in sm.get_paginator("list_secrets").paginate():
        for s in page["SecretList"]:
            owner = tag_dict(s.get("Tags")).get("aws:rds:primaryDBInstanceArn", "")
            if s["Name"].startswith("rds!db-") and owner.endswith(f":db:{ident}"):
                sm.delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
                acted = True
    return acted


@correct("rds", "DeleteDBInstance",
         note="the sandbox's stand-in of a deleted RDS instance goes with it, as AWS deletes its storage")
def stand_in_goes_with_its_instance(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    from . import dataplane
    return dataplane.rds_deleted(params.get("DBInstanceIdentifier", ""), ctx.endpoint)


@correct("rds", "RestoreDBInstanceFromDBSnapshot",
         note="moto copies DeletionProtection from the source on restore (RDS honours DeletionProtection=False): "
              "the sandbox turns it off as asked")
def restore_honours_deletion_protection(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    db = parsed.get("DBInstance", {})
    if params.get("DeletionProtection") is False and db.get("DeletionProtection"):
        plain(ctx, "rds").modify_db_instance(DBInstanceIdentifier=db["DBInstanceIdentifier"],
                                             DeletionProtection=False, ApplyImmediately=True)
        db["DeletionProtection"] = False
        return True
    return False


@correct("rds", "ModifyDBSubnetGroup", when="before",
         note="moto loses a DB subnet group on ModifyDBSubnetGroup: in the sandbox the group keeps its subnets")
def subnet_group_modify_keeps_the_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    groups = plain(ctx, "rds").describe_db_subnet_groups(DBSubnetGroupName=params["DBSubnetGroupName"])
    return {"DBSubnetGroup": groups["DBSubnetGroups"][0]}


# ---- IAM ----------------------------------------------------------------------------------------------------
@correct("iam", "SimulatePrincipalPolicy", when="before",
         note="moto has no IAM policy simulation: the sandbox answers simulate_principal_policy from an IAM drill, a "
              "second, ephemeral moto server with IAM enforcement on, where a copy of the group's policies is tried "
              "with a member's keys (the server is stopped afterwards); what moto cannot evaluate (resource ARNs, "
              "conditions, roles) comes back as not emulated")
def simulation_from_the_iam_drill(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return ctx.target.iam_drills.simulate(plain(ctx, "iam"), params, region=ctx.p.region)


# ---- S3 -----------------------------------------------------------------------------------------------------
@correct("s3", "CreateBucket",
         note="moto accepts tags in CreateBucket but keeps none: the sandbox puts them on the new bucket "
              "in the same call, as AWS does")
def bucket_takes_its_tags_at_create(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    tags = (params.get("CreateBucketConfiguration") or {}).get("Tags")
    if not tags:
        return False
    plain(ctx, "s3").put_bucket_tagging(Bucket=params["Bucket"], Tagging={"TagSet": tags})
    return True


# ---- Route 53 --------------------------------------------------------------------------------------------
@correct("route53", "ChangeResourceRecordSets", when="before")
def a_cname_owns_its_name(ctx: Context, params: dict[str, Any]) -> None:
    """moto accepts another record beside a CNAME of the same name; Route 53 refuses the whole batch."""
    zone = params.get("HostedZoneId", "")
    types: dict[str, set[str]] = {}
    for page in plain(ctx, "route53").get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone):
        for r in page["ResourceRecordSets"]:
            types.setdefault(r["Name"].rstrip(".").lower(), set()).add(r["Type"])
    for c in params.get("ChangeBatch", {}).get("Changes", []):
        r = c["ResourceRecordSet"]
        name, have = r["Name"].rstrip(".").lower(), types.setdefault(r["Name"].rstrip(".").lower(), set())
        if c["Action"] == "DELETE":
            have.discard(r["Type"])
            continue
        others = have - {r["Type"]}   # a CNAME beside anything, or anything beside a CNAME
        clash = "CNAME" if "CNAME" in others else (sorted(others)[0] if others and r["Type"] == "CNAME" else "")
        if clash:
            raise Refuse("InvalidChangeBatch", f"[RRSet of type {r['Type']} with DNS name {name}. is not permitted "
                         f"because a conflicting RRSet of type {clash} with the same DNS name already exists in "
                         f"zone {zone}.]")
        have.add(r["Type"])
    return None


# ---- ACM -------------------------------------------------------------------------------------------------
_IN_USE_NOTE = ("moto keeps a certificate in use after the listener that used it is gone: the sandbox counts only "
                "listeners that still exist")


def _live_users(ctx: Context, users: list[str]) -> list[str]:
    from botocore.exceptions import ClientError
    elb, live = plain(ctx, "elbv2"), []
    for arn in users:
        if ":listener/" not in arn:
            live.append(arn)
            continue
        try:
            elb.describe_listeners(ListenerArns=[arn])
            live.append(arn)
        except ClientError:
            pass    # ListenerNotFound: it is gone
    return live


@correct("acm", "DescribeCertificate", note=_IN_USE_NOTE)
def certificate_in_use_by_live_listeners(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    cert = parsed.get("Certificate", {})
    users = cert.get("InUseBy", [])
    live = _live_users(ctx, users)
    cert["InUseBy"] = live
    return live != users


@correct("acm", "ListCertificates", note=_IN_USE_NOTE)
def certificate_summary_in_use_by_live_listeners(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    acted = False
    for c in parsed.get("CertificateSummaryList", []):
        if c.get("InUse"):
            users = plain(ctx, "acm").describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]["InUseBy"]
            if not _live_users(ctx, users):
                c["InUse"], acted = False, True
    return acted


# ---- API Gateway v2 ----------------------------------------------------------------------------------------
# Route 53's alias hosted zone id of API Gateway's regional endpoints (AWS General Reference, "Amazon API
# Gateway endpoints and quotas").
APIGW_REGIONAL_ZONES = {
    "us-east-1": "Z1UJRXOUMOOFQ8", "us-east-2": "ZOJJZC49E0EPZ", "us-west-1": "Z2MUQ32089INYE",
    "us-west-2": "Z2OJLYMUO9EFXC", "ca-central-1": "Z19DQILCV0OWEC", "eu-west-1": "ZLY8HYME6SFDD",
    "eu-west-2": "ZJ5UAJN8Y3Z2Q", "eu-west-3": "Z3KY65QIEKYHQQ", "eu-central-1": "Z1U9ULNL0V5AJ3",
    "eu-north-1": "Z3UWIKFBOOGXPP", "eu-south-1": "Z3BT4WSQ9TDYZV", "ap-south-1": "Z3VO1THU9YC4UR",
    "ap-southeast-1": "ZL327KTPIQFUL", "ap-southeast-2": "Z2RPCDW04V8134", "ap-northeast-1": "Z1YSHQZHG15GKL",
    "ap-northeast-2": "Z20JF4UZKIW1U8", "sa-east-1": "ZCMLWB8V5SYIT",
}
_DOMAIN_NOTE = ("moto gives an API custom domain no regional target: the sandbox fills in ApiGatewayDomainName "
                "(d-<id>.execute-api.<region>.amazonaws.com, as AWS names it) and API Gateway's regional zone id")


def _regional_target(ctx: Context, domain: dict[str, Any]) -> bool:
    import hashlib
    region = ctx.p.region
    # AWS's id is d- and 10 lower-case letters or digits; one per domain name, so every answer agrees
    ident = "d-" + hashlib.sha256(domain.get("DomainName", "").encode()).hexdigest()[:10]
    acted = False
    for conf in domain.get("DomainNameConfigurations", []):
        if not conf.get("ApiGatewayDomainName"):
            conf["ApiGatewayDomainName"] = f"{ident}.execute-api.{region}.amazonaws.com"
            acted = True
        if not conf.get("HostedZoneId"):
            conf["HostedZoneId"] = APIGW_REGIONAL_ZONES.get(region, APIGW_REGIONAL_ZONES["us-east-1"])
            acted = True
    return acted


@correct("apigatewayv2", "CreateDomainName", note=_DOMAIN_NOTE)
def created_domain_has_a_regional_target(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    return _regional_target(ctx, parsed)


@correct("apigatewayv2", "GetDomainName", note=_DOMAIN_NOTE)
def domain_has_a_regional_target(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    return _regional_target(ctx, parsed)


# ---- CloudWatch ----------------------------------------------------------------------------------------------
# CloudWatch notifies an alarm's actions when its state changes, SetAlarmState included; moto changes the
# state and notifies nobody. The state before the call is read first (kept with the call's parameters,
# which the "before" and "after" handlers of one call share), so only a change notifies, as on AWS.
_BEFORE = "_sandbox_alarm_before"
_STATE_ACTIONS = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}


@correct("cloudwatch", "SetAlarmState", when="before")
def alarm_state_before_the_change(ctx: Context, params: dict[str, Any]) -> None:
    found = plain(ctx, "cloudwatch").describe_alarms(AlarmNames=[params.get("AlarmName", "")])["MetricAlarms"]
    params[_BEFORE] = found[0] if found else None
    return None   # moto answers the call itself


def _region_title(region: str) -> str:
    """us-east-1 -> "US East (N. Virginia)", as CloudWatch writes it in a notification."""
    from .. import boto_models
    for part in boto_models.data("endpoints")["partitions"]:
        if region in part["regions"]:
            return part["regions"][region].get("description", region)
    return region


def alarm_notification(alarm: dict[str, Any], new: str, reason: str, region: str, account: str) -> dict[str, Any]:
    """The JSON message CloudWatch publishes to an alarm's SNS topic on a state change."""
    import datetime as dt
    stamp = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000" if t else None  # noqa: E731
    return {
        "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"), "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": stamp(alarm.get("AlarmConfigurationUpdatedTimestamp")),
        "NewStateValue": new, "NewStateReason": reason, "StateChangeTime": stamp(dt.datetime.now(dt.timezone.utc)),
        "Region": _region_title(region), "AlarmArn": alarm["AlarmArn"], "OldStateValue": alarm["StateValue"],
        "OKActions": alarm.get("OKActions", []), "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": {"MetricName": alarm.get("MetricName"), "Namespace": alarm.get("Namespace"),
                    "StatisticType": "Statistic", "Statistic": str(alarm.get("Statistic", "")).upper(), "Unit": None,
                    "Dimensions": [{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
                    "Period": alarm.get("Period"), "EvaluationPeriods": alarm.get("EvaluationPeriods"),
                    "DatapointsToAlarm": alarm.get("DatapointsToAlarm"),
                    "ComparisonOperator": alarm.get("ComparisonOperator"), "Threshold": alarm.get("Threshold"),
                    "TreatMissingData": alarm.get("TreatMissingData"), "EvaluateLowSampleCountPercentile": ""},
    }


@correct("cloudwatch", "SetAlarmState",
         note="moto never notifies an alarm's actions: on a state change the sandbox publishes to the alarm's SNS "
              "topics the message CloudWatch sends")
def alarm_state_change_notifies(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    import json
    alarm, new = params.get(_BEFORE), params.get("StateValue", "")
    if not alarm or alarm["StateValue"] == new or not alarm.get("ActionsEnabled"):
        return False
    topics = [a for a in alarm.get(_STATE_ACTIONS.get(new, ""), []) if a.startswith("arn:aws:sns:")]
    message = alarm_notification(alarm, new, params.get("StateReason", ""), ctx.p.region, ctx.account_id)
    subject = f'{new}: "{alarm["AlarmName"]}" in {message["Region"]}'[:100]
    for topic in topics:
        plain(ctx, "sns").publish(TopicArn=topic, Subject=subject, Message=json.dumps(message))
    return bool(topics)


# ---- interfaces AWS removes with their owner ---------------------------------------------------------------
INTERFACES_NOTE = ("moto keeps the network interfaces of terminated instances and deleted NAT gateways: the sandbox "
                   "removes them before a subnet delete, as AWS does with their owners")


@correct("ec2", "DeleteSubnet", when="before")
def owners_take_their_interfaces(ctx: Context, params: dict[str, Any]) -> None:
    """AWS deletes an instance's primary interface with the instance (DeleteOnTermination) and a NAT
    gateway's with the NAT; moto leaves both, and they would stay in the VPC forever. Never an
    interface someone attached to a live instance or created by hand (no owner that is gone)."""
    ec2 = plain(ctx, "ec2")
    subnet = params.get("SubnetId", "")
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["NetworkInterfaces"]
    if not enis:
        return None
    nat_enis = {a.get("NetworkInterfaceId") for n in ec2.describe_nat_gateways(
        Filter=[{"Name": "subnet-id", "Values": [subnet]}, {"Name": "state", "Values": ["deleted", "deleting"]}]
    )["NatGateways"] for a in n.get("NatGatewayAddresses", [])}
    instances = {a["InstanceId"] for n in enis if (a := n.get("Attachment") or {}).get("InstanceId")}
    gone = set()
    if instances:
        gone = {i["InstanceId"] for r in ec2.describe_instances(InstanceIds=sorted(instances))["Reservations"]
                for i in r["Instances"] if i["State"]["Name"] in ("terminated", "shutting-down")}
    acted = False
    for n in enis:
        att = n.get("Attachment") or {}
        if n["NetworkInterfaceId"] in nat_enis or att.get("InstanceId") in gone:
            # (a primary interface cannot be detached; moto lets it be deleted as AWS would have)
            ec2.delete_network_interface(NetworkInterfaceId=n["NetworkInterfaceId"])
            acted = True
    if acted:
        ctx.say(INTERFACES_NOTE)
    return None   # moto then deletes the subnet itself


# SSM Run Command runs on the data plane's stand-ins (its corrections register themselves on import).
from . import runcommand  # noqa: E402,F401
# Instance refresh, which moto lacks, carried out on the group and the data plane (refresh.py).
from . import refresh  # noqa: E402,F401
# NAT gateways: the client token's idempotency and the freed address (nat.py).
from . import nat  # noqa: E402,F401
# The log groups RDS creates for its log exports (rds_logs.py).
from . import rds_logs  # noqa: E402,F401
# TLS-only bucket policies: kept, not enforced (bucket_policy.py).
from . import bucket_policy  # noqa: E402,F401
