"""Monthly cost estimate, before and after, from the dated price table shipped with the workbook.

The Pricing API is not emulated by moto, and a workshop should not need it: `prices.yaml`
holds on-demand figures per region, each with its source line and date (`price_table.py` reads it).
`estimate(inv, p)` prices what an Inventory holds in `p.region`, one row per resource: columns
`resource, name, type, count, unit_price, monthly_usd, note, step` (unit_price is per month and
unit). A resource with no figure for the region gets NaN and the note "not priced for <region>: <item>",
never another region's figure or a made-up one. Charges that follow traffic (NAT data, cross-AZ
data, flow-log ingestion, API requests) are priced at a usage the table states under `assumptions`,
and the row's note says so. Frames another engineer has not built yet are skipped via `inv.has()`.

    table = cost.before_after(ctx)     # before: the dev host 01 finds; after: the stack, without it
    report.artifact("cost", cost.totals(table))
    report.artifact("cost_explained", cost.explain(table, ctx.p))

"Before" prices the dev host that `discover_dev` finds (by `dev_instance_id` or `dev_tag`), whoever
created it, as it runs (a dev host stopped by 08's fault test still costs that when it serves).
"""
from __future__ import annotations

import math
from typing import Any, Protocol

import pandas as pd

from .params import Params
from .price_table import PRICES, PriceTable, RegionPrices, load_prices

__all__ = ["PRICES", "PriceTable", "RegionPrices", "load_prices", "COLUMNS", "estimate", "compare",
           "before_after", "totals", "explain", "region_prices"]

COLUMNS = ["resource", "name", "type", "count", "unit_price", "monthly_usd", "note", "step"]
# States in which a resource is not billed (or no longer exists).
GONE = {"terminated", "shutting-down", "deleted", "deleting", "failed"}
DRILL_TAG = "workbook:restore-drill"   # set by 03's restore drill on the snapshot it proved
RDS_MIN_HOURS = 10 / 60                # RDS bills at least 10 minutes a start
GIB = 1024 ** 3


class InventoryLike(Protocol):
    def has(self, name: str) -> bool: ...
    def frame(self, name: str) -> pd.DataFrame: ...


def region_prices(p: Params | None = None, prices: PriceTable | None = None) -> RegionPrices:
    """The figures of p.region (us-east-1 without parameters)."""
    return (prices or load_prices()).region(p.region if p is not None else "us-east-1")


def _frame(inv: InventoryLike, name: str) -> pd.DataFrame:
    return inv.frame(name) if inv.has(name) else pd.DataFrame()


def _live(df: pd.DataFrame, column: str) -> pd.DataFrame:
    if df.empty or column not in df.columns:
        return df
    return df[~df[column].astype(str).str.lower().isin(GONE)]


class _Rows:
    """The estimate's rows; a unit price of None is a row without a price that says why."""

    def __init__(self, rp: RegionPrices):
        self.rp, self.rows = rp, []

    def add(self, resource: str, name: Any, type_: str, count: float, unit: float | None, note: str = "",
            billed: float | None = None, step: str = "", label: str = "") -> None:
        """billed: units charged when fewer than count (a free allowance). label: the item named when
        the region has no figure for it."""
        if unit is None and label:
            note = self.rp.not_priced(label) + (f"; {note}" if note else "")
        units = count if billed is None else billed
        self.rows.append({"resource": resource, "name": "" if name is None else str(name), "type": type_,
                          "count": count, "unit_price": math.nan if unit is None else round(unit, 4),
                          "monthly_usd": math.nan if unit is None else round(unit * units, 2), "note": note,
                          "step": step})


def _hourly(rp: RegionPrices, key: str, *path: str, label: str) -> float | None:
    rate = rp.rate(key, *path, label=label)
    return None if rate is None else rp.monthly(rate)


def _get(r: dict[str, Any], key: str, default: Any = "") -> Any:
    v = r.get(key, default)
    return default if v is None or (isinstance(v, float) and math.isnan(v)) else v


