"""Step 03_database: the database moves off the dev instance into RDS (Multi-AZ, backups, patches).

Why (from "Architect your Dev Backend to Production on AWS", the article this workbook follows, in our
words): a database that lives on the development server is hard to back up, cannot grow apart from the
app, is hard to secure and has no spare. A managed service (RDS) takes over the backups and the
security patches, and can keep a standby copy in a second availability zone (Multi-AZ).

Units, one resource (kind) each, through workbook.engine: found by the stack's tag, else created with
the workbook's tags; one that carries another owner's name is refused, never adopted.
- `ensure_db_subnet_group` over the private-db subnets of 02_network (refused with fewer than 2 AZs);
- `ensure_db_parameter_group` with the production settings of DB_PARAMETERS, set back when drifted;
- `start_db_instance_create` returns right after the create call (5-20 minutes on AWS) and
  `wait_db_available` waits later, with progress. An existing instance is brought to the parameters
  in place (`instance_drift`, ModifyDBInstance: no downtime);
- the manual snapshot and the restore drill: database_drill.py.
The master password is generated and kept by RDS in Secrets Manager (`ManageMasterUserPassword`): the
workbook never sees it, never prints it and never calls GetSecretValue.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, engine, inventory, names, plan_cost, tagging
from .. import progress as progress_mod
from ..connect import Context, Resource
from ..params import ParameterError, Params
from . import Step, destroy_kinds, register
from .database_logs import ensure_log_export_groups
from .database_drill import (CREATE_MAX_ATTEMPTS, DRILL_TAG, PrerequisiteError, ProgressFn,  # noqa: F401
                             describe_db, drill_instance_id, ensure_manual_snapshot, restore_drill,
                             snapshot_drill_plan, start_manual_snapshot, start_restore_drill, wait_db)

STEP = "03_database"                 # the step tag's value
MASTER_USERNAME = "dbadmin"          # not a secret; "admin"/"postgres"/"rdsadmin" are reserved on some engines
DB_NAME = "app"
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
        # RDS for MySQL user guide: with binary logging on (backups), creating triggers and stored functions
        # without SUPER needs this; the app's own triggers and functions arrive with the move.
        "log_bin_trust_function_creators": ("1", "immediate", "the app's triggers and functions can be created"),
    },
}

STEP_INFO = register(Step(
    STEP, "Managed database: RDS with backups, patches and Multi-AZ",
    why=("A database kept on the development server is hard to back up, to scale apart from the app, to "
         "secure and to make redundant. A managed service (RDS) takes over scheduled backups and security "
         "patching, and can keep a standby in a second availability zone that takes over when the primary "
         "fails."),
    short="Database", module="database",
    kinds=("db_subnet_group", "db_parameter_group", "db_instance", "db_snapshot", "log_group"),
    permissions=("ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "rds:RestoreDBInstanceFromDBSnapshot",
                 "rds:DescribeDBEngineVersions",   # the newest minor of the major, or the version checked
                 # ManageMasterUserPassword: RDS creates the secret on the caller's behalf.
                 "secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DescribeSecret",
                 "kms:DescribeKey", "iam:CreateServiceLinkedRole"),
))


# ---- parameters ------------------------------------------------------------------------------
def engine_major(p: Params) -> str:
    """16.11 or 16 -> 16 (postgres); 8.0.39 or 8.0 -> 8.0 (mysql)."""
    parts = p.rds_engine_version.split(".")
    return parts[0] if p.rds_engine == "postgres" else ".".join(parts[:2])


def check_params(p: Params) -> Params:
    """Engine and version must fit together; said before any AWS call."""
    major = engine_major(p)
    if major not in SUPPORTED_MAJORS[p.rds_engine]:
        raise ParameterError({"db_engine_version": (
            f"{p.rds_engine_version!r} is not a supported {p.rds_engine} version; use a major version of "
            f"{', '.join(SUPPORTED_MAJORS[p.rds_engine])} (e.g. "
            f"{'16' if p.rds_engine == 'postgres' else '8.4'} for the newest minor RDS offers)")})
    return p


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else -1 for x in v.split("."))


def offered_versions(ctx: Context) -> list[str]:
    """The versions of the chosen engine and major RDS offers for new instances (describe_db_engine_versions
    lists only those unless asked for all), oldest first."""
    p = ctx.p
    major = engine_major(check_params(p))
    pages = ctx.client("rds").get_paginator("describe_db_engine_versions").paginate(Engine=p.rds_engine)
    found = {v["EngineVersion"] for page in pages for v in page["DBEngineVersions"]
             if v.get("Status", "available") == "available"
             and (v["EngineVersion"] == major or v["EngineVersion"].startswith(f"{major}."))}
    return sorted(found, key=_version_key)


def resolve_engine_version(ctx: Context) -> str:
    """The version to create: for a major (db_engine_version=16) the newest minor RDS offers for new
    instances; a full version (16.9) only if RDS still offers it (minors are retired on a schedule, and
    a create with a retired one is refused). Said as a ParameterError naming db_engine_version, before
    the create."""
    p = ctx.p
    offered = offered_versions(ctx)
    major = engine_major(p)
    if p.rds_engine_version == major:
        if not offered:
            raise ParameterError({"db_engine_version": f"RDS offers no {p.rds_engine} {major}.x version for new instances "
                                                       f"in {p.region}; choose another major"})
        return offered[-1]
    if not offered:   # nothing listed for the major at all: nothing to check against (say so, go on)
        print(f"RDS lists no {p.rds_engine} {major}.x versions here: {p.rds_engine_version} is used as given")
        return p.rds_engine_version
    if p.rds_engine_version not in offered:
        raise ParameterError({"db_engine_version": (
            f"{p.rds_engine_version!r} is not offered for new {p.rds_engine} instances in {p.region} (RDS retires minor "
            f"versions on a schedule); offered: {', '.join(offered[-4:]) or 'none'}. Use {major} for the newest minor.")})
    return p.rds_engine_version


def parameter_group_family(p: Params) -> str:
    """postgres16, mysql8.0 ..."""
    return f"{p.rds_engine}{engine_major(check_params(p))}"


def log_exports(p: Params) -> list[str]:
    return list(LOG_EXPORTS[p.rds_engine])


# ---- what 02_network provides ------------------------------------------------------------------
def find_db_subnets(ctx: Context) -> list[engine.Item]:
    """The private-db subnets 02_network made (the stack's tag and workbook:tier=db), by AZ."""
    found = [s for s in engine.find(ctx, "subnet") if s.tags.get(names.TIER) == "db"]
    return sorted(found, key=lambda s: s.raw["AvailabilityZone"])


def find_db_security_group(ctx: Context, vpc_id: str | None = None) -> str | None:
    groups = [g for g in engine.find(ctx, "security_group", name=names.db_sg(ctx.p))
              if vpc_id is None or g.raw.get("VpcId") == vpc_id]
    return groups[0].id if groups else None


# ---- resources ---------------------------------------------------------------------------------
def ensure_db_subnet_group(ctx: Context) -> Resource:
    """The DB subnet group over the private-db subnets; refuses fewer than 2 AZs (moto would accept 1).
    A db subnet added later (02_network with more AZs) is added to the group."""
    p = ctx.p
    check_params(p)
    name = names.db_subnet_group(p)
    subnets = find_db_subnets(ctx)
    want = sorted(s.id for s in subnets)
    azs = sorted({s.raw["AvailabilityZone"] for s in subnets})
    found = engine.find_one(ctx, "db_subnet_group", name)
    if found is None and not ctx.dry_run:
        if not subnets:
            raise PrerequisiteError(f"no private-db subnets tagged {tagging.STACK}={p.stack_name}, "
                                    f"{names.TIER}=db: run 02_network first")
        if len(azs) < 2:
            raise PrerequisiteError(
                f"a DB subnet group needs subnets in at least 2 availability zones (RDS requires it, and "
                f"Multi-AZ needs a second AZ for the standby); found {len(subnets)} db subnet(s) only in "
                f"{', '.join(azs)}. Run 02_network with az_count >= 2.")
    rec = engine.ensure(ctx, "db_subnet_group", name, step=STEP, found=found, lookup=False, create=lambda: {
        "DBSubnetGroupName": name, "DBSubnetGroupDescription": f"{p.stack_name}: private db subnets in "
                                                               f"{', '.join(azs)}", "SubnetIds": want})
    have = sorted(s["SubnetIdentifier"] for s in rec.item.get("Subnets", []))
    if rec.action == "exists" and want and have != want and len(azs) >= 2:
        label = f"{name}: {', '.join(want)}"
        if ctx.dry_run:
            ctx.note(STEP, "db_subnet_group_subnets", label, name, "would update")
        else:
            got = ctx.client("rds").modify_db_subnet_group(DBSubnetGroupName=name, SubnetIds=want)["DBSubnetGroup"]
            now = sorted(s["SubnetIdentifier"] for s in got.get("Subnets", []))
            # Say what RDS answered, not what was asked.
            ctx.note(STEP, "db_subnet_group_subnets", label, name, "updated" if now == want else
                     f"kept {', '.join(now)}")
    return rec


def _user_parameters(ctx: Context, name: str) -> dict[str, str]:
    pages = ctx.client("rds").get_paginator("describe_db_parameters").paginate(DBParameterGroupName=name,
                                                                              Source="user")
    return {x["ParameterName"]: str(x.get("ParameterValue", "")) for page in pages for x in page["Parameters"]}


def ensure_db_parameter_group(ctx: Context) -> Resource:
    """A parameter group of the engine's family with the production settings of DB_PARAMETERS; a
    setting changed by hand is set back (recorded as `db_parameters` updated)."""
    p = ctx.p
    name, family = names.db_parameter_group(p), parameter_group_family(p)
    found = engine.find_one(ctx, "db_parameter_group", name)
    if found is not None and found.raw["DBParameterGroupFamily"] != family:
        raise PrerequisiteError(
            f"DB parameter group {name!r} is for {found.raw['DBParameterGroupFamily']}, but db_engine="
            f"{p.rds_engine} db_engine_version={p.rds_engine_version} needs {family}; run destroy first")
    rec = engine.ensure(ctx, "db_parameter_group", name, step=STEP, found=found, lookup=False, create={
        "DBParameterGroupName": name, "DBParameterGroupFamily": family,
        "Description": f"{p.stack_name}: production settings for {family}"})
    if rec.action == "would create":
        return rec
    current = _user_parameters(ctx, name)
    changes = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": how}
               for k, (v, how, _) in DB_PARAMETERS[p.rds_engine].items() if current.get(k) != v]
    if changes and not ctx.dry_run:
        ctx.client("rds").modify_db_parameter_group(DBParameterGroupName=name, Parameters=changes)
    if changes and rec.action == "exists":   # a new group gets its settings as part of being created
        later = [c["ParameterName"] for c in changes if c["ApplyMethod"] == "pending-reboot"]
        when = f" ({', '.join(later)}: in force from the database's next reboot)" if later else ""
        ctx.note(STEP, "db_parameters", f"{name}: {', '.join(c['ParameterName'] for c in changes)}", name,
                 ("would update" if ctx.dry_run else "updated") + when)
    return rec


