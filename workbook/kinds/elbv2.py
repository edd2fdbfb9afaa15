"""Elastic Load Balancing v2 kinds: the load balancer and its target group. Their tags are read with
DescribeTags, at most 20 ARNs a call."""
from __future__ import annotations

from typing import Any

from . import Kind, declare, hook

declare(
    Kind("load_balancer", "elbv2", "describe_load_balancers", "LoadBalancers", "LoadBalancerArn", title="load balancer",
         name_key="LoadBalancerName", arn_key="LoadBalancerArn", by_name="Names[]",
         create="create_load_balancer", create_tags="list:Tags", created_key="LoadBalancers.0",
         waiter="load_balancer_available", waiter_arg="LoadBalancerArns[]",
         # State.Code is also failed (never recovers) or active_impaired (routes traffic, cannot scale), which
         # botocore's waiter does not know: it would poll either 40 times, then give up
         waiter_acceptors=({"state": "failure", "matcher": "pathAny", "argument": "LoadBalancers[].State.Code",
                            "expected": "failed"},
                           {"state": "success", "matcher": "pathAll", "argument": "LoadBalancers[].State.Code",
                            "expected": "active_impaired"}),
         delete="delete_load_balancer", delete_waiter="load_balancers_deleted", delete_waiter_arg="LoadBalancerArns[]",
         after=("api_domain", "vpc_link", "http_api"),
         extra_permissions=("elasticloadbalancing:DescribeLoadBalancerAttributes",
                            "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:DescribeTags",
                            "elasticloadbalancing:AddTags", "elasticloadbalancing:DescribeListeners",
                            "elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
                            "elasticloadbalancing:DeleteListener")),
    Kind("target_group", "elbv2", "describe_target_groups", "TargetGroups", "TargetGroupArn", title="target group",
         name_key="TargetGroupName", arn_key="TargetGroupArn", by_name="Names[]",
         create="create_target_group", create_tags="list:Tags", created_key="TargetGroups.0",
         delete="delete_target_group", after=("load_balancer", "auto_scaling_group"),
         retry_codes=("ResourceInUse",),
         extra_permissions=("elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetHealth",
                            "elasticloadbalancing:ModifyTargetGroupAttributes",
                            "elasticloadbalancing:DescribeTargetGroupAttributes")),
)


def _tags(ctx: Any, arn: str) -> list[dict[str, str]]:
    for d in ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]:
        return d.get("Tags", [])
    return []


@hook("load_balancer", "tags")
def _lb_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _tags(ctx, raw["LoadBalancerArn"])


@hook("target_group", "tags")
def _tg_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _tags(ctx, raw["TargetGroupArn"])


@hook("load_balancer", "before_delete")
def _deletion_protection_off(ctx: Any, kind: Kind, it: Any) -> None:
    """Deletion protection is on by design (04_compute): switched off only here, on purpose."""
    ctx.client("elbv2").modify_load_balancer_attributes(LoadBalancerArn=it.id, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
