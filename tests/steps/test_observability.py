"""06_observability on moto: log retention, alarms on the right dimensions, notifications, the drill."""
from __future__ import annotations

import json

import pytest
from edge_obs_fixtures import build_stack
from moto.sns.models import sns_backends

from conftest import make_ctx
from workbook import names, tagging
from workbook.connect import MUTATING
from workbook.sandbox.seam import ACCOUNT as SANDBOX_ACCOUNT
from workbook.steps import observability as obs

EMAIL = "ops@example.com"


@pytest.fixture
def full(ctx):
    c = make_ctx(alarm_email=EMAIL)
    return c, build_stack(c, c.params)


def _alarms(ctx):
    return {a["AlarmName"]: a for a in ctx.client("cloudwatch").describe_alarms()["MetricAlarms"]}


def test_apply_makes_every_key_alarm_on_the_right_metric_and_dimensions(full):
    ctx, stack = full
    p = ctx.params
    obs.apply(ctx, p)
    alarms = _alarms(ctx)
    topic = obs.find_topic(ctx, p)
    lb_dim = stack["lb"].split(":loadbalancer/")[1]
    tg_dim = stack["tg"].rsplit(":", 1)[1]
    assert lb_dim.startswith("app/demo-alb/") and tg_dim.startswith("targetgroup/demo-app-tg/")
    want = {
        "alb-5xx": ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", {"LoadBalancer": lb_dim}),
        "target-5xx": ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", {"LoadBalancer": lb_dim, "TargetGroup": tg_dim}),
        "latency": ("AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": lb_dim}),
        "unhealthy-hosts": ("AWS/ApplicationELB", "UnHealthyHostCount", {"LoadBalancer": lb_dim, "TargetGroup": tg_dim}),
        "in-service": ("AWS/AutoScaling", "GroupInServiceInstances", {"AutoScalingGroupName": names.asg(p)}),
        "db-cpu": ("AWS/RDS", "CPUUtilization", {"DBInstanceIdentifier": names.db_instance(p)}),
        "db-free-storage": ("AWS/RDS", "FreeStorageSpace", {"DBInstanceIdentifier": names.db_instance(p)}),
        "db-connections": ("AWS/RDS", "DatabaseConnections", {"DBInstanceIdentifier": names.db_instance(p)}),
    }
    for what, (ns, metric, dims) in want.items():
        a = alarms[names.alarm(p, what)]
        assert (a["Namespace"], a["MetricName"]) == (ns, metric)
        assert {d["Name"]: d["Value"] for d in a["Dimensions"]} == dims
        assert a["AlarmActions"] == [topic] and a["ActionsEnabled"]
    assert alarms[names.alarm(p, "in-service")]["Threshold"] == p.min_capacity
    assert alarms[names.alarm(p, "in-service")]["ComparisonOperator"] == "LessThanThreshold"
    assert alarms[names.alarm(p, "alb-5xx")]["TreatMissingData"] == "notBreaching"


def test_apply_sets_log_retention_subscribes_the_email_and_turns_on_group_metrics(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx, p)
    groups = {g["logGroupName"]: g for g in ctx.client("logs").describe_log_groups()["logGroups"]}
    for name in (names.app_log_group(p), names.system_log_group(p)):
        assert groups[name]["retentionInDays"] == p.log_retention_days
    subs = ctx.client("sns").list_subscriptions_by_topic(TopicArn=obs.find_topic(ctx, p))["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", EMAIL)]
    asg = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    assert "GroupInServiceInstances" in {m["Metric"] for m in asg["EnabledMetrics"]}


def test_dashboard_graphs_the_alarmed_metrics_of_this_stack(full):
    ctx, stack = full
    p = ctx.params
    obs.apply(ctx, p)
    body = json.loads(ctx.client("cloudwatch").get_dashboard(DashboardName=names.dashboard(p))["DashboardBody"])
    rows = [w["properties"]["metrics"][0] for w in body["widgets"] if w["type"] == "metric"]
    assert {r[1] for r in rows} >= {s.metric for s in obs.alarm_specs(p)}
    assert any(stack["lb"].split(":loadbalancer/")[1] in r for r in rows)
    alarm_widget = [w for w in body["widgets"] if w["type"] == "alarm"][0]
    assert len(alarm_widget["properties"]["alarms"]) == len(obs.alarm_specs(p))