def _instance_arguments(p: Params, sg_id: str, version: str) -> dict[str, Any]:
    return dict(
        DBInstanceIdentifier=names.db_instance(p), Engine=p.rds_engine, EngineVersion=version,
        DBInstanceClass=p.db_instance_class, AllocatedStorage=p.db_allocated_storage, StorageType="gp3",
        DBName=DB_NAME, Port=p.db_port, MasterUsername=MASTER_USERNAME,
        ManageMasterUserPassword=True,        # RDS generates and stores it; nobody types or sees it
        DBSubnetGroupName=names.db_subnet_group(p), DBParameterGroupName=names.db_parameter_group(p),
        VpcSecurityGroupIds=[sg_id], PubliclyAccessible=False, StorageEncrypted=True,
        BackupRetentionPeriod=p.backup_retention_days, MultiAZ=p.multi_az, DeletionProtection=True,
        AutoMinorVersionUpgrade=True, EnableCloudwatchLogsExports=log_exports(p), CopyTagsToSnapshot=True)


def _db_security_group(ctx: Context) -> str:
    """The groups this step made must exist, and the DB security group of 02_network (said before
    the create call, not as RDS's error after it)."""
    p = ctx.p
    for kind, name, unit in (("db_subnet_group", names.db_subnet_group(p), "ensure_db_subnet_group"),
                             ("db_parameter_group", names.db_parameter_group(p), "ensure_db_parameter_group")):
        if engine.find_one(ctx, kind, name) is None:
            raise PrerequisiteError(f"{kind.replace('_', ' ')} {name!r} is missing: call {unit} first")
    subnets = find_db_subnets(ctx)
    sg_id = find_db_security_group(ctx, subnets[0].raw["VpcId"] if subnets else None)
    if sg_id is None:
        raise PrerequisiteError(f"security group {names.db_sg(p)!r} (tag {tagging.STACK}={p.stack_name}) is "
                                "missing: run 02_network first")
    return sg_id


