"""06_observability on moto: log retention, alarms on the right dimensions, notifications, the drill."""
from __future__ import annotations

import json

import pytest
from edge_obs_fixtures import build_stack
from moto.sns.models import sns_backends

from conftest import make_ctx
from workbook import engine, iam_actions, names, tagging
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


def _mutating(ctx, since):
    return [c.operation for c in ctx.calls.calls[since:] if c.operation.startswith(MUTATING)]


def _sent(ctx, topic):
    return [json.loads(m[1]) for m in sns_backends[SANDBOX_ACCOUNT][ctx.params.region].topics[topic].sent_notifications]


def test_apply_makes_every_key_alarm_on_the_right_metric_and_dimensions(full):
    ctx, stack = full
    p = ctx.params
    obs.apply(ctx)
    alarms = _alarms(ctx)
    topic = obs.find_topic(ctx)
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
    obs.apply(ctx)
    groups = {g["logGroupName"]: g for g in ctx.client("logs").describe_log_groups()["logGroups"]}
    for name in (names.app_log_group(p), names.system_log_group(p)):
        assert groups[name]["retentionInDays"] == p.log_retention_days
    subs = ctx.client("sns").list_subscriptions_by_topic(TopicArn=obs.find_topic(ctx))["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", EMAIL)]
    asg = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    assert "GroupInServiceInstances" in {m["Metric"] for m in asg["EnabledMetrics"]}


def test_dashboard_graphs_the_alarmed_metrics_of_this_stack(full):
    ctx, stack = full
    p = ctx.params
    obs.apply(ctx)
    body = json.loads(ctx.client("cloudwatch").get_dashboard(DashboardName=names.dashboard(p))["DashboardBody"])
    rows = [w["properties"]["metrics"][0] for w in body["widgets"] if w["type"] == "metric"]
    assert {r[1] for r in rows} >= {s.metric for s in obs.alarm_specs(p)}
    assert any(stack["lb"].split(":loadbalancer/")[1] in r for r in rows)
    alarm_widget = [w for w in body["widgets"] if w["type"] == "alarm"][0]
    assert len(alarm_widget["properties"]["alarms"]) == len(obs.alarm_specs(p))


def test_the_dashboard_is_in_the_stacks_ledger_and_a_stale_one_is_rewritten(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx)
    assert engine.ledger(ctx)["dashboard"][names.dashboard(p)]["step"] == obs.STEP_ID
    ctx.client("cloudwatch").put_dashboard(DashboardName=names.dashboard(p), DashboardBody='{"widgets": []}')
    assert obs.ensure_dashboard(ctx).action == "updated"
    body = json.loads(ctx.client("cloudwatch").get_dashboard(DashboardName=names.dashboard(p))["DashboardBody"])
    assert len(body["widgets"]) > 1


def test_a_dashboard_of_the_same_name_that_the_ledger_does_not_name_is_left_alone(full):
    ctx, _ = full
    name = names.dashboard(ctx.params)
    ctx.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody='{"widgets": []}')
    with pytest.raises(engine.ForeignResource):
        obs.ensure_dashboard(ctx)
    assert ctx.client("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"] == '{"widgets": []}'


def test_second_apply_changes_nothing(full):
    ctx, _ = full
    obs.apply(ctx)
    mark = ctx.calls.mark()
    again = obs.apply(ctx)
    assert _mutating(ctx, mark) == []
    assert set(again.action) == {"exists"}


def test_dry_run_creates_nothing(full):
    ctx, _ = full
    mark = ctx.calls.mark()
    plan = obs.plan(ctx)
    assert _mutating(ctx, mark) == []
    assert set(plan.action) == {"would create", "would update"}   # retention of the new groups, group metrics
    assert {"log_group", "sns_topic", "subscription", "alarm", "dashboard"} <= set(plan[plan.action == "would create"].type)


