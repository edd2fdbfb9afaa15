"""03_database: the database moves off the dev instance into RDS (Multi-AZ, backups, patches).

One function per resource, each finding what exists before creating:
`ensure_db_subnet_group`, `ensure_db_parameter_group`, `start_db_instance_create` (returns right after
the create call) and `wait_db_available` (the botocore waiter, with progress), then a manual snapshot
and a restore drill that proves the backups restore. The master password is generated and kept by
RDS in Secrets Manager (`ManageMasterUserPassword`): the workbook never sees it, never prints it and
never calls GetSecretValue.

RDS has no tag filter on its describes, so resources are found by their exact name from
`workbook.names` and adopted only when they carry this stack's `workbook:stack` tag.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
from botocore.exceptions import ClientError

from .. import names, tagging
from ..connect import Context, Resource
from ..params import ParameterError, Params
from ..progress import add_listener, remove_listener, wait_for
from . import Step, created, dry, exists, frame, is_placeholder, register, would_create

STEP = "03_database"
MASTER_USERNAME = "dbadmin"          # not a secret; "admin"/"postgres"/"rdsadmin" are reserved on some engines
DB_NAME = "app"
# Longer than the waiter's 30 s x 60: a Multi-AZ create "sometimes takes half an hour" and Terraform
# allows 40 minutes (AWS-FACTS.md).
CREATE_MAX_ATTEMPTS = 80
SUPPORTED_MAJORS = {"postgres": ("13", "14", "15", "16", "17"), "mysql": ("8.0", "8.4")}
LOG_EXPORTS = {"postgres": ["postgresql", "upgrade"], "mysql": ["error", "slowquery"]}
# Production settings per engine: name -> (value, apply method, why). "pending-reboot" is accepted for
# static and dynamic parameters alike; the group exists before the instance, so they hold from the start.
DB_PARAMETERS: dict[str, dict[str, tuple[str, str, str]]] = {
    "postgres": {
        "rds.force_ssl": ("1", "pending-reboot", "refuse unencrypted connections"),
        "log_min_duration_statement": ("500", "immediate", "log statements slower than 500 ms"),
        "log_lock_waits": ("1", "immediate", "log waits longer than deadlock_timeout"),
        "log_temp_files": ("10240", "immediate", "log temp files over 10 MB (queries spilling to disk)"),
    },
    "mysql": {
        "require_secure_transport": ("1", "immediate", "refuse unencrypted connections"),
        "slow_query_log": ("1", "immediate", "feed the slowquery log export"),
        "long_query_time": ("0.5", "immediate", "slow means over 500 ms"),
        "log_output": ("FILE", "immediate", "CloudWatch log exports read the log files"),
    },
}

WHY = ("The article: a database on the development server makes backups, independent scaling, security "
       "and redundancy hard. A managed database (RDS) schedules and keeps backups, applies security "
       "patches, and can run a standby in a second availability zone (Multi-AZ) that takes over when the "
       "primary fails.")

register(Step(STEP, "Managed database: RDS with backups, patches and Multi-AZ", WHY, permissions=(
    "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    "rds:CreateDBSubnetGroup", "rds:DescribeDBSubnetGroups", "rds:ModifyDBSubnetGroup", "rds:DeleteDBSubnetGroup",
    "rds:CreateDBParameterGroup", "rds:DescribeDBParameterGroups", "rds:DescribeDBParameters",
    "rds:ModifyDBParameterGroup", "rds:DeleteDBParameterGroup",
    "rds:CreateDBInstance", "rds:DescribeDBInstances", "rds:ModifyDBInstance", "rds:DeleteDBInstance",
    "rds:CreateDBSnapshot", "rds:DescribeDBSnapshots", "rds:DeleteDBSnapshot",
    "rds:RestoreDBInstanceFromDBSnapshot", "rds:AddTagsToResource", "rds:ListTagsForResource",
    # ManageMasterUserPassword: RDS creates the secret on the caller's behalf.
    "secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DescribeSecret",
    "kms:DescribeKey", "iam:CreateServiceLinkedRole",
)))


class PrerequisiteError(RuntimeError):
    """Something another step provides is missing or unfit (raised before any create call)."""


# ---- parameters ------------------------------------------------------------------------------
def engine_major(p: Params) -> str:
    """16.4 -> 16 (postgres); 8.0.39 -> 8.0 (mysql)."""
    parts = p.db_engine_version.split(".")
    return parts[0] if p.db_engine == "postgres" else ".".join(parts[:2])


def check_params(p: Params) -> Params:
    """Engine and version must fit together; said before any AWS call."""
    major = engine_major(p)
    if major not in SUPPORTED_MAJORS[p.db_engine]:
        raise ParameterError({"db_engine_version": (
            f"{p.db_engine_version!r} is not a supported {p.db_engine} version; use a major version of "
            f"{', '.join(SUPPORTED_MAJORS[p.db_engine])} (e.g. "
            f"{'16.4' if p.db_engine == 'postgres' else '8.0.39'})")})
    return p


def parameter_group_family(p: Params) -> str:
    """postgres16, mysql8.0 ..."""
    return f"{p.db_engine}{engine_major(check_params(p))}"


def log_exports(p: Params) -> list[str]:
    return list(LOG_EXPORTS[p.db_engine])


def drill_instance_id(p: Params) -> str:
    # Not in names.py (which holds no drill name yet); built with p.name as the brief says.
    return p.name("db-drill")


# ---- lookups -----------------------------------------------------------------------------------
def _error_code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def _owned(tag_list: list[dict[str, str]] | None, p: Params) -> bool:
    return tagging.as_dict(tag_list).get(tagging.STACK) == p.stack_name


def _refuse_foreign(kind: str, name: str, p: Params) -> None:
    raise PrerequisiteError(
        f"{kind} {name!r} exists but does not carry the tag {tagging.STACK}={p.stack_name}; the workbook "
        f"does not adopt or change what it did not create. Pick another stack_name or remove it.")


def find_db_subnets(ctx: Context, p: Params) -> list[dict[str, Any]]:
    """The private-db subnets 02_network made: tags workbook:stack and workbook:tier=db."""
    pages = ctx.client("ec2").get_paginator("describe_subnets").paginate(Filters=tagging.ec2_filters(p) + [
        {"Name": f"tag:{names.TIER}", "Values": ["db"]}])
    return sorted((s for page in pages for s in page["Subnets"]), key=lambda s: s["AvailabilityZone"])


def find_db_security_group(ctx: Context, p: Params, vpc_id: str | None = None) -> str | None:
    filters = tagging.ec2_filters(p, name=names.db_sg(p))
    if vpc_id:
        filters.append({"Name": "vpc-id", "Values": [vpc_id]})
    pages = ctx.client("ec2").get_paginator("describe_security_groups").paginate(Filters=filters)
    groups = [g for page in pages for g in page["SecurityGroups"]]
    return groups[0]["GroupId"] if groups else None


def describe_db(ctx: Context, identifier: str) -> dict[str, Any] | None:
    """One DB instance by identifier, or None. Read fresh every time (the secret ARN can change)."""
    try:
        found = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except ClientError as e:
        if _error_code(e) in ("DBInstanceNotFound", "DBInstanceNotFoundFault"):
            return None
        raise
    return found[0] if found else None


def describe_db_subnet_group(ctx: Context, name: str) -> dict[str, Any] | None:
    try:
        found = ctx.client("rds").describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"]
    except ClientError as e:
        if _error_code(e) in ("DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"):
            return None
        raise
    return found[0] if found else None


def describe_db_parameter_group(ctx: Context, name: str) -> dict[str, Any] | None:
    try:
        found = ctx.client("rds").describe_db_parameter_groups(DBParameterGroupName=name)["DBParameterGroups"]
    except ClientError as e:
        if _error_code(e) in ("DBParameterGroupNotFound", "DBParameterGroupNotFoundFault"):
            return None
        raise
    return found[0] if found else None


def describe_db_snapshot(ctx: Context, identifier: str) -> dict[str, Any] | None:
    try:
        found = ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
    except ClientError as e:
        if _error_code(e) in ("DBSnapshotNotFound", "DBSnapshotNotFoundFault"):
            return None
        raise
    return found[0] if found else None


def _tags_of(ctx: Context, arn: str) -> list[dict[str, str]]:
    return ctx.client("rds").list_tags_for_resource(ResourceName=arn)["TagList"]


# ---- waiting, with progress --------------------------------------------------------------------
# A progress callback hears (what it waits for, attempt, max attempts, elapsed seconds) after every
# poll, on top of the tqdm bar that workbook.progress shows.
ProgressFn = Callable[[str, int, int, float], None]


def _wait(ctx: Context, waiter_name: str, what: str, progress: ProgressFn | None = None,
          max_attempts: int | None = None, **kwargs: Any) -> float:
    """A botocore RDS waiter, one poll at a time with a bar (workbook.progress); seconds waited."""
    if progress:
        add_listener(progress)
    try:
        return wait_for(ctx.client("rds"), waiter_name, what, max_attempts=max_attempts, **kwargs)
    finally:
        if progress:
            remove_listener(progress)


# ---- resources ---------------------------------------------------------------------------------
def ensure_db_subnet_group(ctx: Context, p: Params) -> Resource:
    """The DB subnet group over the private-db subnets; refuses fewer than 2 AZs (moto would accept 1)."""
    check_params(p)
    name = names.db_subnet_group(p)
    subnets = find_db_subnets(ctx, p)
    azs = sorted({s["AvailabilityZone"] for s in subnets})
    existing = describe_db_subnet_group(ctx, name)
    if existing is not None:
        if not _owned(_tags_of(ctx, existing["DBSubnetGroupArn"]), p):
            _refuse_foreign("DB subnet group", name, p)
        have = {s["SubnetIdentifier"] for s in existing["Subnets"]}
        want = {s["SubnetId"] for s in subnets}
        if want and have != want and len(azs) >= 2 and not p.dry_run:
            if ctx.sandbox:
                # moto 5.2.5's modify_db_subnet_group drops the group from its store.
                ctx.workaround("moto loses a DB subnet group on modify_db_subnet_group; the group keeps "
                               f"its subnets {sorted(have)}")
            else:
                ctx.client("rds").modify_db_subnet_group(DBSubnetGroupName=name, SubnetIds=sorted(want))
                return ctx.note(STEP, "db_subnet_group", name, name, "updated")
        return exists(ctx, STEP, "db_subnet_group", name, name)
    if dry(p):
        return would_create(ctx, STEP, "db_subnet_group", name)
    if not subnets:
        raise PrerequisiteError(f"no private-db subnets tagged {tagging.STACK}={p.stack_name}, "
                                f"{names.TIER}=db: run 02_network first")
    if len(azs) < 2:
        raise PrerequisiteError(
            f"a DB subnet group needs subnets in at least 2 availability zones (RDS requires it, and Multi-AZ "
            f"needs a second AZ for the standby); found {len(subnets)} db subnet(s) only in {', '.join(azs)}. "
            f"Run 02_network with az_count >= 2.")
    ctx.client("rds").create_db_subnet_group(
        DBSubnetGroupName=name, DBSubnetGroupDescription=f"{p.stack_name}: private db subnets in {', '.join(azs)}",
        SubnetIds=[s["SubnetId"] for s in subnets], Tags=tagging.tags(p, STEP, name))
    return created(ctx, STEP, "db_subnet_group", name, name)


def _user_parameters(ctx: Context, name: str) -> dict[str, str]:
    pages = ctx.client("rds").get_paginator("describe_db_parameters").paginate(DBParameterGroupName=name,
                                                                              Source="user")
    return {x["ParameterName"]: str(x.get("ParameterValue", "")) for page in pages for x in page["Parameters"]}


def ensure_db_parameter_group(ctx: Context, p: Params) -> Resource:
    """A parameter group of the engine's family with the production settings of DB_PARAMETERS."""
    name, family = names.db_parameter_group(p), parameter_group_family(p)
    rds = ctx.client("rds")
    existing = describe_db_parameter_group(ctx, name)
    if existing is None:
        if dry(p):
            return would_create(ctx, STEP, "db_parameter_group", name)
        rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily=family,
                                      Description=f"{p.stack_name}: production settings for {family}",
                                      Tags=tagging.tags(p, STEP, name))
        action = "created"
    else:
        if not _owned(_tags_of(ctx, existing["DBParameterGroupArn"]), p):
            _refuse_foreign("DB parameter group", name, p)
        if existing["DBParameterGroupFamily"] != family:
            raise PrerequisiteError(
                f"DB parameter group {name!r} is for {existing['DBParameterGroupFamily']}, but db_engine="
                f"{p.db_engine} db_engine_version={p.db_engine_version} needs {family}; run destroy first")
        action = "exists"
    current = _user_parameters(ctx, name)
    changes = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": how}
               for k, (v, how, _) in DB_PARAMETERS[p.db_engine].items() if current.get(k) != v]
    if changes and action == "exists":
        action = "would update" if dry(p) else "updated"
    if changes and not dry(p):
        rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=changes)
    return ctx.note(STEP, "db_parameter_group", name, name, action)


