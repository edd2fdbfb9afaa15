"""RDS as frames: db_instances, db_snapshots, db_subnet_groups.

RDS describes have no tag filter, so the stack filter is applied to each resource's tags (TagList in
the describe for instances and snapshots; ListTagsForResource for subnet groups, which carry none).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..connect import Context
from ..tagging import STACK, as_dict
from . import BASE_COLUMNS, fetcher, tag_columns

DB_INSTANCE_COLUMNS = BASE_COLUMNS + [
    "arn", "engine", "engine_version", "instance_class", "multi_az", "az", "secondary_az", "vpc_id", "subnet_ids",
    "publicly_accessible", "encrypted", "backup_retention", "deletion_protection", "endpoint", "port", "status",
    "security_groups", "secret_arn",
    # beyond the contract, for the database checks and tables
    "auto_minor_version_upgrade", "log_exports", "subnet_group", "subnet_azs", "parameter_groups", "storage_type",
    "allocated_storage", "copy_tags_to_snapshot",
]
DB_SNAPSHOT_COLUMNS = BASE_COLUMNS + ["db_instance_id", "type", "status", "created", "encrypted", "engine", "arn",
                                      "allocated_storage"]
DB_SUBNET_GROUP_COLUMNS = BASE_COLUMNS + ["vpc_id", "subnet_ids", "azs", "arn"]


def _paginate(ctx: Context, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    pages = ctx.client("rds").get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page[key]]


def _wanted(tags: dict[str, str], stack: str | None) -> bool:
    return stack is None or tags.get(STACK) == stack


@fetcher("db_instances")
def db_instances(ctx: Context, stack: str | None) -> pd.DataFrame:
    """id = DBInstanceIdentifier. secret_arn is the managed master secret's ARN (never its value)."""
    rows = []
    for d in _paginate(ctx, "describe_db_instances", "DBInstances"):
        tags = as_dict(d.get("TagList"))
        if not _wanted(tags, stack):
            continue
        group = d.get("DBSubnetGroup") or {}
        subnets = group.get("Subnets", [])
        endpoint = d.get("Endpoint") or {}
        rows.append({
            "id": d["DBInstanceIdentifier"], **tag_columns(tags),
            "arn": d.get("DBInstanceArn", ""), "engine": d.get("Engine", ""),
            "engine_version": d.get("EngineVersion", ""), "instance_class": d.get("DBInstanceClass", ""),
            "multi_az": bool(d.get("MultiAZ")), "az": d.get("AvailabilityZone", ""),
            "secondary_az": d.get("SecondaryAvailabilityZone", ""), "vpc_id": group.get("VpcId", ""),
            "subnet_ids": [s["SubnetIdentifier"] for s in subnets],
            "publicly_accessible": bool(d.get("PubliclyAccessible")), "encrypted": bool(d.get("StorageEncrypted")),
            "backup_retention": int(d.get("BackupRetentionPeriod", 0)),
            "deletion_protection": bool(d.get("DeletionProtection")),
            "endpoint": endpoint.get("Address", ""), "port": endpoint.get("Port", d.get("DbInstancePort")),
            "status": d.get("DBInstanceStatus", ""),
            "security_groups": [g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups", [])],
            "secret_arn": (d.get("MasterUserSecret") or {}).get("SecretArn", ""),
            "auto_minor_version_upgrade": bool(d.get("AutoMinorVersionUpgrade")),
            "log_exports": list(d.get("EnabledCloudwatchLogsExports", [])),
            "subnet_group": group.get("DBSubnetGroupName", ""),
            "subnet_azs": sorted({s["SubnetAvailabilityZone"]["Name"] for s in subnets}),
            "parameter_groups": [g["DBParameterGroupName"] for g in d.get("DBParameterGroups", [])],
            "storage_type": d.get("StorageType", ""), "allocated_storage": d.get("AllocatedStorage"),
            "copy_tags_to_snapshot": bool(d.get("CopyTagsToSnapshot")),
        })
    return pd.DataFrame(rows, columns=DB_INSTANCE_COLUMNS)


@fetcher("db_snapshots")
def db_snapshots(ctx: Context, stack: str | None) -> pd.DataFrame:
    """Manual and automated snapshots; id = DBSnapshotIdentifier."""
    rows = []
    for s in _paginate(ctx, "describe_db_snapshots", "DBSnapshots"):
        tags = as_dict(s.get("TagList"))
        if not _wanted(tags, stack):
            continue
        rows.append({
            "id": s["DBSnapshotIdentifier"], **tag_columns(tags),
            "db_instance_id": s.get("DBInstanceIdentifier", ""), "type": s.get("SnapshotType", ""),
            "status": s.get("Status", ""), "created": pd.Timestamp(s["SnapshotCreateTime"]) if s.get(
                "SnapshotCreateTime") else pd.NaT,
            "encrypted": bool(s.get("Encrypted")), "engine": s.get("Engine", ""), "arn": s.get("DBSnapshotArn", ""),
            "allocated_storage": int(s.get("AllocatedStorage") or 0),   # what the cost estimate prices
        })
    return pd.DataFrame(rows, columns=DB_SNAPSHOT_COLUMNS)


@fetcher("db_subnet_groups")
def db_subnet_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    """id = DBSubnetGroupName; azs are the distinct AZs of its subnets."""
    rds = ctx.client("rds")
    rows = []
    for g in _paginate(ctx, "describe_db_subnet_groups", "DBSubnetGroups"):
        arn = g.get("DBSubnetGroupArn", "")
        tags = as_dict(rds.list_tags_for_resource(ResourceName=arn)["TagList"]) if arn else {}
        if not _wanted(tags, stack):
            continue
        subnets = g.get("Subnets", [])
        rows.append({
            "id": g["DBSubnetGroupName"], **tag_columns(tags), "vpc_id": g.get("VpcId", ""),
            "subnet_ids": [s["SubnetIdentifier"] for s in subnets],
            "azs": sorted({s["SubnetAvailabilityZone"]["Name"] for s in subnets}), "arn": arn,
        })
    return pd.DataFrame(rows, columns=DB_SUBNET_GROUP_COLUMNS)