def test_the_stacks_log_group_gets_its_retention_fixed_and_someone_elses_is_refused(ctx):
    logs = ctx.client("logs")
    name = names.app_log_group(ctx.params)
    logs.create_log_group(logGroupName=name, tags=tagging.tag_dict(ctx.params, obs.STEP_ID, name))
    obs.ensure_log_group(ctx, name)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == ctx.params.log_retention_days
    assert (ctx.resources[-1].type, ctx.resources[-1].action) == ("log_retention", "updated")
    system = names.system_log_group(ctx.params)
    logs.create_log_group(logGroupName=system)          # the stack's name, not the stack's tag: never adopted
    with pytest.raises(engine.ForeignResource):
        obs.ensure_log_group(ctx, system)


def test_alarms_of_missing_resources_are_skipped_and_named(ctx):
    """Before 03 and 04 nothing has dimensions: no alarm on a made-up resource."""
    topic = obs.ensure_topic(ctx)
    out = obs.ensure_alarms(ctx, topic.id)
    assert all(r.action.startswith("skipped") for r in out)
    assert any("04_compute" in r.action for r in out) and any("03_database" in r.action for r in out)
    assert _alarms(ctx) == {}


def test_an_alarm_that_drifted_from_its_design_is_put_again(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx)
    name = names.alarm(p, "db-cpu")
    spec = next(s for s in obs.alarm_specs(p) if s.what == "db-cpu")
    topic = _alarms(ctx)[name]["AlarmActions"][0]
    ctx.client("cloudwatch").put_metric_alarm(**{**obs.alarm_args(
        p, spec, {"DBInstanceIdentifier": names.db_instance(p)}, topic), "Threshold": 99.0})
    out = obs.ensure_alarms(ctx)
    assert [r.action for r in out if r.name == name] == ["updated"]
    assert _alarms(ctx)[name]["Threshold"] == 80


def test_no_alarm_email_subscribes_nobody_and_says_so(ctx, capsys):
    obs.ensure_topic(ctx)
    assert obs.ensure_email_subscription(ctx) is None
    assert "notify nobody" in capsys.readouterr().out


def test_a_new_alarm_email_replaces_the_one_the_workbook_subscribed_and_no_other(full):
    """alarm_email changed (someone left the team): the rerun subscribed the new address and the old one
    went on receiving every alarm. The address the workbook subscribed goes; one the user added stays."""
    ctx, _ = full
    obs.apply(ctx)
    topic = obs.find_topic(ctx)
    ctx.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint="pager@example.com")   # the user's own
    changed = ctx.replace(alarm_email="oncall@example.com")
    mark = changed.calls.mark()
    obs.apply(changed)
    left = sorted(s["Endpoint"] for s in obs.subscriptions(ctx, topic))
    assert left == ["oncall@example.com", "pager@example.com"]
    used = iam_actions.actions_for_calls(changed.calls.calls[mark:])
    assert used <= set(obs.STEP.all_permissions()), used - set(obs.STEP.all_permissions())


def test_the_email_subscription_says_what_aws_asks_and_what_the_sandbox_does(full, capsys):
    ctx, _ = full
    obs.ensure_topic(ctx)
    obs.ensure_email_subscription(ctx)
    said = capsys.readouterr().out
    assert "confirmation e-mail to o***@example.com" in said
    assert "[sandbox] in the sandbox an e-mail subscription is confirmed at once" in said