def _instance_arguments(ctx: Context, p: Params, sg_id: str) -> dict[str, Any]:
    name = names.db_instance(p)
    return dict(
        DBInstanceIdentifier=name, Engine=p.db_engine, EngineVersion=p.db_engine_version,
        DBInstanceClass=p.db_instance_class, AllocatedStorage=p.db_allocated_storage, StorageType="gp3",
        DBName=DB_NAME, Port=p.db_port, MasterUsername=MASTER_USERNAME,
        ManageMasterUserPassword=True,        # RDS generates and stores it; nobody types or sees it
        DBSubnetGroupName=names.db_subnet_group(p), DBParameterGroupName=names.db_parameter_group(p),
        VpcSecurityGroupIds=[sg_id], PubliclyAccessible=False, StorageEncrypted=True,
        BackupRetentionPeriod=p.backup_retention_days, MultiAZ=p.multi_az, DeletionProtection=True,
        AutoMinorVersionUpgrade=True, EnableCloudwatchLogsExports=log_exports(p), CopyTagsToSnapshot=True,
        Tags=tagging.tags(p, STEP, name))


def start_db_instance_create(ctx: Context, p: Params) -> Resource:
    """Send the create and return at once (5-20 minutes on real AWS): wait later with wait_db_available."""
    check_params(p)
    name = names.db_instance(p)
    db = describe_db(ctx, name)
    if db is not None:
        if not _owned(db.get("TagList"), p):
            _refuse_foreign("DB instance", name, p)
        return _converge_instance(ctx, p, db)
    if dry(p):
        return would_create(ctx, STEP, "db_instance", name)
    if describe_db_subnet_group(ctx, names.db_subnet_group(p)) is None:
        raise PrerequisiteError(f"DB subnet group {names.db_subnet_group(p)!r} is missing: call "
                                "ensure_db_subnet_group first")
    if describe_db_parameter_group(ctx, names.db_parameter_group(p)) is None:
        raise PrerequisiteError(f"DB parameter group {names.db_parameter_group(p)!r} is missing: call "
                                "ensure_db_parameter_group first")
    subnets = find_db_subnets(ctx, p)
    sg_id = find_db_security_group(ctx, p, subnets[0]["VpcId"] if subnets else None)
    if sg_id is None:
        raise PrerequisiteError(f"security group {names.db_sg(p)!r} (tag {tagging.STACK}={p.stack_name}) is "
                                "missing: run 02_network first")
    db = ctx.client("rds").create_db_instance(**_instance_arguments(ctx, p, sg_id))["DBInstance"]
    return created(ctx, STEP, "db_instance", name, db["DBInstanceArn"])


