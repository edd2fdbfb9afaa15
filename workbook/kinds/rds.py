"""RDS kinds: the DB instance, its manual snapshots, subnet group and parameter group. Instances and
snapshots carry their tags (TagList); the groups need ListTagsForResource per ARN."""
from __future__ import annotations

from typing import Any

from . import STACK, Kind, declare, hook, tag_dict

DELETE_ATTEMPTS = 80   # 30 s x 80: an RDS delete with a final snapshot takes 5-10 minutes, sometimes more

declare(
    Kind("db_instance", "rds", "describe_db_instances", "DBInstances", "DBInstanceIdentifier", title="DB instance",
         name_key="DBInstanceIdentifier", arn_key="DBInstanceArn", tags_key="TagList",
         by_name="DBInstanceIdentifier", create="create_db_instance", create_tags="list:Tags",
         created_key="DBInstance", waiter="db_instance_available", delete="delete_db_instance",
         delete_waiter="db_instance_deleted",
         extra_permissions=("rds:ModifyDBInstance", "rds:StartDBInstance", "rds:AddTagsToResource", "rds:ListTagsForResource",
                            "rds:RebootDBInstance")),
    Kind("db_snapshot", "rds", "describe_db_snapshots", "DBSnapshots", "DBSnapshotIdentifier", title="DB snapshot",
         name_key="DBSnapshotIdentifier", arn_key="DBSnapshotArn", tags_key="TagList",
         describe_args={"SnapshotType": "manual"}, by_name="DBSnapshotIdentifier",
         create="create_db_snapshot", create_tags="list:Tags", created_key="DBSnapshot",
         waiter="db_snapshot_available", delete="delete_db_snapshot", delete_waiter="db_snapshot_deleted",
         after=("db_instance",)),
    Kind("db_subnet_group", "rds", "describe_db_subnet_groups", "DBSubnetGroups", "DBSubnetGroupName",
         title="DB subnet group", name_key="DBSubnetGroupName", arn_key="DBSubnetGroupArn", narrow="name-prefix",
         by_name="DBSubnetGroupName", create="create_db_subnet_group", create_tags="list:Tags",
         created_key="DBSubnetGroup", delete="delete_db_subnet_group", after=("db_instance",),
         extra_permissions=("rds:ModifyDBSubnetGroup", "rds:ListTagsForResource")),
    Kind("db_parameter_group", "rds", "describe_db_parameter_groups", "DBParameterGroups", "DBParameterGroupName",
         title="DB parameter group", name_key="DBParameterGroupName", arn_key="DBParameterGroupArn", narrow="name-prefix",
         by_name="DBParameterGroupName", create="create_db_parameter_group", create_tags="list:Tags",
         created_key="DBParameterGroup", delete="delete_db_parameter_group", after=("db_instance",),
         extra_permissions=("rds:ModifyDBParameterGroup", "rds:DescribeDBParameters", "rds:ListTagsForResource")),
)


def _list_tags(ctx: Any, arn: str) -> list[dict[str, str]]:
    return ctx.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]


@hook("db_subnet_group", "tags")
def _subnet_group_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _list_tags(ctx, raw["DBSubnetGroupArn"])


@hook("db_parameter_group", "tags")
def _parameter_group_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _list_tags(ctx, raw["DBParameterGroupArn"])


@hook("db_snapshot", "find")
def _snapshots(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """Manual snapshots the workbook made (workbooks_snapshot); their TagList may be empty in a describe,
    so it is read per ARN then."""
    from ..calls import _pages, missing
    from botocore.exceptions import ClientError
    out = []
    try:
        found = _pages(ctx, "rds", kind.describe, kind.items, **{**kind.describe_args, **kw})
    except ClientError as e:
        if missing(e):   # asked by DBSnapshotIdentifier: a snapshot that does not exist is no error
            return []
        raise
    for s in found:
        if not s.get("TagList"):
            try:
                s = {**s, "TagList": _list_tags(ctx, s["DBSnapshotArn"])}
            except ClientError as e:
                if not missing(e):
                    raise
        if workbooks_snapshot(s):
            out.append(s)
    return out


def free_final_snapshot_name(ctx: Any, base: str) -> str:
    """`base`, or `base` dated when an earlier teardown already kept a snapshot of that name."""
    import time
    from botocore.exceptions import ClientError
    from ..calls import missing
    try:
        ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=base)
    except ClientError as e:
        if missing(e):
            return base
        raise
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