def test_drill_notifies_the_topic_through_cloudwatch_and_ends_where_it_began(full, capsys):
    """One path on every target: the step sets the state; CloudWatch (in the sandbox, the seam's
    correction of moto) publishes the state change to the alarm's topic, and again on the way back."""
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx)
    path = obs.alarm_drill(ctx)
    said = capsys.readouterr().out
    assert "DRILL" in said and "[sandbox] moto never notifies an alarm's actions" in said
    sent = _sent(ctx, obs.find_topic(ctx))
    assert [(m["OldStateValue"], m["NewStateValue"]) for m in sent] == [("OK", "ALARM"), ("ALARM", "OK")]
    assert sent[0]["AlarmName"] == names.alarm(p, "unhealthy-hosts") and sent[0]["Region"] == "US East (N. Virginia)"
    assert sent[0]["Trigger"]["MetricName"] == "UnHealthyHostCount" and sent[0]["AWSAccountId"] == SANDBOX_ACCOUNT
    ops = list(ctx.calls.frame().operation)
    assert ops.count("SetAlarmState") == 2 and "Publish" not in ops   # the step itself publishes nothing
    assert list(path.hop) == ["alarm", "topic", "subscription", "alarm"]
    assert EMAIL not in path.to_string() and "o***@example.com" in path.to_string()
    assert _alarms(ctx)[names.alarm(p, "unhealthy-hosts")]["StateValue"] == "OK"


def test_the_aws_path_runs_the_same_drill(full):
    ctx, _ = full
    obs.apply(ctx)
    aws = make_ctx(target="aws", aws_account_id=SANDBOX_ACCOUNT, alarm_email=EMAIL)
    path = obs.alarm_drill(aws)
    ops = list(aws.calls.frame().operation)
    assert ops.count("SetAlarmState") == 2 and "Publish" not in ops
    assert list(path.hop) == ["alarm", "topic", "subscription", "alarm"]
    assert _sent(ctx, obs.find_topic(ctx)) == []      # moto uncorrected: nothing notifies (AWS would)
    assert _alarms(ctx)[names.alarm(aws.params, "unhealthy-hosts")]["StateValue"] == "OK"


def test_destroy_removes_alarms_dashboard_topic_and_logs_and_is_safe_twice(full):
    ctx, _ = full
    obs.apply(ctx)
    ctx.client("logs").create_log_group(logGroupName="/someone/else")
    gone = obs.destroy(ctx)
    assert set(gone.type) == {"alarm", "dashboard", "sns_topic", "log_group"}
    assert set(gone.action) == {"deleted"}
    assert _alarms(ctx) == {} and obs.find_topic(ctx) is None
    assert ctx.client("cloudwatch").list_dashboards()["DashboardEntries"] == []
    assert engine.ledger(ctx)["dashboard"] == {}
    assert [g["logGroupName"] for g in ctx.client("logs").describe_log_groups()["logGroups"]] == ["/someone/else"]
    mark = ctx.calls.mark()
    assert obs.destroy(ctx).empty
    assert _mutating(ctx, mark) == []


def test_resources_carry_the_stack_tags(full):
    ctx, _ = full
    p = ctx.params
    obs.apply(ctx)
    topic_tags = tagging.as_dict(ctx.client("sns").list_tags_for_resource(ResourceArn=obs.find_topic(ctx))["Tags"])
    alarm = _alarms(ctx)[names.alarm(p, "db-cpu")]
    alarm_tags = tagging.as_dict(ctx.client("cloudwatch").list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"])
    for t in (topic_tags, alarm_tags):
        assert t[tagging.STACK] == "demo" and t[tagging.STEP] == "06_observability" and t["Name"]


def test_before_03_and_04_there_is_no_empty_dashboard_and_the_drill_says_why(ctx, capsys):
    obs.apply(ctx)
    assert ctx.client("cloudwatch").list_dashboards()["DashboardEntries"] == []
    path = obs.alarm_drill(ctx)
    assert list(path.what) == ["(none)"] and "nothing to drill" in capsys.readouterr().out


def test_declared_permissions_cover_every_call_of_apply_drill_and_destroy(full):
    ctx, _ = full
    mark = ctx.calls.mark()
    obs.apply(ctx)
    obs.alarm_drill(ctx)
    obs.destroy(ctx)
    used = iam_actions.actions_for_calls(ctx.calls.calls[mark:])
    assert sorted(used - set(obs.STEP.all_permissions())) == []