def instance_drift(db: dict[str, Any], p: Params) -> dict[str, Any]:
    """ModifyDBInstance arguments that bring an existing instance to what p asks (empty: nothing to do).
    Turning on Multi-AZ this way has no downtime; so has every other change here."""
    want = {"MultiAZ": p.multi_az, "BackupRetentionPeriod": p.backup_retention_days, "DeletionProtection": True,
            "AutoMinorVersionUpgrade": True, "CopyTagsToSnapshot": True, "PubliclyAccessible": False}
    changes = {k: v for k, v in want.items() if db.get(k) != v}
    missing = sorted(set(log_exports(p)) - set(db.get("EnabledCloudwatchLogsExports", [])))
    if missing:
        changes["CloudwatchLogsExportConfiguration"] = {"EnableLogTypes": missing}
    return changes


def _converge_instance(ctx: Context, p: Params, db: dict[str, Any]) -> Resource:
    name, arn = db["DBInstanceIdentifier"], db["DBInstanceArn"]
    changes = instance_drift(db, p)
    if not changes:
        return exists(ctx, STEP, "db_instance", name, arn)
    what = ", ".join(sorted(changes))
    if dry(p):
        return ctx.note(STEP, "db_instance", f"{name} ({what})", arn, "would update")
    if db["DBInstanceStatus"] != "available":
        # ModifyDBInstance needs an available instance; the next run applies it.
        return ctx.note(STEP, "db_instance", f"{name} ({what} pending: {db['DBInstanceStatus']})", arn, "exists")
    ctx.client("rds").modify_db_instance(DBInstanceIdentifier=name, ApplyImmediately=True, **changes)
    return ctx.note(STEP, "db_instance", f"{name} ({what})", arn, "updated")


