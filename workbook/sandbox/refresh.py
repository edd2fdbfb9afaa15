"""Instance refresh in the sandbox (moto 5.2.5 has no StartInstanceRefresh or DescribeInstanceRefreshes).

04 replaces the app servers launched before a change with an instance refresh (steps/compute_rollout.py):
rolling, minimum healthy 100 %, maximum 200 %. The sandbox carries it out before it answers
StartInstanceRefresh, the way AWS does with those settings, one server at a time: the group is asked for
one more (moto launches it from the template's $Latest), it boots on the data plane and must pass the load
balancer's health checks, then the old one is terminated through the group. A new server that never turns
healthy fails the refresh and is terminated, the old one kept, as AWS's refresh stops on a failed
replacement. DescribeInstanceRefreshes answers from what this process did (a refresh is over when the
start's answer comes back, so there is never one in progress to resume). On AWS a batch takes minutes
(boot, warmup, the old targets' drain); here seconds.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

from ..connect import Context
from .corrections import Refuse, correct, group_instances_take_the_template, plain

NOTE = ("instance refresh: moto has none; the sandbox replaces the servers before it answers StartInstanceRefresh, "
        "one at a time, each new one healthy on its load balancer before an old one is terminated")
HEALTHY_WITHIN_S = 90.0           # wall seconds for a new server to boot and pass its checks here
_DONE: dict[str, list[dict[str, Any]]] = {}   # group -> its refreshes, newest first


def _group(ctx: Context, name: str) -> dict[str, Any]:
    found = plain(ctx, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not found:
        raise Refuse("ValidationError", f"AutoScalingGroup name not found - {name}")
    return found[0]


def _in_service(group: dict[str, Any]) -> set[str]:
    return {i["InstanceId"] for i in group.get("Instances", []) if i.get("LifecycleState") == "InService"}


def _look(ctx: Context, tg: str, iid: str = "") -> str:
    """The target's state as the sandbox's load balancer sees it (asking brings the data plane in line
    with the group: new servers boot, terminated ones leave the load balancer)."""
    params: dict[str, Any] = {"TargetGroupArn": tg, **({"Targets": [{"Id": iid}]} if iid else {})}
    parsed = plain(ctx, "elbv2").describe_target_health(**params)
    ctx.target.dataplane.target_health(ctx, params, parsed)
    found = parsed["TargetHealthDescriptions"]
    return found[0]["TargetHealth"]["State"] if iid and found else ""


def _healthy(ctx: Context, tg: str, iid: str) -> bool:
    """Until the sandbox's load balancer finds the new server healthy (bounded)."""
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    while time.monotonic() < deadline:
        if _look(ctx, tg, iid) == "healthy":
            return True
        time.sleep(0.5)
    return False


def _replace(ctx: Context, name: str, old: str) -> str:
    """One more server from $Latest, healthy, then the old one terminated; "" or why it failed."""
    asg = plain(ctx, "autoscaling")
    g = _group(ctx, name)
    before, desired = _in_service(g), g["DesiredCapacity"]
    if desired + 1 > g["MaxSize"]:   # MaxHealthyPercentage 200 lets AWS go past the maximum for a moment
        asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=desired + 1)
    asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=desired + 1)
    now = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    group_instances_take_the_template(ctx, {}, now)   # as every launch of the group is corrected
    new = sorted(_in_service(now["AutoScalingGroups"][0]) - before)
    try:
        if not new:
            return "no new instance was launched"
        if not _healthy(ctx, (g.get("TargetGroupARNs") or [""])[0], new[0]):
            asg.terminate_instance_in_auto_scaling_group(InstanceId=new[0], ShouldDecrementDesiredCapacity=True)
            return f"instance {new[0]} did not pass the load balancer's health checks"
        asg.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=True)
        _look(ctx, (g.get("TargetGroupARNs") or [""])[0])   # the load balancer lets the old one go, as AWS's has
        return ""
    finally:
        if g["MaxSize"] != _group(ctx, name)["MaxSize"]:
            asg.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=g["MaxSize"])


@correct("autoscaling", "StartInstanceRefresh", when="before", note=NOTE)
def refresh_now(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    name = params["AutoScalingGroupName"]
    old = sorted(_in_service(_group(ctx, name)))
    start, status, reason = datetime.now(timezone.utc), "Successful", ""
    for iid in old:
        reason = _replace(ctx, name, iid)
        if reason:
            status = "Failed"
            break
    rid = str(uuid.uuid4())
    _DONE.setdefault(name, []).insert(0, {
        "AutoScalingGroupName": name, "InstanceRefreshId": rid, "Status": status, "StatusReason": reason,
        "StartTime": start, "EndTime": datetime.now(timezone.utc), "PercentageComplete": 100 if not reason else 0,
        "InstancesToUpdate": 0 if not reason else len(old)})
    return {"InstanceRefreshId": rid}


@correct("autoscaling", "DescribeInstanceRefreshes", when="before")
def refreshes_done(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    found = _DONE.get(params.get("AutoScalingGroupName", ""), [])
    wanted = params.get("InstanceRefreshIds")
    return {"InstanceRefreshes": [r for r in found if not wanted or r["InstanceRefreshId"] in wanted]}
