"""08_cutover_compare: move the data, cut over, and measure before against after.

The work is in workbook/dbmove.py (the move and its verification), workbook/probe.py (client-side
evidence with a fault) and workbook/metrics.py (CloudWatch -> pandas, the comparison); what serves is
reached through the target's data plane (`ctx.target.dataplane`, workbook/dataplane.py), the same calls
on a real account and in the sandbox. This module declares the step (its one kind: the S3 bucket that
stages the dump) and the IAM actions those modules call, so the workbook's least-privilege policy
covers them, and holds the notebook's thin calls.
"""
from __future__ import annotations

import json
import math
import urllib.request
from typing import Any

import pandas as pd

from .. import dbengine, dbmove, engine, names, progress, quoting
from ..connect import Context
from . import Step, destroy_kinds, register

STEP_ID = "08_cutover_compare"

STEP = register(Step(
    STEP_ID, "Move the database, cut over, compare before and after",
    "The article: a database on the development server makes backups, redundancy and scaling each tier on "
    "its own hard, and production has to stay up. The data moves into the managed database with a checked "
    "copy, traffic moves to the load balancer, and the same fault is measured on both: the dev server going "
    "down takes the service with it; one app server of two going down does not.",
    short="Cutover", module="cutover",
    # the staging bucket of the dump (dbmove.ensure_dump_bucket); the app's own database user's secret and the
    # dev host's move role and profile (dbmove_hosts)
    kinds=("s3_bucket", "secret", "iam_role", "instance_profile"),
    permissions=(
        # the dump through the bucket, and its wait (HeadBucket is s3:ListBucket)
        "s3:PutObject", "s3:GetObject", "s3:ListBucket",
        # dump/restore on the instances and what finds them (data plane: resolve, endpoints; dbengine)
        "ssm:SendCommand", "ssm:GetCommandInvocation", "ssm:ListCommands",   # ListCommands: one still running
        "ssm:DescribeInstanceInformation", "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups", "rds:DescribeDBInstances",
        # the dev host's profile for the move (attached and detached again), the app role's read permission
        # while the move runs, the move ledger on the RDS instance's tags, the app user's password
        "ec2:DescribeIamInstanceProfileAssociations", "ec2:AssociateIamInstanceProfile",
        "ec2:DisassociateIamInstanceProfile", "iam:ListAttachedRolePolicies", "iam:DeleteRolePolicy",
        "rds:ListTagsForResource", "rds:AddTagsToResource", "secretsmanager:GetRandomPassword",
        "secretsmanager:RestoreSecret", "secretsmanager:PutSecretValue",   # a rebuild within the recovery window
        "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
        # the probe's URLs: the certificate of domain_name issued, the API's endpoint (entry=api_gateway)
        "acm:ListCertificates", "apigateway:GET",
        # the cutover and its rollback: domain_name pointed at the way in (05's alias record, its zone and the
        # ALB found by tag) and put back; the record replaced is kept in the stack's ledger (SSM parameter)
        "route53:ListHostedZones", "route53:ListTagsForResource", "route53:ListResourceRecordSets",
        "route53:ChangeResourceRecordSets", "route53:GetChange", "elasticloadbalancing:DescribeTags",
        "ssm:GetParameter", "ssm:PutParameter",
        # a name moved from the ALB to the API (entry changed): the ALB's 0.0.0.0/0 ingress goes then
        "ec2:DescribeSecurityGroupRules", "ec2:RevokeSecurityGroupIngress",
        # faults the probe injects (only the one chosen by the `fault` parameter is called)
        # (stop_dev: started again after; kill_app_instance: a crash, EC2 terminate of one group instance)
        "ec2:StopInstances", "ec2:StartInstances", "ec2:TerminateInstances", "rds:RebootDBInstance",
        "ec2:DescribeInstanceStatus",   # the stopped dev host booted again (status checks)
        # evidence
        "cloudwatch:PutMetricData", "cloudwatch:GetMetricData",
        # the servers moved onto the app's own user (04's units: the role's policy, a template version,
        # an instance refresh of the group)
        "iam:GetRolePolicy", "iam:PutRolePolicy", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions",
        "ec2:CreateLaunchTemplateVersion", "ec2:DescribeSubnets", "ec2:DescribeImages",
        "autoscaling:StartInstanceRefresh", "autoscaling:DescribeInstanceRefreshes",
    )))