def wait_db_available(ctx: Context, p: Params, progress: ProgressFn | None = None,
                      identifier: str | None = None) -> dict[str, Any] | None:
    """Wait with the db_instance_available waiter, showing each poll; returns the fresh description."""
    identifier = identifier or names.db_instance(p)
    if dry(p) and describe_db(ctx, identifier) is None:
        print(f"dry run: {identifier} does not exist, nothing to wait for")
        return None
    _wait(ctx, "db_instance_available", f"{identifier} to be available", progress,
          max_attempts=CREATE_MAX_ATTEMPTS, DBInstanceIdentifier=identifier)
    return describe_db(ctx, identifier)


def ensure_db_instance(ctx: Context, p: Params, progress: ProgressFn | None = None) -> Resource:
    """Create (or find) and wait: for callers that do not overlap the wait with other work."""
    r = start_db_instance_create(ctx, p)
    if not is_placeholder(r.id):
        wait_db_available(ctx, p, progress)
    return r


# ---- what the reader looks at while RDS works --------------------------------------------------
def parameter_group_table(ctx: Context, p: Params) -> pd.DataFrame:
    """The production settings: wanted value, value in the group, why."""
    name = names.db_parameter_group(p)
    current = _user_parameters(ctx, name) if describe_db_parameter_group(ctx, name) else {}
    return pd.DataFrame([{"parameter": k, "wanted": v, "in group": current.get(k, "(not set)"), "apply": how,
                          "why": why} for k, (v, how, why) in DB_PARAMETERS[p.db_engine].items()])