def test_second_apply_changes_nothing(full):
    ctx, _ = full
    obs.apply(ctx, ctx.params)
    mark = ctx.calls.mark()
    again = obs.apply(ctx, ctx.params)
    assert ctx.calls.count(mark, MUTATING) == 0
    assert set(again.action) == {"exists"}


def test_dry_run_creates_nothing(full):
    ctx, _ = full
    mark = ctx.calls.mark()
    plan = obs.plan(ctx, ctx.params)
    assert ctx.calls.count(mark, MUTATING) == 0
    assert "would create" in set(plan.action)


def test_an_existing_log_group_gets_its_retention_fixed(ctx):
    logs = ctx.client("logs")
    logs.create_log_group(logGroupName=names.app_log_group(ctx.params))
    r = obs.ensure_log_group(ctx, ctx.params, names.app_log_group(ctx.params))
    assert r.action.startswith("retention set")
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == ctx.params.log_retention_days


def test_alarms_of_missing_resources_are_skipped_and_named(ctx):
    """Before 03 and 04 nothing has dimensions: no alarm on a made-up resource."""
    topic = obs.ensure_topic(ctx, ctx.params)
    out = obs.ensure_alarms(ctx, ctx.params, topic)
    assert all(r.action.startswith("skipped") for r in out)
    assert any("04_compute" in r.action for r in out) and any("03_database" in r.action for r in out)
    assert _alarms(ctx) == {}


def test_no_alarm_email_subscribes_nobody_and_says_so(ctx, capsys):
    topic = obs.ensure_topic(ctx, ctx.params)
    assert obs.ensure_email_subscription(ctx, ctx.params, topic) is None
    assert "notify nobody" in capsys.readouterr().out


def test_sandbox_drill_publishes_to_the_topic_labelled_as_a_drill_and_resets_the_alarm(full, capsys):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx, p)
    path = obs.alarm_drill(ctx, p)
    assert "DRILL" in capsys.readouterr().out
    topic = obs.find_topic(ctx, p)
    sent = sns_backends[SANDBOX_ACCOUNT][p.region].topics[topic].sent_notifications
    assert len(sent) == 1 and json.loads(sent[0][1])["NewStateValue"] == "ALARM"
    assert list(path.hop) == ["alarm", "topic", "subscription", "alarm"]
    assert EMAIL not in path.to_string() and "o***@example.com" in path.to_string()
    assert _alarms(ctx)[names.alarm(p, "unhealthy-hosts")]["StateValue"] == "OK"


def test_aws_drill_only_sets_the_alarm_state(full):
    ctx, _ = full
    obs.apply(ctx, ctx.params)
    aws = make_ctx(target="aws", aws_account_id=SANDBOX_ACCOUNT, alarm_email=EMAIL)
    obs.alarm_drill(aws, aws.params)
    ops = list(aws.calls.frame().operation)
    assert "SetAlarmState" in ops and "Publish" not in ops
    assert _alarms(ctx)[names.alarm(aws.params, "unhealthy-hosts")]["StateValue"] == "ALARM"


def test_destroy_removes_alarms_dashboard_topic_and_logs_and_is_safe_twice(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx, p)
    ctx.client("logs").create_log_group(logGroupName="/someone/else")
    gone = obs.destroy(ctx, p)
    assert set(gone.type) == {"alarm", "dashboard", "sns topic", "log group"}
    assert _alarms(ctx) == {} and obs.find_topic(ctx, p) is None
    assert [g["logGroupName"] for g in ctx.client("logs").describe_log_groups()["logGroups"]] == ["/someone/else"]
    assert obs.destroy(ctx, p).empty


def test_resources_carry_the_stack_tags(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx, p)
    topic_tags = tagging.as_dict(ctx.client("sns").list_tags_for_resource(ResourceArn=obs.find_topic(ctx, p))["Tags"])
    alarm = _alarms(ctx)[names.alarm(p, "db-cpu")]
    alarm_tags = tagging.as_dict(ctx.client("cloudwatch").list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"])
    for t in (topic_tags, alarm_tags):
        assert t[tagging.STACK] == "demo" and t[tagging.STEP] == "06_observability" and t["Name"]


def test_before_03_and_04_there_is_no_empty_dashboard_and_the_drill_says_why(ctx, capsys):
    p = ctx.params
    obs.apply(ctx, p)
    assert ctx.client("cloudwatch").list_dashboards()["DashboardEntries"] == []
    path = obs.alarm_drill(ctx, p)
    assert list(path.what) == ["(none)"] and "nothing to drill" in capsys.readouterr().out
