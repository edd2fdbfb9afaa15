"""Step 04_compute: an Application Load Balancer in front of an Auto Scaling group of app servers.

Why (from "Architect your Dev Backend to Production on AWS", the article this workbook follows, in our
words): capacity should follow the traffic, growing when load rises and shrinking when it falls, so no
server is swamped and the service stays up; a load balancer is the single door to the servers and
shares the requests among two or more of them.

The dev setup is one server that is also reachable from the internet. Here the app moves to instances
in the private app subnets, launched by an Auto Scaling group from a launch template (IMDSv2 only, no
public IP, encrypted gp3 volumes, an instance role that can read only the database's secret), behind
an ALB in the public subnets (or an internal one behind API Gateway). Each resource comes from its own
unit through `workbook.engine` (found by the stack's tag, else created with tags and a client token):

- compute_prereq.py: what this step builds on (02's subnets and security groups, 03's database, 05's
  certificate), found and never created here;
- compute_template.py: the launch template (a new version when what it should hold changed) and the
  boot script, which no parameter reaches unquoted;
- compute_alb.py: the load balancer, the target group, and the listener layout (HTTP -> HTTPS redirect
  once 05_edge has a certificate; rerun this step after 05);
- compute_release.py: the release the servers install: the app's wheel in the stack's bucket, its
  location in the SSM parameter the boot script reads;
- here: the instance role and profile (which alone may read the release and the database's secret),
  the group (updated in place on a rerun), its target-tracking policies, and the waits: the group's
  instances InService, then healthy in the target group (the app answers its health check), or a
  clear error naming the unhealthy targets, why, and the end of their boot log.

Local names (names.py has none for them): the instance profile shares `names.app_role`; the scaling
policies are `<stack>-cpu-target` and `<stack>-requests-target`; the inline role policy is
`read-db-secret`; instances are named `<stack>-app`.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, engine, inventory, names, plan_cost, progress
from ..connect import Context, Resource
from ..params import Params
from . import Step, destroy_kinds, register
from .compute_alb import (DEREGISTRATION_DELAY_S, endpoint, ensure_listeners, ensure_load_balancer,  # noqa: F401
                          ensure_target_group, find_load_balancer, find_target_group, wait_for_load_balancer)
from .compute_prereq import (STEP_ID, PrerequisiteMissing, db_endpoint, db_secret_arn, find_network,  # noqa: F401
                             prerequisites)
from .compute_release import (bucket_name, build, ensure_artifact_bucket, ensure_artifact_parameter,  # noqa: F401
                              ensure_release, ensure_release_artifact, release, release_location, release_version)
from .compute_rollout import RolloutFailed, roll_out, secrets_to_read  # noqa: F401
from .compute_rollout import in_service as in_service_ids
from .compute_template import (AL2023_PARAMETER, artifact_parameter, check_image, ensure_image_from_dev,  # noqa: F401
                               ensure_launch_template, find_launch_template, user_data, user_data_files)

MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",   # Session Manager instead of SSH
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",    # the agent ships logs and metrics
)
SECRET_POLICY_NAME = "read-db-secret"   # also the release's parameter and object (kept name: no second policy)
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
# The boot installs from the network (dnf, then pip with the release's dependencies through the NAT)
# before the app listens; ELB health checks that count before then would make the group replace
# healthy-to-be instances in a loop. Nobody here has timed that boot on AWS, so the console's default
# of 300 s (AWS Auto Scaling guide, "Set the health check grace period"; the API's default is 0) rather
# than a guess; the load balancer sends traffic only to healthy targets meanwhile either way.
GRACE_PERIOD_S = 300
CPU_TARGET_PERCENT = 50.0
# ALBRequestCountPerTarget is a per-minute sum; 1000 requests a minute per instance is a
# comfortable load for a small Python API on a t3.micro and scales out well before CPU saturates.
REQUESTS_PER_TARGET = 1000.0
ASG_POLL_DELAY_S = 15           # no botocore waiter exists for Auto Scaling groups
ASG_WAIT_TIMEOUT_S = 600
# Looks every 15 s (botocore's target_in_service cadence), 40 times (10 minutes): the boot, the
# grace period and two passing checks fit with room to spare.
HEALTH_POLL_DELAY_S = 15
HEALTH_WAIT_ATTEMPTS = 40
BOOT_LOG_LINES = 6

STEP = register(Step(
    STEP_ID, "Load balancer and auto-scaling app servers",
    why=("Capacity should follow the traffic, growing when load rises and shrinking when it falls, so no "
         "server is swamped and the service stays up. A load balancer is the single door to the servers and "
         "shares the requests among two or more of them."),
    short="Compute", module="compute",
    kinds=("iam_role", "instance_profile", "launch_template", "ami", "load_balancer", "target_group",
           "auto_scaling_group", "s3_bucket", "ssm_parameter"),
    # Read from the steps it builds on: the AL2023 AMI parameter, 02's subnets and groups, 03's database,
    # 05's certificate. AWS also checks that whoever creates a group from a launch template may launch
    # (and tag) what the template describes: RunInstances and CreateTags, never called directly.
    # The release: the bucket's settings read and put back, the wheel written, the parameter updated;
    # then the targets' health and, when one stays unhealthy, its console output (the boot log).
    permissions=("ssm:GetParameter", "ec2:DescribeInstanceTypes", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
                 "rds:DescribeDBInstances", "acm:ListCertificates", "ec2:RunInstances", "ec2:CreateTags",
                 "s3:GetEncryptionConfiguration", "s3:GetBucketVersioning", "s3:GetBucketPublicAccessBlock",
                 "s3:GetBucketPolicy", "s3:PutEncryptionConfiguration", "s3:PutBucketVersioning", "s3:PutBucketPublicAccessBlock",
                 "s3:PutBucketPolicy", "s3:GetObject", "s3:PutObject", "ssm:PutParameter",
                 "elasticloadbalancing:DescribeTargetHealth", "ec2:GetConsoleOutput",
                 # which secret the app logs in with: its own user's (08) once it exists
                 "secretsmanager:ListSecrets",
                 # 05's zone and certificate, started here (edge.start_certificate): created and read, never
                 # deleted by this step (they carry 05's step tag)
                 "route53:ListHostedZones", "route53:GetHostedZone", "route53:CreateHostedZone",
                 "route53:ChangeTagsForResource", "route53:ListTagsForResource", "route53:ListTagsForResources",
                 "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets", "route53:GetChange",
                 "acm:RequestCertificate", "acm:AddTagsToCertificate", "acm:DescribeCertificate",
                 "acm:ListTagsForCertificate",
                 # 05's API integration, moved from port 80 to HTTPS before port 80 redirects
                 "apigateway:GET", "apigateway:PATCH",
                 # servers launched before a change replaced (compute_rollout): when they were launched, when
                 # the template and the parameter changed, the refresh
                 "ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions", "autoscaling:StartInstanceRefresh",
                 "autoscaling:DescribeInstanceRefreshes",
                 # the app subnets' route to 02's NAT, pending when 02 ran (ensure_outbound_routes), and a NAT
                 # no route uses any more retired with its address
                 "ec2:DescribeAvailabilityZones", "ec2:DescribeNatGateways", "ec2:DescribeRouteTables", "ec2:CreateRoute",
                 "ec2:ReplaceRoute",
                 "ec2:DeleteNatGateway", "ec2:DescribeAddresses", "ec2:ReleaseAddress",
                 # 06's log groups, made before the servers' agents would make them untagged
                 "logs:CreateLogGroup", "logs:TagResource", "logs:DescribeLogGroups", "logs:ListTagsForResource",
                 "logs:PutRetentionPolicy"),
))


def _did(ctx: Context, verb: str) -> str:
    """"created" / "would create" (and update): what a unit did to a sub-thing, or would do."""
    return f"would {verb}" if ctx.dry_run else f"{verb}d"


# ---- instance role and profile --------------------------------------------------------------------
def parameter_arn(ctx: Context) -> str:
    return f"arn:aws:ssm:{ctx.p.region}:{ctx.account_id}:parameter/{artifact_parameter(ctx.p).lstrip('/')}"


def role_policy(ctx: Context, artifact_url: str | None = None) -> tuple[dict[str, Any], bool]:
    """The role's inline policy: the database's secret only; the release's location (the SSM parameter)
    and, when the release is on S3, that one object. No other role or user of the stack is granted these
    reads (AmazonSSMManagedInstanceCore also lets this role read parameters; the object only this opens).
    `artifact_url` defaults to the parameter's current value."""
    secrets, exact = secrets_to_read(ctx)
    url = release_location(ctx) if artifact_url is None else artifact_url
    statements: list[dict[str, Any]] = [
        {"Sid": "ReadTheDatabaseSecretOnly", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": secrets[0] if len(secrets) == 1 else secrets},
        {"Sid": "ReadTheReleaseLocation", "Effect": "Allow", "Action": "ssm:GetParameter",
         "Resource": parameter_arn(ctx)}]
    if url.startswith("s3://"):
        statements.append({"Sid": "ReadTheAppRelease", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{url[len('s3://'):]}"})
    return {"Version": "2012-10-17", "Statement": statements}, exact


def ensure_instance_role(ctx: Context, *, artifact_url: str | None = None) -> Resource:
    """Role the app servers assume: SSM + CloudWatch agent managed policies, read access to the
    database's secret only (narrowed to that one secret by a rerun once 03_database exists), to the
    release parameter and to the release object (ensure_release first)."""
    p, name = ctx.p, names.app_role(ctx.p)
    doc, exact = role_policy(ctx, artifact_url)
    if not exact:
        print(f"note: no database {names.db_instance(p)} yet, so the role may read RDS-managed secrets matching "
              f"{doc['Statement'][0]['Resource']}; rerun this step after 03_database to narrow it to the one secret.")
    rec = engine.ensure(ctx, "iam_role", name, step=STEP_ID, create=lambda: {
        "RoleName": name, "AssumeRolePolicyDocument": json.dumps(EC2_TRUST),
        "Description": f"App servers of stack {p.stack_name} (workbook {STEP_ID})"})
    if rec.action == "would create":
        return rec
    iam = ctx.client("iam")
    attached = {a["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for a in page["AttachedPolicies"]}
    for arn in MANAGED_POLICIES:
        if arn not in attached:
            if not ctx.dry_run:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            ctx.note(STEP_ID, "iam_role_policy_attachment", f"{name}/{arn.rsplit('/', 1)[1]}", arn,
                     _did(ctx, "create"))
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=SECRET_POLICY_NAME)["PolicyDocument"]
        current = json.loads(current) if isinstance(current, str) else current
    except ClientError as e:
        if not engine.missing(e):
            raise
        current = None
    if current != doc:
        if not ctx.dry_run:
            iam.put_role_policy(RoleName=name, PolicyName=SECRET_POLICY_NAME, PolicyDocument=json.dumps(doc))
        ctx.note(STEP_ID, "iam_role_policy", f"{name}/{SECRET_POLICY_NAME}", rec.id,
                 _did(ctx, "update" if current else "create"))
    return rec


def ensure_instance_profile(ctx: Context) -> Resource:
    """The instance profile (same name as the role) that hands the role to the instances; the role is
    added when missing (a crash between the two calls leaves an empty profile)."""
    name = names.app_role(ctx.p)
    rec = engine.ensure(ctx, "instance_profile", name, step=STEP_ID, create={"InstanceProfileName": name})
    if name not in {r["RoleName"] for r in rec.item.get("Roles", [])}:
        if not ctx.dry_run:
            ctx.client("iam").add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        ctx.note(STEP_ID, "instance_profile_role", f"{name}/role", name, _did(ctx, "create"))
    return rec


def ensure_agent_log_groups(ctx: Context) -> list[Resource]:
    """The log groups the servers' CloudWatch agent ships to (06's, made here before any server boots): an
    agent that finds one missing creates it itself, untagged and kept forever, and 06 could not claim it."""
    from . import observability
    return observability.ensure_log_groups(ctx)


# ---- auto scaling group ---------------------------------------------------------------------------
def find_auto_scaling_group(ctx: Context) -> engine.Item | None:
    return engine.find_one(ctx, "auto_scaling_group", names.asg(ctx.p))


def ensure_auto_scaling_group(ctx: Context) -> Resource:
    """Group over the private app subnets (one per AZ), min/desired/max from the parameters, launch
    template $Latest, the target group attached, ELB health checks after a grace period. Stack and step
    tags propagate to the instances; their Name (<stack>-app) comes from the launch template."""
    p, name = ctx.p, names.asg(ctx.p)
    group = find_auto_scaling_group(ctx)
    lt, tg = find_launch_template(ctx), find_target_group(ctx)
    net = find_network(ctx, required=not ctx.dry_run)

    def create() -> dict[str, Any]:
        if lt is None or tg is None:
            raise PrerequisiteMissing("create the launch template and target group first (ensure_launch_template, "
                                      "ensure_target_group)")
        return {"AutoScalingGroupName": name, "LaunchTemplate": {"LaunchTemplateId": lt.id, "Version": "$Latest"},
                "MinSize": p.min_capacity, "DesiredCapacity": p.desired_capacity, "MaxSize": p.max_capacity,
                "VPCZoneIdentifier": ",".join(sorted(net.app_subnets)), "TargetGroupARNs": [tg.id],
                "HealthCheckType": "ELB", "HealthCheckGracePeriod": GRACE_PERIOD_S,
                "DefaultInstanceWarmup": GRACE_PERIOD_S}
    if group is None:
        return engine.ensure(ctx, "auto_scaling_group", name, step=STEP_ID, lookup=False, create=create)
    # A rerun with other sizes, subnets or a new target group updates the group in place.
    g = group.raw
    # desired_capacity is the size a new group starts with; a running one keeps what scaling gave it
    # (setting it back would scale in servers that target tracking added under load), moved into [min, max].
    desired = min(max(g.get("DesiredCapacity", p.desired_capacity), p.min_capacity), p.max_capacity)
    changes = {key: value for key, value in (
        ("MinSize", p.min_capacity), ("DesiredCapacity", desired), ("MaxSize", p.max_capacity),
        ("HealthCheckType", "ELB"), ("HealthCheckGracePeriod", GRACE_PERIOD_S)) if g.get(key) != value}
    if net.app_subnets and sorted(g.get("VPCZoneIdentifier", "").split(",")) != sorted(net.app_subnets):
        changes["VPCZoneIdentifier"] = ",".join(sorted(net.app_subnets))
    missing_tg = tg is not None and tg.id not in g.get("TargetGroupARNs", [])
    if not changes and not missing_tg:
        return ctx.note(STEP_ID, "auto_scaling_group", name, group.id, "exists", item=g)
    asg = ctx.client("autoscaling")
    if not ctx.dry_run and changes:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, **changes)
    if not ctx.dry_run and missing_tg:
        asg.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg.id])
    return ctx.note(STEP_ID, "auto_scaling_group", name, group.id, _did(ctx, "update"), item=g)


def scaling_policies(p: Params, lb_arn: str, tg_arn: str) -> dict[str, dict[str, Any]]:
    """Target tracking on CPU and on requests per target (resource label from the LB and TG ARNs)."""
    label = f"{lb_arn.split(':loadbalancer/', 1)[1]}/{tg_arn.split(':', 5)[5]}"
    return {
        p.name("cpu-target"): {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                               "TargetValue": CPU_TARGET_PERCENT},
        p.name("requests-target"): {"PredefinedMetricSpecification": {
            "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label},
            "TargetValue": REQUESTS_PER_TARGET},
    }


def ensure_scaling_policies(ctx: Context) -> list[Resource]:
    """The two target-tracking policies (they go with the group when it is deleted)."""
    p, group_name = ctx.p, names.asg(ctx.p)
    lb, tg, group = find_load_balancer(ctx), find_target_group(ctx), find_auto_scaling_group(ctx)
    if group is None or lb is None or tg is None:
        if ctx.dry_run:
            return [ctx.note(STEP_ID, "scaling_policy", n, "", "would create")
                    for n in (p.name("cpu-target"), p.name("requests-target"))]
        raise PrerequisiteMissing("create the Auto Scaling group, load balancer and target group first")
    asg = ctx.client("autoscaling")
    have = {pol["PolicyName"]: pol for page in asg.get_paginator("describe_policies").paginate(
        AutoScalingGroupName=group_name) for pol in page["ScalingPolicies"]}
    records = []
    for name, config in scaling_policies(p, lb.id, tg.id).items():
        current = have.get(name, {}).get("TargetTrackingConfiguration")
        if current and current.get("PredefinedMetricSpecification") == config["PredefinedMetricSpecification"] \
                and float(current.get("TargetValue", -1)) == config["TargetValue"]:
            records.append(ctx.note(STEP_ID, "scaling_policy", name, have[name].get("PolicyARN", ""), "exists"))
            continue
        arn = ""
        if not ctx.dry_run:
            # PolicyARN is in the documented response; moto 5.2.5 leaves it out, so "" is tolerated.
            arn = asg.put_scaling_policy(AutoScalingGroupName=group_name, PolicyName=name,
                                         PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=config,
                                         EstimatedInstanceWarmup=GRACE_PERIOD_S).get("PolicyARN", "")
        records.append(ctx.note(STEP_ID, "scaling_policy", name, arn, _did(ctx, "update" if current else "create")))
    return records


# ---- waits ----------------------------------------------------------------------------------------
INSTANCE_COLUMNS = ["instance_id", "az", "lifecycle", "health"]


def wait_for_instances(ctx: Context, *, timeout_s: float = ASG_WAIT_TIMEOUT_S,
                       delay_s: float = ASG_POLL_DELAY_S) -> pd.DataFrame:
    """Poll until the group has its desired number of InService instances (no botocore waiter exists
    for Auto Scaling groups); bounded by timeout_s. Returns the instances."""
    if ctx.dry_run:
        return pd.DataFrame(columns=INSTANCE_COLUMNS)
    name = names.asg(ctx.p)
    group = find_auto_scaling_group(ctx)
    if group is None:
        raise PrerequisiteMissing(f"no Auto Scaling group {name}: run ensure_auto_scaling_group first")
    state = {"group": group.raw}

    def in_service() -> list[dict[str, Any]]:
        return [i for i in state["group"]["Instances"] if i["LifecycleState"] == "InService"]

    def all_in_service() -> bool:
        found = find_auto_scaling_group(ctx)
        state["group"] = found.raw if found else state["group"]
        return len(in_service()) >= state["group"]["DesiredCapacity"]

    try:
        progress.poll(all_in_service, f"{name}: {group.raw['DesiredCapacity']} instances InService",
                      delay=delay_s, max_attempts=max(1, int(timeout_s // delay_s)), sleep=ctx.clock.sleep)
    except TimeoutError:
        raise TimeoutError(f"{name}: {len(in_service())} of {state['group']['DesiredCapacity']} instances InService "
                           f"after {timeout_s:.0f} s; see the group's activities (describe_scaling_activities) for "
                           f"launch errors") from None
    return pd.DataFrame([{"instance_id": i["InstanceId"], "az": i["AvailabilityZone"], "lifecycle": i["LifecycleState"],
                          "health": i["HealthStatus"]} for i in in_service()], columns=INSTANCE_COLUMNS)


class TargetsUnhealthy(RuntimeError):
    """The group's instances are InService but not all of them pass the target group's health check."""


HEALTH_COLUMNS = ["instance", "state", "reason", "description"]


def target_health(ctx: Context, instance_ids: list[str] | None = None) -> pd.DataFrame:
    """How the load balancer sees the group's instances (describe_target_health)."""
    tg = find_target_group(ctx)
    if tg is None:
        return pd.DataFrame(columns=HEALTH_COLUMNS)
    kw = {"Targets": [{"Id": i} for i in instance_ids]} if instance_ids else {}
    found = ctx.client("elbv2").describe_target_health(TargetGroupArn=tg.id, **kw)["TargetHealthDescriptions"]
    return pd.DataFrame([{"instance": d["Target"]["Id"], "state": d["TargetHealth"]["State"],
                          "reason": d["TargetHealth"].get("Reason", ""),
                          "description": d["TargetHealth"].get("Description", "")} for d in found], columns=HEALTH_COLUMNS)


def boot_log_tail(ctx: Context, instance_id: str, lines: int = BOOT_LOG_LINES) -> list[str]:
    """The last lines of an instance's console output (where AWS shows the boot script's output),
    account ids masked; [] when there is none yet."""
    from ..connect import mask_account
    try:
        out = ctx.client("ec2").get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    except ClientError:
        return []
    text = base64.b64decode(out).decode(errors="replace") if out else ""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    return [re.sub(r"\b\d{12}\b", lambda m: mask_account(m.group()), line) for line in kept]


def wait_for_healthy_targets(ctx: Context, *, max_attempts: int = HEALTH_WAIT_ATTEMPTS) -> pd.DataFrame:
    """Until the group's desired number of InService instances are all healthy in the target group
    (every 15 s, bounded); the group being InService says only that the instances run, not that the
    app answers. Each look re-reads the group: it replaces an instance that fails its checks after the
    grace period, and then the replacement is what must turn healthy (botocore's target_in_service
    waiter watches a fixed list of targets, so it would wait for the terminated one until its bound).
    On failure, TargetsUnhealthy names each unhealthy target, the load balancer's reason, and the end
    of that instance's boot log."""
    if ctx.dry_run:
        return pd.DataFrame(columns=HEALTH_COLUMNS)
    group, tg = find_auto_scaling_group(ctx), find_target_group(ctx)
    if group is None or tg is None:
        raise PrerequisiteMissing("no Auto Scaling group or target group: run ensure_target_group and "
                                  "ensure_auto_scaling_group first")
    if not in_service_ids(group.raw):
        raise PrerequisiteMissing(f"no InService instance in {group.name}: run wait_for_instances first")
    seen = {"ids": in_service_ids(group.raw), "health": pd.DataFrame(columns=HEALTH_COLUMNS)}

    def serving() -> bool:
        now = find_auto_scaling_group(ctx)
        seen["ids"] = in_service_ids(now.raw) if now is not None else []
        seen["health"] = target_health(ctx, seen["ids"]) if seen["ids"] else pd.DataFrame(columns=HEALTH_COLUMNS)
        wanted = now.raw.get("DesiredCapacity", 0) if now is not None else 0
        return bool(seen["ids"]) and len(seen["ids"]) >= wanted and set(seen["health"].state) == {"healthy"}

    try:
        progress.poll(serving, f"{group.raw.get('DesiredCapacity', len(seen['ids']))} targets healthy in {tg.name}",
                      delay=HEALTH_POLL_DELAY_S, max_attempts=max_attempts, sleep=ctx.clock.sleep,
                      typical=progress.TYPICAL["target_in_service"])
    except TimeoutError:
        ids, health = seen["ids"], seen["health"]
        bad = health[health.state != "healthy"]
        lines = [f"{len(bad)} of {len(ids)} targets of {tg.name} are not healthy after {max_attempts} checks:"]
        for r in bad.itertuples():
            lines.append(f"- {r.instance}: {r.state} ({r.reason}: {r.description})")
            tail = boot_log_tail(ctx, r.instance)
            lines += [f"    boot log: {t}" for t in tail] or ["    boot log: (no console output yet)"]
        lines.append(f"An app server answers its health check ({ctx.p.health_check_path}, HTTP 200) once its boot script "
                     f"installed the release named by the SSM parameter {artifact_parameter(ctx.p)} (the instance "
                     f"role must read it and the object it points to) and the app reaches its database (03_database). "
                     f"Fix the cause and run this step again; the group replaces instances that stay unhealthy.")
        raise TargetsUnhealthy("\n".join(lines)) from None
    return seen["health"]


def az_spread(ctx: Context) -> pd.DataFrame:
    """AZs the group is configured for versus where its instances run. Where the target cannot show
    the instance spread (ctx.gap), the instances column says "not emulated" and the note says why."""
    group = find_auto_scaling_group(ctx)
    if group is None:
        return pd.DataFrame(columns=["az", "configured", "instances"])
    configured = set(group.raw.get("AvailabilityZones", []))
    counts: dict[str, int] = {}
    for i in group.raw["Instances"]:
        counts[i["AvailabilityZone"]] = counts.get(i["AvailabilityZone"], 0) + 1
    gap = ctx.gap("asg_instance_spread")
    if gap:
        print(f"note: {gap}")
    rows = [{"az": az, "configured": az in configured, "instances": "not emulated" if gap else counts.get(az, 0)}
            for az in sorted(configured | set(counts))]
    return pd.DataFrame(rows, columns=["az", "configured", "instances"])


# ---- the step -------------------------------------------------------------------------------------
def start_certificate_while_db_is_created(ctx: Context) -> list[Resource]:
    """When 03's database is still being created (15-20 AWS minutes Multi-AZ), the launch template waits
    for its address: 05's certificate (zone, request, validation record; AWS validates in 2-30 minutes)
    is started first, so the two waits overlap instead of queueing. With the address already there,
    nothing: 05 starts it, as it always does. Never waits."""
    if ctx.dry_run or not ctx.p.domain_name or db_endpoint(ctx)[0]:
        return []
    from . import edge
    print("the database is still being created and the next cell waits for it: 05's certificate is requested "
          "now, so that its DNS validation runs beside that wait")
    return edge.start_certificate(ctx)


def ensure_outbound_routes(ctx: Context) -> list[Resource]:
    """The app subnets' route to their NAT gateway: on AWS a NAT is pending for minutes, so 02 leaves the
    route to here, where the servers about to boot need it (packages, SSM, S3); a NAT no route uses any
    more goes."""
    from . import network
    if not engine.find(ctx, "nat_gateway"):   # a network not laid out by 02 (no NAT to route through)
        return []
    network.wait_nat_gateways(ctx)
    out = network.ensure_nat_routes(ctx)
    network.retire_unused_nats(ctx)
    return out


def apply(ctx: Context, *, image_id: str = "", artifact_url: str = "") -> pd.DataFrame:
    """Everything in dependency order; the ALB is started first and waited for late, the targets'
    health last. `artifact_url`: a release of your own (s3:// or https://) instead of the built one."""
    mark = len(ctx.resources)
    check_image(ctx, image_id)                     # one instance_type cannot boot: refused before anything is made
    ensure_load_balancer(ctx)                      # takes minutes on AWS: start it now
    ensure_release(ctx, artifact_url=artifact_url)  # what the boot script installs, before the role that reads it
    ensure_instance_role(ctx)
    ensure_instance_profile(ctx)
    start_certificate_while_db_is_created(ctx)      # 05's certificate, when there is a wait to overlap
    ensure_launch_template(ctx, image_id=image_id)  # waits for the database's address (03 does not)
    ensure_target_group(ctx)
    ensure_listeners(ctx)
    ensure_agent_log_groups(ctx)                    # before the servers' agents look for them
    ensure_outbound_routes(ctx)                     # 02's NAT was pending: the servers' way out, now
    ensure_auto_scaling_group(ctx)
    ensure_scaling_policies(ctx)
    if not ctx.dry_run:
        wait_for_load_balancer(ctx)
        wait_for_instances(ctx)
        wait_for_healthy_targets(ctx)
    if roll_out(ctx) is not None and not ctx.dry_run:   # servers launched before a change replaced
        ensure_instance_role(ctx)                         # then the role reads only what the new ones use
    return ctx.resources_frame(mark)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def verify(ctx: Context) -> pd.DataFrame:
    """The compute checks (group "compute") on the stack's inventory."""
    return checks.run(inventory.Inventory(ctx, ctx.p.stack_name), ctx.p, groups=["compute"])


def destroy(ctx: Context) -> pd.DataFrame:
    """What this step created, in the kinds' deletion order; safe twice. The group goes first with its
    instances and scaling policies, the load balancer with its listeners, the AMI with its snapshots."""
    return destroy_kinds(ctx, STEP)