def db_secret_arn(ctx: Context, p: Params) -> str:
    """The managed master secret's ARN, read from describe_db_instances every time (it changes on
    sandbox replay, and RDS may replace it)."""
    db = describe_db(ctx, names.db_instance(p))
    return (db or {}).get("MasterUserSecret", {}).get("SecretArn", "")


def describe_db_secret(ctx: Context, p: Params) -> pd.DataFrame:
    """Where the master password lives, without its value (DescribeSecret never returns it)."""
    arn = db_secret_arn(ctx, p)
    if not arn:
        return pd.DataFrame([{"property": "secret", "value": "none yet (the instance does not exist)"}])
    s = ctx.client("secretsmanager").describe_secret(SecretId=arn)
    rules = s.get("RotationRules", {})
    rows = {
        "secret name": s.get("Name", ""),
        "owned by": s.get("OwningService", "") or tagging.as_dict(s.get("Tags")).get(
            "aws:secretsmanager:owningService", ""),
        "encrypted with KMS key": s.get("KmsKeyId", "") or "aws/secretsmanager (default)",
        "rotation": ((f"every {rules['AutomaticallyAfterDays']} days" if rules.get("AutomaticallyAfterDays")
                      else rules.get("ScheduleExpression", "on")) if s.get("RotationEnabled") else
                     "not modelled by the sandbox (RDS rotates its managed secret every 7 days)"
                     if ctx.sandbox else "off"),
        "last changed": str(s.get("LastChangedDate", "")),
        "value": "never shown: the app reads it at run time with secretsmanager:GetSecretValue",
    }
    return pd.DataFrame([{"property": k, "value": v} for k, v in rows.items()])


def backup_settings(ctx: Context, p: Params) -> pd.DataFrame:
    """Backups and patching as asked (parameters) and as RDS reports them (when the instance exists)."""
    db = describe_db(ctx, names.db_instance(p)) or {}
    rows = [
        ("automated backups kept (days)", p.backup_retention_days, db.get("BackupRetentionPeriod")),
        ("backup window (UTC)", "chosen by RDS", db.get("PreferredBackupWindow")),
        ("latest restorable time", "-", str(db.get("LatestRestorableTime", "")) or None),
        ("copy tags to snapshots", True, db.get("CopyTagsToSnapshot")),
        ("auto minor version upgrade", True, db.get("AutoMinorVersionUpgrade")),
        ("maintenance window (UTC)", "chosen by RDS", db.get("PreferredMaintenanceWindow")),
        ("Multi-AZ standby", p.multi_az, db.get("MultiAZ")),
        ("deletion protection", True, db.get("DeletionProtection")),
        ("final snapshot on teardown", p.keep_final_snapshot, "applies at teardown"),
    ]
    return pd.DataFrame([{"setting": s, "asked": a, "RDS reports": "(not yet)" if r is None else r}
                         for s, a, r in rows])


def instance_summary(ctx: Context, p: Params) -> pd.DataFrame:
    """Where the app connects and how the instance stands (no credentials: those stay in the secret)."""
    d = describe_db(ctx, names.db_instance(p))
    if d is None:
        return pd.DataFrame([{"property": "instance", "value": f"{names.db_instance(p)} does not exist"}])
    endpoint = d.get("Endpoint") or {}
    rows = {
        "identifier": d["DBInstanceIdentifier"], "status": d["DBInstanceStatus"],
        "engine": f"{d['Engine']} {d['EngineVersion']}", "class": d["DBInstanceClass"],
        "storage": f"{d.get('AllocatedStorage')} GiB {d.get('StorageType', '')}, "
                   f"{'encrypted' if d.get('StorageEncrypted') else 'NOT encrypted'}",
        "endpoint": f"{endpoint.get('Address', '(not yet)')}:{endpoint.get('Port', p.db_port)}",
        "database / user": f"{d.get('DBName', '')} / {d.get('MasterUsername', '')}",
        "primary AZ": d.get("AvailabilityZone", ""),
        "standby AZ": d.get("SecondaryAvailabilityZone") or ("not reported by the sandbox" if ctx.sandbox and
                                                             d.get("MultiAZ") else "none (single-AZ)"
                                                             if not d.get("MultiAZ") else "not reported yet"),
        "publicly accessible": d.get("PubliclyAccessible"),
        "password": "in Secrets Manager (managed by RDS), never shown",
    }
    return pd.DataFrame([{"property": k, "value": str(v)} for k, v in rows.items()])


