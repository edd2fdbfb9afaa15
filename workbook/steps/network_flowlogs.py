"""Step 02_network, the flow logs: every accepted and rejected connection of the VPC recorded in a
CloudWatch Logs group (FSBP EC2.6), delivered through a role that only the flow-logs service of this
account may assume and that may write to that one group. Also `ensure_retention`, which every step
that makes a log group uses."""
from __future__ import annotations

import json
from typing import Any

from .. import engine, names
from ..connect import Context, Resource
from ..params import Params

STEP_ID = "02_network"
FLOW_LOG_POLICY = "flowlogs-delivery"


def flow_log_role(p: Params) -> str:
    return p.name("flowlogs-role")


def flow_log_name(p: Params) -> str:
    return p.name("flow-log")


def _require_vpc(ctx: Context) -> str | None:
    it = engine.find_one(ctx, "vpc", names.vpc(ctx.p))
    if it is None and not ctx.dry_run:
        raise RuntimeError(f"no VPC {names.vpc(ctx.p)} yet: run ensure_vpc first")
    return it.id if it else None


def ensure_flow_log_group(ctx: Context) -> Resource:
    """The CloudWatch Logs group the flow logs go to, kept log_retention_days."""
    name = names.flow_log_group(ctx.p)
    rec = engine.ensure(ctx, "log_group", name, step=STEP_ID, create={"logGroupName": name})
    ensure_retention(ctx, rec, STEP_ID)
    return rec


def ensure_retention(ctx: Context, group: Resource, step: str) -> None:
    """A log group's retention set to log_retention_days (CloudWatch keeps logs forever otherwise)."""
    p = ctx.p
    if group.item.get("retentionInDays") == p.log_retention_days:
        return
    if not ctx.dry_run:
        ctx.client("logs").put_retention_policy(logGroupName=group.name, retentionInDays=p.log_retention_days)
    ctx.note(step, "log_retention", f"{group.name}: {p.log_retention_days} days", group.name,
             "would update" if ctx.dry_run else "updated")


def flow_log_trust_policy(account_id: str) -> dict[str, Any]:
    """Only the flow logs service of this account may assume the role (confused-deputy guard)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}]}


def flow_log_delivery_policy(p: Params, account_id: str) -> dict[str, Any]:
    """Write to the one log group, nothing else (the group exists, so no logs:CreateLogGroup)."""
    arn = f"arn:aws:logs:{p.region}:{account_id}:log-group:{names.flow_log_group(p)}"
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
        "Resource": [arn, f"{arn}:*"]}]}


def ensure_flow_log_role(ctx: Context) -> Resource:
    """IAM role `<stack>-flowlogs-role` that the flow logs service uses to deliver, with its one
    inline policy (which may be missing after a crash between the two calls)."""
    p, name = ctx.p, flow_log_role(ctx.p)
    rec = engine.ensure(ctx, "iam_role", name, step=STEP_ID, create=lambda: {
        "RoleName": name, "AssumeRolePolicyDocument": json.dumps(flow_log_trust_policy(ctx.account_id)),
        "Description": f"VPC flow logs of {names.vpc(p)} -> {names.flow_log_group(p)}"})
    if rec.action == "would create":
        return rec
    iam = ctx.client("iam")
    if FLOW_LOG_POLICY not in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        if not ctx.dry_run:
            iam.put_role_policy(RoleName=name, PolicyName=FLOW_LOG_POLICY,
                                PolicyDocument=json.dumps(flow_log_delivery_policy(p, ctx.account_id)))
        ctx.note(STEP_ID, "iam_role_policy", f"{name}/{FLOW_LOG_POLICY}", rec.id,
                 "would create" if ctx.dry_run else "created")
    return rec


def ensure_flow_log(ctx: Context) -> Resource:
    """Flow log of ALL traffic of the VPC into the log group (FSBP EC2.6 asks for at least REJECT)."""
    p, name = ctx.p, flow_log_name(ctx.p)
    vid = _require_vpc(ctx)

    def create() -> dict[str, Any]:
        role_arn = ctx.client("iam").get_role(RoleName=flow_log_role(p))["Role"]["Arn"]
        return {"ResourceIds": [vid], "ResourceType": "VPC", "TrafficType": "ALL",
                "LogDestinationType": "cloud-watch-logs", "LogGroupName": names.flow_log_group(p),
                "DeliverLogsPermissionArn": role_arn}
    rec = engine.ensure(ctx, "flow_log", name, step=STEP_ID, create=create)
    if rec.action == "created" and rec.item.get("Unsuccessful"):
        err = rec.item["Unsuccessful"][0].get("Error", {})
        raise RuntimeError(f"create_flow_logs failed for {vid}: {err.get('Code')}: {err.get('Message')}")
    return rec


def ensure_flow_logs(ctx: Context) -> list[Resource]:
    """Log group, delivery role, flow log: in that order, each found before it is made."""
    return [ensure_flow_log_group(ctx), ensure_flow_log_role(ctx), ensure_flow_log(ctx)]
