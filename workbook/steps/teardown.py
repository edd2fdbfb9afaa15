"""09_teardown: remove everything the stack created, then prove nothing is left.

Three passes, each safe to run twice:
1. each step's own `destroy(ctx, p)` in reverse step order (07 ... 02), where the module has one;
2. a sweep of leftovers by tag and by exact name, in dependency order, so a half-finished build or a
   step without destroy still ends clean (ENIs, cross-referencing security groups, NAT gateways that
   take minutes to go: the sweep waits and retries DependencyViolation instead of failing);
3. `scan_leftovers`: an independent scan that describes every resource type the workbook creates,
   directly (the tagging API misses launch templates, DB subnet groups, IAM roles, ASGs and API
   Gateway APIs in moto), and reports what is still there.

What is ours: a resource tagged `workbook:stack=<stack>` (read from each service's own describe or
tag call, and checked again client-side). Only what cannot carry a tag is found by name: the developers
IAM group and the dashboard (exact names from names.py), the dump bucket (its name holds stack and
account), SSM parameters and log groups under `/<stack>/`. The dev environment (step 00_setup, tagged with the same stack in
the sandbox) is kept unless p.teardown_dev. The database's final snapshot is kept when
p.keep_final_snapshot. The default VPC is never touched.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pandas as pd
from botocore.exceptions import ClientError, WaiterError

from .. import names, progress, tagging
from ..connect import Context, Resource
from ..iam_cleanup import delete_iam_group, delete_iam_role, delete_iam_user
from ..params import Params
from . import Step, frame, register

STEP = "09_teardown"
DEV_STEP = "00_setup"
# Reverse build order; module names under workbook.steps.
STEP_MODULES = [("07_access", "access"), ("06_observability", "observability"), ("05_edge", "edge"),
                ("04_compute", "compute"), ("03_database", "database"), ("02_network", "network")]

register(Step(
    id=STEP, title="Teardown: remove the stack in dependency order, keep a final snapshot, prove it is gone",
    why="A workshop or a trial stack costs money every hour it runs (NAT gateways, the ALB, Multi-AZ RDS). "
        "The database is production data: the article's first practice is backups, so teardown keeps a "
        "final snapshot unless told otherwise.",
    permissions=(
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:DeleteAutoScalingGroup",
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTags", "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteTargetGroup",
        "ec2:DescribeInstances", "ec2:TerminateInstances", "ec2:DescribeLaunchTemplates", "ec2:DeleteLaunchTemplate",
        "ec2:DescribeImages", "ec2:DeregisterImage", "ec2:DescribeSnapshots", "ec2:DeleteSnapshot",
        "ec2:DescribeVolumes", "ec2:DeleteVolume", "ec2:DescribeVpcs", "ec2:DeleteVpc", "ec2:DescribeSubnets",
        "ec2:DeleteSubnet", "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules",
        "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DeleteSecurityGroup",
        "ec2:DescribeInternetGateways", "ec2:DetachInternetGateway", "ec2:DeleteInternetGateway",
        "ec2:DescribeNatGateways", "ec2:DeleteNatGateway", "ec2:DescribeAddresses", "ec2:DisassociateAddress",
        "ec2:ReleaseAddress", "ec2:DescribeRouteTables", "ec2:DisassociateRouteTable", "ec2:DeleteRouteTable",
        "ec2:DescribeFlowLogs", "ec2:DeleteFlowLogs", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
        "ec2:DescribeVpcEndpoints", "ec2:DeleteVpcEndpoints",
        "rds:DescribeDBInstances", "rds:ModifyDBInstance", "rds:DeleteDBInstance", "rds:DescribeDBSnapshots",
        "rds:DeleteDBSnapshot", "rds:DescribeDBSubnetGroups", "rds:DeleteDBSubnetGroup",
        "rds:DescribeDBParameterGroups", "rds:DeleteDBParameterGroup", "rds:ListTagsForResource",
        "secretsmanager:ListSecrets", "secretsmanager:DeleteSecret",
        "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:DeleteLogGroup",
        "cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:DeleteAlarms",
        "cloudwatch:ListDashboards", "cloudwatch:DeleteDashboards",
        "sns:ListTopics", "sns:ListTagsForResource", "sns:DeleteTopic",
        "route53:ListHostedZones", "route53:ListTagsForResource", "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets", "route53:DeleteHostedZone", "route53:GetChange",
        "acm:ListCertificates", "acm:ListTagsForCertificate", "acm:DescribeCertificate", "acm:DeleteCertificate",
        "apigateway:GET", "apigateway:DELETE",
        "ssm:GetParametersByPath", "ssm:DeleteParameter",
        "s3:ListBucket", "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket",
        "iam:ListRoles", "iam:ListRoleTags", "iam:ListRolePolicies", "iam:DeleteRolePolicy",
        "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy", "iam:ListInstanceProfilesForRole",
        "iam:RemoveRoleFromInstanceProfile", "iam:DeleteRole", "iam:ListInstanceProfiles",
        "iam:GetInstanceProfile", "iam:DeleteInstanceProfile", "iam:ListGroups", "iam:GetGroup",
        "iam:RemoveUserFromGroup", "iam:ListGroupPolicies", "iam:DeleteGroupPolicy",
        "iam:ListAttachedGroupPolicies", "iam:DetachGroupPolicy", "iam:DeleteGroup", "iam:ListUsers",
        "iam:ListUserTags", "iam:ListUserPolicies", "iam:DeleteUserPolicy", "iam:ListAttachedUserPolicies",
        "iam:DetachUserPolicy", "iam:ListAccessKeys", "iam:DeleteAccessKey", "iam:ListGroupsForUser",
        "iam:RemoveUserFromGroup", "iam:DeleteUser", "iam:ListPolicies", "iam:ListPolicyTags",
        "iam:ListPolicyVersions", "iam:DeletePolicyVersion", "iam:ListEntitiesForPolicy", "iam:DeletePolicy"),
))

NOT_FOUND = {"NoSuchEntity", "NoSuchBucket", "NoSuchHostedZone", "ResourceNotFoundException", "NotFoundException",
             "ParameterNotFound", "NotFound"}
# Real AWS frees ENIs of a deleted ALB/NAT/VPC link asynchronously: DependencyViolation for a while.
RETRY_DELAY_S = 15.0
RETRY_ATTEMPTS = 20
LIVE_INSTANCE_STATES = ["pending", "running", "shutting-down", "stopping", "stopped"]
LIVE_NAT_STATES = ["pending", "available", "failed", "deleting"]
ASG_POLL_S, ASG_TIMEOUT_S = 10.0, 900.0


def _missing(e: ClientError) -> bool:
    code = e.response.get("Error", {}).get("Code", "")
    return code in NOT_FOUND or code.endswith(("NotFound", "NotFoundFault", "NotFoundException", ".NotFound"))


def _code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


# ---- what exists ---------------------------------------------------------------------------------
@dataclass
class Item:
    """One resource the scan found: enough to show it and to delete it."""
    type: str
    id: str
    name: str = ""
    step: str = ""
    detail: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def _tag_dict(tags: Any) -> dict[str, str]:
    if isinstance(tags, dict):
        return tags
    return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in tags or []}


def _ours(tags: Any, p: Params) -> bool:
    return _tag_dict(tags).get(tagging.STACK) == p.stack_name


def _item(type_: str, id_: str, tags: Any, raw: dict[str, Any] | None = None, name: str = "",
          detail: str = "") -> Item:
    t = _tag_dict(tags)
    return Item(type_, id_, name or t.get("Name", "") or id_, t.get(tagging.STEP, ""), detail, raw or {})


def _pages(ctx: Context, service: str, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
    c = ctx.client(service)
    if c.can_paginate(op):
        return [x for page in c.get_paginator(op).paginate(**kw) for x in page.get(key, [])]
    return getattr(c, op)(**kw).get(key, [])


def _ec2_tagged(ctx: Context, p: Params, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
    """Filtered by tag on the server, and again here: moto 5.2.5 ignores some tag filters (NAT gateways),
    and a teardown must never act on another stack's resource because an emulator returned it."""
    filters = kw.pop("Filters", []) + [{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]
    found = _pages(ctx, "ec2", op, key, Filters=filters, **kw)
    if key == "Reservations":
        return [{**r, "Instances": [i for i in r["Instances"] if _ours(i.get("Tags"), p)]} for r in found]
    return [x for x in found if _ours(x.get("Tags") or x.get("TagSet"), p)]


def _stack_vpcs(ctx: Context, p: Params) -> list[dict[str, Any]]:
    return [v for v in _ec2_tagged(ctx, p, "describe_vpcs", "Vpcs") if not v.get("IsDefault")]


def find_vpcs(ctx: Context, p: Params) -> list[Item]:
    return [_item("vpc", v["VpcId"], v.get("Tags"), v, detail=v.get("CidrBlock", "")) for v in _stack_vpcs(ctx, p)]


def _in_stack_vpcs(ctx: Context, p: Params, op: str, key: str, vpc_filter: str = "vpc-id") -> list[dict[str, Any]]:
    """Tagged ones anywhere plus untagged ones inside the stack's VPCs (they block DeleteVpc)."""
    found = {_identity(x): x for x in _ec2_tagged(ctx, p, op, key)}
    vpc_ids = [v["VpcId"] for v in _stack_vpcs(ctx, p)]
    if vpc_ids:
        for x in _pages(ctx, "ec2", op, key, Filters=[{"Name": vpc_filter, "Values": vpc_ids}]):
            found.setdefault(_identity(x), x)
    return list(found.values())


def _identity(x: dict[str, Any]) -> str:
    for k in ("SubnetId", "GroupId", "RouteTableId", "InternetGatewayId", "NatGatewayId", "NetworkInterfaceId",
              "VpcEndpointId", "FlowLogId", "InstanceId"):
        if k in x:
            return x[k]
    return repr(sorted(x.items()))


def find_subnets(ctx: Context, p: Params) -> list[Item]:
    return [_item("subnet", s["SubnetId"], s.get("Tags"), s, detail=f"{s.get('AvailabilityZone')} {s.get('CidrBlock')}")
            for s in _in_stack_vpcs(ctx, p, "describe_subnets", "Subnets")]


def find_security_groups(ctx: Context, p: Params) -> list[Item]:
    # The default group of a VPC cannot be deleted; it goes with its VPC.
    return [_item("security_group", g["GroupId"], g.get("Tags"), g, name=g["GroupName"], detail=g.get("VpcId", ""))
            for g in _in_stack_vpcs(ctx, p, "describe_security_groups", "SecurityGroups")
            if g["GroupName"] != "default"]


def find_internet_gateways(ctx: Context, p: Params) -> list[Item]:
    return [_item("internet_gateway", g["InternetGatewayId"], g.get("Tags"), g)
            for g in _in_stack_vpcs(ctx, p, "describe_internet_gateways", "InternetGateways", "attachment.vpc-id")]


def find_nat_gateways(ctx: Context, p: Params) -> list[Item]:
    ec2 = ctx.client("ec2")
    found = {}
    states = {"Name": "state", "Values": LIVE_NAT_STATES}
    for n in _ec2_tagged(ctx, p, "describe_nat_gateways", "NatGateways", Filters=[states]):
        found[n["NatGatewayId"]] = n
    vpc_ids = [v["VpcId"] for v in _stack_vpcs(ctx, p)]
    if vpc_ids:
        for page in ec2.get_paginator("describe_nat_gateways").paginate(
                Filters=[{"Name": "vpc-id", "Values": vpc_ids}, states]):
            for n in page["NatGateways"]:
                found.setdefault(n["NatGatewayId"], n)
    return [_item("nat_gateway", n["NatGatewayId"], n.get("Tags"), n, detail=n["State"]) for n in found.values()]


def find_addresses(ctx: Context, p: Params) -> list[Item]:
    # describe_addresses has no paginator (it returns all at once).
    out = [a for a in ctx.client("ec2").describe_addresses(
        Filters=[{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}])["Addresses"] if _ours(a.get("Tags"), p)]
    return [_item("elastic_ip", a["AllocationId"], a.get("Tags"), a, detail=a.get("PublicIp", "")) for a in out]


def find_route_tables(ctx: Context, p: Params) -> list[Item]:
    # A VPC's main table goes with the VPC; only the others can (and must) be deleted first.
    return [_item("route_table", t["RouteTableId"], t.get("Tags"), t)
            for t in _in_stack_vpcs(ctx, p, "describe_route_tables", "RouteTables")
            if not any(a.get("Main") for a in t.get("Associations", []))]


def find_flow_logs(ctx: Context, p: Params) -> list[Item]:
    ec2 = ctx.client("ec2")
    found = {f["FlowLogId"]: f for page in ec2.get_paginator("describe_flow_logs").paginate(
        Filter=[{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]) for f in page["FlowLogs"]
        if _ours(f.get("Tags"), p)}
    vpc_ids = [v["VpcId"] for v in _stack_vpcs(ctx, p)]
    if vpc_ids:
        for page in ec2.get_paginator("describe_flow_logs").paginate(Filter=[{"Name": "resource-id", "Values": vpc_ids}]):
            for f in page["FlowLogs"]:
                found.setdefault(f["FlowLogId"], f)
    return [_item("flow_log", f["FlowLogId"], f.get("Tags"), f, detail=f.get("LogGroupName", "")) for f in found.values()]


def find_network_interfaces(ctx: Context, p: Params) -> list[Item]:
    return [_item("network_interface", n["NetworkInterfaceId"], n.get("TagSet"), n,
                  detail=f"{n.get('Status')} {n.get('InterfaceType', '')} {n.get('Description', '')}".strip())
            for n in _in_stack_vpcs(ctx, p, "describe_network_interfaces", "NetworkInterfaces")]


def find_vpc_endpoints(ctx: Context, p: Params) -> list[Item]:
    return [_item("vpc_endpoint", e["VpcEndpointId"], e.get("Tags"), e, detail=e.get("ServiceName", ""))
            for e in _in_stack_vpcs(ctx, p, "describe_vpc_endpoints", "VpcEndpoints")
            if e.get("State", "").lower() not in ("deleted", "deleting")]


def find_instances(ctx: Context, p: Params) -> list[Item]:
    found = {i["InstanceId"]: i for r in _ec2_tagged(ctx, p, "describe_instances", "Reservations",
                                                     Filters=[{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])
             for i in r["Instances"]}
    return [_item("instance", i["InstanceId"], i.get("Tags"), i, detail=i["State"]["Name"]) for i in found.values()]


def find_launch_templates(ctx: Context, p: Params) -> list[Item]:
    found = {t["LaunchTemplateId"]: t for t in _ec2_tagged(ctx, p, "describe_launch_templates", "LaunchTemplates")}
    return [_item("launch_template", t["LaunchTemplateId"], t.get("Tags"), t, name=t["LaunchTemplateName"])
            for t in found.values()]


def find_images(ctx: Context, p: Params) -> list[Item]:
    return [_item("ami", i["ImageId"], i.get("Tags"), i, name=i.get("Name", ""))
            for i in _ec2_tagged(ctx, p, "describe_images", "Images", Owners=["self"])]


def find_ebs_snapshots(ctx: Context, p: Params) -> list[Item]:
    return [_item("ebs_snapshot", s["SnapshotId"], s.get("Tags"), s, detail=s.get("VolumeId", ""))
            for s in _ec2_tagged(ctx, p, "describe_snapshots", "Snapshots", OwnerIds=["self"])]


def find_volumes(ctx: Context, p: Params) -> list[Item]:
    # In-use volumes go with their instance (DeleteOnTermination); detached tagged ones are leftovers.
    return [_item("volume", v["VolumeId"], v.get("Tags"), v, detail=v["State"])
            for v in _ec2_tagged(ctx, p, "describe_volumes", "Volumes",
                                 Filters=[{"Name": "status", "Values": ["available", "creating", "error"]}])]


def _elb_tags(ctx: Context, arns: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    elb = ctx.client("elbv2")
    for i in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = _tag_dict(d.get("Tags"))
    return out


def find_load_balancers(ctx: Context, p: Params) -> list[Item]:
    lbs = _pages(ctx, "elbv2", "describe_load_balancers", "LoadBalancers")
    tags = _elb_tags(ctx, [lb["LoadBalancerArn"] for lb in lbs])
    return [_item("load_balancer", lb["LoadBalancerArn"], tags.get(lb["LoadBalancerArn"]), lb,
                  name=lb["LoadBalancerName"], detail=lb.get("Scheme", ""))
            for lb in lbs if _ours(tags.get(lb["LoadBalancerArn"]), p)]


def find_target_groups(ctx: Context, p: Params) -> list[Item]:
    tgs = _pages(ctx, "elbv2", "describe_target_groups", "TargetGroups")
    tags = _elb_tags(ctx, [t["TargetGroupArn"] for t in tgs])
    return [_item("target_group", t["TargetGroupArn"], tags.get(t["TargetGroupArn"]), t, name=t["TargetGroupName"])
            for t in tgs if _ours(tags.get(t["TargetGroupArn"]), p)]


def find_auto_scaling_groups(ctx: Context, p: Params) -> list[Item]:
    found = {g["AutoScalingGroupName"]: g for g in _pages(
        ctx, "autoscaling", "describe_auto_scaling_groups", "AutoScalingGroups",
        Filters=[{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]) if _ours(g.get("Tags"), p)}
    return [_item("auto_scaling_group", n, g.get("Tags"), g, name=n, detail=g.get("Status", "") or
                  f"{len(g.get('Instances', []))} instances") for n, g in found.items()]


def _rds_tags(ctx: Context, arn: str) -> dict[str, str]:
    try:
        return _tag_dict(ctx.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"])
    except ClientError as e:
        if _missing(e):
            return {}
        raise


def find_db_instances(ctx: Context, p: Params) -> list[Item]:
    return [_item("db_instance", d["DBInstanceIdentifier"], d.get("TagList"), d, name=d["DBInstanceIdentifier"],
                  detail=d["DBInstanceStatus"])
            for d in _pages(ctx, "rds", "describe_db_instances", "DBInstances")
            if _ours(d.get("TagList"), p)]


def final_snapshot_prefix(p: Params) -> str:
    return names.db_snapshot(p, "final")


def find_db_snapshots(ctx: Context, p: Params) -> list[Item]:
    out = []
    for s in _pages(ctx, "rds", "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
        tags = _tag_dict(s.get("TagList") or _rds_tags(ctx, s["DBSnapshotArn"]))
        if _ours(tags, p):
            out.append(_item("db_snapshot", s["DBSnapshotIdentifier"], tags, s, name=s["DBSnapshotIdentifier"],
                             detail=s.get("Status", "")))
    return out


def find_db_subnet_groups(ctx: Context, p: Params) -> list[Item]:
    out = []
    for g in _pages(ctx, "rds", "describe_db_subnet_groups", "DBSubnetGroups"):
        if not g["DBSubnetGroupName"].startswith(f"{p.stack_name}-"):
            continue  # tags are per-ARN calls: ask only for the stack's name prefix
        tags = _rds_tags(ctx, g["DBSubnetGroupArn"])
        if _ours(tags, p):
            out.append(_item("db_subnet_group", g["DBSubnetGroupName"], tags, g, name=g["DBSubnetGroupName"]))
    return out


def find_db_parameter_groups(ctx: Context, p: Params) -> list[Item]:
    out = []
    for g in _pages(ctx, "rds", "describe_db_parameter_groups", "DBParameterGroups"):
        if not g["DBParameterGroupName"].startswith(f"{p.stack_name}-"):
            continue
        tags = _rds_tags(ctx, g["DBParameterGroupArn"])
        if _ours(tags, p):
            out.append(_item("db_parameter_group", g["DBParameterGroupName"], tags, g, name=g["DBParameterGroupName"]))
    return out


def find_secrets(ctx: Context, p: Params) -> list[Item]:
    """Secrets tagged with the stack, plus RDS-managed ones (rds!db-...) of the stack's database.
    Secrets scheduled for deletion are listed with detail "scheduled for deletion"."""
    out = []
    for s in _pages(ctx, "secretsmanager", "list_secrets", "SecretList", IncludePlannedDeletion=True):
        tags = _tag_dict(s.get("Tags"))
        managed = s["Name"].startswith("rds!db-") and (
            tags.get("aws:rds:primaryDBInstanceArn", "").endswith(f":db:{names.db_instance(p)}")
            or any(tags.get("aws:rds:primaryDBInstanceArn", "").endswith(f":db:{x}") for x in _db_identifiers(p)))
        if _ours(tags, p) or managed:
            out.append(_item("secret", s["ARN"], tags, s, name=s["Name"],
                             detail="scheduled for deletion" if s.get("DeletedDate") else ("rds-managed" if managed else "")))
    return out


def _db_identifiers(p: Params) -> list[str]:
    return [names.db_instance(p), p.name("db-restore-drill"), p.name("db-drill")]


def find_log_groups(ctx: Context, p: Params) -> list[Item]:
    logs = ctx.client("logs")
    out = {}
    for prefix in (f"/{p.stack_name}/", f"{p.stack_name}-", f"/aws/vpc/{p.stack_name}-"):
        for g in _pages(ctx, "logs", "describe_log_groups", "logGroups", logGroupNamePrefix=prefix):
            arn = g.get("logGroupArn") or g["arn"].removesuffix(":*")
            try:
                tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            except ClientError as e:
                if not _missing(e):
                    raise
                tags = {}
            # "/<stack>/" cannot belong to another stack; "<stack>-" could ("demo" vs "demo-2"): need the tag
            if prefix.startswith("/") or _ours(tags, p):
                out[g["logGroupName"]] = _item("log_group", g["logGroupName"], tags, g, name=g["logGroupName"])
    return list(out.values())


def _cw_tags(ctx: Context, arn: str) -> dict[str, str]:
    try:
        return _tag_dict(ctx.client("cloudwatch").list_tags_for_resource(ResourceARN=arn)["Tags"])
    except ClientError as e:
        if _missing(e):
            return {}
        raise


def find_alarms(ctx: Context, p: Params) -> list[Item]:
    cw = ctx.client("cloudwatch")
    out = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=f"{p.stack_name}-"):
        for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            tags = _cw_tags(ctx, a["AlarmArn"])
            if _ours(tags, p):
                out.append(_item("alarm", a["AlarmName"], tags, a, name=a["AlarmName"]))
    return out


def find_dashboards(ctx: Context, p: Params) -> list[Item]:
    # Dashboards carry no tags that list_dashboards returns: the exact name is the contract.
    return [_item("dashboard", d["DashboardName"], {}, d, name=d["DashboardName"])
            for d in _pages(ctx, "cloudwatch", "list_dashboards", "DashboardEntries", DashboardNamePrefix=names.dashboard(p))
            if d["DashboardName"] == names.dashboard(p)]


def find_topics(ctx: Context, p: Params) -> list[Item]:
    sns = ctx.client("sns")
    out = []
    for t in _pages(ctx, "sns", "list_topics", "Topics"):
        arn = t["TopicArn"]
        if not arn.rsplit(":", 1)[-1].startswith(f"{p.stack_name}-"):
            continue
        tags = _tag_dict(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))
        if _ours(tags, p):
            out.append(_item("sns_topic", arn, tags, {"TopicArn": arn}, name=arn.rsplit(":", 1)[-1]))
    return out


def _zone_tags(ctx: Context, zone_id: str) -> dict[str, str]:
    try:
        r = ctx.client("route53").list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)
    except ClientError as e:
        if _missing(e):
            return {}
        raise
    return _tag_dict(r["ResourceTagSet"].get("Tags"))


def find_hosted_zones(ctx: Context, p: Params) -> list[Item]:
    out = []
    for z in _pages(ctx, "route53", "list_hosted_zones", "HostedZones"):
        zid = z["Id"].rsplit("/", 1)[-1]
        if zid == p.hosted_zone_id:
            continue  # the user's zone: only our records in it are ours
        tags = _zone_tags(ctx, zid)
        if _ours(tags, p):
            out.append(_item("hosted_zone", zid, tags, z, name=z["Name"], detail=f"{z.get('ResourceRecordSetCount')} records"))
    return out


def _cert_validation_names(ctx: Context, p: Params) -> set[str]:
    acm = ctx.client("acm")
    out = set()
    for c in find_certificates(ctx, p):
        try:
            cert = acm.describe_certificate(CertificateArn=c.id)["Certificate"]
        except ClientError as e:
            if _missing(e):
                continue
            raise
        for o in cert.get("DomainValidationOptions", []):
            if o.get("ResourceRecord"):
                out.add(o["ResourceRecord"]["Name"].rstrip(".").lower())
    return out


def find_records(ctx: Context, p: Params) -> list[Item]:
    """In the user's zone (p.hosted_zone_id): the API's record and our certificates' validation records.
    Records inside a zone the stack created go with the zone and are not listed one by one."""
    if not p.hosted_zone_id or not p.domain_name:
        return []
    wanted = {p.domain_name.lower()} | _cert_validation_names(ctx, p)
    try:
        sets = _pages(ctx, "route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=p.hosted_zone_id)
    except ClientError as e:
        if _missing(e):
            return []
        raise
    return [_item("dns_record", f"{r['Name']} {r['Type']}", {}, r, name=r["Name"], detail=p.hosted_zone_id)
            for r in sets if r["Name"].rstrip(".").lower() in wanted and r["Type"] in ("A", "AAAA", "CNAME")]


def find_certificates(ctx: Context, p: Params) -> list[Item]:
    acm = ctx.client("acm")
    out = []
    for c in _pages(ctx, "acm", "list_certificates", "CertificateSummaryList"):
        tags = _tag_dict(acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"]).get("Tags"))
        if _ours(tags, p):
            out.append(_item("certificate", c["CertificateArn"], tags, c, name=c.get("DomainName", "")))
    return out


def find_apis(ctx: Context, p: Params) -> list[Item]:
    return [_item("http_api", a["ApiId"], a.get("Tags"), a, name=a["Name"], detail=a.get("ProtocolType", ""))
            for a in _pages(ctx, "apigatewayv2", "get_apis", "Items")
            if _ours(a.get("Tags"), p)]


def find_vpc_links(ctx: Context, p: Params) -> list[Item]:
    # get_vpc_links has no paginator: follow NextToken by hand.
    gw, out, token = ctx.client("apigatewayv2"), [], None
    while True:
        page = gw.get_vpc_links(**({"NextToken": token} if token else {}))
        out += [_item("vpc_link", v["VpcLinkId"], v.get("Tags"), v, name=v["Name"], detail=v.get("VpcLinkStatus", ""))
                for v in page.get("Items", []) if _ours(v.get("Tags"), p)]
        token = page.get("NextToken")
        if not token:
            return out


def find_api_domains(ctx: Context, p: Params) -> list[Item]:
    if not p.domain_name:
        return []
    return [_item("api_domain", d["DomainName"], d.get("Tags"), d, name=d["DomainName"])
            for d in _pages(ctx, "apigatewayv2", "get_domain_names", "Items")
            if d["DomainName"] == p.domain_name and _ours(d.get("Tags"), p)]


def find_ssm_parameters(ctx: Context, p: Params) -> list[Item]:
    return [_item("ssm_parameter", x["Name"], {}, x, name=x["Name"])
            for x in _pages(ctx, "ssm", "get_parameters_by_path", "Parameters", Path=f"/{p.stack_name}/", Recursive=True)]


def find_buckets(ctx: Context, p: Params) -> list[Item]:
    name = names.dump_bucket(p, ctx.account_id)
    try:
        ctx.client("s3").head_bucket(Bucket=name)
    except ClientError as e:
        if _code(e) in ("404", "NoSuchBucket", "NotFound") or _missing(e):
            return []
        if _code(e) in ("403", "AccessDenied"):
            return []  # the name is taken by another account: not ours
        raise
    return [_item("s3_bucket", name, {}, {"Name": name}, name=name)]


def _iam_tags(ctx: Context, kind: str, name: str) -> dict[str, str]:
    iam = ctx.client("iam")
    op, key = {"role": ("list_role_tags", "RoleName"), "user": ("list_user_tags", "UserName"),
               "policy": ("list_policy_tags", "PolicyArn")}.get(kind, ("", ""))
    try:
        if kind == "instance_profile":  # GetInstanceProfile returns the tags (and moto lacks ListInstanceProfileTags)
            return _tag_dict(iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Tags"))
        return _tag_dict([t for page in iam.get_paginator(op).paginate(**{key: name}) for t in page["Tags"]])
    except ClientError as e:
        if _missing(e):
            return {}
        raise


def _iam_prefixed(tags: dict[str, str], name: str, p: Params) -> bool:
    """Stack-prefixed (so only those names cost a tag call) and tagged with the stack: an untagged
    "demo-bob" in a real account is a person, not the stack's."""
    return name.startswith(f"{p.stack_name}-") and _ours(tags, p)


def find_iam_roles(ctx: Context, p: Params) -> list[Item]:
    out = []
    for r in _pages(ctx, "iam", "list_roles", "Roles"):
        if r["RoleName"].startswith(f"{p.stack_name}-"):
            tags = _iam_tags(ctx, "role", r["RoleName"])
            if _iam_prefixed(tags, r["RoleName"], p):
                out.append(_item("iam_role", r["RoleName"], tags, r, name=r["RoleName"]))
    return out


def find_instance_profiles(ctx: Context, p: Params) -> list[Item]:
    out = []
    for ip in _pages(ctx, "iam", "list_instance_profiles", "InstanceProfiles"):
        n = ip["InstanceProfileName"]
        if n.startswith(f"{p.stack_name}-"):
            tags = _iam_tags(ctx, "instance_profile", n)
            if _iam_prefixed(tags, n, p):
                out.append(_item("instance_profile", n, tags, ip, name=n))
    return out


def find_iam_groups(ctx: Context, p: Params) -> list[Item]:
    # Groups cannot be tagged: the exact name of names.py.
    return [_item("iam_group", g["GroupName"], {}, g, name=g["GroupName"])
            for g in _pages(ctx, "iam", "list_groups", "Groups") if g["GroupName"] == names.developers_group(p)]


def find_iam_users(ctx: Context, p: Params) -> list[Item]:
    out = []
    for u in _pages(ctx, "iam", "list_users", "Users"):
        if u["UserName"].startswith(f"{p.stack_name}-"):
            tags = _iam_tags(ctx, "user", u["UserName"])
            if _iam_prefixed(tags, u["UserName"], p):
                out.append(_item("iam_user", u["UserName"], tags, u, name=u["UserName"]))
    return out


def find_iam_policies(ctx: Context, p: Params) -> list[Item]:
    out = []
    for pol in _pages(ctx, "iam", "list_policies", "Policies", Scope="Local"):
        if pol["PolicyName"].startswith(f"{p.stack_name}-"):
            tags = _iam_tags(ctx, "policy", pol["Arn"])
            if _iam_prefixed(tags, pol["PolicyName"], p):
                out.append(_item("iam_policy", pol["Arn"], tags, pol, name=pol["PolicyName"]))
    return out


# Every type the workbook creates, in the order the sweep deletes them (dependents first).
FINDERS: list[tuple[str, Callable[[Context, Params], list[Item]]]] = [
    ("iam_group", find_iam_groups), ("iam_user", find_iam_users), ("instance_profile", find_instance_profiles),
    ("iam_role", find_iam_roles), ("iam_policy", find_iam_policies),
    ("alarm", find_alarms), ("dashboard", find_dashboards), ("sns_topic", find_topics),
    ("api_domain", find_api_domains), ("http_api", find_apis), ("vpc_link", find_vpc_links),
    ("dns_record", find_records), ("hosted_zone", find_hosted_zones),
    ("auto_scaling_group", find_auto_scaling_groups), ("instance", find_instances),
    ("load_balancer", find_load_balancers), ("target_group", find_target_groups),
    ("certificate", find_certificates), ("launch_template", find_launch_templates), ("ami", find_images),
    ("ebs_snapshot", find_ebs_snapshots), ("volume", find_volumes), ("ssm_parameter", find_ssm_parameters),
    ("db_instance", find_db_instances), ("db_snapshot", find_db_snapshots), ("db_subnet_group", find_db_subnet_groups),
    ("db_parameter_group", find_db_parameter_groups), ("secret", find_secrets), ("s3_bucket", find_buckets),
    ("log_group", find_log_groups), ("flow_log", find_flow_logs), ("nat_gateway", find_nat_gateways),
    ("elastic_ip", find_addresses), ("vpc_endpoint", find_vpc_endpoints),
    ("network_interface", find_network_interfaces), ("security_group", find_security_groups),
    ("subnet", find_subnets), ("route_table", find_route_tables), ("internet_gateway", find_internet_gateways),
    ("vpc", find_vpcs),
]
SCAN_COLUMNS = ["type", "id", "name", "step", "status", "detail"]


def _is_dev(item: Item) -> bool:
    return item.step == DEV_STEP


def _is_kept_snapshot(item: Item, p: Params) -> bool:
    return item.type == "db_snapshot" and p.keep_final_snapshot and item.id.startswith(final_snapshot_prefix(p))


def _status(item: Item, p: Params) -> str:
    if _is_kept_snapshot(item, p):
        return "kept (final snapshot)"
    if _is_dev(item) and not p.teardown_dev:
        return "kept (dev environment)"
    if item.type == "secret" and item.detail == "scheduled for deletion":
        return "pending deletion"
    return "leftover"


def scan_leftovers(ctx: Context, p: Params) -> pd.DataFrame:
    """Every resource of the stack still there, one row each; status "leftover" for what teardown
    should have removed, "kept (...)" for the final snapshot and the dev environment (unless
    teardown_dev), "pending deletion" for a secret inside its recovery window."""
    rows = [{"type": it.type, "id": it.id, "name": it.name, "step": it.step, "status": _status(it, p),
             "detail": it.detail} for _, find in FINDERS for it in find(ctx, p)]
    return pd.DataFrame(rows, columns=SCAN_COLUMNS)


def leftovers(scan: pd.DataFrame) -> pd.DataFrame:
    return scan[scan.status == "leftover"].reset_index(drop=True)


def scan_summary(scan: pd.DataFrame, nonzero: bool = False) -> pd.DataFrame:
    """Counts per type and status, every scanned type listed (zeros included) so "nothing left" shows;
    nonzero=True keeps only the types with something in them."""
    types = [t for t, _ in FINDERS]
    counts = scan.groupby(["type", "status"]).size().unstack(fill_value=0) if not scan.empty else pd.DataFrame()
    out = counts.reindex(types, fill_value=0)
    if "leftover" not in out.columns:
        out["leftover"] = 0
    out = out.reset_index().rename(columns={"index": "type"})
    out.columns.name = None
    if nonzero:
        out = out[out.drop(columns="type").sum(axis=1) > 0].reset_index(drop=True)
    return out


# ---- the steps' own destroy functions --------------------------------------------------------------
def run_step_destroys(ctx: Context, p: Params, modules: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Each step module's destroy(ctx, p), reverse step order. A failure is recorded, not raised: the
    sweep that follows removes what the step left, and the scan shows anything still there."""
    rows = []
    for step_id, module in modules or STEP_MODULES:
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ImportError as e:
            rows.append({"step": step_id, "outcome": "no module", "deleted": 0, "detail": str(e)})
            continue
        fn = getattr(mod, "destroy", None)
        if fn is None:
            rows.append({"step": step_id, "outcome": "no destroy()", "deleted": 0, "detail": "left to the sweep"})
            continue
        mark = len(ctx.resources)
        try:
            fn(ctx, p)
            out, detail = "ok", ""
        except Exception as e:  # noqa: BLE001 - any failure is reported and left to the sweep
            out, detail = "failed", f"{type(e).__name__}: {e}"[:300]
        acted = [r for r in ctx.resources[mark:] if r.action in ("deleted", "would delete")]
        rows.append({"step": step_id, "outcome": out, "deleted": len(acted), "detail": detail})
    return pd.DataFrame(rows, columns=["step", "outcome", "deleted", "detail"])


# ---- the sweep ---------------------------------------------------------------------------------------
def _retry_dependency(ctx: Context, fn: Callable[[], Any], what: str) -> None:
    """Retry while AWS still holds a dependency (ENIs of a deleted ALB, NAT or VPC link go away late)."""
    for attempt in range(RETRY_ATTEMPTS):
        try:
            fn()
            return
        except ClientError as e:
            if _missing(e):
                return
            if _code(e) not in ("DependencyViolation", "ResourceInUse", "InvalidDBSubnetGroupStateFault",
                                "InvalidDBParameterGroupState", "ResourceInUseException", "ConflictException") \
                    or attempt == RETRY_ATTEMPTS - 1:
                raise
            time.sleep(0 if ctx.sandbox else RETRY_DELAY_S)


def _wait(ctx: Context, service: str, waiter: str, max_attempts: int | None = None, **kw: Any) -> None:
    """A botocore waiter with the workbook's progress bar (long on AWS: RDS deletes take minutes)."""
    what = f"{waiter.replace('_', ' ')}: {', '.join(str(v) for v in kw.values())}"[:120]
    try:
        progress.wait_for(ctx.client(service), waiter, what, max_attempts=max_attempts, **kw)
    except WaiterError as e:
        # "not found" ends some waits (e.g. a deleted instance vanishes): that is what we wanted.
        if "NotFound" not in str(e):
            raise


def _delete_instance_profile(ctx: Context, it: Item) -> None:
    iam = ctx.client("iam")
    for r in it.raw.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=it.id, RoleName=r["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=it.id)


def _delete_policy(ctx: Context, arn: str) -> None:
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for g in page.get("PolicyGroups", []):
            iam.detach_group_policy(GroupName=g["GroupName"], PolicyArn=arn)
        for u in page.get("PolicyUsers", []):
            iam.detach_user_policy(UserName=u["UserName"], PolicyArn=arn)
        for r in page.get("PolicyRoles", []):
            iam.detach_role_policy(RoleName=r["RoleName"], PolicyArn=arn)
    for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn):
        for v in page["Versions"]:
            if not v["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.delete_policy(PolicyArn=arn)


def _delete_zone(ctx: Context, it: Item) -> None:
    r53 = ctx.client("route53")
    changes = [{"Action": "DELETE", "ResourceRecordSet": r}
               for r in _pages(ctx, "route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=it.id)
               if not (r["Type"] in ("SOA", "NS") and r["Name"].rstrip(".") == it.name.rstrip("."))]
    for i in range(0, len(changes), 100):
        change = r53.change_resource_record_sets(HostedZoneId=it.id, ChangeBatch={"Changes": changes[i:i + 100]})
        _wait(ctx, "route53", "resource_record_sets_changed", Id=change["ChangeInfo"]["Id"])
    r53.delete_hosted_zone(Id=it.id)


def _delete_record(ctx: Context, it: Item) -> None:
    change = ctx.client("route53").change_resource_record_sets(
        HostedZoneId=it.detail, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": it.raw}]})
    _wait(ctx, "route53", "resource_record_sets_changed", Id=change["ChangeInfo"]["Id"])


def _delete_asg(ctx: Context, it: Item) -> None:
    asg = ctx.client("autoscaling")
    ids = [i["InstanceId"] for i in it.raw.get("Instances", [])]
    if "Delete in progress" not in (it.raw.get("Status") or ""):
        asg.delete_auto_scaling_group(AutoScalingGroupName=it.id, ForceDelete=True)
    if ids:
        _wait(ctx, "ec2", "instance_terminated", InstanceIds=ids)
    # No botocore waiter for a deleted group: poll until it is no longer listed.
    delay = 0.2 if ctx.sandbox else ASG_POLL_S
    progress.poll(lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[it.id])["AutoScalingGroups"],
                  f"auto scaling group {it.id} to be deleted", delay=delay, max_attempts=int(ASG_TIMEOUT_S / ASG_POLL_S))


def _delete_load_balancer(ctx: Context, it: Item) -> None:
    elb = ctx.client("elbv2")
    elb.modify_load_balancer_attributes(LoadBalancerArn=it.id, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    elb.delete_load_balancer(LoadBalancerArn=it.id)
    _wait(ctx, "elbv2", "load_balancers_deleted", LoadBalancerArns=[it.id])


def _delete_image(ctx: Context, it: Item) -> None:
    ec2 = ctx.client("ec2")
    ec2.deregister_image(ImageId=it.id)
    for m in it.raw.get("BlockDeviceMappings", []):
        snap = m.get("Ebs", {}).get("SnapshotId")
        if snap:
            try:
                ec2.delete_snapshot(SnapshotId=snap)
            except ClientError as e:
                if not _missing(e):
                    raise


def _delete_db_instance(ctx: Context, p: Params, it: Item, kept: list[Resource]) -> None:
    rds = ctx.client("rds")
    db = it.raw
    if db["DBInstanceStatus"] != "deleting":
        if db.get("DeletionProtection"):
            rds.modify_db_instance(DBInstanceIdentifier=it.id, DeletionProtection=False, ApplyImmediately=True)
        args: dict[str, Any] = {"DBInstanceIdentifier": it.id, "DeleteAutomatedBackups": True}
        # Only the stack's database is kept as a final snapshot; drills and replicas are copies of it.
        if p.keep_final_snapshot and it.id == names.db_instance(p) and not db.get("ReadReplicaSourceDBInstanceIdentifier"):
            snap = _free_final_snapshot_name(ctx, p)
            args.update(SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snap)
            kept.append(ctx.note(STEP, "db_snapshot", snap, snap, "kept (final snapshot)"))
        else:
            args.update(SkipFinalSnapshot=True)
        rds.delete_db_instance(**args)
    _wait(ctx, "rds", "db_instance_deleted", max_attempts=80, DBInstanceIdentifier=it.id)


def _free_final_snapshot_name(ctx: Context, p: Params) -> str:
    """names.db_snapshot(p, "final"), dated when an earlier teardown already kept that one (same rule as
    step 03's destroy)."""
    name = final_snapshot_prefix(p)
    try:
        ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=name)
    except ClientError as e:
        if _missing(e):
            return name
        raise
    return names.db_snapshot(p, "final-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()))


def _delete_secret(ctx: Context, it: Item) -> None:
    sm = ctx.client("secretsmanager")
    if it.detail == "rds-managed":
        # On AWS, RDS owns this secret and deletes it with the instance; a direct delete is refused.
        if not ctx.sandbox:
            return
        ctx.workaround(f"moto keeps the RDS-managed secret {it.name} after its DB instance is deleted; "
                       "deleting it as RDS would")
        sm.delete_secret(SecretId=it.id, ForceDeleteWithoutRecovery=True)
        return
    # The stack's own secrets keep AWS's shortest recovery window: a mistaken teardown can be undone.
    sm.delete_secret(SecretId=it.id, RecoveryWindowInDays=7)


def _empty_and_delete_bucket(ctx: Context, it: Item) -> None:
    s3 = ctx.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=it.id):
        objs = [{"Key": o["Key"], "VersionId": o["VersionId"]} for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objs:
            s3.delete_objects(Bucket=it.id, Delete={"Objects": objs, "Quiet": True})
    s3.delete_bucket(Bucket=it.id)


def _delete_nat(ctx: Context, it: Item) -> None:
    if it.raw.get("State") not in ("deleting", "deleted"):
        ctx.client("ec2").delete_nat_gateway(NatGatewayId=it.id)
    _wait(ctx, "ec2", "nat_gateway_deleted", NatGatewayIds=[it.id])


def _release_address(ctx: Context, it: Item) -> None:
    ec2 = ctx.client("ec2")
    if it.raw.get("AssociationId"):
        ec2.disassociate_address(AssociationId=it.raw["AssociationId"])
    _retry_dependency(ctx, lambda: ec2.release_address(AllocationId=it.id), it.id)


def _delete_eni(ctx: Context, it: Item) -> None:
    ec2 = ctx.client("ec2")
    att = it.raw.get("Attachment") or {}
    # Only ENIs nobody manages: an attachment to an instance we terminated, or none at all.
    if att.get("AttachmentId") and att.get("InstanceId"):
        ec2.detach_network_interface(AttachmentId=att["AttachmentId"], Force=True)
    _retry_dependency(ctx, lambda: ec2.delete_network_interface(NetworkInterfaceId=it.id), it.id)


def _revoke_references(ctx: Context, groups: list[Item]) -> None:
    """Security groups that reference each other block each other's deletion: drop those rules first."""
    ec2 = ctx.client("ec2")
    for g in groups:
        rules = _pages(ctx, "ec2", "describe_security_group_rules", "SecurityGroupRules",
                       Filters=[{"Name": "group-id", "Values": [g.id]}])
        refs = [r for r in rules if r.get("ReferencedGroupInfo", {}).get("GroupId")]
        ingress = [r["SecurityGroupRuleId"] for r in refs if not r["IsEgress"]]
        egress = [r["SecurityGroupRuleId"] for r in refs if r["IsEgress"]]
        try:
            if ingress:
                ec2.revoke_security_group_ingress(GroupId=g.id, SecurityGroupRuleIds=ingress)
            if egress:
                ec2.revoke_security_group_egress(GroupId=g.id, SecurityGroupRuleIds=egress)
        except ClientError as e:
            if not _missing(e):
                raise


def _delete_route_table(ctx: Context, it: Item) -> None:
    ec2 = ctx.client("ec2")
    for a in it.raw.get("Associations", []):
        if a.get("RouteTableAssociationId") and not a.get("Main"):
            try:
                ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
            except ClientError as e:
                if not _missing(e):
                    raise
    ec2.delete_route_table(RouteTableId=it.id)


def _delete_igw(ctx: Context, it: Item) -> None:
    ec2 = ctx.client("ec2")
    for a in it.raw.get("Attachments", []):
        _retry_dependency(ctx, lambda a=a: ec2.detach_internet_gateway(InternetGatewayId=it.id, VpcId=a["VpcId"]), it.id)
    ec2.delete_internet_gateway(InternetGatewayId=it.id)


def _deleter(ctx: Context, p: Params, kept: list[Resource]) -> dict[str, Callable[[Item], Any]]:
    c = ctx.client
    return {
        "iam_group": lambda it: delete_iam_group(ctx, it.id),
        "iam_user": lambda it: delete_iam_user(ctx, it.id),
        "instance_profile": lambda it: _delete_instance_profile(ctx, it),
        "iam_role": lambda it: delete_iam_role(ctx, it.id),
        "iam_policy": lambda it: _delete_policy(ctx, it.id),
        "alarm": lambda it: c("cloudwatch").delete_alarms(AlarmNames=[it.id]),
        "dashboard": lambda it: c("cloudwatch").delete_dashboards(DashboardNames=[it.id]),
        "sns_topic": lambda it: c("sns").delete_topic(TopicArn=it.id),
        "api_domain": lambda it: c("apigatewayv2").delete_domain_name(DomainName=it.id),
        "http_api": lambda it: c("apigatewayv2").delete_api(ApiId=it.id),
        "vpc_link": lambda it: c("apigatewayv2").delete_vpc_link(VpcLinkId=it.id),
        "dns_record": lambda it: _delete_record(ctx, it),
        "hosted_zone": lambda it: _delete_zone(ctx, it),
        "auto_scaling_group": lambda it: _delete_asg(ctx, it),
        "instance": lambda it: (c("ec2").terminate_instances(InstanceIds=[it.id]),
                                _wait(ctx, "ec2", "instance_terminated", InstanceIds=[it.id])),
        "load_balancer": lambda it: _delete_load_balancer(ctx, it),
        "target_group": lambda it: _retry_dependency(
            ctx, lambda: c("elbv2").delete_target_group(TargetGroupArn=it.id), it.id),
        "certificate": lambda it: _retry_dependency(
            ctx, lambda: c("acm").delete_certificate(CertificateArn=it.id), it.id),
        "launch_template": lambda it: c("ec2").delete_launch_template(LaunchTemplateId=it.id),
        "ami": lambda it: _delete_image(ctx, it),
        "ebs_snapshot": lambda it: c("ec2").delete_snapshot(SnapshotId=it.id),
        "volume": lambda it: c("ec2").delete_volume(VolumeId=it.id),
        "ssm_parameter": lambda it: c("ssm").delete_parameter(Name=it.id),
        "db_instance": lambda it: _delete_db_instance(ctx, p, it, kept),
        "db_snapshot": lambda it: (c("rds").delete_db_snapshot(DBSnapshotIdentifier=it.id),
                                   _wait(ctx, "rds", "db_snapshot_deleted", DBSnapshotIdentifier=it.id)),
        "db_subnet_group": lambda it: _retry_dependency(
            ctx, lambda: c("rds").delete_db_subnet_group(DBSubnetGroupName=it.id), it.id),
        "db_parameter_group": lambda it: _retry_dependency(
            ctx, lambda: c("rds").delete_db_parameter_group(DBParameterGroupName=it.id), it.id),
        "secret": lambda it: _delete_secret(ctx, it),
        "s3_bucket": lambda it: _empty_and_delete_bucket(ctx, it),
        "log_group": lambda it: c("logs").delete_log_group(logGroupName=it.id),
        "flow_log": lambda it: c("ec2").delete_flow_logs(FlowLogIds=[it.id]),
        "nat_gateway": lambda it: _delete_nat(ctx, it),
        "elastic_ip": lambda it: _release_address(ctx, it),
        "vpc_endpoint": lambda it: c("ec2").delete_vpc_endpoints(VpcEndpointIds=[it.id]),
        "network_interface": lambda it: _delete_eni(ctx, it),
        "security_group": lambda it: _retry_dependency(
            ctx, lambda: c("ec2").delete_security_group(GroupId=it.id), it.id),
        "subnet": lambda it: _retry_dependency(ctx, lambda: c("ec2").delete_subnet(SubnetId=it.id), it.id),
        "route_table": lambda it: _retry_dependency(ctx, lambda: _delete_route_table(ctx, it), it.id),
        "internet_gateway": lambda it: _delete_igw(ctx, it),
        "vpc": lambda it: _retry_dependency(ctx, lambda: c("ec2").delete_vpc(VpcId=it.id), it.id),
    }


def sweep(ctx: Context, p: Params, types: Iterable[str] | None = None) -> pd.DataFrame:
    """Find and delete what is left, type by type in dependency order. Keeps the final snapshot (when
    asked), the dev environment (unless teardown_dev) and secrets already scheduled for deletion."""
    mark = len(ctx.resources)
    kept: list[Resource] = []
    delete = _deleter(ctx, p, kept)
    wanted = set(types) if types is not None else None
    for type_, find in FINDERS:
        if wanted is not None and type_ not in wanted:
            continue
        items = [it for it in find(ctx, p) if _status(it, p) == "leftover"]
        if type_ == "security_group" and items and not p.dry_run:
            _revoke_references(ctx, items)
        for it in items:
            if p.dry_run:
                ctx.note(STEP, type_, it.name, it.id, "would delete")
                continue
            try:
                delete[type_](it)
                ctx.note(STEP, type_, it.name, it.id, "deleted")
            except ClientError as e:
                if _missing(e):
                    continue  # gone meanwhile (a step's destroy or AWS itself took it)
                ctx.note(STEP, type_, it.name, it.id, f"failed: {_code(e)}")
    return frame(ctx.resources[mark:])


def destroy_dev(ctx: Context, p: Params) -> pd.DataFrame:
    """Step 00_setup's destroy when p.teardown_dev; otherwise the dev environment stays."""
    if not p.teardown_dev:
        return pd.DataFrame([{"step": DEV_STEP, "outcome": "kept (teardown_dev=False)", "deleted": 0, "detail": ""}])
    return run_step_destroys(ctx, p, [(DEV_STEP, "dev")])


def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """The whole teardown: the steps' destroys in reverse order, the dev environment when asked, then
    the sweep. Returns every resource acted on (deleted, kept, would delete, failed)."""
    mark = len(ctx.resources)
    run_step_destroys(ctx, p)
    destroy_dev(ctx, p)
    sweep(ctx, p)
    return frame(ctx.resources[mark:])


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    """What is still there after teardown (status "leftover" rows are the failures)."""
    return scan_leftovers(ctx, p)
