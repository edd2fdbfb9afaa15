"""06_observability: logs with a retention, alarms on the metrics that say "users are hurting",
a topic that notifies a human, and one dashboard.

Alarms (names.alarm(p, what)) and their dimensions:
- AWS/ApplicationELB: LoadBalancer = the ALB ARN's suffix `app/<name>/<id>`; TargetGroup =
  `targetgroup/<name>/<id>` (the target-level metrics are published per TargetGroup+LoadBalancer);
- AWS/AutoScaling: AutoScalingGroupName (only published with group metrics collection enabled,
  which this step turns on);
- AWS/RDS: DBInstanceIdentifier.
An alarm whose resource does not exist yet (04 or 03 not run) is skipped and named; a rerun adds it.

`alarm_drill` shows the path alarm -> topic -> subscription. On AWS, set_alarm_state really
notifies; the sandbox never evaluates alarms nor notifies, so there the drill publishes itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import names, tagging
from ..connect import Context, Resource
from ..params import Params
from . import Step, created, exists, frame, is_placeholder, register, would_create

STEP = "06_observability"
STEP_INFO = register(Step(
    id=STEP,
    title="Logging & Monitoring: logs, alarms, notifications, dashboard",
    why=("Logging is essential to debug and troubleshoot issues in production, and it is essential to "
         "monitor the health of the servers and the database. CloudWatch does both, and alarms notify "
         "someone when something goes wrong."),
    permissions=(
        "logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "logs:TagResource",
        "logs:DeleteLogGroup",
        "sns:CreateTopic", "sns:ListTopics", "sns:TagResource", "sns:Subscribe", "sns:ListSubscriptionsByTopic",
        "sns:Publish", "sns:DeleteTopic", "sns:Unsubscribe",
        "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
        "cloudwatch:SetAlarmState", "cloudwatch:TagResource", "cloudwatch:PutDashboard",
        "cloudwatch:GetDashboard", "cloudwatch:ListDashboards", "cloudwatch:DeleteDashboards",
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:EnableMetricsCollection",
        "rds:DescribeDBInstances",
    ),
))

# What the ASG publishes once metrics collection is on (1-minute granularity, no extra charge).
ASG_METRICS = ["GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
               "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]


@dataclass(frozen=True)
class AlarmSpec:
    what: str                    # names.alarm(p, what)
    namespace: str
    metric: str
    dimensions: tuple[str, ...]  # dimension names, filled from the stack's resources
    statistic: str
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    datapoints: int
    missing: str                 # TreatMissingData
    why: str


def alarm_specs(p: Params) -> list[AlarmSpec]:
    """The key metrics and why each threshold and missing-data rule was chosen."""
    free_storage_floor = 0.1 * p.db_allocated_storage * 1024 ** 3  # 10 % of the allocated GiB, in bytes
    return [
        AlarmSpec("alb-5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", ("LoadBalancer",), "Sum",
                  "GreaterThanOrEqualToThreshold", 10, 60, 5, 3, "notBreaching",
                  "The load balancer itself answers 5xx (no healthy target, overload). No requests means "
                  "no errors, so missing data is not breaching."),
        AlarmSpec("target-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", ("TargetGroup", "LoadBalancer"),
                  "Sum", "GreaterThanOrEqualToThreshold", 10, 60, 5, 3, "notBreaching",
                  "The app answers 5xx. No requests means no errors: missing is not breaching."),
        AlarmSpec("latency", "AWS/ApplicationELB", "TargetResponseTime", ("LoadBalancer",), "Average",
                  "GreaterThanThreshold", 1.0, 60, 5, 3, "notBreaching",
                  "Average response time above 1 s in 3 of 5 minutes; no requests, no latency."),
        AlarmSpec("unhealthy-hosts", "AWS/ApplicationELB", "UnHealthyHostCount", ("TargetGroup", "LoadBalancer"),
                  "Maximum", "GreaterThanOrEqualToThreshold", 1, 60, 3, 3, "missing",
                  "A target fails its health checks for 3 minutes. The ALB publishes this every minute, so "
                  "a gap keeps the last state rather than guessing."),
        AlarmSpec("in-service", "AWS/AutoScaling", "GroupInServiceInstances", ("AutoScalingGroupName",), "Minimum",
                  "LessThanThreshold", p.min_capacity, 60, 3, 3, "breaching",
                  f"Fewer in-service instances than min_capacity={p.min_capacity}. The group publishes every "
                  "minute once collection is on; silence means it is gone: missing is breaching."),
        AlarmSpec("db-cpu", "AWS/RDS", "CPUUtilization", ("DBInstanceIdentifier",), "Average",
                  "GreaterThanThreshold", 80, 300, 3, 3, "missing",
                  "Database CPU above 80 % for 15 minutes."),
        AlarmSpec("db-free-storage", "AWS/RDS", "FreeStorageSpace", ("DBInstanceIdentifier",), "Minimum",
                  "LessThanThreshold", free_storage_floor, 300, 1, 1, "missing",
                  f"Less than 10 % of the {p.db_allocated_storage} GiB left: a full disk stops writes."),
        AlarmSpec("db-connections", "AWS/RDS", "DatabaseConnections", ("DBInstanceIdentifier",), "Maximum",
                  "GreaterThanThreshold", 80, 300, 2, 2, "missing",
                  "More than 80 connections (a db.t4g.micro allows about 100): pools leak or the app "
                  "scaled past what the database takes."),
    ]


# ---- dimensions from the stack's resources ------------------------------------------------------

def _code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def find_dimensions(ctx: Context, p: Params) -> dict[str, str]:
    """Dimension values of what exists: LoadBalancer, TargetGroup, AutoScalingGroupName,
    DBInstanceIdentifier. Missing resources are simply absent from the result."""
    dims: dict[str, str] = {}
    elb = ctx.client("elbv2")
    try:
        lb = elb.describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
        dims["LoadBalancer"] = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    except ClientError as e:
        if _code(e) not in ("LoadBalancerNotFound",):
            raise
    try:
        tg = elb.describe_target_groups(Names=[names.target_group(p)])["TargetGroups"][0]
        dims["TargetGroup"] = tg["TargetGroupArn"].rsplit(":", 1)[1]
    except ClientError as e:
        if _code(e) not in ("TargetGroupNotFound",):
            raise
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"]
    if groups:
        dims["AutoScalingGroupName"] = groups[0]["AutoScalingGroupName"]
    try:
        db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"]
        if db:
            dims["DBInstanceIdentifier"] = db[0]["DBInstanceIdentifier"]
    except ClientError as e:
        if _code(e) != "DBInstanceNotFound":
            raise
    return dims


# ---- log groups ---------------------------------------------------------------------------------

def find_log_group(ctx: Context, name: str) -> dict[str, Any] | None:
    pages = ctx.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    return next((g for page in pages for g in page["logGroups"] if g["logGroupName"] == name), None)


def log_group_tags(ctx: Context, group: dict[str, Any]) -> dict[str, str]:
    arn = group.get("logGroupArn") or group["arn"].removesuffix(":*")
    return ctx.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {})


def ensure_log_group(ctx: Context, p: Params, name: str) -> Resource:
    """A log group with retention log_retention_days (logs kept forever cost forever)."""
    logs = ctx.client("logs")
    group = find_log_group(ctx, name)
    if group:
        if group.get("retentionInDays") != p.log_retention_days:
            if p.dry_run:
                return ctx.note(STEP, "log group", name, name, f"would set retention {p.log_retention_days} d")
            logs.put_retention_policy(logGroupName=name, retentionInDays=p.log_retention_days)
            return ctx.note(STEP, "log group", name, name, f"retention set to {p.log_retention_days} d")
        return exists(ctx, STEP, "log group", name, name)
    if p.dry_run:
        return would_create(ctx, STEP, "log group", name)
    logs.create_log_group(logGroupName=name, tags=tagging.tag_dict(p, STEP, name))
    logs.put_retention_policy(logGroupName=name, retentionInDays=p.log_retention_days)
    return created(ctx, STEP, "log group", name, name)


def ensure_log_groups(ctx: Context, p: Params) -> list[Resource]:
    """The app's log and the system log (what the instances' CloudWatch agent ships)."""
    return [ensure_log_group(ctx, p, names.app_log_group(p)), ensure_log_group(ctx, p, names.system_log_group(p))]


# ---- topic and subscription ---------------------------------------------------------------------

def find_topic(ctx: Context, p: Params) -> str | None:
    suffix = ":" + names.alarm_topic(p)
    pages = ctx.client("sns").get_paginator("list_topics").paginate()
    return next((t["TopicArn"] for page in pages for t in page["Topics"] if t["TopicArn"].endswith(suffix)), None)


def ensure_topic(ctx: Context, p: Params) -> Resource:
    name = names.alarm_topic(p)
    arn = find_topic(ctx, p)
    if arn:
        return exists(ctx, STEP, "sns topic", name, arn)
    if p.dry_run:
        return would_create(ctx, STEP, "sns topic", name)
    arn = ctx.client("sns").create_topic(Name=name, Tags=tagging.tags(p, STEP, name))["TopicArn"]
    return created(ctx, STEP, "sns topic", name, arn)


def mask_email(address: str) -> str:
    """ops@example.com -> o***@example.com: enough to recognise, not to harvest."""
    if "@" not in address:
        return address
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


def subscriptions(ctx: Context, topic_arn: str) -> list[dict[str, Any]]:
    pages = ctx.client("sns").get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
    return [s for page in pages for s in page["Subscriptions"]]


def ensure_email_subscription(ctx: Context, p: Params, topic: Resource) -> Resource | None:
    """alarm_email subscribed to the topic; without it, alarms notify nobody (the check says so)."""
    if not p.alarm_email:
        print("alarm_email is empty: the alarms will change state but notify nobody.")
        return None
    label = f"email {mask_email(p.alarm_email)}"
    if not is_placeholder(topic.id):
        have = [s for s in subscriptions(ctx, topic.id)
                if s["Protocol"] == "email" and s["Endpoint"].lower() == p.alarm_email.lower()]
        if have:
            return exists(ctx, STEP, "subscription", label, have[0]["SubscriptionArn"])
    if p.dry_run or is_placeholder(topic.id):
        return would_create(ctx, STEP, "subscription", label)
    arn = ctx.client("sns").subscribe(TopicArn=topic.id, Protocol="email", Endpoint=p.alarm_email,
                                      ReturnSubscriptionArn=True)["SubscriptionArn"]
    if ctx.sandbox:
        print("In the sandbox the e-mail subscription is confirmed at once and no mail is sent (a moto gap). "
              "On AWS the recipient must click the link in the confirmation e-mail first.")
    else:
        print(f"AWS sent a confirmation e-mail to {mask_email(p.alarm_email)}: alarms reach it once the link is clicked.")
    return created(ctx, STEP, "subscription", label, arn)


# ---- Auto Scaling group metrics -----------------------------------------------------------------

def ensure_asg_metrics(ctx: Context, p: Params) -> Resource | None:
    """GroupInServiceInstances exists only with group metrics collection on; switch it on."""
    asg = ctx.client("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"]
    if not groups:
        print(f"Auto Scaling group {names.asg(p)} not found (04_compute not run): its alarm waits for a rerun.")
        return None
    enabled = {m["Metric"] for m in groups[0].get("EnabledMetrics", [])}
    name = f"{names.asg(p)} metrics"
    if set(ASG_METRICS) <= enabled:
        return exists(ctx, STEP, "asg metrics", name, names.asg(p))
    if p.dry_run:
        return ctx.note(STEP, "asg metrics", name, names.asg(p), "would enable")
    asg.enable_metrics_collection(AutoScalingGroupName=names.asg(p), Granularity="1Minute", Metrics=ASG_METRICS)
    print(f"Enabled group metrics collection on {names.asg(p)} (1-minute, free): without it AWS/AutoScaling "
          "publishes no GroupInServiceInstances and its alarm would have nothing to watch.")
    return ctx.note(STEP, "asg metrics", name, names.asg(p), "enabled")


# ---- alarms -------------------------------------------------------------------------------------

def _alarm_args(p: Params, spec: AlarmSpec, dims: dict[str, str], topic_arn: str) -> dict[str, Any]:
    return {
        "AlarmName": names.alarm(p, spec.what),
        "AlarmDescription": f"{p.stack_name}: {spec.why}",
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn], "OKActions": [topic_arn],
        "Namespace": spec.namespace, "MetricName": spec.metric,
        "Dimensions": [{"Name": d, "Value": dims[d]} for d in spec.dimensions],
        "Statistic": spec.statistic, "Period": spec.period,
        "EvaluationPeriods": spec.evaluation_periods, "DatapointsToAlarm": spec.datapoints,
        "Threshold": float(spec.threshold), "ComparisonOperator": spec.comparison,
        "TreatMissingData": spec.missing,
    }


def _same(have: dict[str, Any], want: dict[str, Any]) -> bool:
    keys = [k for k in want if k not in ("AlarmDescription",)]
    norm = {**have, "Dimensions": sorted(have.get("Dimensions", []), key=lambda d: d["Name"])}
    want = {**want, "Dimensions": sorted(want["Dimensions"], key=lambda d: d["Name"])}
    return all(norm.get(k) == want[k] for k in keys)


def describe_alarms(ctx: Context, alarm_names: list[str]) -> dict[str, dict[str, Any]]:
    cw = ctx.client("cloudwatch")
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(alarm_names), 100):  # AlarmNames takes up to 100
        for page in cw.get_paginator("describe_alarms").paginate(AlarmNames=alarm_names[i:i + 100],
                                                                  AlarmTypes=["MetricAlarm"]):
            out.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    return out


def ensure_alarms(ctx: Context, p: Params, topic: Resource) -> list[Resource]:
    """One alarm per key metric, actions to the topic; put_metric_alarm only when absent or changed."""
    cw = ctx.client("cloudwatch")
    dims = find_dimensions(ctx, p)
    specs = alarm_specs(p)
    have = describe_alarms(ctx, [names.alarm(p, s.what) for s in specs])
    out: list[Resource] = []
    for spec in specs:
        name = names.alarm(p, spec.what)
        missing = [d for d in spec.dimensions if d not in dims]
        if missing:
            out.append(ctx.note(STEP, "alarm", name, "", f"skipped: no {', '.join(missing)} yet (rerun after "
                                f"{'03_database' if 'DBInstanceIdentifier' in missing else '04_compute'})"))
            continue
        if is_placeholder(topic.id):
            out.append(would_create(ctx, STEP, "alarm", name))
            continue
        want = _alarm_args(p, spec, dims, topic.id)
        if name in have and _same(have[name], want):
            out.append(exists(ctx, STEP, "alarm", name, have[name]["AlarmArn"]))
            continue
        if p.dry_run:
            out.append(ctx.note(STEP, "alarm", name, "", "would update" if name in have else "would create"))
            continue
        # put_metric_alarm creates or replaces by name; tags are only applied when it creates.
        cw.put_metric_alarm(**want, Tags=tagging.tags(p, STEP, name))
        arn = f"arn:aws:cloudwatch:{p.region}:{ctx.account_id}:alarm:{name}"
        out.append(ctx.note(STEP, "alarm", name, arn, "updated" if name in have else "created"))
    return out


def alarms_table(p: Params) -> pd.DataFrame:
    """The alarm design, for the notebook: metric, rule, missing data, why."""
    ops = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">", "LessThanThreshold": "<"}
    return pd.DataFrame([{
        "alarm": names.alarm(p, s.what), "namespace": s.namespace, "metric": s.metric,
        "dimensions": ", ".join(s.dimensions),
        "rule": f"{s.statistic} {ops[s.comparison]} {s.threshold:g} in {s.datapoints} of {s.evaluation_periods} x {s.period}s",
        "missing data": s.missing, "why": s.why} for s in alarm_specs(p)])


# ---- dashboard ----------------------------------------------------------------------------------

def dashboard_body(p: Params, dims: dict[str, str], alarm_arns: list[str]) -> dict[str, Any]:
    """Alarm status on top, then one graph per key metric of the resources that exist."""
    widgets: list[dict[str, Any]] = []
    if alarm_arns:
        widgets.append({"type": "alarm", "x": 0, "y": 0, "width": 24, "height": 3,
                        "properties": {"title": "Alarms", "alarms": sorted(alarm_arns)}})
    graphs = [(s.metric, s.namespace, s.dimensions, s.statistic, s.period) for s in alarm_specs(p)]
    graphs.append(("RequestCount", "AWS/ApplicationELB", ("LoadBalancer",), "Sum", 60))
    for i, (metric, ns, dnames, stat, period) in enumerate(g for g in graphs if all(d in dims for d in g[2])):
        row: list[Any] = [ns, metric]
        for d in dnames:
            row += [d, dims[d]]
        widgets.append({"type": "metric", "x": (i % 3) * 8, "y": 3 + (i // 3) * 6, "width": 8, "height": 6,
                        "properties": {"title": metric, "region": p.region, "stat": stat, "period": period,
                                       "view": "timeSeries", "metrics": [row]}})
    return {"widgets": widgets}


def ensure_dashboard(ctx: Context, p: Params) -> Resource:
    """One dashboard (by exact name: dashboards carry no tags to filter on); rewritten when stale."""
    cw = ctx.client("cloudwatch")
    name = names.dashboard(p)
    dims = find_dimensions(ctx, p)
    arns = [a["AlarmArn"] for a in describe_alarms(ctx, [names.alarm(p, s.what) for s in alarm_specs(p)]).values()]
    body = dashboard_body(p, dims, arns)
    if not body["widgets"]:
        # Nothing to graph before 03/04: no empty dashboard (each one is billed).
        return ctx.note(STEP, "dashboard", name, "", "skipped: nothing to graph yet (rerun after 03_database and 04_compute)")
    try:
        have = json.loads(cw.get_dashboard(DashboardName=name)["DashboardBody"])
    except ClientError as e:
        if _code(e) not in ("ResourceNotFound", "ResourceNotFoundException"):
            raise
        have = None
    if have == body:
        return exists(ctx, STEP, "dashboard", name, name)
    if p.dry_run:
        return ctx.note(STEP, "dashboard", name, name, "would update" if have else "would create")
    cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    return ctx.note(STEP, "dashboard", name, name, "updated" if have else "created")


# ---- the drill ----------------------------------------------------------------------------------

def alarm_drill(ctx: Context, p: Params, what: str = "unhealthy-hosts") -> pd.DataFrame:
    """Put one alarm into ALARM and show where the notification goes: alarm -> topic -> subscriptions.

    On AWS, set_alarm_state notifies the alarm's actions by itself (and the next evaluation puts the
    alarm back). The sandbox neither evaluates nor notifies, so there the drill publishes the
    notification to the topic itself and then returns the alarm to OK."""
    cw, sns = ctx.client("cloudwatch"), ctx.client("sns")
    found = describe_alarms(ctx, [names.alarm(p, s.what) for s in alarm_specs(p)])
    name = names.alarm(p, what)
    if name not in found:
        if not found:
            print("No alarm of this stack exists yet (03_database and 04_compute not run?): nothing to drill. "
                  "Rerun this step after them.")
            return pd.DataFrame([{"hop": "alarm", "what": "(none)", "detail": "no alarm yet: nothing to drill"}],
                                columns=["hop", "what", "detail"])
        name = sorted(found)[0]
    alarm = found[name]
    reason = "DRILL: workbook 06_observability tests the notification path; nothing is wrong"
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=reason)
    state = describe_alarms(ctx, [name])[name]["StateValue"]
    published = ""
    if ctx.sandbox:
        ctx.workaround("DRILL: moto never notifies on alarm state changes, so the drill publishes the "
                       "notification CloudWatch would send to the alarm's topic itself")
        for topic_arn in alarm.get("AlarmActions", []):
            message = {"AlarmName": name, "AlarmDescription": alarm.get("AlarmDescription", ""),
                       "NewStateValue": "ALARM", "NewStateReason": reason, "OldStateValue": alarm["StateValue"],
                       "Region": p.region, "AlarmArn": alarm["AlarmArn"],
                       "Trigger": {"MetricName": alarm.get("MetricName"), "Namespace": alarm.get("Namespace"),
                                   "Dimensions": alarm.get("Dimensions", [])}}
            published = sns.publish(TopicArn=topic_arn, Subject=f'ALARM: "{name}" in {p.region}'[:100],
                                    Message=json.dumps(message))["MessageId"]
    rows = [{"hop": "alarm", "what": name, "detail": f"state {state}: {reason}"}]
    for topic_arn in alarm.get("AlarmActions", []):
        rows.append({"hop": "topic", "what": topic_arn,
                     "detail": f"published message {published} (drill)" if published
                     else "CloudWatch publishes the state change"})
        subs = subscriptions(ctx, topic_arn)
        rows += [{"hop": "subscription", "what": f"{s['Protocol']} {mask_email(s['Endpoint'])}",
                  "detail": "delivered by SNS" if published or not ctx.sandbox else ""} for s in subs]
        if not subs:
            rows.append({"hop": "subscription", "what": "(none)", "detail": "nobody is notified: set alarm_email"})
    if ctx.sandbox:
        # Nothing in the sandbox would ever evaluate the alarm back to OK.
        cw.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="DRILL over")
        rows.append({"hop": "alarm", "what": name, "detail": "back to OK (drill over)"})
    return pd.DataFrame(rows, columns=["hop", "what", "detail"])


# ---- the step -----------------------------------------------------------------------------------

def apply(ctx: Context, p: Params) -> pd.DataFrame:
    out = ensure_log_groups(ctx, p)
    topic = ensure_topic(ctx, p)
    out.append(topic)
    sub = ensure_email_subscription(ctx, p, topic)
    metrics = ensure_asg_metrics(ctx, p)
    out += [r for r in (sub, metrics) if r is not None]
    out += ensure_alarms(ctx, p, topic)
    out.append(ensure_dashboard(ctx, p))
    return frame(out)


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return apply(ctx, p.replace(dry_run=True))


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    from .. import checks, inventory
    return checks.run(inventory.Inventory(ctx, p.stack_name), p, groups=["observability"])


def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """Alarms, dashboard, topic (its subscriptions go with it), log groups. Safe to run twice."""
    cw, sns, logs = ctx.client("cloudwatch"), ctx.client("sns"), ctx.client("logs")
    out: list[Resource] = []
    alarms = describe_alarms(ctx, [names.alarm(p, s.what) for s in alarm_specs(p)])
    if alarms:
        cw.delete_alarms(AlarmNames=sorted(alarms))
        out += [ctx.note(STEP, "alarm", n, a["AlarmArn"], "deleted") for n, a in sorted(alarms.items())]
    name = names.dashboard(p)
    if any(d["DashboardName"] == name for page in cw.get_paginator("list_dashboards").paginate(DashboardNamePrefix=name)
           for d in page["DashboardEntries"]):
        cw.delete_dashboards(DashboardNames=[name])
        out.append(ctx.note(STEP, "dashboard", name, name, "deleted"))
    arn = find_topic(ctx, p)
    if arn:
        tags = tagging.as_dict(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))
        if tags.get(tagging.STACK) == p.stack_name:
            for s in subscriptions(ctx, arn):
                if s["SubscriptionArn"].startswith("arn:"):  # "PendingConfirmation" cannot be unsubscribed
                    sns.unsubscribe(SubscriptionArn=s["SubscriptionArn"])
            sns.delete_topic(TopicArn=arn)
            out.append(ctx.note(STEP, "sns topic", names.alarm_topic(p), arn, "deleted"))
    for group in (names.app_log_group(p), names.system_log_group(p)):
        found = find_log_group(ctx, group)
        if found and log_group_tags(ctx, found).get(tagging.STACK) == p.stack_name:
            logs.delete_log_group(logGroupName=group)
            out.append(ctx.note(STEP, "log group", group, group, "deleted"))
    return frame(out)