def snapshot_drill_plan(p: Params) -> pd.DataFrame:
    """The restore drill, step by step, before it runs."""
    snap, drill = names.db_snapshot(p, "manual"), drill_instance_id(p)
    steps = [
        ("take a manual snapshot", f"{snap} of {names.db_instance(p)}", "db_snapshot_available"),
        ("restore it to a temporary instance", f"{drill} (single-AZ, no backups, same subnets, SG, parameters)",
         "db_instance_available"),
        ("compare", "status, engine, version, encryption, class, network and parameters with the source", "-"),
        ("delete the drill instance", f"{drill}, no final snapshot, deletion protection off", "db_instance_deleted"),
    ]
    return pd.DataFrame(steps, columns=["step", "what", "botocore waiter"])


# ---- snapshot and restore drill ----------------------------------------------------------------
def ensure_manual_snapshot(ctx: Context, p: Params, label: str = "manual",
                           progress: ProgressFn | None = None) -> Resource:
    """A manual snapshot (kept until destroy) of the production instance; waits until available."""
    name, source = names.db_snapshot(p, label), names.db_instance(p)
    snap = describe_db_snapshot(ctx, name)
    if snap is not None:
        if not _owned(snap.get("TagList"), p):
            _refuse_foreign("DB snapshot", name, p)
        r = exists(ctx, STEP, "db_snapshot", name, snap["DBSnapshotArn"])
    elif dry(p) or describe_db(ctx, source) is None:
        if not dry(p):
            raise PrerequisiteError(f"DB instance {source!r} does not exist yet: create it first")
        return would_create(ctx, STEP, "db_snapshot", name)
    else:
        snap = ctx.client("rds").create_db_snapshot(DBSnapshotIdentifier=name, DBInstanceIdentifier=source,
                                                    Tags=tagging.tags(p, STEP, name))["DBSnapshot"]
        r = created(ctx, STEP, "db_snapshot", name, snap["DBSnapshotArn"])
    _wait(ctx, "db_snapshot_available", f"snapshot {name}", progress, DBSnapshotIdentifier=name)
    return r


def _delete_instance(ctx: Context, identifier: str, final_snapshot: str | None,
                     progress: ProgressFn | None) -> str:
    """Deletion protection off, delete (with or without a final snapshot), wait until gone."""
    rds = ctx.client("rds")
    db = describe_db(ctx, identifier)
    if db is None:
        return "absent"
    if db["DBInstanceStatus"] != "deleting":
        if db.get("DeletionProtection"):
            if db["DBInstanceStatus"] != "available":  # ModifyDBInstance needs an available instance
                _wait(ctx, "db_instance_available", f"{identifier} to be available", progress,
                      max_attempts=CREATE_MAX_ATTEMPTS, DBInstanceIdentifier=identifier)
            rds.modify_db_instance(DBInstanceIdentifier=identifier, DeletionProtection=False, ApplyImmediately=True)
        args: dict[str, Any] = {"DBInstanceIdentifier": identifier, "DeleteAutomatedBackups": True}
        if final_snapshot:
            args.update(FinalDBSnapshotIdentifier=final_snapshot, SkipFinalSnapshot=False)
        else:
            args.update(SkipFinalSnapshot=True)
        rds.delete_db_instance(**args)
    _wait(ctx, "db_instance_deleted", f"{identifier} to be deleted", progress,
          max_attempts=CREATE_MAX_ATTEMPTS, DBInstanceIdentifier=identifier)
    return "deleted"


