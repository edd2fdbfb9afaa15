"""What the sandbox answers when the workbook asks how its load balancer's targets are
(DescribeTargetHealth): moto says "healthy" at once, even for an instance that never booted.

On AWS the group's instances boot by themselves and the load balancer checks them. Here nothing runs
until the data plane does, so the first time the stack's target group is asked about, the data plane
is brought in line with the control plane (`dataplane.start`: each new instance boots under the
contract of boot.py, the load balancer checks them), and the answer is what that load balancer sees,
with AWS's reason codes. An instance whose boot failed is booted again at each later question (the
group would replace it), so a fix (the permission, the parameter) is picked up as on AWS.

The in-process moto of the unit tests reaches no local process: there a target is unhealthy when its
instance's boot would fail (the same checks, nothing unpacked or run), else moto's answer stands.
"""
from __future__ import annotations

import time
import weakref
from typing import Any

from .. import names
from ..connect import CallLog, Context
from . import boot, dataplane
from .corrections import plain

BOOTS = ("the group's instances boot as local processes (the data plane) when their target health is first asked "
         "for: each runs its user data's steps (parameter, release from S3, the role's permissions checked) and the "
         "load balancer's health checks decide the answer")
IN_PROCESS = ("in-process moto runs no local stand-ins: a target is unhealthy when its instance's boot (parameter, "
              "release, the role's permissions) would fail, else moto's answer (healthy) stands")
# A failed boot is tried again at most this often (wall seconds): a waiter's quick polls then cost a
# few reads each, and a fix is still picked up within the waiter's polls.
RETRY_BOOT_S = 1.0
_tried: dict[str, float] = {}
REASONS = {"initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
           "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
           "unused": ("Target.NotRegistered", "Target is not registered to the target group")}


def _stack_target_group(ctx: Context) -> str:
    try:
        found = plain(ctx, "elbv2").describe_target_groups(Names=[names.target_group(ctx.p)])["TargetGroups"]
    except Exception:   # TargetGroupNotFound: not the stack's target group
        return ""
    return found[0]["TargetGroupArn"] if found else ""


def _state(state: str, reason: str = "", description: str = "") -> dict[str, str]:
    if state == "healthy":
        return {"State": "healthy"}
    code, text = REASONS.get(state, ("", ""))
    return {"State": state, "Reason": reason or code, "Description": description or text}


def _in_service(ctx: Context) -> list[str]:
    groups = plain(ctx, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(ctx.p)])["AutoScalingGroups"]
    return sorted(i["InstanceId"] for g in groups for i in g.get("Instances", []) if i.get("LifecycleState") == "InService")


_quiets: "weakref.WeakKeyDictionary[Context, Context]" = weakref.WeakKeyDictionary()


def _quiet(ctx: Context) -> Context:
    """A context of the same session whose calls are the data plane's own reads, not the step's (its
    clients made once: a new botocore client costs a third of a second)."""
    if ctx not in _quiets:
        quiet = Context(ctx.p, ctx.target, ctx.account_id)
        quiet.calls = CallLog()   # kept in memory only: never in a pipeline run's record of the workbook's calls
        _quiets[ctx] = quiet
    return _quiets[ctx]


def sync(ctx: Context) -> None:
    """Start the data plane, or bring it in line with the group, when it runs other instances (or
    another stack); boot again an instance whose boot failed, and start it when that boot works."""
    cfg = dataplane._read(dataplane._config_path()) or {}
    apps = [a for a in cfg.get("apps", []) if a.get("role") == "asg"]
    quiet = _quiet(ctx)
    same = (cfg.get("stack") == ctx.p.stack_name and cfg.get("lb") and dataplane.daemon_status()
            and sorted(a["instance_id"] for a in apps) == _in_service(ctx))
    if same:
        now = time.monotonic()
        due = [a["instance_id"] for a in apps if not a.get("release")
               and now - _tried.get(a["instance_id"], float("-inf")) >= RETRY_BOOT_S]
        _tried.update({iid: now for iid in due})
        if not any(boot.boot(quiet, iid, dataplane._dir() / "instances" / iid).ok for iid in due):
            return
    ctx.say(BOOTS)
    dataplane.start(quiet)


def answer(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    descs = parsed.get("TargetHealthDescriptions") or []
    tg = params.get("TargetGroupArn", "")
    if not descs or not tg or tg != _stack_target_group(ctx):
        return False
    if ctx.endpoint is None:
        ctx.say(IN_PROCESS)
        for d in descs:
            if not boot.boot(ctx, d["Target"]["Id"]).ok:
                d["TargetHealth"] = _state("unhealthy")
        return True
    sync(ctx)
    seen = {t["instance_id"]: t for t in dataplane.daemon_status().get("targets", [])}
    for d in descs:
        t = seen.get(d["Target"]["Id"])
        d["TargetHealth"] = _state("unused") if t is None else _state(t["state"], t.get("reason", ""),
                                                                      t.get("description", ""))
    return True


def console_output(ctx: Context, instance_id: str) -> str:
    return boot.boot_log(instance_id, None if ctx.endpoint is None else dataplane._dir() / "instances" / instance_id)