def start_db_instance_create(ctx: Context) -> Resource:
    """Send the create and return at once (5-20 minutes on real AWS): wait later with wait_db_available.
    An instance that exists is brought to what the parameters ask (`instance_drift`)."""
    p = ctx.p
    check_params(p)
    name = names.db_instance(p)
    found = engine.find_one(ctx, "db_instance", name)
    sg_id = _db_security_group(ctx) if found is None and not ctx.dry_run else ""
    version = resolve_engine_version(ctx) if found is None else found.raw.get("EngineVersion", "")
    ensure_log_export_groups(ctx, name, log_exports(p))   # before RDS makes them untagged, kept forever
    rec = engine.ensure(ctx, "db_instance", name, step=STEP, found=found, lookup=False, wait_ready=False,
                        create=lambda: _instance_arguments(p, sg_id, version))
    if found is not None:
        _converge_instance(ctx, found.raw)
    elif rec.action == "created":
        progress_mod.started(f"RDS instance {name} ({p.rds_engine} {version})", "15-20 minutes" if p.multi_az else
                             "5-10 minutes", "the restore drill's snapshot and 08's data move need it")
    return rec


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


def _converge_instance(ctx: Context, db: dict[str, Any]) -> Resource | None:
    name = db["DBInstanceIdentifier"]
    changes = instance_drift(db, ctx.p)
    if not changes:
        return None
    label = f"{name} ({', '.join(sorted(changes))})"
    if ctx.dry_run:
        return ctx.note(STEP, "db_instance_settings", label, name, "would update")
    if db["DBInstanceStatus"] != "available":
        # ModifyDBInstance needs an available instance; the next run applies it.
        return ctx.note(STEP, "db_instance_settings", label, name, f"pending ({db['DBInstanceStatus']})")
    ctx.client("rds").modify_db_instance(DBInstanceIdentifier=name, ApplyImmediately=True, **changes)
    return ctx.note(STEP, "db_instance_settings", label, name, "updated")


