"""Monitoring kinds: CloudWatch Logs groups, CloudWatch alarms and dashboards, SNS topics.

Log groups, alarms and topics are tagged; their tags are read per item (the lists carry none). A
dashboard is found through the stack's ledger of untagged resources (moto cannot tag dashboards)."""
from __future__ import annotations

from typing import Any

from . import Kind, declare, hook

declare(
    Kind("log_group", "logs", "describe_log_groups", "logGroups", "logGroupName", title="log group",
         name_key="logGroupName", arn_key="logGroupArn", narrow="name-prefix", by_name="logGroupNamePrefix",
         create="create_log_group", create_tags="dict:tags", delete="delete_log_group",
         # after what writes to them and would make them again, untagged: flow logs, RDS's log exports
         after=("flow_log", "db_instance"),
         extra_permissions=("logs:PutRetentionPolicy", "logs:TagResource", "logs:ListTagsForResource")),
    Kind("alarm", "cloudwatch", "describe_alarms", "MetricAlarms", "AlarmName", title="CloudWatch alarm",
         name_key="AlarmName", arn_key="AlarmArn", narrow="name-prefix", by_name="AlarmNames[]",
         create="put_metric_alarm", create_tags="list:Tags", delete="delete_alarms", delete_arg="AlarmNames[]",
         extra_permissions=("cloudwatch:ListTagsForResource", "cloudwatch:TagResource")),
    Kind("dashboard", "cloudwatch", "list_dashboards", "DashboardEntries", "DashboardName", title="dashboard",
         name_key="DashboardName", taggable=False, create="put_dashboard", delete="delete_dashboards",
         delete_arg="DashboardNames[]", extra_permissions=("cloudwatch:GetDashboard",)),
    Kind("sns_topic", "sns", "list_topics", "Topics", "TopicArn", title="SNS topic", name_key="Name",
         arn_key="TopicArn", narrow="name-prefix", create="create_topic", create_tags="list:Tags",
         delete="delete_topic", after=("alarm",),
         # sns:TagResource: CreateTopic with Tags is authorized as both actions
         extra_permissions=("sns:TagResource", "sns:ListTagsForResource", "sns:GetTopicAttributes",
                            "sns:SetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic")),
)


@hook("log_group", "tags")
def _log_group_tags(ctx: Any, raw: dict[str, Any]) -> dict[str, str]:
    arn = raw.get("logGroupArn") or raw["arn"].removesuffix(":*")
    return ctx.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {})


@hook("alarm", "tags")
def _alarm_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return ctx.client("cloudwatch").list_tags_for_resource(ResourceARN=raw["AlarmArn"])["Tags"]


@hook("sns_topic", "find")
def _topics(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    from ..calls import _pages
    return [{"TopicArn": t["TopicArn"], "Name": t["TopicArn"].rsplit(":", 1)[-1]}
            for t in _pages(ctx, "sns", "list_topics", "Topics")]


@hook("sns_topic", "tags")
def _topic_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return ctx.client("sns").list_tags_for_resource(ResourceArn=raw["TopicArn"]).get("Tags", [])
