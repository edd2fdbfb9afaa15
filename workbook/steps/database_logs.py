"""The log groups of an RDS instance's log exports, made by 03 before RDS would make them.

RDS publishes each exported log type to /aws/rds/instance/<instance>/<type> and creates that group
when it is missing: untagged and with no retention (an AWS Support answer quoted in
terraform-provider-aws #5348), so no teardown by tag sees it and it is kept, and billed, forever. 03
makes each group first, with the stack's tag and log_retention_days, for the stack's instance and for
the restore drill's. A group RDS already made for the stack's own instance (a stack built before this)
is taken over: its name says whose logs it holds, and that instance carries the stack's tag.
"""
from __future__ import annotations

from .. import engine, tagging
from ..connect import Context, Resource
from .network_flowlogs import ensure_retention

STEP = "03_database"


def group_name(instance: str, log_type: str) -> str:
    return f"/aws/rds/instance/{instance}/{log_type}"


def ensure_log_export_groups(ctx: Context, instance: str, log_types: list[str]) -> list[Resource]:
    out = []
    for t in log_types:
        name = group_name(instance, t)
        try:
            rec = engine.ensure(ctx, "log_group", name, step=STEP, create={"logGroupName": name})
        except engine.ForeignResource:
            if engine.find_one(ctx, "db_instance", instance) is None:   # not the logs of the stack's instance
                raise
            arn = f"arn:aws:logs:{ctx.p.region}:{ctx.account_id}:log-group:{name}"
            if not ctx.dry_run:
                ctx.client("logs").tag_resource(resourceArn=arn, tags=tagging.tag_dict(ctx.p, STEP, name))
            ctx.note(STEP, "log_group", name, name, "would take over" if ctx.dry_run else
                     "taken over (RDS made it for the stack's instance)")
            rec = engine.ensure(ctx, "log_group", name, step=STEP, create={}) if not ctx.dry_run else None
        if rec is not None:
            ensure_retention(ctx, rec, STEP)
            out.append(rec)
    return out