def wait_db_available(ctx: Context, progress: ProgressFn | None = None, identifier: str | None = None, *,
                      needed: bool = False) -> dict[str, Any] | None:
    """Wait with the db_instance_available waiter, showing each poll; returns the fresh description.
    Bounded by the cell: when its time is up first, the wait ends cleanly (None, and it says so; the
    instance goes on in AWS) or, `needed`, raises progress.StillWaiting for the caller that cannot go on
    without it (a rerun of the notebook picks it up)."""
    identifier = identifier or names.db_instance(ctx.p)
    if ctx.dry_run and describe_db(ctx, identifier) is None:
        print(f"dry run: {identifier} does not exist, nothing to wait for")
        return None
    if needed:
        wait_db(ctx, identifier, progress)
    elif not progress_mod.ended_early(lambda: wait_db(ctx, identifier, progress),
                                      then="the next cell that needs it waits for it again"):
        return None
    db = describe_db(ctx, identifier)
    return _settings_in_force(ctx, db, progress) if db and not ctx.dry_run else db


MOVED_AT = "workbook:moved-at"   # dbmove's ledger tag: the data is there


def _settings_in_force(ctx: Context, db: dict[str, Any], progress: ProgressFn | None) -> dict[str, Any]:
    """AWS asks for 5 minutes between a parameter group's creation or change and the first instance that
    uses it (ModifyDBParameterGroup's reference); 03 makes both at once, so the instance can start with the
    group's settings pending a reboot (the TLS requirement among them). While no data is there a reboot
    costs nothing and puts them in force; after the move it would interrupt production, so it is said."""
    pending = [g["DBParameterGroupName"] for g in db.get("DBParameterGroups", [])
               if g.get("ParameterApplyStatus") == "pending-reboot"]
    if not pending or db.get("DBInstanceStatus") != "available":
        return db
    ident = db["DBInstanceIdentifier"]
    if any(t.get("Key") == MOVED_AT for t in db.get("TagList", [])):
        print(f"note: {ident}'s parameter group {', '.join(pending)} has settings pending a reboot; it holds "
              "production data now, so reboot it in a maintenance window (they are not in force until then)")
        return db
    print(f"{ident} started before its parameter group's settings were applied (AWS asks for 5 minutes between "
          "the group and the instance): rebooting it, with no data in it yet, puts them in force")
    ctx.client("rds").reboot_db_instance(DBInstanceIdentifier=ident)
    ctx.note(STEP, "db_instance", ident, ident, "rebooted (parameter group settings put in force)")
    wait_db(ctx, ident, progress)
    return describe_db(ctx, ident) or db


