"""Launch templates, load balancers, target groups, listeners and Auto Scaling groups as frames.

Columns beyond the base (id, name, stack, step, tags):
- `launch_templates` (id = template id): version (latest), imds_tokens, image_id, instance_type,
  associate_public_ip (bool), encrypted_volumes (bool: every block device mapping encrypted, False
  when none is given), security_groups (list), instance_profile.
- `load_balancers` (id = ARN): scheme, vpc_id, subnets (list), azs (list), security_groups (list),
  dns_name, type, state, deletion_protection (bool), drop_invalid_headers (bool).
- `target_groups` (id = ARN): port, protocol, health_check_path, lb_arns (list), vpc_id, matcher.
- `listeners` (id = ARN): lb_arn, port, protocol, action ("forward"|"redirect"|...), redirect_to
  ("HTTPS:443" or ""), certificates (list). Listeners carry their load balancer's tags when they
  have none of their own.
- `auto_scaling_groups` (id = name): min, desired, max, subnets (list), azs (list), instance_ids
  (list), instance_azs (list, one per instance), target_group_arns (list), health_check_type,
  grace_period, launch_template_id, policies (list of predefined metric types of target tracking
  policies).

ELBv2 and Auto Scaling have no tag filter on describe; the stack filter is applied on their tags.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from ..connect import Context
from ..tagging import STACK, as_dict
from . import BASE_COLUMNS, fetcher, tag_columns

LT_COLUMNS = BASE_COLUMNS + ["version", "imds_tokens", "image_id", "instance_type", "associate_public_ip",
                             "encrypted_volumes", "security_groups", "instance_profile"]
LB_COLUMNS = BASE_COLUMNS + ["scheme", "vpc_id", "subnets", "azs", "security_groups", "dns_name", "type", "state",
                             "deletion_protection", "drop_invalid_headers"]
TG_COLUMNS = BASE_COLUMNS + ["port", "protocol", "health_check_path", "lb_arns", "vpc_id", "matcher"]
LISTENER_COLUMNS = BASE_COLUMNS + ["lb_arn", "port", "protocol", "action", "redirect_to", "certificates"]
ASG_COLUMNS = BASE_COLUMNS + ["min", "desired", "max", "subnets", "azs", "instance_ids", "instance_azs",
                              "target_group_arns", "health_check_type", "grace_period", "launch_template_id",
                              "policies"]


def _elb_tags(ctx: Context, arns: list[str]) -> dict[str, dict[str, str]]:
    """describe_tags takes at most 20 ARNs a call."""
    out: dict[str, dict[str, str]] = {}
    elb = ctx.client("elbv2")
    for i in range(0, len(arns), 20):
        for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = as_dict(d.get("Tags"))
    return out


def _in_stack(tags: dict[str, str], stack: str | None) -> bool:
    return stack is None or tags.get(STACK) == stack


def _frame(rows: Iterable[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=columns)


@fetcher("launch_templates")
def launch_templates(ctx: Context, stack: str | None) -> pd.DataFrame:
    ec2 = ctx.client("ec2")
    kwargs = {"Filters": [{"Name": f"tag:{STACK}", "Values": [stack]}]} if stack else {}
    rows = []
    for page in ec2.get_paginator("describe_launch_templates").paginate(**kwargs):
        for lt in page["LaunchTemplates"]:
            data = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"], Versions=[
                "$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
            nics = data.get("NetworkInterfaces", [])
            ebs = [m["Ebs"] for m in data.get("BlockDeviceMappings", []) if "Ebs" in m]
            profile = data.get("IamInstanceProfile", {})
            rows.append({"id": lt["LaunchTemplateId"], **tag_columns(as_dict(lt.get("Tags"))),
                         "version": lt["LatestVersionNumber"],
                         # Not set in the template means the account/AMI default, which allows IMDSv1.
                         "imds_tokens": data.get("MetadataOptions", {}).get("HttpTokens", "optional"),
                         "image_id": data.get("ImageId", ""), "instance_type": data.get("InstanceType", ""),
                         "associate_public_ip": any(n.get("AssociatePublicIpAddress", False) for n in nics),
                         "encrypted_volumes": bool(ebs) and all(e.get("Encrypted", False) for e in ebs),
                         "security_groups": sorted({g for n in nics for g in n.get("Groups", [])}
                                                   | set(data.get("SecurityGroupIds", []))),
                         "instance_profile": profile.get("Name") or profile.get("Arn", "")})
    return _frame(rows, LT_COLUMNS)


@fetcher("load_balancers")
def load_balancers(ctx: Context, stack: str | None) -> pd.DataFrame:
    elb = ctx.client("elbv2")
    lbs = [lb for page in elb.get_paginator("describe_load_balancers").paginate() for lb in page["LoadBalancers"]]
    tags = _elb_tags(ctx, [lb["LoadBalancerArn"] for lb in lbs])
    rows = []
    for lb in lbs:
        t = tags.get(lb["LoadBalancerArn"], {})
        if not _in_stack(t, stack):
            continue
        attrs: dict[str, str] = {}
        if lb.get("Type") == "application":
            attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
                LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
        rows.append({"id": lb["LoadBalancerArn"], **tag_columns(t), "scheme": lb["Scheme"], "vpc_id": lb.get("VpcId", ""),
                     "subnets": [z["SubnetId"] for z in lb.get("AvailabilityZones", [])],
                     "azs": sorted({z["ZoneName"] for z in lb.get("AvailabilityZones", [])}),
                     "security_groups": lb.get("SecurityGroups", []), "dns_name": lb.get("DNSName", ""),
                     "type": lb.get("Type", ""), "state": lb.get("State", {}).get("Code", ""),
                     "deletion_protection": attrs.get("deletion_protection.enabled") == "true",
                     "drop_invalid_headers": attrs.get("routing.http.drop_invalid_header_fields.enabled") == "true"})
    return _frame(rows, LB_COLUMNS)


@fetcher("target_groups")
def target_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    elb = ctx.client("elbv2")
    tgs = [tg for page in elb.get_paginator("describe_target_groups").paginate() for tg in page["TargetGroups"]]
    tags = _elb_tags(ctx, [tg["TargetGroupArn"] for tg in tgs])
    rows = []
    for tg in tgs:
        t = tags.get(tg["TargetGroupArn"], {})
        if not _in_stack(t, stack):
            continue
        rows.append({"id": tg["TargetGroupArn"], **tag_columns(t), "port": tg.get("Port"), "protocol": tg.get("Protocol"),
                     "health_check_path": tg.get("HealthCheckPath", ""),
                     "lb_arns": list(dict.fromkeys(tg.get("LoadBalancerArns", []))),  # moto lists one twice
                     "vpc_id": tg.get("VpcId", ""), "matcher": tg.get("Matcher", {}).get("HttpCode", "")})
    return _frame(rows, TG_COLUMNS)


def registered_targets(ctx: Context, tg_arn: str) -> list[str]:
    """Ids of what a target group sends traffic to: instance ids, IP addresses (target type ip) or a
    Lambda ARN. DescribeTargetHealth has no paginator: it answers every target at once."""
    found = ctx.client("elbv2").describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return [d["Target"]["Id"] for d in found]


def _describe_action(actions: list[dict[str, Any]]) -> tuple[str, str]:
    if not actions:
        return "", ""
    first = sorted(actions, key=lambda a: a.get("Order", 0))[0]
    if first["Type"] == "redirect":
        rc = first.get("RedirectConfig", {})
        return "redirect", f"{rc.get('Protocol', '')}:{rc.get('Port', '')}"
    return first["Type"], ""


@fetcher("listeners")
def listeners(ctx: Context, stack: str | None) -> pd.DataFrame:
    elb = ctx.client("elbv2")
    lbs = [lb for page in elb.get_paginator("describe_load_balancers").paginate() for lb in page["LoadBalancers"]]
    lb_tags = _elb_tags(ctx, [lb["LoadBalancerArn"] for lb in lbs])
    found = []
    for lb in lbs:
        if not _in_stack(lb_tags.get(lb["LoadBalancerArn"], {}), stack):
            continue
        for page in elb.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb["LoadBalancerArn"]):
            found.extend(page["Listeners"])
    own = _elb_tags(ctx, [ls["ListenerArn"] for ls in found])
    rows = []
    for ls in found:
        t = own.get(ls["ListenerArn"]) or lb_tags.get(ls["LoadBalancerArn"], {})
        action, redirect_to = _describe_action(ls.get("DefaultActions", []))
        rows.append({"id": ls["ListenerArn"], **tag_columns(t), "lb_arn": ls["LoadBalancerArn"], "port": ls["Port"],
                     "protocol": ls["Protocol"], "action": action, "redirect_to": redirect_to,
                     "certificates": [c["CertificateArn"] for c in ls.get("Certificates", [])]})
    return _frame(rows, LISTENER_COLUMNS)


@fetcher("auto_scaling_groups")
def auto_scaling_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    asg = ctx.client("autoscaling")
    kwargs = {"Filters": [{"Name": f"tag:{STACK}", "Values": [stack]}]} if stack else {}
    rows = []
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate(**kwargs):
        for g in page["AutoScalingGroups"]:
            t = as_dict(g.get("Tags"))
            if not _in_stack(t, stack):
                continue
            policies = [pol.get("TargetTrackingConfiguration", {}).get("PredefinedMetricSpecification", {}).get(
                "PredefinedMetricType", pol.get("PolicyType", ""))
                for p in asg.get_paginator("describe_policies").paginate(AutoScalingGroupName=g["AutoScalingGroupName"])
                for pol in p["ScalingPolicies"]]
            lt = g.get("LaunchTemplate") or g.get("MixedInstancesPolicy", {}).get(
                "LaunchTemplate", {}).get("LaunchTemplateSpecification", {})
            rows.append({"id": g["AutoScalingGroupName"], **tag_columns(t), "min": g["MinSize"],
                         "desired": g["DesiredCapacity"], "max": g["MaxSize"],
                         "subnets": [s for s in g.get("VPCZoneIdentifier", "").split(",") if s],
                         "azs": sorted(g.get("AvailabilityZones", [])),
                         "instance_ids": [i["InstanceId"] for i in g.get("Instances", [])],
                         "instance_azs": [i["AvailabilityZone"] for i in g.get("Instances", [])],
                         "target_group_arns": g.get("TargetGroupARNs", []),
                         "health_check_type": g.get("HealthCheckType", ""),
                         "grace_period": g.get("HealthCheckGracePeriod", 0),
                         "launch_template_id": lt.get("LaunchTemplateId", ""), "policies": policies})
    return _frame(rows, ASG_COLUMNS)