DRILL_COMPARED = [
    ("status", lambda d: d["DBInstanceStatus"]),
    ("engine", lambda d: d["Engine"]),
    ("engine version", lambda d: d["EngineVersion"]),
    ("storage encrypted", lambda d: d.get("StorageEncrypted")),
    ("instance class", lambda d: d["DBInstanceClass"]),
    ("storage type", lambda d: d.get("StorageType")),
    ("publicly accessible", lambda d: d.get("PubliclyAccessible")),
    ("subnet group", lambda d: d.get("DBSubnetGroup", {}).get("DBSubnetGroupName")),
    ("security groups", lambda d: sorted(g["VpcSecurityGroupId"] for g in d.get("VpcSecurityGroups", []))),
    ("parameter group", lambda d: [g["DBParameterGroupName"] for g in d.get("DBParameterGroups", [])]),
    ("master username", lambda d: d.get("MasterUsername")),
    ("database name", lambda d: d.get("DBName")),
]


DRILL_TAG = "workbook:restore-drill"


def restore_drill(ctx: Context, p: Params, progress: ProgressFn | None = None,
                  keep: bool = False, force: bool = False) -> pd.DataFrame:
    """Restore the manual snapshot to a temporary instance, compare it with the source, delete it.

    Idempotent: a drill instance left by an interrupted run is reused, never twinned, and a snapshot
    that already passed a drill (tagged workbook:restore-drill) is not drilled again unless `force`:
    a rerun of the notebook creates nothing. Returns one row per compared setting (source, drill, same).
    """
    source_id, drill_id, snap = names.db_instance(p), drill_instance_id(p), names.db_snapshot(p, "manual")
    if dry(p):
        would_create(ctx, STEP, "db_instance", drill_id)
        return snapshot_drill_plan(p)
    source = describe_db(ctx, source_id)
    snapshot = describe_db_snapshot(ctx, snap)
    if source is None or snapshot is None:
        raise PrerequisiteError(f"the drill needs {source_id!r} and its snapshot {snap!r}: run "
                                "ensure_db_instance and ensure_manual_snapshot first")
    drill = describe_db(ctx, drill_id)
    passed_at = tagging.as_dict(ctx.client("rds").list_tags_for_resource(
        ResourceName=snapshot["DBSnapshotArn"])["TagList"]).get(DRILL_TAG, "")
    if passed_at and drill is None and not force:
        print(f"restore drill of {snap} already {passed_at}; not repeated (restore_drill(..., force=True) repeats it)")
        df = pd.DataFrame([{"setting": "restore drill", "source": snap, "restored drill": passed_at, "same": True}])
        df.attrs["passed"] = True
        return df
    if drill is not None and not _owned(drill.get("TagList"), p):
        _refuse_foreign("DB instance", drill_id, p)
    if drill is None or drill["DBInstanceStatus"] == "deleting":
        if drill is not None:  # a previous drill is still going away: let it, then restore afresh
            _wait(ctx, "db_instance_deleted", f"{drill_id} to be deleted", progress,
                  max_attempts=CREATE_MAX_ATTEMPTS, DBInstanceIdentifier=drill_id)
        ctx.client("rds").restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=drill_id, DBSnapshotIdentifier=snap, DBInstanceClass=source["DBInstanceClass"],
            StorageType=source.get("StorageType", "gp3"), DBSubnetGroupName=source["DBSubnetGroup"]["DBSubnetGroupName"],
            VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]],
            DBParameterGroupName=source["DBParameterGroups"][0]["DBParameterGroupName"],
            PubliclyAccessible=False, MultiAZ=False,          # a drill needs no standby
            BackupRetentionPeriod=0,                          # no backups of a throwaway (no hours of backing-up)
            DeletionProtection=False, AutoMinorVersionUpgrade=True, CopyTagsToSnapshot=False,
            EnableCloudwatchLogsExports=source.get("EnabledCloudwatchLogsExports", []),
            Tags=tagging.tags(p, STEP, drill_id))
        created(ctx, STEP, "db_instance", drill_id, drill_id)
    else:
        exists(ctx, STEP, "db_instance", drill_id, drill["DBInstanceArn"])
    drill = wait_db_available(ctx, p, progress, identifier=drill_id) or {}
    rows = []
    for label, get in DRILL_COMPARED:
        want = "available" if label == "status" else get(source)
        got = get(drill)
        rows.append({"setting": label, "source": want, "restored drill": got, "same": want == got})
    if not keep:
        if ctx.sandbox and drill.get("DeletionProtection"):
            ctx.workaround("moto copies DeletionProtection from the source on restore (real RDS honours "
                           "DeletionProtection=False); turning it off before deleting the drill instance")
        _delete_instance(ctx, drill_id, None, progress)
        ctx.note(STEP, "db_instance", drill_id, drill_id, "deleted")
    df = pd.DataFrame(rows)
    df.attrs["passed"] = bool(df["same"].all())
    if df.attrs["passed"] and not keep:
        when = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        ctx.client("rds").add_tags_to_resource(ResourceName=snapshot["DBSnapshotArn"],
                                               Tags=[{"Key": DRILL_TAG, "Value": f"passed {when}"}])
    print(f"restore drill {'passed' if df.attrs['passed'] else 'FAILED'}: {int(df['same'].sum())} of {len(df)} "
          f"settings of {drill_id} match {source_id}" + ("" if keep else f"; {drill_id} deleted"))
    return df