def ensure_db_instance(ctx: Context, progress: ProgressFn | None = None) -> Resource:
    """Create (or find) and wait: for callers that do not overlap the wait with other work."""
    r = start_db_instance_create(ctx)
    if not engine.is_placeholder(r.id):
        wait_db_available(ctx, progress)
    return r


# ---- what the reader looks at while RDS works --------------------------------------------------
def parameter_group_table(ctx: Context) -> pd.DataFrame:
    """The production settings: wanted value, value in the group, why."""
    p = ctx.p
    try:
        current = _user_parameters(ctx, names.db_parameter_group(p))
    except ClientError as e:
        if not engine.missing(e):
            raise
        current = {}
    return pd.DataFrame([{"parameter": k, "wanted": v, "in group": current.get(k, "(not set)"), "apply": how,
                          "why": why} for k, (v, how, why) in DB_PARAMETERS[p.rds_engine].items()])


def db_secret_arn(ctx: Context) -> str:
    """The managed master secret's ARN, read from describe_db_instances every time (it changes on
    sandbox replay, and RDS may replace it)."""
    db = describe_db(ctx, names.db_instance(ctx.p))
    return (db or {}).get("MasterUserSecret", {}).get("SecretArn", "")


def describe_db_secret(ctx: Context) -> pd.DataFrame:
    """Where the master password lives, without its value (DescribeSecret never returns it)."""
    arn = db_secret_arn(ctx)
    if not arn:
        return pd.DataFrame([{"property": "secret", "value": "none yet (the instance does not exist)"}])
    s = ctx.client("secretsmanager").describe_secret(SecretId=arn)
    rules = s.get("RotationRules", {})
    rotation = (f"every {rules['AutomaticallyAfterDays']} days" if rules.get("AutomaticallyAfterDays")
                else rules.get("ScheduleExpression", "on")) if s.get("RotationEnabled") else \
        ctx.gap("secret_rotation") or "off"
    rows = {
        "secret name": s.get("Name", ""),
        "owned by": s.get("OwningService", "") or tagging.as_dict(s.get("Tags")).get(
            "aws:secretsmanager:owningService", ""),
        "encrypted with KMS key": s.get("KmsKeyId", "") or "aws/secretsmanager (default)",
        "rotation": rotation,
        "last changed": str(s.get("LastChangedDate", "")),
        "value": "never shown: the app reads it at run time with secretsmanager:GetSecretValue",
    }
    return pd.DataFrame([{"property": k, "value": v} for k, v in rows.items()])