def estimate(inv: InventoryLike, p: Params | None = None, prices: PriceTable | None = None, *,
             as_running: bool = False) -> pd.DataFrame:
    """One row per billed resource in the inventory, with its monthly price in p.region.
    as_running: a stopped instance is priced as it runs (the dev host "before", stopped by 08's test)."""
    pt = prices or load_prices()
    rp = pt.region(p.region if p is not None else "us-east-1")
    out = _Rows(rp)
    _ec2(out, inv, pt, as_running)
    _network(out, inv, pt)
    _load_balancers(out, inv, pt)
    _databases(out, inv, pt, p)
    _observability(out, inv, pt, as_running)
    _edge(out, inv, pt)
    return pd.DataFrame(out.rows, columns=COLUMNS)


def _ec2(out: _Rows, inv: InventoryLike, pt: PriceTable, as_running: bool) -> None:
    rp = out.rp
    ipv4 = _hourly(rp, "public_ipv4_hour", label="public IPv4 hour")
    addresses = _frame(inv, "addresses")
    eip_ips = set(addresses["public_ip"].dropna()) if "public_ip" in addresses.columns else set()
    subnets = _frame(inv, "subnets")
    public_subnets = set(subnets[subnets["public"].astype(bool)]["id"]) if {"id", "public"} <= set(subnets.columns) \
        else set()
    for r in _live(_frame(inv, "instances"), "state").to_dict("records"):
        itype, state, step = _get(r, "instance_type"), _get(r, "state"), _get(r, "step")
        stopped = state in ("stopped", "stopping")
        if stopped and not as_running:
            out.add(r["id"], r.get("name"), "EC2 instance", 1, 0.0, f"{itype}, {state}: no compute charge", step=step)
        else:
            unit = _hourly(rp, "ec2_instance_hour", itype, label=f"{itype} instance hour")
            note = f"{itype}, stopped now; priced as it runs" if stopped else f"{itype}, {state}"
            out.add(r["id"], r.get("name"), "EC2 instance", 1, unit, note, step=step, label=f"{itype} instance hour")
        ip = _get(r, "public_ip")
        if ip and ip not in eip_ips and not stopped:
            out.add(f"{r['id']} public IPv4", r.get("name"), "public IPv4", 1, ipv4,
                    "auto-assigned public address of the instance", step=step, label="public IPv4 hour")
        elif stopped and as_running and not ip and _get(r, "subnet_id") in public_subnets \
                and not (addresses.get("instance_id", pd.Series(dtype=str)) == r["id"]).any():
            out.add(f"{r['id']} public IPv4", r.get("name"), "public IPv4", 1, ipv4,
                    "the public address it gets in its public subnet when it runs", step=step,
                    label="public IPv4 hour")
    for r in addresses.to_dict("records"):
        attached = _get(r, "instance_id")
        out.add(r["id"], r.get("name"), "public IPv4", 1, ipv4,
                f"Elastic IP {_get(r, 'public_ip')}" + (f" on {attached}" if attached else ""), step=_get(r, "step"),
                label="public IPv4 hour")
    for r in _frame(inv, "volumes").to_dict("records"):
        vtype, size = _get(r, "volume_type") or "gp2", int(_get(r, "size", 0) or 0)
        out.add(r["id"], r.get("name"), "EBS volume", size, rp.rate("ebs_gb_month", vtype, label=f"EBS {vtype} GB-month"),
                f"{vtype} GB" + (f" on {_get(r, 'instance_id')}" if _get(r, "instance_id") else ", not attached"),
                step=_get(r, "step"), label=f"EBS {vtype} GB-month")
    for r in _frame(inv, "snapshots").to_dict("records"):
        size = int(_get(r, "volume_size", 0) or 0)
        out.add(r["id"], r.get("name"), "EBS snapshot", size,
                rp.rate("ebs_snapshot_gb_month", label="EBS snapshot GB-month"),
                f"at most {size} GB: a snapshot is billed for the blocks it stores, here taken as its volume's "
                f"size", step=_get(r, "step"), label="EBS snapshot GB-month")


