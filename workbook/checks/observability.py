"""Checks of 06_observability: log retention, alarms on the key metrics with actions, someone
subscribed to the alarms, a dashboard. Frames: log_groups, alarms, topics, dashboards."""
from __future__ import annotations

from typing import Any

from .. import names
from ..alarms import alarm_specs
from ..params import Params
from . import Finding, check, not_emulated

GROUP = "observability"


@check(id="CloudWatch.16", title="CloudWatch log groups should be retained for a set time period",
       severity="medium",
       risk="Logs kept forever cost forever; logs kept too briefly are gone when an incident is investigated.",
       remediation="Set a retention on every log group (06_observability uses log_retention_days). FSBP's "
                   "default minimum is 365 days; this check uses the stack's log_retention_days.",
       group=GROUP)
def log_retention(inv: Any, p: Params) -> list[Finding]:
    groups = inv.frame("log_groups")
    if groups.empty:
        return [Finding("(no log group)", "FAIL", "the stack has no log group: run 06_observability")]
    out = []
    for g in groups.itertuples():
        if not g.retention_days:
            out.append(Finding(g.id, "FAIL", "never expires"))
        elif g.retention_days < p.log_retention_days:
            out.append(Finding(g.id, "FAIL", f"{g.retention_days} days < log_retention_days={p.log_retention_days}"))
        else:
            out.append(Finding(g.id, "PASS", f"{g.retention_days} days"))
    return out


@check(id="ARTICLE.ALARMS", title="An alarm with actions watches each key metric", severity="high",
       risk="Without alarms on errors, latency, healthy hosts and the database, users notice an outage "
            "before the team does.",
       remediation="Run 06_observability after 03_database and 04_compute: it creates the alarms on the "
                   "ALB, Auto Scaling group and RDS metrics, with actions to the alarm topic.",
       group=GROUP)
def key_metric_alarms(inv: Any, p: Params) -> list[Finding]:
    alarms = inv.frame("alarms").set_index("id", drop=False)
    out = []
    for spec in alarm_specs(p):
        name = names.alarm(p, spec.what)
        label = f"{name} ({spec.namespace} {spec.metric})"
        if name not in alarms.index:
            out.append(Finding(label, "FAIL", "no such alarm"))
            continue
        a = alarms.loc[name]
        if (a.namespace, a.metric) != (spec.namespace, spec.metric):
            out.append(Finding(label, "FAIL", f"watches {a.namespace} {a.metric} instead"))
        elif set(a.dimensions) != set(spec.dimensions):
            out.append(Finding(label, "FAIL", f"dimensions {sorted(a.dimensions)}, expected {list(spec.dimensions)}"))
        elif not a.actions:
            out.append(Finding(label, "FAIL", "no alarm actions: it changes state silently"))
        else:
            out.append(Finding(label, "PASS", f"notifies {len(a.actions)} target(s)"))
    return out


@check(id="CloudWatch.17", title="CloudWatch alarm actions should be activated", severity="high",
       risk="An alarm with its actions disabled changes state and tells nobody.",
       remediation="enable_alarm_actions for the alarm (06_observability creates them enabled).",
       group=GROUP)
def alarm_actions_enabled(inv: Any, p: Params) -> list[Finding]:
    alarms = inv.frame("alarms")
    if alarms.empty:
        return [Finding("(no alarm)", "NOT_APPLICABLE", "the stack has no alarm")]
    return [Finding(a.id, "PASS" if a.actions_enabled else "FAIL",
                    "actions enabled" if a.actions_enabled else "actions disabled") for a in alarms.itertuples()]


@check(id="ARTICLE.ALARMS_HAVE_DATA", title="Alarms receive data from the metrics they watch", severity="medium",
       risk="An alarm on a metric nobody publishes (a wrong dimension, group metrics collection off) "
            "stays INSUFFICIENT_DATA and never fires.",
       remediation="Fix the alarm's dimensions; enable group metrics on the Auto Scaling group.",
       group=GROUP)
def alarms_have_data(inv: Any, p: Params) -> list[Finding]:
    alarms = inv.frame("alarms")
    if alarms.empty:
        return [Finding("(no alarm)", "NOT_APPLICABLE", "the stack has no alarm")]
    return [not_emulated(inv, "alarm_evaluation", a.id)
            or Finding(a.id, "FAIL" if a.state == "INSUFFICIENT_DATA" else "PASS", f"state {a.state}")
            for a in alarms.itertuples()]


@check(id="ARTICLE.ALARM_SUBSCRIBERS", title="Someone is subscribed to the alarm topic", severity="medium",
       risk="Alarms that notify an empty topic wake nobody up.",
       remediation="Set alarm_email and rerun 06_observability (on AWS, confirm the subscription e-mail).",
       group=GROUP)
def alarm_subscribers(inv: Any, p: Params) -> list[Finding]:
    topics = inv.frame("topics")
    mine = topics[topics.name == names.alarm_topic(p)]
    if mine.empty:
        return [Finding(names.alarm_topic(p), "FAIL", "no alarm topic")]
    t = mine.iloc[0]
    if not t.subscriptions:
        return [Finding(t.id, "FAIL", "no subscription")]
    confirmed = [s for s, ok in zip(t.subscriptions, t.confirmed if isinstance(t.confirmed, list) else []) if ok]
    if not confirmed:
        return [Finding(t.id, "FAIL", f"{len(t.subscriptions)} subscription(s), none confirmed: nothing is delivered "
                                      f"until the link in the confirmation e-mail is clicked ({', '.join(t.subscriptions)})")]
    gap = inv.ctx.gap("sns_email_confirmation")
    note = f" ({gap})" if gap else ""
    return [Finding(t.id, "PASS", f"{len(confirmed)} confirmed subscription(s): {', '.join(confirmed)}{note}")]


@check(id="ARTICLE.DASHBOARD", title="A CloudWatch dashboard shows the key metrics", severity="low",
       risk="Without one place to look, an incident starts with minutes of searching for graphs.",
       remediation="Run 06_observability: it writes a dashboard with the alarms and the key metrics.",
       group=GROUP)
def dashboard_exists(inv: Any, p: Params) -> list[Finding]:
    dash = inv.frame("dashboards")
    mine = dash[dash.id == names.dashboard(p)]
    if mine.empty:
        return [Finding(names.dashboard(p), "FAIL", "no dashboard")]
    d = mine.iloc[0]
    return [Finding(d.id, "PASS" if d.widgets else "FAIL", f"{d.widgets} widget(s), {len(d.metrics)} metric(s)")]
