"""Auto Scaling kinds: the group. Auto Scaling filters by tag on the server; there is no botocore
waiter for a group, so deleting one polls until it is no longer listed."""
from __future__ import annotations

from typing import Any

from . import Kind, declare, hook

ASG_POLL_S, ASG_TIMEOUT_S = 10.0, 900.0

declare(
    Kind("auto_scaling_group", "autoscaling", "describe_auto_scaling_groups", "AutoScalingGroups",
         "AutoScalingGroupName", title="Auto Scaling group", name_key="AutoScalingGroupName",
         find="asg", tags_key="Tags", by_name="AutoScalingGroupNames[]",
         create="create_auto_scaling_group", create_tags="asg:Tags",
         delete="delete_auto_scaling_group",
         extra_permissions=("autoscaling:UpdateAutoScalingGroup", "autoscaling:AttachLoadBalancerTargetGroups",
                            "autoscaling:CreateOrUpdateTags", "autoscaling:DescribePolicies",
                            "autoscaling:PutScalingPolicy", "autoscaling:DeletePolicy",
                            "autoscaling:EnableMetricsCollection", "ec2:DescribeInstances")),
)


@hook("auto_scaling_group", "delete")
def _delete_group(ctx: Any, kind: Kind, it: Any) -> None:
    """ForceDelete terminates the instances with the group; wait for them, then for the group."""
    from .. import progress
    from ..calls import wait
    from . import get
    asg = ctx.client("autoscaling")
    ids = [i["InstanceId"] for i in it.raw.get("Instances", [])]
    if "Delete in progress" not in (it.raw.get("Status") or ""):
        asg.delete_auto_scaling_group(AutoScalingGroupName=it.id, ForceDelete=True)
    for iid in ids:
        wait(ctx, get("instance"), iid, deleted=True)
    progress.poll(lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[it.id])["AutoScalingGroups"],
                  f"Auto Scaling group {it.id} deleted", delay=ASG_POLL_S,
                  max_attempts=int(ASG_TIMEOUT_S / ASG_POLL_S), sleep=ctx.clock.sleep)
