"""The report's first screen, computed where the facts are (in the notebooks) and handed to the report
as artifacts: what was built, in one line per part, and how the service held up under the fault.

    report.artifact("built_summary", headline.built(inventory.Inventory(ctx, p.stack_name), p))
    report.artifact("availability", headline.availability(before, after, p))

The report only lays these out; it never looks at AWS or at a notebook's outputs.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from . import names
from .params import Params

ENGINES = {"postgres": "PostgreSQL", "mysql": "MySQL"}
FAULTS = {
    "none": "with no fault injected",
    "stop_dev": "while the dev host was stopped",
    "kill_app_instance": "while one of the {n} app servers was killed",
    "db_failover": "while the database failed over to its standby",
}


def _frame(inv: Any, name: str) -> pd.DataFrame:
    try:
        return inv.frame(name) if inv.has(name) else pd.DataFrame()
    except Exception:  # noqa: BLE001 - a part that cannot be read is left out, not the whole summary
        return pd.DataFrame()


def _way_in(inv: Any, p: Params) -> str:
    lbs = _frame(inv, "load_balancers")
    lb = lbs[lbs.name == names.alb(p)] if not lbs.empty else lbs
    if lb.empty:
        return ""
    scheme = "internal " if lb.iloc[0].scheme == "internal" else ""
    listeners = _frame(inv, "listeners")
    https = not listeners.empty and (listeners.protocol == "HTTPS").any()
    certs = _frame(inv, "certificates")
    cert = f", ACM certificate {certs.iloc[0].status.lower()}" if not certs.empty else ""
    records = _frame(inv, "records")
    alias = not records.empty and ((records.name == p.domain_name) & records.alias.astype(bool)).any()
    apis = _frame(inv, "apis")
    hops = []
    if p.domain_name and alias:
        hops.append(f"https://{p.domain_name} (Route 53 alias{cert})")
    if not apis.empty:
        hops.append("API Gateway" + ("" if hops else f" {apis.iloc[0].endpoint}"))
    hops.append(f"{scheme}load balancer" + (" (HTTPS, HTTP redirected)" if https else " (HTTP)"))
    if not hops[0].startswith("https://") and apis.empty:
        hops[0] = f"http://{lb.iloc[0].dns_name} ({scheme}load balancer)"
    return " → ".join(hops)


def _addresses(inv: Any, group: str) -> str:
    """What the group's instances show of public addresses ("" when none is in the inventory)."""
    inst = _frame(inv, "instances")
    mine = inst[inst.asg_name == group] if not inst.empty else inst
    if mine.empty:
        return ""
    public = int((mine.public_ip.fillna("") != "").sum())
    return f", {public} with a public address" if public else ", no public address"


def _notified(inv: Any, alarms: pd.DataFrame) -> str:
    """How many alarms notify one of the stack's topics, and who confirmed: an unconfirmed e-mail gets nothing."""
    topics = _frame(inv, "topics")
    arns = set(topics.id) if not topics.empty else set()
    notifying = sum(bool(arns & set(a or [])) for a in alarms.actions) if "actions" in alarms else 0
    if not notifying:
        return ", none notifying an SNS topic of the stack"
    used = topics[topics.id.isin({a for acts in alarms.actions for a in (acts or [])})]
    flags = [bool(c) for cs in used.get("confirmed", pd.Series(dtype=object)) for c in (cs or [])]
    confirmed, waiting = sum(flags), len(flags) - sum(flags)
    who = "all" if notifying == len(alarms) else f"{notifying} of them"
    ctx = getattr(inv, "ctx", None)
    gap = ctx.gap("sns_email_confirmation") if confirmed and ctx is not None else ""
    return (f", {who} notifying an SNS topic with {confirmed} confirmed subscriber{'s' if confirmed != 1 else ''}"
            + (f" ({waiting} awaiting confirmation)" if waiting else "") + (f" ({gap})" if gap else ""))


def _logs_kept(inv: Any) -> str:
    """The retention the stack's log groups have (0: never expire), "" when none is in the inventory."""
    groups = _frame(inv, "log_groups")
    if groups.empty:
        return ""
    kept = ["without expiry" if d == 0 else f"{d} days" for d in sorted(set(groups.retention_days.astype(int)))]
    return ", logs kept " + (kept[0] if len(kept) == 1 else " or ".join(kept) + " (by log group)")


