"""Step 06_observability: logs with a retention, alarms on the metrics that say "users are hurting",
a topic that notifies a human, and one dashboard.

Why (the article, in our words): production needs logs to find out what went wrong and monitoring
to see that servers and database are healthy; CloudWatch does both, and alarms tell someone when
something breaks.

Each resource goes through workbook.engine (found by the stack's tag, else created with tags): two log
groups kept log_retention_days, the alarm topic with alarm_email subscribed, one alarm per key metric
(the design is workbook/alarms.py: metric, dimensions, rule, why), and a dashboard. A dashboard cannot
carry a tag in every place the workbook runs: it is written in the stack's ledger when created. An
alarm whose resource does not exist yet (03 or 04 not run) is skipped and named; a rerun adds it.

`alarm_drill` follows one alarm to the inbox: alarm -> topic -> subscriptions.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, engine, inventory, names, plan_cost
from ..alarms import AlarmSpec, alarm_specs
from ..connect import Context, Resource
from ..params import Params
from . import Step, destroy_kinds, register
from .network_flowlogs import ensure_retention

STEP_ID = "06_observability"
STEP = register(Step(
    STEP_ID, "Logging & Monitoring: logs, alarms, notifications, dashboard",
    why=("Production needs logs to find out what went wrong and monitoring to see that the servers and the "
         "database are healthy; CloudWatch does both, and alarms tell someone when something breaks."),
    short="Monitoring", module="observability",
    kinds=("log_group", "sns_topic", "alarm", "dashboard"),
    permissions=(
        "cloudwatch:SetAlarmState",                     # the drill (CloudWatch itself publishes to the topic)
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTargetGroups",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:EnableMetricsCollection",
        "rds:DescribeDBInstances",
        "ssm:GetParameter", "ssm:PutParameter", "ssm:AddTagsToResource",   # the stack's ledger (dashboard, the
        "sns:Unsubscribe",                                                  # subscriptions; a replaced address)
    ),
))

# What the ASG publishes once metrics collection is on (1-minute granularity, no extra charge).
ASG_METRICS = ["GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
               "GroupPendingInstances", "GroupTerminatingInstances", "GroupTotalInstances"]
DRILL_REASON = "DRILL: workbook 06_observability tests the notification path; nothing is wrong"


# ---- dimensions from the stack's resources ------------------------------------------------------
def find_dimensions(ctx: Context) -> dict[str, str]:
    """Dimension values of what exists: LoadBalancer, TargetGroup, AutoScalingGroupName,
    DBInstanceIdentifier. Missing resources are simply absent from the result."""
    p, dims = ctx.p, {}
    elb = ctx.client("elbv2")
    try:
        lb = elb.describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
        dims["LoadBalancer"] = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
    except ClientError as e:
        if engine.code(e) != "LoadBalancerNotFound":
            raise
    try:
        tg = elb.describe_target_groups(Names=[names.target_group(p)])["TargetGroups"][0]
        dims["TargetGroup"] = tg["TargetGroupArn"].rsplit(":", 1)[1]
    except ClientError as e:
        if engine.code(e) != "TargetGroupNotFound":
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
        if engine.code(e) != "DBInstanceNotFound":
            raise
    return dims


# ---- log groups ---------------------------------------------------------------------------------
def ensure_log_group(ctx: Context, name: str) -> Resource:
    """A log group kept log_retention_days (logs kept forever cost forever)."""
    rec = engine.ensure(ctx, "log_group", name, step=STEP_ID, create={"logGroupName": name})
    ensure_retention(ctx, rec, STEP_ID)
    return rec


def ensure_log_groups(ctx: Context) -> list[Resource]:
    """The app's log and the system log (what the instances' CloudWatch agent ships)."""
    return [ensure_log_group(ctx, names.app_log_group(ctx.p)), ensure_log_group(ctx, names.system_log_group(ctx.p))]


# ---- topic and subscription ---------------------------------------------------------------------
def find_topic(ctx: Context) -> str | None:
    it = engine.find_one(ctx, "sns_topic", names.alarm_topic(ctx.p))
    return it.id if it else None


def ensure_topic(ctx: Context) -> Resource:
    """The SNS topic every alarm notifies."""
    name = names.alarm_topic(ctx.p)
    return engine.ensure(ctx, "sns_topic", name, step=STEP_ID, create={"Name": name})


def mask_email(address: str) -> str:
    """ops@example.com -> o***@example.com: enough to recognise, not to harvest."""
    if "@" not in address:
        return address
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


def subscriptions(ctx: Context, topic_arn: str) -> list[dict[str, Any]]:
    return engine._pages(ctx, "sns", "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn)


def _remember_subscription(ctx: Context, arn: str) -> None:
    """The subscriptions this stack made are in its ledger: only those are ever unsubscribed."""
    if arn.startswith("arn:") and arn not in engine.ledger(ctx).get("subscription", {}):
        engine.remember(ctx, "subscription", arn, STEP_ID)


def _unsubscribe_replaced(ctx: Context, current: list[dict[str, Any]]) -> None:
    """alarm_email changed: the address the workbook subscribed before stops getting the alarms (an address
    someone subscribed by hand is not in the ledger, and stays)."""
    mine = engine.ledger(ctx).get("subscription", {})
    for s in current:
        if s["SubscriptionArn"] in mine and s["Endpoint"].lower() != ctx.p.alarm_email.lower():
            if not ctx.dry_run:
                ctx.client("sns").unsubscribe(SubscriptionArn=s["SubscriptionArn"])
                engine.forget(ctx, "subscription", s["SubscriptionArn"])
            ctx.note(STEP_ID, "subscription", f"email {mask_email(s['Endpoint'])}", s["SubscriptionArn"],
                     "would delete (alarm_email changed)" if ctx.dry_run else "deleted (alarm_email changed)")


def ensure_email_subscription(ctx: Context, topic: str | None = None) -> Resource | None:
    """alarm_email subscribed to the topic; without it, alarms notify nobody (the check says so)."""
    p = ctx.p
    if not p.alarm_email:
        print("alarm_email is empty: the alarms will change state but notify nobody.")
        return None
    label = f"email {mask_email(p.alarm_email)}"
    topic = topic or find_topic(ctx)
    if topic and not engine.is_placeholder(topic):
        current = subscriptions(ctx, topic)
        _unsubscribe_replaced(ctx, current)
        have = [s for s in current if s["Protocol"] == "email" and s["Endpoint"].lower() == p.alarm_email.lower()]
        if have:
            if not ctx.dry_run:
                _remember_subscription(ctx, have[0]["SubscriptionArn"])
            return ctx.note(STEP_ID, "subscription", label, have[0]["SubscriptionArn"], "exists")
    if ctx.dry_run or not topic or engine.is_placeholder(topic):
        return ctx.note(STEP_ID, "subscription", label, engine.placeholder("subscription", label), "would create")
    arn = ctx.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint=p.alarm_email,
                                      ReturnSubscriptionArn=True)["SubscriptionArn"]
    _remember_subscription(ctx, arn)
    print(f"AWS sends a confirmation e-mail to {mask_email(p.alarm_email)}: alarms reach it once the link in it "
          "is clicked.")
    gap = ctx.gap("sns_email_confirmation")
    if gap:
        ctx.say(f"{gap}.")   # with the other sandbox notes (the workshop collects them in one line)
    return ctx.note(STEP_ID, "subscription", label, arn, "created")


# ---- Auto Scaling group metrics -----------------------------------------------------------------
def ensure_asg_metrics(ctx: Context) -> Resource | None:
    """GroupInServiceInstances exists only with group metrics collection on; switch it on."""
    p, asg = ctx.p, ctx.client("autoscaling")
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"]
    if not groups:
        print(f"Auto Scaling group {names.asg(p)} not found (04_compute not run): its alarm waits for a rerun.")
        return None
    enabled = {m["Metric"] for m in groups[0].get("EnabledMetrics", [])}
    name = f"{names.asg(p)} metrics"
    if set(ASG_METRICS) <= enabled:
        return ctx.note(STEP_ID, "asg_metrics", name, names.asg(p), "exists")
    if ctx.dry_run:
        return ctx.note(STEP_ID, "asg_metrics", name, names.asg(p), "would update")
    asg.enable_metrics_collection(AutoScalingGroupName=names.asg(p), Granularity="1Minute", Metrics=ASG_METRICS)
    print(f"Enabled group metrics collection on {names.asg(p)} (1-minute, free): without it AWS/AutoScaling "
          "publishes no GroupInServiceInstances and its alarm would have nothing to watch.")
    return ctx.note(STEP_ID, "asg_metrics", name, names.asg(p), "updated")


# ---- alarms -------------------------------------------------------------------------------------
def alarm_args(p: Params, spec: AlarmSpec, dims: dict[str, str], topic_arn: str) -> dict[str, Any]:
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
    keys = [k for k in want if k != "AlarmDescription"]
    norm = {**have, "Dimensions": sorted(have.get("Dimensions", []), key=lambda d: d["Name"])}
    want = {**want, "Dimensions": sorted(want["Dimensions"], key=lambda d: d["Name"])}
    return all(norm.get(k) == want[k] for k in keys)


def ensure_alarms(ctx: Context, topic: str | None = None) -> list[Resource]:
    """One alarm per key metric, actions to the topic; an alarm that differs from its design is put
    again (put_metric_alarm replaces it by name), one that matches is left alone."""
    p = ctx.p
    dims = find_dimensions(ctx)
    topic = topic or find_topic(ctx) or engine.placeholder("sns_topic", names.alarm_topic(p))
    out: list[Resource] = []
    for spec in alarm_specs(p):
        name = names.alarm(p, spec.what)
        missing = [d for d in spec.dimensions if d not in dims]
        if missing:
            out.append(ctx.note(STEP_ID, "alarm", name, "", f"skipped: no {', '.join(missing)} yet (rerun after "
                                f"{'03_database' if 'DBInstanceIdentifier' in missing else '04_compute'})"))
            continue
        want = alarm_args(p, spec, dims, topic)
        rec = engine.ensure(ctx, "alarm", name, step=STEP_ID, create=want)
        if rec.action == "exists" and not _same(rec.item, want):
            if not ctx.dry_run and not engine.is_placeholder(topic):
                ctx.client("cloudwatch").put_metric_alarm(**want)   # keeps the tags it was created with
            rec.action = "would update" if ctx.dry_run else "updated"
        out.append(rec)
    return out


def alarms_table(p: Params) -> pd.DataFrame:
    """The alarm design, for the notebook: metric, rule, missing data, why."""
    ops = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">", "LessThanThreshold": "<"}
    return pd.DataFrame([{
        "alarm": names.alarm(p, s.what), "namespace": s.namespace, "metric": s.metric,
        "dimensions": ", ".join(s.dimensions),
        "rule": f"{s.statistic} {ops[s.comparison]} {s.threshold:g} in {s.datapoints} of {s.evaluation_periods} x {s.period}s",
        "missing data": s.missing, "why": s.why} for s in alarm_specs(p)])


def stack_alarms(ctx: Context) -> dict[str, dict[str, Any]]:
    """This step's alarms (by the stack's and the step's tags), by name."""
    return {it.name: it.raw for it in engine.find(ctx, "alarm", step=STEP_ID)}


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