def _network(out: _Rows, inv: InventoryLike, pt: PriceTable) -> None:
    rp = out.rp
    nats = _live(_frame(inv, "nat_gateways"), "state").to_dict("records")
    for r in nats:
        out.add(r["id"], r.get("name"), "NAT gateway", 1, _hourly(rp, "nat_gateway_hour", label="NAT gateway hour"),
                f"in {_get(r, 'az', '?')}; its data is the NAT data row", step=_get(r, "step"), label="NAT gateway hour")
    if not nats:
        return
    gb, step = pt.assumption("nat_gb_month"), _get(nats[0], "step")
    out.add("NAT data", ", ".join(r["id"] for r in nats), "NAT data", gb,
            rp.rate("nat_gateway_gb", label="NAT data GB"), f"assumed {gb:g} GB processed a month", step=step,
            label="NAT data GB")
    # Instances in an AZ without a NAT send their outbound traffic to another AZ's NAT (and get the
    # answers back): regional data transfer, charged in each direction.
    nat_azs = {_get(r, "az") for r in nats}
    inst = _live(_frame(inv, "instances"), "state")
    if inst.empty or "az" not in inst.columns or "asg_name" not in inst.columns:
        return
    app = inst[inst["asg_name"].fillna("").astype(str) != ""]
    if app.empty:
        return
    away = app[~app["az"].isin(nat_azs)]
    if away.empty:
        return
    share = len(away) / len(app)
    cross_gb = round(gb * share, 2)
    out.add("cross-AZ data", ", ".join(sorted(set(away["az"]))), "cross-AZ data", cross_gb,
            None if (rate := rp.rate("cross_az_gb", label="cross-AZ GB")) is None else 2 * rate,
            f"{len(away)} of {len(app)} app instances in {', '.join(sorted(set(away['az'])))} reach the NAT in "
            f"{', '.join(sorted(nat_azs))}: {cross_gb:g} of the assumed {gb:g} GB, charged each way",
            step=step, label="cross-AZ GB")


def _load_balancers(out: _Rows, inv: InventoryLike, pt: PriceTable) -> None:
    rp = out.rp
    ipv4 = _hourly(rp, "public_ipv4_hour", label="public IPv4 hour")
    for r in _live(_frame(inv, "load_balancers"), "state").to_dict("records"):
        step = _get(r, "step")
        if str(_get(r, "type", "application")) != "application":
            out.add(r["id"], r.get("name"), "load balancer", 1, None, "", step=step,
                    label=f"{_get(r, 'type')} load balancer hour")
            continue
        lcus = pt.assumption("alb_lcus")
        hour = _hourly(rp, "alb_hour", label="load balancer (ALB) hour")
        lcu = _hourly(rp, "alb_lcu_hour", label="load balancer LCU hour")
        unit = None if hour is None or lcu is None else hour + lcus * lcu
        out.add(r["id"], r.get("name"), "load balancer", 1, unit,
                f"ALB: ${hour} + {lcus:g} LCU assumed at ${lcu}" if unit is not None else "ALB", step=step,
                label="load balancer (ALB) hour")
        azs = r.get("azs") if isinstance(r.get("azs"), (list, tuple)) else []
        if _get(r, "scheme") == "internet-facing" and azs:
            out.add(f"{r['id']} public IPv4", r.get("name"), "public IPv4", len(azs), ipv4,
                    f"one address per AZ of the internet-facing ALB ({', '.join(azs)})", step=step,
                    label="public IPv4 hour")