def built(inv: Any, p: Params) -> list[dict[str, str]]:
    """One line per part of the production stack, read from its inventory (a part not built is left out)."""
    rows: list[dict[str, str]] = []

    def add(part: str, what: str) -> None:
        if what:
            rows.append({"part": part, "what": what})
    add("Way in", _way_in(inv, p))
    vpcs, subnets, nats = _frame(inv, "vpcs"), _frame(inv, "subnets"), _frame(inv, "nat_gateways")
    if not vpcs.empty:
        mine = vpcs[~vpcs.is_default.astype(bool)] if "is_default" in vpcs else vpcs
        cidr = mine.iloc[0].cidr if not mine.empty else ""
        azs = subnets.az.nunique() if not subnets.empty else 0
        live = nats[nats.state.isin(["available", "pending"])] if not nats.empty else nats
        add("Network", f"VPC {cidr} over {azs} availability zones: public, app and database subnets; "
                       f"{len(live)} NAT gateway{'s' if len(live) != 1 else ''}")
    asgs, templates = _frame(inv, "auto_scaling_groups"), _frame(inv, "launch_templates")
    if not asgs.empty:
        g = asgs.iloc[0]
        itype = templates.iloc[0].instance_type if not templates.empty else p.instance_type
        imds = ", IMDSv2 only" if not templates.empty and (templates.imds_tokens == "required").all() else ""
        add("App servers", f"{g.desired} × {itype} in an Auto Scaling group ({g['min']} to {g['max']}) across "
                           f"{len(g.azs)} zones{_addresses(inv, g.id)}{imds}")
    dbs = _frame(inv, "db_instances")
    if not dbs.empty:
        d = dbs.iloc[0]
        add("Database", f"RDS {ENGINES.get(d.engine, d.engine)} {d.engine_version} ({d.instance_class}), "
                        f"{'Multi-AZ' if d.multi_az else 'single-AZ'}, {'encrypted' if d.encrypted else 'not encrypted'}, "
                        f"{d.backup_retention} days of backups, "
                        + ("publicly accessible" if d.publicly_accessible else "private"))
    alarms, dash = _frame(inv, "alarms"), _frame(inv, "dashboards")
    if not alarms.empty:
        add("Monitoring", f"{len(alarms)} CloudWatch alarms{_notified(inv, alarms)}"
            + (", a dashboard" if not dash.empty else "") + _logs_kept(inv))
    groups, roles = _frame(inv, "iam_groups"), _frame(inv, "iam_roles")
    if not groups.empty:
        add("Access", "a developers group (reads logs and metrics; denied the database secret and logins)"
            + (", an operators role for deployments" if (not roles.empty and roles.name.str.contains("operators").any())
               else ""))
    return rows


def availability(before: Any, after: Any, p: Params) -> dict[str, Any]:
    """Availability and errors of the two probe runs (workbook.probe.ProbeRun), with the sentence that
    says what they were measured under."""
    sb, sa = before.summary(), after.summary()

    def pct(summary: dict[str, Any], key: str, digits: int = 1) -> float | None:
        return round(100 * summary[key], digits) if summary.get(key) == summary.get(key) and key in summary else None

    def fault(run_: Any) -> str:
        return FAULTS.get(run_.fault or "none", run_.fault).format(n=p.desired_capacity)
    return {
        "availability before (%)": pct(sb, "availability"), "availability after (%)": pct(sa, "availability"),
        "error rate before (%)": pct(sb, "error_rate", 2), "error rate after (%)": pct(sa, "error_rate", 2),
        "served at the end, before (%)": pct(sb, "ok_in_last_second"),
        "served at the end, after (%)": pct(sa, "ok_in_last_second"),
        "measured": (f"Measured {fault(after)} (after, at the load balancer) and {fault(before)} (before): "
                     f"{after.seconds:g} s of {after.rate} requests a second sent from the client side, the fault a third "
                     "of the way in. Availability: the share of seconds in which at least 95% of requests were served."),
    }