# ---- the step ------------------------------------------------------------------------------------
def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do (creates nothing)."""
    dp = p if p.dry_run else p.replace(dry_run=True)
    check_params(dp)
    return frame([ensure_db_subnet_group(ctx, dp), ensure_db_parameter_group(ctx, dp),
                  start_db_instance_create(ctx, dp)])


def apply(ctx: Context, p: Params, progress: ProgressFn | None = None) -> pd.DataFrame:
    check_params(p)
    records = [ensure_db_subnet_group(ctx, p), ensure_db_parameter_group(ctx, p), start_db_instance_create(ctx, p)]
    if not is_placeholder(records[-1].id):
        wait_db_available(ctx, p, progress)
    return frame(records)


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    from .. import checks, inventory
    return checks.run(inventory.Inventory(ctx, p.stack_name), p, groups=["database"])


def _final_snapshot_name(ctx: Context, p: Params) -> str:
    """names.db_snapshot(p, "final"), or a dated one when an earlier teardown already kept that name."""
    name = names.db_snapshot(p, "final")
    if describe_db_snapshot(ctx, name) is None:
        return name
    return names.db_snapshot(p, "final-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()))


def destroy(ctx: Context, p: Params, keep_final_snapshot: bool | None = None,
            progress: ProgressFn | None = None) -> pd.DataFrame:
    """Reverse order: drill, instance (final snapshot if asked), manual snapshot, subnet and parameter
    groups. Only what carries this stack's tag; safe to run twice."""
    keep = p.keep_final_snapshot if keep_final_snapshot is None else keep_final_snapshot
    rds = ctx.client("rds")
    out: list[Resource] = []

    def gone(type_: str, name: str, id_: str, action: str = "deleted") -> None:
        out.append(ctx.note(STEP, type_, name, id_, action))

    for identifier, final in ((drill_instance_id(p), None), (names.db_instance(p), keep)):
        db = describe_db(ctx, identifier)
        if db is None:
            gone("db_instance", identifier, "", "absent")
            continue
        if not _owned(db.get("TagList"), p):
            _refuse_foreign("DB instance", identifier, p)
        if p.dry_run:
            gone("db_instance", identifier, db["DBInstanceArn"], "would delete")
            continue
        snap = _final_snapshot_name(ctx, p) if final else None
        _delete_instance(ctx, identifier, snap, progress)
        gone("db_instance", identifier, db["DBInstanceArn"])
        if snap:
            gone("db_snapshot", snap, snap, "kept (final snapshot)")
    manual = names.db_snapshot(p, "manual")
    snap = describe_db_snapshot(ctx, manual)
    if snap is not None and not _owned(snap.get("TagList"), p):
        gone("db_snapshot", manual, snap["DBSnapshotArn"], "left alone (not tagged for this stack)")
    elif snap is not None:
        if p.dry_run:
            gone("db_snapshot", manual, manual, "would delete")
        else:
            rds.delete_db_snapshot(DBSnapshotIdentifier=manual)
            _wait(ctx, "db_snapshot_deleted", f"snapshot {manual} to be deleted", progress,
                  DBSnapshotIdentifier=manual)
            gone("db_snapshot", manual, manual)
    else:
        gone("db_snapshot", manual, "", "absent")
    for type_, name, describe, arn_key, delete in (
            ("db_subnet_group", names.db_subnet_group(p), describe_db_subnet_group, "DBSubnetGroupArn",
             lambda n: rds.delete_db_subnet_group(DBSubnetGroupName=n)),
            ("db_parameter_group", names.db_parameter_group(p), describe_db_parameter_group, "DBParameterGroupArn",
             lambda n: rds.delete_db_parameter_group(DBParameterGroupName=n))):
        found = describe(ctx, name)
        if found is None:
            gone(type_, name, "", "absent")
        elif not _owned(_tags_of(ctx, found[arn_key]), p):
            _refuse_foreign(type_.replace("_", " "), name, p)
        elif p.dry_run:
            gone(type_, name, name, "would delete")
        else:
            delete(name)
            gone(type_, name, name)
    return frame(out)