def _databases(out: _Rows, inv: InventoryLike, pt: PriceTable, p: Params | None) -> None:
    rp = out.rp
    dbs = _live(_frame(inv, "db_instances"), "status").to_dict("records")
    provisioned = 0
    for r in dbs:
        cls, multi, engine = _get(r, "instance_class"), bool(_get(r, "multi_az", False)), _get(r, "engine") or "?"
        label, step = f"RDS {engine} {cls} hour", _get(r, "step")
        az = "multi_az" if multi else "single_az"
        out.add(r["id"], r.get("name"), "RDS instance", 1, _hourly(rp, "rds_instance_hour", engine, cls, az, label=label),
                f"{cls} {engine}, {'Multi-AZ: primary + standby' if multi else 'single-AZ'}", step=step, label=label)
        gb, source = _get(r, "allocated_storage", 0), "allocated"
        if not gb and p is not None:
            gb, source = p.db_allocated_storage, "db_allocated_storage parameter"
        if gb:
            provisioned += int(gb)
            rate = rp.rate("rds_gp3_gb_month", label="RDS storage GB-month")
            out.add(f"{r['id']} storage", r.get("name"), "RDS storage", int(gb),
                    None if rate is None else rate * (2 if multi else 1),
                    f"gp3 GB ({source})" + (", doubled for Multi-AZ" if multi else ""), step=step,
                    label="RDS storage GB-month")
    snaps = _frame(inv, "db_snapshots")
    if snaps.empty:
        return
    snaps = _live(snaps, "status")
    snap_gb = int(pd.to_numeric(snaps.get("allocated_storage", pd.Series(dtype=float)), errors="coerce").fillna(0).sum())
    free_gb = int(pt.free("rds_backup_share") * provisioned)
    if snap_gb:
        out.add("RDS backup storage", ", ".join(snaps["id"].astype(str).head(3)), "RDS backup storage", snap_gb,
                rp.rate("rds_backup_gb_month", label="RDS backup GB-month"),
                f"{len(snaps)} snapshot(s), {snap_gb} GB at their allocated size; free up to the {free_gb} GB of "
                "provisioned RDS storage (automated backups use the same allowance, not measured here)",
                billed=max(0, snap_gb - free_gb), step=_get(snaps.iloc[0].to_dict(), "step"),
                label="RDS backup GB-month")
    drilled = [s for s in snaps.to_dict("records") if isinstance(s.get("tags"), dict) and s["tags"].get(DRILL_TAG)]
    if drilled:
        hours = max(pt.assumption("drill_hours"), RDS_MIN_HOURS)
        source = next((d for d in dbs if d["id"] == drilled[0].get("db_instance_id")), dbs[0] if dbs else {})
        cls, engine = _get(source, "instance_class"), _get(source, "engine") or "?"
        rate = rp.rate("rds_instance_hour", engine, cls, "single_az", label=f"RDS {engine} {cls} hour")
        out.add("restore drill", drilled[0]["id"], "restore drill", hours, rate,
                f"a single-AZ {cls} restored from the snapshot: assumed one {hours:g}-hour drill a month "
                "(RDS bills at least 10 minutes)", step=_get(drilled[0], "step"), label=f"RDS {engine} {cls} hour")


def _observability(out: _Rows, inv: InventoryLike, pt: PriceTable, as_running: bool) -> None:
    rp = out.rp
    alarms = _frame(inv, "alarms")
    if not alarms.empty:
        n, free = len(alarms), int(pt.free("cloudwatch_alarms"))
        out.add("alarms", ", ".join(alarms["id"].astype(str).head(3)) + ("…" if n > 3 else ""), "CloudWatch alarms", n,
                rp.rate("cloudwatch_alarm_month", label="CloudWatch alarm month"),
                f"standard resolution; the first {free} alarms of the account are free", billed=max(0, n - free),
                step=_get(alarms.iloc[0].to_dict(), "step"), label="CloudWatch alarm month")
    for r in _frame(inv, "dashboards").to_dict("records"):
        out.add(r["id"], r.get("name"), "CloudWatch dashboard", 1,
                rp.rate("cloudwatch_dashboard_month", label="CloudWatch dashboard month"), "", step=_get(r, "step"),
                label="CloudWatch dashboard month")
    inst = _live(_frame(inv, "instances"), "state")
    if not as_running and "state" in inst.columns:
        inst = inst[~inst["state"].isin(["stopped", "stopping"])]
    detailed = int(inst["monitoring"].fillna(False).astype(bool).sum()) if "monitoring" in inst.columns else 0
    members = int((inst["asg_name"].fillna("").astype(str) != "").sum()) if "asg_name" in inst.columns else 0
    groups = len(_frame(inv, "auto_scaling_groups")) if members else 0
    metrics = detailed * int(pt.fact("detailed_monitoring_metrics")) + members * int(
        pt.fact("cwagent_metrics_per_instance")) + groups * int(pt.fact("cwagent_metrics_per_group"))
    if metrics:
        free = int(pt.free("cloudwatch_detailed_metrics"))
        out.add("metrics", f"{detailed} instance(s) with detailed monitoring, {members} with the agent",
                "CloudWatch metrics", metrics, rp.rate("cloudwatch_metric_month", label="CloudWatch metric month"),
                f"{detailed} x {pt.fact('detailed_monitoring_metrics'):g} detailed monitoring metrics + the agent's "
                f"memory and disk metrics ({members} instance(s), {groups} group(s)); the first {free} of the account "
                "are free", billed=max(0, metrics - free), label="CloudWatch metric month")
    gb = pt.assumption("flow_log_gb_month")
    for r in _live(_frame(inv, "flow_logs"), "status").to_dict("records"):
        if _get(r, "destination_type") not in ("", "cloud-watch-logs"):
            continue
        out.add(r["id"], r.get("name"), "flow-log ingestion", gb,
                rp.rate("logs_ingest_gb", label="CloudWatch Logs ingestion GB"),
                f"assumed {gb:g} GB of flow-log records a month into CloudWatch Logs", step=_get(r, "step"),
                label="CloudWatch Logs ingestion GB")
    groups_df = _frame(inv, "log_groups")
    if not groups_df.empty and "stored_bytes" in groups_df.columns:
        stored = float(pd.to_numeric(groups_df["stored_bytes"], errors="coerce").fillna(0).sum()) / GIB
        out.add("log storage", f"{len(groups_df)} log group(s)", "log storage", round(stored, 3),
                rp.rate("logs_store_gb_month", label="CloudWatch Logs storage GB-month"),
                "GB stored now (measured); grows with ingestion until the retention set", step=_get(
                    groups_df.iloc[0].to_dict(), "step"), label="CloudWatch Logs storage GB-month")