def prerequisites(ctx: Context) -> pd.DataFrame:
    """What the move and the comparison need, found in the account (never created here)."""
    p = ctx.p
    found = ctx.target.dataplane.resolve(ctx)
    rows = [("dev instance (00_setup)", p.dev_tag, (found["dev"] or {}).get("instance_id", "")),
            ("RDS instance (03_database)", names.db_instance(p), (found["rds"] or {}).get("endpoint", "")),
            ("Auto Scaling group (04_compute)", names.asg(p),
             ", ".join((found["asg"] or {}).get("instance_ids", []))),
            ("load balancer (04_compute)", names.alb(p), (found["lb"] or {}).get("dns_name", ""))]
    # The move copies the dev database with its own engine's tools: RDS must run the same engine.
    engine, evidence, _ = dbengine.detect(ctx)
    rows += [("the dev host's database engine (01_assess)", "workbook:dev-db tag or database port",
              f"{engine} ({evidence})" if engine else ""),
             ("the RDS engine (03_database)", "db_engine", (found["rds"] or {}).get("engine", ""))]
    return pd.DataFrame([{"needs": n, "name": k, "found": v or "MISSING"} for n, k, v in rows])


def data_plane(ctx: Context) -> pd.DataFrame:
    """Make what exists serve, and show it: on a real account the instances serve by themselves (the
    target group's health as the load balancer sees it); the sandbox starts its local stand-ins. The
    RDS instance must be available (its endpoint exists only then): waited for, bounded by the cell."""
    from . import database
    database.wait_db_available(ctx, needed=True)
    return ctx.target.dataplane.start(ctx)


class RollbackRefused(RuntimeError):
    """A rollback that would leave production's writes behind without being told to."""


def servers_log_in_as_the_app(ctx: Context) -> pd.DataFrame:
    """The move made the app's own database user (its tables only, no DDL, its own secret): the servers
    still log in as the master user their launch template names. 04's units point the template at the
    app's secret, replace the servers with an instance refresh (each new one healthy before an old one
    goes), and only then narrow the role to that secret. What changed; nothing on a rerun."""
    from . import compute
    mark = len(ctx.resources)
    compute.ensure_instance_role(ctx)          # the old servers' secret stays readable until they are gone
    compute.ensure_launch_template(ctx)
    if compute.roll_out(ctx) is not None and not ctx.dry_run:
        compute.ensure_instance_role(ctx)
    df = ctx.resources_frame(mark)
    return df[df.action != "exists"].reset_index(drop=True)


# An alias record answers with its target's TTL: 60 s for a load balancer's or API Gateway's name.
ALIAS_TTL_S = 60


def wait_for_old_answers(ctx: Context, record_id: str) -> None:
    """Resolvers may go on answering with the record the cutover replaced for its TTL after the switch,
    and the clients they answer reach the dev host: its database stays read-only until then, or their
    writes would land where production no longer reads. The switch's moment is kept in the stack's
    ledger (the wall clock on AWS), so a rerun or the next cell waits only what is left of the TTL."""
    entry = engine.ledger(ctx).get("dns_record", {}).get(record_id) or {}
    previous = entry.get("previous")
    if not previous:
        return    # the name answered nothing before: no resolver sends anyone to the dev host by it
    ttl = int(previous.get("TTL") or ALIAS_TTL_S)
    gap = ctx.gap("dns_cache")
    if gap:
        print(f"note: {gap}")
        return
    at = entry.get("switched_at")
    if at is None:    # this run switched the name (or a run that did stopped before writing this down)
        at = ctx.clock.stamp()
        engine.remember(ctx, "dns_record", record_id, entry.get("step", STEP_ID),
                        **{k: v for k, v in entry.items() if k != "step"}, switched_at=at)
    left = ttl - (ctx.clock.stamp() - at)
    if left <= 0:
        return
    print(f"DNS: resolvers may answer with the replaced record (TTL {ttl} s) for {left:.0f} s more: the dev "
          "database stays read-only until then, so no client they send there writes what production would not see")
    delay = min(30.0, left)
    progress.poll(lambda: ttl - (ctx.clock.stamp() - at) <= 0, f"the replaced record's TTL ({ttl} s) to run out",
                  delay=delay, max_attempts=math.ceil(left / delay) + 2, sleep=ctx.clock.sleep,
                  then="run the cutover again: it lifts the freeze once the TTL has passed since the switch")