def backup_settings(ctx: Context) -> pd.DataFrame:
    """Backups and patching as asked (parameters) and as RDS reports them (when the instance exists)."""
    p = ctx.p
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


def instance_summary(ctx: Context) -> pd.DataFrame:
    """Where the app connects and how the instance stands (no credentials: those stay in the secret)."""
    p = ctx.p
    d = describe_db(ctx, names.db_instance(p))
    if d is None:
        return pd.DataFrame([{"property": "instance", "value": f"{names.db_instance(p)} does not exist"}])
    endpoint = d.get("Endpoint") or {}
    standby = d.get("SecondaryAvailabilityZone") or (
        (ctx.gap("rds_standby_az") or "not reported yet") if d.get("MultiAZ") else "none (single-AZ)")
    rows = {
        "identifier": d["DBInstanceIdentifier"], "status": d["DBInstanceStatus"],
        "engine": f"{d['Engine']} {d['EngineVersion']}", "class": d["DBInstanceClass"],
        "storage": f"{d.get('AllocatedStorage')} GiB {d.get('StorageType', '')}, "
                   f"{'encrypted' if d.get('StorageEncrypted') else 'NOT encrypted'}",
        "endpoint": f"{endpoint.get('Address', '(not yet)')}:{endpoint.get('Port', p.db_port)}",
        "database / user": f"{d.get('DBName', '')} / {d.get('MasterUsername', '')}",
        "primary AZ": d.get("AvailabilityZone", ""),
        "standby AZ": standby,
        "publicly accessible": d.get("PubliclyAccessible"),
        "password": "in Secrets Manager (managed by RDS), never shown",
    }
    return pd.DataFrame([{"property": k, "value": str(v)} for k, v in rows.items()])


# ---- the step ------------------------------------------------------------------------------------
def apply(ctx: Context, progress: ProgressFn | None = None) -> pd.DataFrame:
    """Subnet group, parameter group, the instance (created or brought to the parameters). Not waited
    for (15-20 minutes Multi-AZ): it goes on in AWS while the workshop goes on; what needs it waits
    (`wait_db_available`, the drill, 08's data move)."""
    check_params(ctx.p)
    mark = len(ctx.resources)
    ensure_db_subnet_group(ctx)
    ensure_db_parameter_group(ctx)
    start_db_instance_create(ctx)
    return ctx.resources_frame(mark)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do (creates nothing)."""
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def verify(ctx: Context) -> pd.DataFrame:
    """The database checks (group "database") on the stack's inventory."""
    return checks.run(inventory.Inventory(ctx, ctx.p.stack_name), ctx.p, groups=["database"])


def destroy(ctx: Context) -> pd.DataFrame:
    """What this step created, in the kinds' deletion order: the drill instance and the stack's
    instance (the db_instance kind's delete: deletion protection off, a final snapshot when
    keep_final_snapshot, dated when that name is taken), the manual snapshot, the groups. A final
    snapshot, this teardown's or an earlier one's, is kept: it is the data. Safe to run twice;
    `destroy(ctx.replace(keep_final_snapshot=False))` leaves no new final snapshot."""
    final = names.db_snapshot(ctx.p, "final")

    def keep(it: engine.Item) -> str:
        return "kept (final snapshot)" if it.kind == "db_snapshot" and it.name.startswith(final) else ""
    return destroy_kinds(ctx, STEP_INFO, keep=keep)
