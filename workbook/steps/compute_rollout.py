"""04 again: the app servers already running move onto what changed, with an instance refresh.

A server reads its settings (the launch template's user data) and its release (the SSM parameter, then
the wheel) once, at boot. When 04 runs again after the app, the image, the database's address or the
secret the app logs in with changed, the group launches new servers with the change, and the ones
running keep the old until something replaces them. So 04 replaces them: an instance refresh
(StartInstanceRefresh, rolling, new servers launched before old ones go: minimum healthy 100 %,
maximum 200 %), waited for by polling DescribeInstanceRefreshes (botocore has no waiter for it),
bounded by the cell; a rerun finds the refresh in progress and waits for it again, never starts a
second. A server is due when it was launched before the newest launch template version or the last
change of the release parameter (AWS timestamps, all from AWS's clock).

While servers launched before 08 made the app's own database user run, they log in with the master
secret and read it again at every restart and after each rotation: the role keeps that read until they
are replaced (`secrets_to_read`), and 04 narrows it once the refresh is done.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .. import engine, names, progress
from ..connect import Context, Resource
from .compute_prereq import STEP_ID, _database, db_secret_arn
from .compute_template import artifact_parameter, find_launch_template

ACTIVE = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")
POLL_S = 30
MAX_POLLS = 60        # 30 minutes: each batch waits for the boot, the warmup and the old targets' drain
TYPICAL = "a boot, the warmup (the grace period) and the old servers' drain: 5-15 minutes"


class RolloutFailed(RuntimeError):
    """The instance refresh ended without replacing the servers (its status and AWS's reason)."""


def _group(ctx: Context) -> dict[str, Any] | None:
    it = engine.find_one(ctx, "auto_scaling_group", names.asg(ctx.p))
    return it.raw if it else None


def in_service(group: dict[str, Any]) -> list[str]:
    return sorted(i["InstanceId"] for i in group.get("Instances", []) if i.get("LifecycleState") == "InService")


def launched_before(ctx: Context, moment: datetime, group: dict[str, Any] | None = None) -> list[str]:
    """The group's InService servers launched before `moment`. LaunchTime has whole seconds: a server
    launched in the second of the change counts as launched after it (it cannot have booted before)."""
    group = group if group is not None else _group(ctx)
    ids = in_service(group) if group else []
    if not ids:
        return []
    cut = moment.replace(microsecond=0)
    out = []
    for page in ctx.client("ec2").get_paginator("describe_instances").paginate(InstanceIds=ids):
        for r in page["Reservations"]:
            out += [i["InstanceId"] for i in r["Instances"] if i["LaunchTime"] < cut]
    return sorted(out)


def changed_at(ctx: Context) -> datetime | None:
    """When what a new server boots with last changed: the newest launch template version, or the release
    parameter's last write (None when neither exists)."""
    times = []
    lt = find_launch_template(ctx)
    if lt is not None:
        times.append(ctx.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=lt.id, Versions=["$Latest"])["LaunchTemplateVersions"][0]["CreateTime"])
    try:
        times.append(ctx.client("ssm").get_parameter(Name=artifact_parameter(ctx.p))["Parameter"]["LastModifiedDate"])
    except ClientError as e:
        if not engine.missing(e):
            raise
    return max(times) if times else None


def secrets_to_read(ctx: Context) -> tuple[list[str], bool]:
    """The secrets the role may read: the one the app logs in with (db_secret_arn), and, while servers
    launched before the app's own user's secret existed still run, the master secret they log in with."""
    arn, exact = db_secret_arn(ctx)
    own = engine.find_one(ctx, "secret", names.app_db_secret(ctx.p))
    master = ((_database(ctx) or {}).get("MasterUserSecret") or {}).get("SecretArn", "")
    if own is None or own.id != arn or not master or not own.raw.get("CreatedDate"):
        return [arn], exact
    old = launched_before(ctx, own.raw["CreatedDate"])
    if old:
        print(f"note: {len(old)} server(s) launched before the app's own database user existed log in with the "
              "master secret: the role keeps reading it until this step has replaced them")
        return [arn, master], exact
    return [arn], exact


def _active(ctx: Context, name: str) -> dict[str, Any] | None:
    found = ctx.client("autoscaling").describe_instance_refreshes(AutoScalingGroupName=name)["InstanceRefreshes"]
    return next((r for r in found if r["Status"] in ACTIVE), None)


def roll_out(ctx: Context) -> Resource | None:
    """Replace the servers launched before the last change (an instance refresh), or wait for the one in
    progress; None when every server runs what the group launches now."""
    name, group = names.asg(ctx.p), _group(ctx)
    if group is None:
        return None
    moment = changed_at(ctx)
    due = launched_before(ctx, moment, group) if moment else []
    running = _active(ctx, name)
    if running is None and not due:
        return None
    if ctx.dry_run:
        return ctx.note(STEP_ID, "instance_refresh", name, "", f"would replace {len(due)} server(s)")
    asg = ctx.client("autoscaling")
    if running is None:
        print(f"{len(due)} of {len(in_service(group))} servers were launched before the last change of their "
              f"settings or release ({moment:%Y-%m-%d %H:%M:%S} UTC) and still run the old: an instance refresh "
              "replaces them, each new server healthy before an old one goes")
        try:
            rid = asg.start_instance_refresh(
                AutoScalingGroupName=name, Strategy="Rolling",
                Preferences={"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "SkipMatching": False})[
                "InstanceRefreshId"]
        except ClientError as e:
            if engine.code(e) != "InstanceRefreshInProgress":
                raise
            rid = (_active(ctx, name) or {}).get("InstanceRefreshId", "")
    else:
        rid = running["InstanceRefreshId"]
        print(f"instance refresh {rid} of {name} is in progress ({running['Status']}): waiting for it")
    seen: dict[str, Any] = {}

    def ended() -> bool:
        found = asg.describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[rid])["InstanceRefreshes"]
        seen.update(found[0] if found else {"Status": "Failed", "StatusReason": "AWS no longer lists it"})
        return seen["Status"] not in ACTIVE
    progress.poll(ended, f"the instance refresh of {name}", delay=POLL_S, max_attempts=MAX_POLLS,
                  sleep=ctx.clock.sleep, typical=TYPICAL, then="run 04 again: it waits for the refresh in progress")
    if seen["Status"] != "Successful":
        raise RolloutFailed(f"instance refresh {rid} of {name} ended {seen['Status']}: {seen.get('StatusReason', '')}. "
                            "The servers that were running still serve; fix the cause (the new servers' boot log is "
                            "in their console output) and run 04 again.")
    return ctx.note(STEP_ID, "instance_refresh", name, rid, f"replaced {len(due)} server(s)" if due else "done")