def cutover(ctx: Context) -> pd.DataFrame:
    """Clients move, once the data has (the move ledger on the RDS instance): domain_name is pointed at the
    way in (05's alias record; the record it replaces is saved in the stack's ledger), and the dev
    database's write freeze is lifted (it is a development database again). Then where clients went
    before and go now, and which database each answer came from: every app server behind the load
    balancer must answer from the RDS database, none from the dev one."""
    from . import edge
    p, plane = ctx.p, ctx.target.dataplane
    if not dbmove.moved(ctx):
        raise dbmove.NotReady(f"{names.db_instance(p)} holds no moved database (run the move first): clients are "
                              "not switched to a database that does not have the data")
    switched = edge.ensure_alias_record(ctx)
    if not p.domain_name:
        print("DNS: no domain_name, so no record changes: give clients the way in below")
    elif switched.action.startswith("would"):
        # The name still sends clients to the dev host: its database stays read-only, or their writes
        # would land where production no longer reads.
        print(f"DNS: {p.domain_name} is not pointed: its zone or the way in does not exist (run 05_edge, then "
              "this again). The dev database's write freeze stays until the name is pointed.")
    else:
        print(f"DNS: {p.domain_name} -> the way in ({switched.action}); the record it replaced is kept for a "
              "rollback and the teardown")
    if p.domain_name and not switched.action.startswith("would"):
        dbmove.mark_cut_over(ctx)   # from here a freeze still on is the cutover's or a rollback's to lift
        wait_for_old_answers(ctx, switched.id)
        # A name moved from the ALB to the API: the ALB's opening to anywhere goes once its answers expire.
        edge.close_alb_to_anywhere(ctx, settle_s=ALIAS_TTL_S if switched.action == "updated" else 0)
    if not (p.domain_name and switched.action.startswith("would")):
        print(f"dev database: write freeze lifted ({dbmove.unfreeze_dev(ctx)}); what is written there from now on "
              "is not production's (a rollback compares it)")
    dev_url, lb_url = plane.endpoint_url(ctx, "dev"), plane.endpoint_url(ctx, "lb")
    rds_db, dev_db = plane.database_identity(ctx, "rds"), plane.database_identity(ctx, "dev")
    rows = []
    for who, url in (("before: dev instance", dev_url), *[(f"after: load balancer #{i + 1}", lb_url)
                                                         for i in range(max(2, p.desired_capacity))]):
        try:
            with urllib.request.urlopen(quoting.join_url(url, p.health_check_path), timeout=5) as r:
                h = json.loads(r.read())
        except (OSError, ValueError) as e:
            h = {"status": f"no answer ({type(e).__name__})"}
        db = h.get("database", "")
        rows.append({"endpoint": who, "url": url, "status": h.get("status"), "instance": h.get("instance", ""),
                     "database": "RDS" if db and db == rds_db else "dev (on the instance)" if db and db == dev_db
                     else db or "-"})
    return pd.DataFrame(rows)


def _writes_since_cutover(v: pd.DataFrame) -> tuple[list[str], list[str]]:
    """From a rerun's verification (dbmove: RDS now against what was moved, dev now against it): the
    tables production wrote since the move, and those written on dev since, each with its row change."""
    def delta(now: Any, then: Any) -> str:
        return f"{int(now) - int(then):+d} rows" if pd.notna(now) and pd.notna(then) else "new or dropped"
    rds = [f"{r.table}: {delta(r.rows_now, r.rows_rds)}" for r in v.itertuples()
           if getattr(r, "since_move", "-") not in ("unchanged", "-")]
    dev = [f"{r.table}: {delta(r.rows_dev, r.rows_rds)}" for r in v.itertuples() if not r.match]
    return rds, dev


def _writes_during_switch_back(ctx: Context, known: list[str]) -> list[str]:
    """For the alias's TTL after the old record is back, resolvers may still answer with the alias and send
    clients to the way in, whose writes land in RDS after the rollback checked it: that time is waited out,
    then RDS is compared again, and what arrived meanwhile is listed (it stays in RDS)."""
    print(f"DNS: resolvers may answer with the cutover's alias for {ALIAS_TTL_S} s more: waiting that out, then "
          "RDS is compared again for writes made meanwhile")
    ctx.clock.sleep(ALIAS_TTL_S)
    now, _ = _writes_since_cutover(dbmove.move(ctx).verification)
    return [w for w in now if w not in known]


def rollback(ctx: Context, *, leave_writes_in_rds: bool = False) -> pd.DataFrame:
    """Clients back to the dev host: domain_name's old record put back (or the cutover's alias deleted),
    the dev database writable. Writes made in RDS since the cutover do not travel back to dev: by default
    the rollback is refused when there are any, naming the tables; with leave_writes_in_rds=True it goes
    on and lists them (they stay in RDS; nothing is deleted). Writes made on dev since are listed too."""
    from . import edge
    p, rows, rds_new = ctx.p, [], []
    if dbmove.moved(ctx):
        rds_new, dev_new = _writes_since_cutover(dbmove.move(ctx).verification)   # verifies; restores nothing
        if rds_new and not leave_writes_in_rds:
            raise RollbackRefused(
                f"production wrote since the cutover ({'; '.join(rds_new)}): rolling back would send clients to a "
                "dev database without those writes. Nothing was changed. Copy them to dev first, or call "
                "rollback(ctx, leave_writes_in_rds=True) (python -m workbook rollback --leave-writes-in-rds) to roll "
                "back anyway (they stay in RDS, listed)")
        rows += [("writes in RDS since cutover", "; ".join(rds_new) + ": they stay in RDS, not copied to dev"
                  if rds_new else "none: dev holds everything production has"),
                 ("writes on dev since cutover", "; ".join(dev_new) + " (kept on dev)" if dev_new else "none")]
    else:
        rows.append(("writes in RDS since cutover", "none: nothing was moved, so clients never used RDS"))
    rows.append(("DNS", edge.restore_alias_record(ctx)))
    if dbmove.moved(ctx) and p.domain_name:
        gap = ctx.gap("dns_cache")
        late = [] if gap else _writes_during_switch_back(ctx, rds_new)
        rows.append(("writes in RDS during the switch back", f"not checked: {gap}" if gap else
                     "; ".join(late) + ": they stay in RDS, not copied to dev" if late else "none"))
    rows.append(("dev database", f"write freeze: {dbmove.unfreeze_dev(ctx)}"))
    try:
        rows.append(("clients", f"go to the dev host: {ctx.target.dataplane.endpoint_url(ctx, 'dev')}"))
    except LookupError as e:
        rows.append(("clients", f"the dev host cannot be reached from here: {e}"))
    return pd.DataFrame([{"what": w, "detail": d} for w, d in rows])


