"""08_cutover_compare: move the data, cut over, and measure before against after.

The logic lives in workbook/dbmove.py (the move and its verification), workbook/probe.py (client-side
evidence with a fault) and workbook/metrics.py (CloudWatch -> pandas, the comparison); this module
declares the step and the IAM actions those modules call, so the workbook's least-privilege policy
covers them.
"""
from __future__ import annotations

from . import Step, register

STEP = "08_cutover_compare"

STEP_INFO = register(Step(
    STEP, "Move the database, cut over, compare before and after",
    "The article: a development server that hosts the database makes backups, redundancy and independent "
    "scaling hard, and production must stay available. The data moves into the managed database with a "
    "checked copy, traffic moves to the load balancer, and the same fault is measured on both: the dev "
    "server going down takes the service with it; one app server of two going down does not.",
    permissions=(
        # staging bucket for the dump (dbmove.ensure_dump_bucket, upload/download)
        "s3:CreateBucket", "s3:ListBucket", "s3:PutBucketPublicAccessBlock", "s3:PutEncryptionConfiguration",
        "s3:PutBucketPolicy", "s3:PutBucketTagging", "s3:PutObject", "s3:GetObject",
        # dump/restore on the instances (aws mode) and what finds them
        "ssm:SendCommand", "ssm:GetCommandInvocation", "ec2:DescribeInstances", "rds:DescribeDBInstances",
        "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        # faults the probe injects (only the one chosen by the `fault` parameter is called)
        "ec2:StopInstances", "autoscaling:TerminateInstanceInAutoScalingGroup", "rds:RebootDBInstance",
        # evidence
        "cloudwatch:PutMetricData", "cloudwatch:GetMetricData", "cloudwatch:ListMetrics",
    )))


# ---- what the notebook calls (thin: the work is in dataplane, dbmove, probe, metrics) --------------
from typing import Any  # noqa: E402

import pandas as pd  # noqa: E402

from .. import names  # noqa: E402
from ..connect import Context  # noqa: E402
from ..params import Params  # noqa: E402


def prerequisites(ctx: Context, p: Params) -> pd.DataFrame:
    """What the move and the comparison need, found in the account (never created here)."""
    from ..sandbox.dataplane import resolve
    found = resolve(ctx, p)
    rows = [("dev instance (00_setup)", p.dev_tag, (found["dev"] or {}).get("instance_id", "")),
            ("RDS instance (03_database)", names.db_instance(p), (found["rds"] or {}).get("endpoint", "")),
            ("Auto Scaling group (04_compute)", names.asg(p),
             ", ".join((found["asg"] or {}).get("instance_ids", []))),
            ("load balancer (04_compute)", names.alb(p), (found["lb"] or {}).get("dns_name", ""))]
    return pd.DataFrame([{"needs": n, "name": k, "found": v or "MISSING"} for n, k, v in rows])


def data_plane(ctx: Context, p: Params) -> pd.DataFrame:
    """Sandbox: start the local stand-ins (processes, databases, load balancer). aws: the instances
    serve by themselves; show the target group's health as the ALB sees it."""
    if ctx.sandbox:
        from ..sandbox import dataplane
        ctx.workaround("moto runs nothing: local processes stand in for the dev instance, the RDS instance, "
                       "the group's instances and the load balancer (workbook.sandbox.dataplane)")
        return dataplane.start(ctx, p)
    elb = ctx.client("elbv2")
    tg = elb.describe_target_groups(Names=[names.target_group(p)])["TargetGroups"][0]
    health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    return pd.DataFrame([{"instance": h["Target"]["Id"], "port": h["Target"].get("Port"),
                          "state": h["TargetHealth"]["State"], "reason": h["TargetHealth"].get("Reason", "")}
                         for h in health])


def cutover(ctx: Context, p: Params) -> pd.DataFrame:
    """Where clients went before and go now, and which database each answer came from: every app
    server behind the load balancer must answer from the RDS database, none from the dev one."""
    from .. import probe
    import json
    import urllib.request
    dev_url, lb_url = probe.endpoint_url(ctx, p, "dev"), probe.endpoint_url(ctx, p, "lb")
    rds_db = dev_db = ""
    if ctx.sandbox:
        from ..sandbox import dataplane
        import psycopg
        for kind in ("rds", "dev"):
            with psycopg.connect(dataplane.database_uri(kind)) as conn:
                sysid = str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
            rds_db, dev_db = (sysid, dev_db) if kind == "rds" else (rds_db, sysid)
    rows = []
    for who, url in (("before: dev instance", dev_url), *[(f"after: load balancer #{i + 1}", lb_url)
                                                         for i in range(max(2, p.desired_capacity))]):
        try:
            with urllib.request.urlopen(url + p.health_check_path, timeout=5) as r:
                h = json.loads(r.read())
        except (OSError, ValueError) as e:
            h = {"status": f"no answer ({type(e).__name__})"}
        db = h.get("database", "")
        rows.append({"endpoint": who, "url": url, "status": h.get("status"), "instance": h.get("instance", ""),
                     "database": "RDS" if db and db == rds_db else "dev (on the instance)" if db and db == dev_db
                     else db or "-"})
    return pd.DataFrame(rows)


def cloudwatch_evidence(ctx: Context, p: Params, before: Any, after: Any) -> pd.DataFrame:
    """AWS/EC2, AWS/ApplicationELB, AWS/RDS of the stack over both probe runs, one tidy frame; the
    dev instance's rows are phase "before", the production resources' rows phase "after"."""
    from .. import metrics
    from ..probe import _dev_instance_id
    if ctx.sandbox:
        from ..sandbox import dataplane
        dataplane.flush()  # publish the partial minute now instead of at the next period
    start, end = metrics.window(before, after, pad_s=120)
    try:
        dev_id = p.dev_instance_id or _dev_instance_id(ctx, p)
    except LookupError:
        dev_id = ""
    df = metrics.read_aws(ctx, p, start, end)
    df["phase"] = df["dimensions"].eq(f"InstanceId={dev_id}").map({True: "before", False: "after"})
    return df


def verify(move: Any, before: Any, after: Any) -> pd.DataFrame:
    """The claims the evidence supports, each PASS or FAIL with the measured figure."""
    sb, sa = before.summary(), after.summary()
    rows = [
        ("CUTOVER.DATA", "every table arrived with the same rows and checksum", move.ok,
         f"{int(move.verification['rows_rds'].sum())} rows in {len(move.verification)} tables"),
        ("CUTOVER.FREEZE", "no write was accepted by dev during the move", move.write_during_freeze.startswith("HTTP 503")
         or "aws mode" in move.write_during_freeze, f"{move.write_during_freeze}; freeze "
         f"{move.timings.get('write_freeze_s', float('nan')):.2f} s"),
        ("CUTOVER.DEV_SPOF", "the dev instance stopping takes the service down (before)",
         sb.get("ok_in_last_second", 1) == 0, f"served in the last second: {100 * sb.get('ok_in_last_second', 0):.0f}%"),
        ("CUTOVER.HA", "one app server dying does not take the service down (after)",
         sa.get("ok_in_last_second", 0) == 1, f"served in the last second: {100 * sa.get('ok_in_last_second', 0):.0f}%; "
         f"failing for {sa.get('disruption_s', float('nan')):.1f} s after the fault"),
    ]
    return pd.DataFrame([{"id": i, "title": t, "status": "PASS" if ok else "FAIL", "detail": d}
                         for i, t, ok, d in rows], columns=["id", "title", "status", "detail"])
