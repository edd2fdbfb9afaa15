"""The rehearsal's eventual consistency, lingering dependencies, delivery delays and refusals.

- IAM propagation: a role or instance profile is refused for ~10 s after creation, with AWS's own
  errors (CreateFlowLogs "Unable to assume given IAM role", RunInstances and Auto Scaling "Invalid IAM
  Instance Profile name").
- A new EC2 resource is NotFound to a describe by its id for a couple of seconds.
- Network interfaces of a deleted NAT gateway, load balancer, VPC link or instance stay for minutes:
  subnet, security-group and VPC deletes answer DependencyViolation meanwhile, and the interfaces
  show in describe_network_interfaces.
- CloudWatch: datapoints reach get_metric_data / get_metric_statistics a minute after they were
  published; list_metrics shows a new metric 15 minutes after its first datapoint.
- SNS: an e-mail subscription stays PendingConfirmation (nobody clicks in the sandbox).
- RDS engine versions: describe_db_engine_versions answered from rds_engine_versions.yaml;
  create_db_instance refuses a version RDS no longer offers for new instances.
Figures and sources: rehearsal_facts.py.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError

from ..connect import Context
from . import rehearsal_facts as F
from .corrections import plain
from .rehearsal import Refusal, Rehearsal, active, model, note


# ---- IAM propagation ---------------------------------------------------------------------------------
@model("iam", "CreateRole")
def role_propagates(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    name = parsed.get("Role", {}).get("RoleName") or params.get("RoleName", "")
    rh.timeline.begin(f"iam_role:{name}", "propagating", rh.now(), F.point("iam_propagation", name),
                      "iam_propagation", reset=True)


@model("iam", "CreateInstanceProfile")
def profile_propagates(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    name = params.get("InstanceProfileName", "")
    rh.timeline.begin(f"instance_profile:{name}", "propagating", rh.now(), F.point("iam_propagation", name),
                      "iam_propagation", reset=True)


@model("iam", "AddRoleToInstanceProfile")
def profile_role_propagates(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    name = params.get("InstanceProfileName", "")
    rh.timeline.begin(f"instance_profile:{name}", "propagating", rh.now(), F.point("iam_propagation", name),
                      "iam_propagation")


def _propagating(rh: Rehearsal, key: str) -> bool:
    return rh.timeline.state(key, rh.now()) == "propagating"


@model("ec2", "CreateFlowLogs", when="before")
def flow_log_role_not_yet(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    arn = params.get("DeliverLogsPermissionArn") or ""
    if arn and _propagating(rh, f"iam_role:{arn.rsplit('/', 1)[-1]}"):
        note(ctx, "a new IAM role cannot be assumed for ~10 AWS seconds: CreateFlowLogs is refused meanwhile, "
                  "as AWS refuses it")
        return Refusal("InvalidParameter", f"Unable to assume given IAM role: '{arn}'")
    return None


def _template_profile(ctx: Context, spec: dict[str, Any] | None) -> dict[str, str]:
    """The IamInstanceProfile a launch template names ({} if none, or the template is unknown)."""
    if not spec:
        return {}
    which = {k: spec[k] for k in ("LaunchTemplateId", "LaunchTemplateName") if spec.get(k)}
    try:
        versions = plain(ctx, "ec2").describe_launch_template_versions(
            **which, Versions=[spec.get("Version") or "$Default"])["LaunchTemplateVersions"]
    except ClientError:
        return {}
    return (versions[0].get("LaunchTemplateData", {}).get("IamInstanceProfile") or {}) if versions else {}


def _fresh_profile(rh: Rehearsal, profile: dict[str, str]) -> tuple[str, str] | None:
    """("name", value) or ("arn", value) when the profile is too new to use."""
    value = profile.get("Arn") or profile.get("Name") or ""
    if value and _propagating(rh, f"instance_profile:{value.rsplit('/', 1)[-1]}"):
        return ("arn", value) if profile.get("Arn") else ("name", value)
    return None


def _profile_refusal(which: tuple[str, str]) -> str:
    field, value = which
    return (f"Value ({value}) for parameter iamInstanceProfile.{field} is invalid. Invalid IAM Instance Profile "
            f"{'ARN' if field == 'arn' else 'name'}")


@model("ec2", "RunInstances", when="before")
def run_profile_not_yet(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    profile = params.get("IamInstanceProfile") or _template_profile(ctx, params.get("LaunchTemplate"))
    fresh = _fresh_profile(rh, profile)
    if fresh is None:
        return None
    note(ctx, "a new instance profile cannot be used for ~10 AWS seconds: RunInstances is refused meanwhile")
    return Refusal("InvalidParameterValue", _profile_refusal(fresh))


def _group_profile_not_yet(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    spec = params.get("LaunchTemplate") or (params.get("MixedInstancesPolicy") or {}).get(
        "LaunchTemplate", {}).get("LaunchTemplateSpecification")
    fresh = _fresh_profile(rh, _template_profile(ctx, spec))
    if fresh is None:
        return None
    note(ctx, "a new instance profile cannot be used for ~10 AWS seconds: Auto Scaling refuses the launch "
              "template meanwhile")
    return Refusal("ValidationError", "You must use a valid fully-formed launch template. " + _profile_refusal(fresh))


model("autoscaling", "CreateAutoScalingGroup", when="before")(_group_profile_not_yet)
model("autoscaling", "UpdateAutoScalingGroup", when="before")(_group_profile_not_yet)


# ---- new EC2 resources NotFound for a moment ---------------------------------------------------------
BORN = {"CreateVpc": "Vpc.VpcId", "CreateSubnet": "Subnet.SubnetId", "CreateSecurityGroup": "GroupId",
        "RunInstances": "Instances.InstanceId", "CreateNatGateway": "NatGateway.NatGatewayId",
        "CreateRouteTable": "RouteTable.RouteTableId", "CreateInternetGateway": "InternetGateway.InternetGatewayId",
        "CreateLaunchTemplate": "LaunchTemplate.LaunchTemplateId", "CreateImage": "ImageId"}
DESCRIBE_BY_ID = {
    "DescribeVpcs": ("VpcIds", "InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "DescribeSubnets": ("SubnetIds", "InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "DescribeSecurityGroups": ("GroupIds", "InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "DescribeInstances": ("InstanceIds", "InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
    "DescribeNatGateways": ("NatGatewayIds", "NatGatewayNotFound", "NAT gateway {} was not found"),
    "DescribeRouteTables": ("RouteTableIds", "InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "DescribeInternetGateways": ("InternetGatewayIds", "InvalidInternetGatewayID.NotFound",
                                 "The internetGateway ID '{}' does not exist"),
    "DescribeLaunchTemplates": ("LaunchTemplateIds", "InvalidLaunchTemplateId.NotFound",
                                "The specified launch template, with template ID {}, does not exist."),
    "DescribeImages": ("ImageIds", "InvalidAMIID.NotFound", "The image id '[{}]' does not exist"),
}


def _ids(obj: Any, path: str) -> list[str]:
    head, _, rest = path.partition(".")
    obj = obj.get(head) if isinstance(obj, dict) else None
    if isinstance(obj, list):
        return [i for o in obj for i in _ids(o, rest)] if rest else [str(o) for o in obj]
    if rest:
        return _ids(obj, rest)
    return [str(obj)] if obj else []


def _born(op: str, path: str) -> None:
    def record(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        now, window = rh.now(), F.point("ec2_not_found", "ec2")
        with rh.timeline.change() as data:
            for key in [k for k, e in data.items() if k.startswith("born:") and e["at"] + window <= now]:
                del data[key]   # visible everywhere by now: nothing left to model
            for id_ in _ids(parsed, path):
                data[f"born:{id_}"] = {"at": round(now, 3)}
    model("ec2", op)(record)


def _not_yet_visible(op: str, param: str, code: str, message: str) -> None:
    def refuse(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
        now, window = rh.now(), F.point("ec2_not_found", "ec2")
        for id_ in params.get(param) or []:
            born = rh.timeline.get(f"born:{id_}").get("at")
            if born is not None and now < born + window:
                note(ctx, "a new EC2 resource can be NotFound to a describe by its id for a couple of AWS "
                          "seconds (EC2's eventual consistency)")
                return Refusal(code, message.format(id_))
        return None
    model("ec2", op, when="before")(refuse)


for _op, _path in BORN.items():
    _born(_op, _path)
for _op, (_param, _code, _msg) in DESCRIBE_BY_ID.items():
    _not_yet_visible(_op, _param, _code, _msg)


# ---- network interfaces that linger --------------------------------------------------------------------
def linger(rh: Rehearsal, owner: str, label: str, *, subnets: list[str], groups: list[str], vpc: str,
           seconds: float, fact: str, iface: str = "interface", start: float | None = None) -> None:
    """The interfaces of `owner` (deleted now) stay `seconds` longer in these subnets/groups/VPC."""
    rh.timeline.begin(f"eni:{owner}", "in-use", rh.now() if start is None else start, seconds, fact, reset=True,
                      subnets=[s for s in subnets if s], groups=[g for g in groups if g], vpc=vpc or "",
                      owner=label, iface=iface)


def _lingering(rh: Rehearsal, *, subnet: str = "", group: str = "", vpc: str = "",
               iface: str = "") -> dict[str, Any] | None:
    now = rh.now()
    for key, e in rh.timeline.items("eni:").items():
        if not any(active(ph, now) for ph in e.get("phases", [])) or (iface and e.get("iface") != iface):
            continue
        if (subnet and subnet in e.get("subnets", [])) or (group and group in e.get("groups", [])) \
                or (vpc and vpc == e.get("vpc")):
            return {"key": key, **e}
    return None


def _dependency(ctx: Context, what: str, e: dict[str, Any]) -> None:
    note(ctx, f"the network interfaces of a deleted {e['owner'].split(' ')[0]} linger for minutes on AWS: "
              f"{what} deletes answer DependencyViolation until they are released")


@model("ec2", "DeleteSubnet", when="before")
def subnet_in_use(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    e = _lingering(rh, subnet=params.get("SubnetId", ""))
    if e:
        _dependency(ctx, "subnet", e)
        return Refusal("DependencyViolation", f"The subnet '{params['SubnetId']}' has dependencies and cannot be deleted.")
    return None


@model("ec2", "DeleteSecurityGroup", when="before")
def group_in_use(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    e = _lingering(rh, group=params.get("GroupId", ""))
    if e:
        _dependency(ctx, "security group", e)
        return Refusal("DependencyViolation", f"resource {params['GroupId']} has a dependent object")
    return None


@model("ec2", "DeleteVpc", when="before")
def vpc_in_use(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    e = _lingering(rh, vpc=params.get("VpcId", ""))
    if e:
        _dependency(ctx, "VPC", e)
        return Refusal("DependencyViolation", f"The vpc '{params['VpcId']}' has dependencies and cannot be deleted.")
    return None


@model("ec2", "DetachInternetGateway", when="before")
def addresses_still_mapped(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    vpc = params.get("VpcId", "")
    if _lingering(rh, vpc=vpc, iface="nat_gateway"):
        note(ctx, "a NAT gateway being deleted keeps its public address mapped: the internet gateway cannot be "
                  "detached until it is gone")
        return Refusal("DependencyViolation", f"Network {vpc} has some mapped public address(es). Please unmap those "
                                              f"public address(es) before detaching the gateway.")
    return None


_ENI_FILTERS = {"subnet-id": "subnets", "group-id": "groups", "vpc-id": "vpc"}


@model("ec2", "DescribeNetworkInterfaces")
def lingering_interfaces_show(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    filters = params.get("Filters") or []
    if params.get("NetworkInterfaceIds") or any(f.get("Name") not in _ENI_FILTERS for f in filters):
        return   # a filter the model does not read (tags ...): show only what moto has
    now = rh.now()
    for key, e in rh.timeline.items("eni:").items():
        if not any(active(ph, now) for ph in e.get("phases", [])):
            continue
        for subnet in e.get("subnets") or [""]:
            have = {"subnets": [subnet], "groups": e.get("groups", []), "vpc": [e.get("vpc", "")]}
            if all(set(f.get("Values", [])) & set(have[_ENI_FILTERS[f["Name"]]]) for f in filters):
                eid = "eni-" + hashlib.sha256(f"{key}:{subnet}".encode()).hexdigest()[:17]
                parsed.setdefault("NetworkInterfaces", []).append({
                    "NetworkInterfaceId": eid, "SubnetId": subnet, "VpcId": e.get("vpc", ""),
                    "Groups": [{"GroupId": g} for g in e.get("groups", [])], "Status": "in-use",
                    "InterfaceType": e.get("iface", "interface"), "RequesterManaged": True, "TagSet": [],
                    "Description": f"{e['owner']} (deleted; interface not released yet)"})


# ---- CloudWatch delivery ----------------------------------------------------------------------------------
def _metric(ns: str, name: str, dims: list[dict[str, str]] | None) -> str:
    return f"{ns}|{name}|" + ",".join(sorted(f"{d['Name']}={d['Value']}" for d in dims or []))


def _epoch(ts: Any) -> float:
    if isinstance(ts, dt.datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(ts, (int, float)):
        return float(ts)
    if isinstance(ts, str) and ts:
        return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    return dt.datetime.now(dt.timezone.utc).timestamp()


def _cw_key(metric: str) -> str:
    return "cw:" + hashlib.sha256(metric.encode()).hexdigest()[:20]


@model("cloudwatch", "PutMetricData")
def datapoints_travel(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    now, delay, listed = rh.now(), F.point("cw_delivery", "cw"), F.point("cw_list_metrics", "cw")
    spans: dict[str, list[float]] = {}
    for d in params.get("MetricData", []):
        t = _epoch(d.get("Timestamp"))
        lo_hi = spans.setdefault(_metric(params.get("Namespace", ""), d["MetricName"], d.get("Dimensions")), [t, t])
        lo_hi[0], lo_hi[1] = min(lo_hi[0], t), max(lo_hi[1], t)
    with rh.timeline.change() as data:
        for key in [k for k, e in data.items() if k.startswith("cw:")
                    and e["first"] + listed <= now and all(p["at"] + delay <= now for p in e["pubs"])]:
            del data[key]   # delivered and listed: nothing left to model
        for metric, (lo, hi) in spans.items():
            e = data.get(_cw_key(metric)) or {"metric": metric, "first": round(now, 3), "pubs": []}
            pubs = [p for p in e["pubs"] if p["at"] + delay > now] + [{"at": round(now, 3), "lo": lo, "hi": hi}]
            data[_cw_key(metric)] = {**e, "pubs": pubs}


def _undelivered(rh: Rehearsal, metric: str) -> list[dict[str, float]]:
    now, delay = rh.now(), F.point("cw_delivery", "cw")
    return [p for p in rh.timeline.get(_cw_key(metric)).get("pubs", []) if p["at"] + delay > now]


def _in_flight(pubs: list[dict[str, float]], ts: Any, period: float) -> bool:
    start = _epoch(ts)
    return any(start <= p["hi"] and start + period > p["lo"] for p in pubs)


@model("cloudwatch", "GetMetricData")
def metric_data_late(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    queries = {q["Id"]: q for q in params.get("MetricDataQueries", [])}
    for r in parsed.get("MetricDataResults", []):
        stat = (queries.get(r.get("Id")) or {}).get("MetricStat")
        if not stat:
            continue
        m = stat["Metric"]
        pubs = _undelivered(rh, _metric(m.get("Namespace", ""), m.get("MetricName", ""), m.get("Dimensions")))
        if not pubs:
            continue
        kept = [(t, v) for t, v in zip(r.get("Timestamps", []), r.get("Values", []))
                if not _in_flight(pubs, t, float(stat.get("Period", 60)))]
        if len(kept) != len(r.get("Timestamps", [])):
            note(ctx, "CloudWatch delivers a datapoint about a minute after it is published: a read right after "
                      "the publish does not see it yet")
        r["Timestamps"], r["Values"] = [t for t, _ in kept], [v for _, v in kept]


@model("cloudwatch", "GetMetricStatistics")
def statistics_late(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    pubs = _undelivered(rh, _metric(params.get("Namespace", ""), params.get("MetricName", ""), params.get("Dimensions")))
    if pubs:
        period = float(params.get("Period", 60))
        parsed["Datapoints"] = [d for d in parsed.get("Datapoints", []) if not _in_flight(pubs, d.get("Timestamp"), period)]


@model("cloudwatch", "ListMetrics")
def metrics_listed_late(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    now, listed = rh.now(), F.point("cw_list_metrics", "cw")
    young = {e["metric"] for e in rh.timeline.items("cw:").values() if e["first"] + listed > now}
    if not young:
        return
    before = parsed.get("Metrics", [])
    parsed["Metrics"] = [m for m in before if _metric(m.get("Namespace", ""), m.get("MetricName", ""),
                                                      m.get("Dimensions")) not in young]
    if len(parsed["Metrics"]) != len(before):
        note(ctx, "ListMetrics shows a new metric up to 15 AWS minutes after its first datapoint: query known "
                  "metrics with GetMetricData directly")


# ---- SNS e-mail subscriptions ----------------------------------------------------------------------------
EMAIL = ("email", "email-json")


@model("sns", "Subscribe")
def email_waits_for_a_click(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    if params.get("Protocol") not in EMAIL:
        return
    rh.timeline.put(f"sns_pending:{parsed.get('SubscriptionArn', '')}", at=round(rh.now(), 3),
                    endpoint=params.get("Endpoint", ""))
    if not params.get("ReturnSubscriptionArn"):
        parsed["SubscriptionArn"] = "pending confirmation"
    note(ctx, "an e-mail subscription stays PendingConfirmation until its recipient clicks the link (nobody does "
              "in the sandbox): alarms notify nobody meanwhile")


def _pending_subscriptions(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for s in parsed.get("Subscriptions", []):
        if rh.timeline.get(f"sns_pending:{s.get('SubscriptionArn', '')}"):
            s["SubscriptionArn"] = "PendingConfirmation"


model("sns", "ListSubscriptions")(_pending_subscriptions)
model("sns", "ListSubscriptionsByTopic")(_pending_subscriptions)


@model("sns", "GetSubscriptionAttributes")
def attributes_say_pending(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    if rh.timeline.get(f"sns_pending:{params.get('SubscriptionArn', '')}"):
        parsed.setdefault("Attributes", {}).update(PendingConfirmation="true", ConfirmationWasAuthenticated="false")


# ---- RDS engine versions ---------------------------------------------------------------------------------
VERSIONS_FILE = Path(__file__).with_name("rds_engine_versions.yaml")


@lru_cache(maxsize=1)
def engine_versions() -> dict[str, Any]:
    return yaml.safe_load(VERSIONS_FILE.read_text())


def _family(engine: str, version: str) -> str:
    major = version.split(".")[0] if engine == "postgres" else ".".join(version.split(".")[:2])
    return f"{engine}{major}"


@model("rds", "DescribeDBEngineVersions", when="before")
def versions_from_the_dated_list(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    note(ctx, f"moto cannot list RDS engine versions: the sandbox answers from the list dated "
              f"{engine_versions()['as_of']} in the repository")
    return dated_versions(params)


def dated_versions(params: dict[str, Any]) -> dict[str, Any]:
    """describe_db_engine_versions answered from rds_engine_versions.yaml (also the plain sandbox's
    correction: moto answers HTTP 500)."""
    data = engine_versions()
    wanted, version = params.get("Engine"), params.get("EngineVersion", "")
    statuses = {v for f in params.get("Filters", []) if f.get("Name") == "status" for v in f.get("Values", [])}
    out = []
    for engine, e in data["engines"].items():
        if wanted and engine != wanted:
            continue
        rows = [(v, "available") for v in e["available"]]
        if params.get("IncludeAll") or statuses & {"deprecated"}:
            rows += [(v, "deprecated") for v in e["retired"]]
        for v, status in rows:
            if version and v != version and not v.startswith(f"{version}."):
                continue
            if statuses and status not in statuses:
                continue
            if params.get("DefaultOnly") and v != e["default"]:
                continue
            out.append({"Engine": engine, "EngineVersion": v, "DBParameterGroupFamily": _family(engine, v),
                        "DBEngineDescription": e["description"], "DBEngineVersionDescription": f"{e['description']} {v}",
                        "Status": status, "ValidUpgradeTarget": []})
    return {"DBEngineVersions": out}


@model("rds", "CreateDBInstance", when="before")
def retired_version_refused(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    engine, version = params.get("Engine", ""), params.get("EngineVersion", "")
    e = engine_versions()["engines"].get(engine)
    if e and version in e["retired"]:   # an unlisted version is let through: newer minors may exist
        note(ctx, f"RDS retires minor versions on a schedule: {engine} {version} is no longer offered for new "
                  f"instances (list dated {engine_versions()['as_of']}); resolve the newest minor with "
                  f"describe_db_engine_versions")
        return Refusal("InvalidParameterCombination", f"Cannot find version {version} for {engine}")
    return None