def cloudwatch_evidence(ctx: Context, before: Any, after: Any) -> pd.DataFrame:
    """AWS/EC2, AWS/ApplicationELB, AWS/RDS of the stack over both probe runs, one tidy frame; the
    dev instance's rows are phase "before", the production resources' rows phase "after"."""
    from .. import metrics
    plane = ctx.target.dataplane
    plane.flush()   # what the data plane still holds is published now, not at its next period
    start, end = metrics.window(before, after, pad_s=120)
    try:
        dev_id = plane.dev_instance_id(ctx)
    except LookupError:
        dev_id = ""
    delivered_by = metrics.window(after, pad_s=0)[1]   # the probe's last second: CloudWatch is a minute late
    df = metrics.read_aws(ctx, ctx.p, start, end, delivered_by=delivered_by)
    df["phase"] = df["dimensions"].eq(f"InstanceId={dev_id}").map({True: "before", False: "after"})
    return df


def verify(move: Any, before: Any, after: Any) -> pd.DataFrame:
    """The claims the evidence supports, each PASS or FAIL with the measured figure."""
    sb, sa = before.summary(), after.summary()
    rows_moved = int(move.verification["rows_rds"].fillna(0).sum()) if len(move.verification) else 0
    data = (f"already moved at {move.moved_at}: the dev database still holds what was moved ({rows_moved} rows in "
            f"{len(move.verification)} tables); nothing restored, production's writes since kept"
            if move.already_moved else
            f"{rows_moved} rows in {len(move.verification)} tables ({move.engine})")
    rows = [
        ("CUTOVER.DATA", "every table arrived with the same rows and checksum", move.ok, data),
        ("CUTOVER.FREEZE", "no write was accepted by dev during the move", move.freeze_held,
         f"{move.write_during_freeze}" + (f"; freeze {move.timings['write_freeze_s']:.2f} s"
                                          if "write_freeze_s" in move.timings else "")),
        ("CUTOVER.DEV_SPOF", "the dev instance stopping takes the service down (before)",
         sb.get("ok_in_last_second", 1) == 0, f"served in the last second: {100 * sb.get('ok_in_last_second', 0):.0f}%"),
        ("CUTOVER.HA", "one app server dying does not take the service down (after)",
         sa.get("ok_in_last_second", 0) == 1, f"served in the last second: {100 * sa.get('ok_in_last_second', 0):.0f}%; "
         f"failing for {sa.get('disruption_s', float('nan')):.1f} s after the fault"
         + (f"; the probe ran {after.fault_info['covers_s']:g} s past the fault, which takes about "
            f"{after.fault_info['settle_s']:g} s to play out" if "covers_s" in after.fault_info else "")),
    ]
    # A fault that was not injected (a dev instance that is not the stack's, no dev_fault_stop) measured nothing.
    refused = {"CUTOVER.DEV_SPOF": before.fault_info.get("refused"), "CUTOVER.HA": after.fault_info.get("refused")}
    return pd.DataFrame([{"id": i, "title": t, "status": "NOT MEASURED" if refused.get(i) else "PASS" if ok else "FAIL",
                          "detail": f"fault not injected: {refused[i]}" if refused.get(i) else d}
                         for i, t, ok, d in rows], columns=["id", "title", "status", "detail"])


def destroy(ctx: Context) -> pd.DataFrame:
    """The staging bucket (with the dumps in it), by the stack's and the step's tags; first, a write freeze
    the move left on the dev database is lifted unless clients were cut over (dbmove.lift_left_freeze)."""
    mark = len(ctx.resources)
    dbmove.lift_left_freeze(ctx, STEP_ID)
    destroy_kinds(ctx, STEP)
    return ctx.resources_frame(mark)