def _dashboard_body(ctx: Context, name: str) -> dict[str, Any] | None:
    try:
        return json.loads(ctx.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"] or "{}")
    except ClientError as e:
        if engine.missing(e):
            return None
        raise


def ensure_dashboard(ctx: Context) -> Resource:
    """One dashboard (written in the stack's ledger: it carries no tag); rewritten when stale."""
    p, name = ctx.p, names.dashboard(ctx.p)
    arns = [a["AlarmArn"] for a in stack_alarms(ctx).values()]
    body = dashboard_body(p, find_dimensions(ctx), arns)
    if not body["widgets"]:
        # Nothing to graph before 03/04: no empty dashboard (each one is billed).
        return ctx.note(STEP_ID, "dashboard", name, "",
                        "skipped: nothing to graph yet (rerun after 03_database and 04_compute)")
    cw = ctx.client("cloudwatch")
    found = engine.find_one(ctx, "dashboard", name)
    if found is None and _dashboard_body(ctx, name) is not None:
        # PutDashboard replaces a namesake without a word: one the ledger does not name is not ours.
        raise engine.ForeignResource(f"dashboard {name} exists but is not in this stack's ledger: the workbook "
                                     "leaves it alone. Choose another stack_name or remove it yourself.")
    rec = engine.ensure(ctx, "dashboard", name, step=STEP_ID, found=found, lookup=False,
                        create=lambda: {"DashboardName": name, "DashboardBody": json.dumps(body)})
    if rec.action == "exists":
        if _dashboard_body(ctx, name) != body:
            if not ctx.dry_run:
                cw.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
            rec.action = "would update" if ctx.dry_run else "updated"
    return rec


# ---- the drill ----------------------------------------------------------------------------------
def alarm_drill(ctx: Context, what: str = "unhealthy-hosts") -> pd.DataFrame:
    """Put one alarm into ALARM and follow the notification: alarm -> topic -> subscriptions.
    CloudWatch notifies the alarm's actions on the state change; at the end the alarm goes back to the
    state it had, so the drill ends the same way everywhere."""
    p, cw = ctx.p, ctx.client("cloudwatch")
    cols = ["hop", "what", "detail"]
    found = stack_alarms(ctx)
    if not found:
        print("No alarm of this stack exists yet (03_database and 04_compute not run?): nothing to drill. "
              "Rerun this step after them.")
        return pd.DataFrame([{"hop": "alarm", "what": "(none)", "detail": "no alarm yet: nothing to drill"}],
                            columns=cols)
    name = names.alarm(p, what) if names.alarm(p, what) in found else sorted(found)[0]
    alarm = found[name]
    before = alarm["StateValue"]
    if before == "ALARM":
        # No state change, no notification: CloudWatch sent it when the alarm went into ALARM.
        return pd.DataFrame([{"hop": "alarm", "what": name,
                              "detail": "already in ALARM (its notification went out then): no drill"}], columns=cols)
    print(f"DRILL: setting {name} to ALARM to follow its notification (nothing is wrong).")
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=DRILL_REASON)
    state = engine.find_one(ctx, "alarm", name).raw["StateValue"]
    rows = [{"hop": "alarm", "what": name, "detail": f"state {state}: {DRILL_REASON}"}]
    for topic_arn in alarm.get("AlarmActions", []):
        rows.append({"hop": "topic", "what": topic_arn, "detail": "CloudWatch publishes the state change to it"})
        subs = subscriptions(ctx, topic_arn)
        rows += [{"hop": "subscription", "what": f"{s['Protocol']} {mask_email(s['Endpoint'])}",
                  "detail": "pending confirmation: nothing is delivered until the link in its e-mail is clicked"
                  if s["SubscriptionArn"] == "PendingConfirmation" else "SNS delivers the notification"}
                 for s in subs]
        if not subs:
            rows.append({"hop": "subscription", "what": "(none)", "detail": "nobody is notified: set alarm_email"})
    # Back to the state before the drill. On AWS the alarm's next evaluation (within a period) would
    # set its true state anyway; setting it here ends the drill the same way on every target.
    cw.set_alarm_state(AlarmName=name, StateValue=before, StateReason="DRILL over")
    rows.append({"hop": "alarm", "what": name, "detail": f"back to {before} (drill over)"})
    return pd.DataFrame(rows, columns=cols)


# ---- the step -----------------------------------------------------------------------------------
def apply(ctx: Context) -> pd.DataFrame:
    """Log groups, topic and subscription, group metrics, alarms, dashboard; a rerun changes nothing."""
    mark = len(ctx.resources)
    ensure_log_groups(ctx)
    topic = ensure_topic(ctx)
    ensure_email_subscription(ctx, topic.id)
    ensure_asg_metrics(ctx)
    ensure_alarms(ctx, topic.id)
    ensure_dashboard(ctx)
    return ctx.resources_frame(mark)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def verify(ctx: Context) -> pd.DataFrame:
    return checks.run(inventory.Inventory(ctx, ctx.p.stack_name), ctx.p, groups=["observability"])


def destroy(ctx: Context) -> pd.DataFrame:
    """Alarms, dashboard, topic (its subscriptions go with it), log groups: what carries this step's
    tag (the dashboard: what the ledger says it made). Safe to run twice."""
    return destroy_kinds(ctx, STEP)
