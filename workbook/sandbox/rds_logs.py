"""RDS log exports in the sandbox: the log groups RDS creates itself (moto 5.2.5 creates none).

An instance created or restored with EnableCloudwatchLogsExports publishes each log type to the group
/aws/rds/instance/<instance>/<type>, which RDS creates when it is missing: untagged and kept forever (an
AWS Support answer quoted in terraform-provider-aws #5348). The sandbox does the same, so what the
workbook must do about those groups (make them first, tagged, with a retention) shows here too.
"""
from __future__ import annotations

from typing import Any

from ..connect import Context
from .corrections import correct, plain

NOTE = ("RDS log exports: moto creates no log groups; the sandbox creates /aws/rds/instance/<id>/<type> when missing, "
        "untagged, as RDS does")


@correct("rds", "CreateDBInstance", note=NOTE)
@correct("rds", "RestoreDBInstanceFromDBSnapshot", note=NOTE)
def instance_log_groups(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ident, types = params.get("DBInstanceIdentifier", ""), params.get("EnableCloudwatchLogsExports") or []
    logs, acted = plain(ctx, "logs"), False
    for t in types:
        name = f"/aws/rds/instance/{ident}/{t}"
        if not any(g["logGroupName"] == name for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]):
            logs.create_log_group(logGroupName=name)
            acted = True
    return acted