def _edge(out: _Rows, inv: InventoryLike, pt: PriceTable) -> None:
    rp = out.rp
    for r in _frame(inv, "hosted_zones").to_dict("records"):
        out.add(r["id"], r.get("domain", r.get("name", "")), "Route 53 zone", 1,
                rp.rate("route53_zone_month", label="Route 53 zone month"), "", step=_get(r, "step"),
                label="Route 53 zone month")
    millions = pt.assumption("api_requests_million")
    for r in _frame(inv, "apis").to_dict("records"):
        protocol = str(_get(r, "protocol", "HTTP")).upper()
        key = {"HTTP": "apigw_http_million", "REST": "apigw_rest_million"}.get(protocol, "")
        label = f"API Gateway {protocol} requests"
        out.add(r["id"], r.get("name"), "API Gateway requests", millions, rp.rate(key, label=label) if key else None,
                f"{protocol} API: assumed {millions:g} million requests a month", step=_get(r, "step"), label=label)


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Both estimates in one frame with a leading phase column."""
    return pd.concat([before.assign(phase="before"), after.assign(phase="after")], ignore_index=True)[
        ["phase", *COLUMNS]]


def before_after(ctx: Any, prices: PriceTable | None = None) -> pd.DataFrame:
    """Before: the dev host 01 finds (dev_instance_id / dev_tag), whoever made it, priced as it runs;
    after: the stack's production resources (the dev host left out)."""
    from .inventory.ec2 import ProductionInventory, discover_dev
    p = ctx.p
    dev = discover_dev(ctx, p, missing_ok=True)
    return compare(estimate(dev, p, prices, as_running=True),
                   estimate(ProductionInventory(ctx, p.stack_name), p, prices))


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """Monthly USD per phase and type (rows without a price are counted in `unpriced`)."""
    g = table.groupby(["phase", "type"], sort=False)
    out = g["monthly_usd"].sum(min_count=1).fillna(0).round(2).to_frame("monthly_usd")
    out["unpriced"] = g["monthly_usd"].apply(lambda s: int(s.isna().sum()))
    return out.reset_index()


def explain(table: pd.DataFrame, p: Params | None = None, prices: PriceTable | None = None) -> str:
    """Markdown: the two totals, then why they differ, what was assumed and what is not included."""
    from .cost_explain import explain as _explain
    return _explain(table, p, prices or load_prices())