# States in which AWS deletes an instance only without a final snapshot, and never makes it available
# (botocore's db_instance_available waiter stops at once on them).
BROKEN_STATES = ("failed", "incompatible-restore", "incompatible-parameters", "incompatible-network",
                 "inaccessible-encryption-credentials")


@hook("db_instance", "delete")
def _delete_db_instance(ctx: Any, kind: Kind, it: Any) -> Any:
    """Deletion protection off (it is on by design), then delete. The stack's own database leaves a
    final snapshot when keep_final_snapshot (the data is the one thing a teardown must not lose);
    drills and replicas are copies of it and go without one."""
    from .. import names
    from ..calls import wait
    p, rds, db = ctx.p, ctx.client("rds"), it.raw
    state, said = db.get("DBInstanceStatus", ""), None
    if state == "stopped":
        # Deletion protection goes off only on a running instance (and AWS starts a stopped one by itself
        # after 7 days anyway): started first, then it takes its final snapshot like any other.
        rds.start_db_instance(DBInstanceIdentifier=it.id)
        state = "starting"
    if state != "deleting":
        broken = state in BROKEN_STATES
        if db.get("DeletionProtection"):
            if state != "available" and not broken:   # ModifyDBInstance needs an available instance
                wait(ctx, kind, it.id, max_attempts=DELETE_ATTEMPTS)
            rds.modify_db_instance(DBInstanceIdentifier=it.id, DeletionProtection=False, ApplyImmediately=True)
        args: dict[str, Any] = {"DBInstanceIdentifier": it.id, "DeleteAutomatedBackups": not broken}
        if broken:
            # AWS takes no final snapshot of an instance in these states (the delete is refused with one):
            # its automated backups, the data's one copy left, are kept instead of deleted with it.
            args.update(SkipFinalSnapshot=True)
            said = ctx.note(ctx.step or it.step, kind.name, it.name, it.id,
                            f"deleted (it was {state}: AWS takes no final snapshot of it; its automated backups are "
                            "kept, restorable until their retention ends)")
        elif p.keep_final_snapshot and it.id == names.db_instance(p) and not db.get("ReadReplicaSourceDBInstanceIdentifier"):
            snap = free_final_snapshot_name(ctx, names.db_snapshot(p, "final"))
            args.update(SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snap)
            ctx.note(ctx.step or it.step, "db_snapshot", snap, snap, "kept (final snapshot)")
        else:
            args.update(SkipFinalSnapshot=True)
        rds.delete_db_instance(**args)
    wait(ctx, kind, it.id, deleted=True, max_attempts=DELETE_ATTEMPTS)
    return said


# ---- snapshots: the workbook's own, not every one that carries the stack's tag ------------------------
# 03 sets CopyTagsToSnapshot, so RDS puts the instance's tags (the stack's) on every manual snapshot of
# it, an operator's own taken in the console included: that tag proves RDS copied it, not that the
# workbook made it. The workbook marks what it makes with MADE_TAG (its identifier); a snapshot of an
# earlier build has its own name as Name; a final snapshot is named by the teardown (and always kept).
MADE_TAG = "workbook:snapshot"


def workbooks_snapshot(raw: dict[str, Any]) -> bool:
    tags, sid = tag_dict(raw.get("TagList")), raw.get("DBSnapshotIdentifier", "")
    if tags.get(MADE_TAG) == sid or tags.get("Name") == sid:
        return True
    return bool(tags.get(STACK)) and sid.startswith(f"{tags[STACK]}-db-final")


@hook("db_snapshot", "created")
def _mark_snapshot(ctx: Any, kind: Kind, raw: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """The mark goes on by AddTagsToResource too, whatever RDS did with the create's tags beside the copied ones."""
    mark = [{"Key": MADE_TAG, "Value": raw["DBSnapshotIdentifier"]}]
    ctx.client("rds").add_tags_to_resource(ResourceName=raw["DBSnapshotArn"], Tags=mark)
    return {**raw, "TagList": [t for t in raw.get("TagList", []) if t["Key"] != MADE_TAG] + mark}
