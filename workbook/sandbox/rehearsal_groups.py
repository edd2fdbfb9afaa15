"""The rehearsal of Auto Scaling: launches take their time, terminations drain first.

- A launched instance is Pending (its EC2 state `pending`) for 15-30 AWS seconds, then InService;
  its target is `initial` until the first passing health check after that (rehearsal_states.py).
  The group's health-check grace period is recorded with the launch: AWS reports a new instance
  Healthy during it, and moto never replaces an instance for its health, so it changes no answer.
- An instance the group terminates (TerminateInstanceInAutoScalingGroup, a lower desired capacity,
  a force delete) is drained first: its targets are `draining` for the target group's
  deregistration delay while the instance is Terminating and still `running`; then it shuts down,
  and its interface lingers until it is gone.
- A force-deleted group shows "Delete in progress" until its instances are gone.
moto changes the group at once; the instances added and removed by each call are found by comparing
the group before and after it.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..connect import Context
from . import rehearsal_facts as F
from .corrections import plain
from .rehearsal import Rehearsal, active, jsonable, model, note
from .rehearsal_consistency import linger
from .rehearsal_states import drain, instance_phase, instance_places

CHANGING = ("CreateAutoScalingGroup", "UpdateAutoScalingGroup", "SetDesiredCapacity",
            "TerminateInstanceInAutoScalingGroup", "DeleteAutoScalingGroup")


def _group(ctx: Context, name: str) -> dict[str, Any] | None:
    try:
        groups = plain(ctx, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    except ClientError:
        return None
    return groups[0] if groups else None


def _name(ctx: Context, params: dict[str, Any]) -> str:
    if params.get("AutoScalingGroupName"):
        return params["AutoScalingGroupName"]
    try:   # TerminateInstanceInAutoScalingGroup names only the instance
        found = plain(ctx, "autoscaling").describe_auto_scaling_instances(InstanceIds=[params["InstanceId"]])
        return found["AutoScalingInstances"][0]["AutoScalingGroupName"]
    except (ClientError, IndexError, KeyError):
        return ""


def launched(rh: Rehearsal, group: str, iid: str, grace: float, start: float | None = None) -> None:
    seconds = F.point("asg_in_service", iid)
    rh.timeline.begin(f"asg_instance:{iid}", "Pending", rh.now() if start is None else start, seconds,
                      "asg_in_service", reset=True, group=group, grace=grace)
    instance_phase(rh, iid, "pending", seconds, "asg_in_service", start=start, reset=True)


def _watch_before(op: str) -> None:
    def before(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> None:
        name = _name(ctx, params)
        g = _group(ctx, name) if name else None
        ids = [i["InstanceId"] for i in (g or {}).get("Instances", [])]
        rh.pending[("asg", op, name)] = (g, instance_places(ctx, ids))
        return None
    model("autoscaling", op, when="before")(before)


def _watch_after(op: str) -> None:
    def after(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        name = params.get("AutoScalingGroupName") or next(
            (k[2] for k in rh.pending if k[:2] == ("asg", op)), "")
        before, places = rh.pending.pop(("asg", op, name), (None, {}))
        after_group = _group(ctx, name) if op != "DeleteAutoScalingGroup" else None
        old = {i["InstanceId"]: i for i in (before or {}).get("Instances", [])}
        new = {i["InstanceId"] for i in (after_group or {}).get("Instances", [])}
        grace = float((after_group or before or {}).get("HealthCheckGracePeriod") or 0)
        for iid in new - set(old):
            launched(rh, name, iid, grace)
        removed = [iid for iid in old if iid not in new]
        ends = [_drain_and_stop(rh, ctx, before or {}, iid, old[iid], places.get(iid)) for iid in removed]
        if op == "DeleteAutoScalingGroup" and before:
            now = rh.now()
            end = max(ends, default=now)
            item = {**jsonable(before), "Status": "Delete in progress",
                    "Instances": [{**jsonable(old[i]), "LifecycleState": "Terminating"} for i in removed]}
            rh.timeline.begin(f"asg:{name}", "Delete in progress", now, end - now, "deregistration_delay",
                              gone={"start": now, "end": end, "item": item})
    model("autoscaling", op)(after)


def _drain_and_stop(rh: Rehearsal, ctx: Context, group: dict[str, Any], iid: str, inst: dict[str, Any],
                    where: dict[str, Any] | None) -> float:
    """Drain the instance's targets, keep it running meanwhile, then shut it down; returns when it is gone."""
    now = rh.now()
    drained = max((drain(rh, ctx, tg, iid) for tg in group.get("TargetGroupARNs", [])), default=now)
    if drained > now:
        instance_phase(rh, iid, "running", drained - now, "deregistration_delay", start=now)
        note(ctx, "an instance terminated through its Auto Scaling group is drained first: Terminating and still "
                  "running for the target group's deregistration delay")
    shut = F.point("ec2_shutting_down", iid)
    end = instance_phase(rh, iid, "shutting-down", shut, "ec2_shutting_down", start=drained)
    rh.timeline.begin(f"asg_instance:{iid}", "Terminating", now, end - now, "deregistration_delay",
                      group=group.get("AutoScalingGroupName", ""), item=jsonable(inst))
    if where:
        linger(rh, f"instance:{iid}", f"instance {iid}", subnets=[where["subnet"]], groups=where["groups"],
               vpc=where["vpc"], seconds=end - now, fact="ec2_shutting_down", start=now)
    return end


for _op in CHANGING:
    _watch_before(_op)
    _watch_after(_op)


@model("autoscaling", "DescribeAutoScalingGroups")
def group_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    now = rh.now()
    groups = parsed.setdefault("AutoScalingGroups", [])
    for g in groups:
        listed = set()
        for i in g.get("Instances", []):
            iid = i["InstanceId"]
            listed.add(iid)
            if not rh.timeline.get(f"asg_instance:{iid}"):   # launched by the group on its own (a replacement)
                launched(rh, g["AutoScalingGroupName"], iid, float(g.get("HealthCheckGracePeriod") or 0))
            state = rh.timeline.state(f"asg_instance:{iid}", now)
            if state:
                i["LifecycleState"] = state
                note(ctx, "an Auto Scaling instance is Pending for 15-30 AWS seconds after launch")
        for e in rh.timeline.items("asg_instance:").values():
            if e.get("group") == g["AutoScalingGroupName"] and e.get("item") and e["item"]["InstanceId"] not in listed \
                    and rh.timeline.state(f"asg_instance:{e['item']['InstanceId']}", now) == "Terminating":
                g.setdefault("Instances", []).append({**e["item"], "LifecycleState": "Terminating"})
    wanted = set(params.get("AutoScalingGroupNames") or [])
    present = {g["AutoScalingGroupName"] for g in groups}
    for key, e in rh.timeline.items("asg:").items():
        name = key.split(":", 1)[1]
        if name not in present and (not wanted or name in wanted) and active(e.get("gone"), now):
            groups.append(dict(e["gone"]["item"]))


@model("autoscaling", "DescribeAutoScalingInstances")
def instance_lifecycle(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for i in parsed.get("AutoScalingInstances", []):
        state = rh.timeline.state(f"asg_instance:{i.get('InstanceId', '')}", rh.now())
        if state:
            i["LifecycleState"] = state
