"""Database controls (group "database"): Security Hub FSBP RDS.* where one exists, else ARTICLE.*.

They look at the stack's RDS instances from the inventory, leaving out the short-lived restore-drill
instance (it is single-AZ and unprotected on purpose, and gone minutes later).
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from .. import names
from ..params import Params
from . import Finding, check, not_emulated

GROUP = "database"
MIN_BACKUP_DAYS = 7          # the workbook's floor; FSBP RDS.11's default parameter is 7 as well
MIN_SUBNET_GROUP_AZS = 2
REQUIRED_LOG_EXPORTS = {"postgres": {"postgresql", "upgrade"}, "mysql": {"error", "slowquery"}}


def _instances(inv, p: Params) -> pd.DataFrame:
    df = inv.db_instances
    return df[df.id != names.db_drill(p)]


def _per_instance(inv, p: Params, test: Callable[[pd.Series], tuple[bool, str]]) -> list[Finding]:
    return [Finding(row.id, "PASS" if ok else "FAIL", detail)
            for row in _instances(inv, p).itertuples() for ok, detail in [test(row)]]


@check(id="ARTICLE.MANAGED_DATABASE", title="The stack's database is a managed RDS instance", severity="high",
       risk="A database on the app server has no managed backups, patches or standby; losing the host loses the data.",
       remediation="Run 03_database to create the RDS instance, then move the data (08_cutover_compare).",
       group=GROUP)
def managed_database(inv, p: Params) -> list[Finding]:
    df = _instances(inv, p)
    if df.empty:
        return [Finding(p.name("db"), "FAIL", f"no RDS instance tagged workbook:stack={p.stack_name}")]
    return [Finding(r.id, "PASS" if r.status == "available" else "FAIL", f"{r.engine} {r.engine_version}, {r.status}")
            for r in df.itertuples()]


@check(id="RDS.2", title="RDS DB instances should prohibit public access", severity="critical",
       risk="A publicly accessible database gets a public DNS answer and can be reached from the internet.",
       remediation="modify_db_instance(PubliclyAccessible=False) and keep it in the private-db subnets.",
       group=GROUP)
def not_public(inv, p: Params) -> list[Finding]:
    return _per_instance(inv, p, lambda r: (not r.publicly_accessible,
                                            "publicly accessible" if r.publicly_accessible else "private only"))


@check(id="RDS.3", title="RDS DB instances should have encryption at rest enabled", severity="medium",
       risk="Unencrypted storage, snapshots and backups expose the data to anyone who gets a copy.",
       remediation="Encryption cannot be turned on in place: snapshot, copy the snapshot encrypted, restore.",
       group=GROUP)
def encrypted(inv, p: Params) -> list[Finding]:
    return _per_instance(inv, p, lambda r: (r.encrypted, "storage encrypted" if r.encrypted else "not encrypted"))


@check(id="RDS.11", title=f"RDS instances should have automatic backups enabled (>= {MIN_BACKUP_DAYS} days)",
       severity="medium",
       risk="Without automated backups there is no point-in-time restore; a short retention may miss a slow-noticed "
            "corruption.",
       remediation=f"modify_db_instance(BackupRetentionPeriod={MIN_BACKUP_DAYS} or more, ApplyImmediately=True).",
       group=GROUP)
def backups(inv, p: Params) -> list[Finding]:
    def test(r) -> tuple[bool, str]:
        if r.backup_retention == 0:
            return False, "automated backups are off (retention 0 days)"
        if r.backup_retention < MIN_BACKUP_DAYS:
            return False, f"backups kept {r.backup_retention} days; the workbook asks for >= {MIN_BACKUP_DAYS}"
        return True, f"backups kept {r.backup_retention} days"
    return _per_instance(inv, p, test)


@check(id="RDS.5", title="RDS DB instances should be configured with multiple Availability Zones", severity="medium",
       risk="A single-AZ database is down for the length of an AZ outage or a host failure.",
       remediation="modify_db_instance(MultiAZ=True, ApplyImmediately=True): no downtime, about twice the price.",
       group=GROUP)
def multi_az(inv, p: Params) -> list[Finding]:
    out: list[Finding] = []
    for r in _instances(inv, p).itertuples():
        if not p.multi_az:
            out.append(Finding(r.id, "NOT_APPLICABLE", "multi_az=False was chosen (Security Hub would flag it)"))
            continue
        out.append(Finding(r.id, "PASS" if r.multi_az else "FAIL",
                           "Multi-AZ" if r.multi_az else "single-AZ although multi_az=True"))
        if not r.multi_az:
            continue
        standby = f"{r.id} standby"
        gap = None if r.secondary_az else not_emulated(inv, "rds_standby_az", standby)
        if r.secondary_az and r.secondary_az != r.az:
            out.append(Finding(standby, "PASS", f"primary {r.az}, standby {r.secondary_az}"))
        elif gap:
            out.append(gap)
        else:
            out.append(Finding(standby, "FAIL", f"standby AZ {r.secondary_az or 'not reported'}, primary {r.az}"))
    return out


@check(id="RDS.8", title="RDS DB instances should have deletion protection enabled", severity="low",
       risk="One mistaken call or console click deletes the production database.",
       remediation="modify_db_instance(DeletionProtection=True); teardown turns it off deliberately.",
       group=GROUP)
def deletion_protection(inv, p: Params) -> list[Finding]:
    return _per_instance(inv, p, lambda r: (r.deletion_protection, "on" if r.deletion_protection else "off"))


@check(id="RDS.13", title="RDS automatic minor version upgrades should be enabled", severity="high",
       risk="Security patches of the engine are not applied in the maintenance window.",
       remediation="modify_db_instance(AutoMinorVersionUpgrade=True).",
       group=GROUP)
def minor_upgrades(inv, p: Params) -> list[Finding]:
    return _per_instance(inv, p, lambda r: (r.auto_minor_version_upgrade,
                                            "on" if r.auto_minor_version_upgrade else "off"))


@check(id="RDS.9", title="RDS DB instances should publish logs to CloudWatch Logs", severity="medium",
       risk="Errors, slow queries and upgrade logs stay on the instance and are lost with it; nothing can alarm on them.",
       remediation="modify_db_instance(CloudwatchLogsExportConfiguration={'EnableLogTypes': [...]}).",
       group=GROUP)
def log_exports(inv, p: Params) -> list[Finding]:
    def test(r) -> tuple[bool, str]:
        need = REQUIRED_LOG_EXPORTS.get(r.engine, set())
        missing = sorted(need - set(r.log_exports))
        note = " (Security Hub also expects audit and general for MySQL)" if r.engine == "mysql" else ""
        return not missing, (f"missing {', '.join(missing)}" if missing else
                             f"exports {', '.join(sorted(r.log_exports))}") + note
    return _per_instance(inv, p, test)


@check(id="ARTICLE.DB_SUBNET_GROUP_AZS", title=f"DB subnet group spans >= {MIN_SUBNET_GROUP_AZS} availability zones",
       severity="high",
       risk="With subnets in one AZ there is nowhere to put a standby or to fail over to.",
       remediation="Run 02_network with az_count >= 2, then 03_database to rebuild the subnet group.",
       group=GROUP)
def subnet_group_azs(inv, p: Params) -> list[Finding]:
    return [Finding(g.id, "PASS" if len(g.azs) >= MIN_SUBNET_GROUP_AZS else "FAIL",
                    f"{len(g.azs)} AZ(s): {', '.join(g.azs)}") for g in inv.db_subnet_groups.itertuples()]


@check(id="ARTICLE.DB_MANAGED_PASSWORD", title="Master password is generated and kept by Secrets Manager",
       severity="high",
       risk="A password typed into code, a notebook or a parameter file leaks through history, logs and outputs.",
       remediation="modify_db_instance(ManageMasterUserPassword=True, ApplyImmediately=True).",
       group=GROUP)
def managed_password(inv, p: Params) -> list[Finding]:
    return _per_instance(inv, p, lambda r: (bool(r.secret_arn),
                                            "managed by RDS in Secrets Manager" if r.secret_arn
                                            else "password not managed by Secrets Manager"))
