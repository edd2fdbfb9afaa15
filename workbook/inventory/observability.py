"""Observability frames: log_groups, alarms, topics, dashboards.

- `log_groups` (id = name): retention_days (0 = never expires), stored_bytes.
- `alarms` (id = name): metric, namespace, state, actions (AlarmActions, list), ok_actions (list),
  actions_enabled (bool), dimensions (dict), statistic, threshold, comparison, treat_missing_data, arn.
- `topics` (id = ARN): subscriptions (endpoints, e-mail masked), protocols (list).
- `dashboards` (id = name): widgets (count), metrics (list of "Namespace/MetricName").
  Dashboards carry no tags: with a stack, the one named names.dashboard for that stack.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .. import names
from ..connect import Context
from ..params import Params
from ..tagging import STACK, as_dict
from . import BASE_COLUMNS, fetcher, tag_columns

COLUMNS: dict[str, list[str]] = {
    "log_groups": ["retention_days", "stored_bytes"],
    "alarms": ["metric", "namespace", "state", "actions", "ok_actions", "actions_enabled", "dimensions",
               "statistic", "threshold", "comparison", "treat_missing_data", "arn"],
    "topics": ["subscriptions", "protocols", "confirmed"],
    "dashboards": ["widgets", "metrics"],
}


def _frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=BASE_COLUMNS + COLUMNS[kind])


def mask_endpoint(protocol: str, endpoint: str) -> str:
    """E-mail and SMS endpoints are personal: show enough to recognise them."""
    if protocol in ("email", "email-json") and "@" in endpoint:
        local, domain = endpoint.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if protocol == "sms":
        return "***" + endpoint[-4:]
    return endpoint


@fetcher("log_groups")
def log_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    logs = ctx.client("logs")
    rows = []
    for page in logs.get_paginator("describe_log_groups").paginate():
        for g in page["logGroups"]:
            arn = g.get("logGroupArn") or g["arn"].removesuffix(":*")
            tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            if stack is not None and tags.get(STACK) != stack:
                continue
            rows.append({"id": g["logGroupName"], **tag_columns(tags),
                         "retention_days": int(g.get("retentionInDays") or 0), "stored_bytes": g.get("storedBytes", 0)})
    return _frame("log_groups", rows)


@fetcher("alarms")
def alarms(ctx: Context, stack: str | None) -> pd.DataFrame:
    cw = ctx.client("cloudwatch")
    rows = []
    for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for a in page["MetricAlarms"]:
            tags = as_dict(cw.list_tags_for_resource(ResourceARN=a["AlarmArn"]).get("Tags"))
            if stack is not None and tags.get(STACK) != stack:
                continue
            rows.append({"id": a["AlarmName"], **tag_columns(tags), "metric": a.get("MetricName", ""),
                         "namespace": a.get("Namespace", ""), "state": a["StateValue"],
                         "actions": list(a.get("AlarmActions", [])), "ok_actions": list(a.get("OKActions", [])),
                         "actions_enabled": bool(a.get("ActionsEnabled")),
                         "dimensions": {d["Name"]: d["Value"] for d in a.get("Dimensions", [])},
                         "statistic": a.get("Statistic") or a.get("ExtendedStatistic", ""),
                         "threshold": a.get("Threshold"), "comparison": a.get("ComparisonOperator", ""),
                         "treat_missing_data": a.get("TreatMissingData", "missing"), "arn": a["AlarmArn"]})
    return _frame("alarms", rows)


@fetcher("topics")
def topics(ctx: Context, stack: str | None) -> pd.DataFrame:
    sns = ctx.client("sns")
    rows = []
    for page in sns.get_paginator("list_topics").paginate():
        for t in page["Topics"]:
            arn = t["TopicArn"]
            tags = as_dict(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))
            if stack is not None and tags.get(STACK) != stack:
                continue
            subs = [s for p in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                    for s in p["Subscriptions"]]
            rows.append({"id": arn, **tag_columns(tags) | {"name": tags.get("Name") or arn.rsplit(":", 1)[-1]},
                         "subscriptions": [mask_endpoint(s["Protocol"], s["Endpoint"]) for s in subs],
                         "protocols": [s["Protocol"] for s in subs],
                         # an unconfirmed subscription's ARN reads PendingConfirmation: it delivers nothing yet
                         "confirmed": [s["SubscriptionArn"].startswith("arn:") for s in subs]})
    return _frame("topics", rows)


@fetcher("dashboards")
def dashboards(ctx: Context, stack: str | None) -> pd.DataFrame:
    cw = ctx.client("cloudwatch")
    wanted = names.dashboard(Params(stack_name=stack)) if stack else None
    rows = []
    pages = cw.get_paginator("list_dashboards").paginate(**({"DashboardNamePrefix": wanted} if wanted else {}))
    for d in (d for page in pages for d in page["DashboardEntries"]):
        if wanted and d["DashboardName"] != wanted:
            continue
        body = json.loads(cw.get_dashboard(DashboardName=d["DashboardName"])["DashboardBody"] or "{}")
        widgets = body.get("widgets", [])
        metrics = sorted({f"{m[0]}/{m[1]}" for w in widgets for m in w.get("properties", {}).get("metrics", [])
                          if isinstance(m, list) and len(m) >= 2 and not str(m[0]).startswith("...")})
        rows.append({"id": d["DashboardName"], "name": d["DashboardName"], "stack": stack or "",
                     "step": "06_observability" if wanted else "", "tags": {},
                     "widgets": len(widgets), "metrics": metrics})
    return _frame("dashboards", rows)
