"""Monthly cost estimate, before and after, from a dated price table shipped with the workbook.

The Pricing API is not emulated (EMULATOR.md), and a workshop should not need it: `prices.yaml`
holds the on-demand figures with their source line and date. `estimate(inv)` prices what an
Inventory holds, one row per resource: columns `resource, name, type, count, unit_price,
monthly_usd, note, step` (unit_price is per month and unit; a resource with no price in the table gets
NaN and a note, never a made-up figure). Frames another engineer has not built yet are skipped via
`inv.has()`.

    table = cost.before_after(inventory.Inventory(ctx, p.stack_name), p)   # phase: before | after
    report.artifact("cost", table)
    report.artifact("cost_explained", cost.explain(table, p))

`before_after` splits one stack by the `workbook:step` tag: what 00_setup made (the dev server) is
"before", the rest "after". `compare(before, after)` joins two estimates made some other way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import yaml

from .params import Params

PRICES = Path(__file__).resolve().parent / "prices.yaml"
COLUMNS = ["resource", "name", "type", "count", "unit_price", "monthly_usd", "note", "step"]
DEV_STEP = "00_setup"  # the dev environment ("before") is what the setup step made
# States in which a resource is not billed (or no longer exists).
GONE = {"terminated", "shutting-down", "deleted", "deleting", "failed"}


class InventoryLike(Protocol):
    def has(self, name: str) -> bool: ...
    def frame(self, name: str) -> pd.DataFrame: ...


@dataclass(frozen=True)
class PriceTable:
    data: dict[str, Any]

    @property
    def source(self) -> str:
        return self.data["source"]

    @property
    def as_of(self) -> str:
        return str(self.data["as_of"])

    @property
    def hours(self) -> float:
        return float(self.data["hours_per_month"])

    def monthly(self, hourly: float) -> float:
        return round(hourly * self.hours, 2)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


@lru_cache(maxsize=4)
def load_prices(path: str | None = None) -> PriceTable:
    data = yaml.safe_load(Path(path or PRICES).read_text())
    for key in ("source", "as_of", "hours_per_month"):
        if key not in data:
            raise ValueError(f"{path or PRICES} lacks {key!r}: a price table must say where and when it is from")
    return PriceTable(data)


def _frame(inv: InventoryLike, name: str) -> pd.DataFrame:
    return inv.frame(name) if inv.has(name) else pd.DataFrame()


def _live(df: pd.DataFrame, column: str) -> pd.DataFrame:
    if df.empty or column not in df.columns:
        return df
    return df[~df[column].astype(str).str.lower().isin(GONE)]


def _row(resource: str, name: str, type_: str, count: float, unit: float | None, note: str = "",
         billed: float | None = None, step: str = "") -> dict[str, Any]:
    """billed: units charged when fewer than count (a free allowance)."""
    units = count if billed is None else billed
    return {"resource": resource, "name": name, "type": type_, "count": count,
            "unit_price": math.nan if unit is None else round(unit, 4),
            "monthly_usd": math.nan if unit is None else round(unit * units, 2), "note": note, "step": step}


def estimate(inv: InventoryLike, p: Params | None = None, prices: PriceTable | None = None) -> pd.DataFrame:
    """One row per billed resource in the inventory, with its monthly price."""
    pt = prices or load_prices()
    ipv4 = pt.monthly(pt["public_ipv4_hour"])
    rows: list[dict[str, Any]] = []

    addresses = _frame(inv, "addresses")
    eip_ips = set(addresses["public_ip"].dropna()) if "public_ip" in addresses.columns else set()

    instances = _live(_frame(inv, "instances"), "state")
    for r in instances.to_dict("records"):
        itype, state = r.get("instance_type", ""), r.get("state", "")
        hourly = pt["ec2_instance_hour"].get(itype)
        if state in ("stopped", "stopping"):
            rows.append(_row(r["id"], r.get("name", ""), "EC2 instance", 1, 0.0, f"{itype}, {state}: no compute charge"))
        elif hourly is None:
            rows.append(_row(r["id"], r.get("name", ""), "EC2 instance", 1, None,
                             f"{itype}: no price in {PRICES.name}; add it there"))
        else:
            rows.append(_row(r["id"], r.get("name", ""), "EC2 instance", 1, pt.monthly(hourly), f"{itype}, {state}"))
        ip = r.get("public_ip") or ""
        if ip and ip not in eip_ips and state not in ("stopped", "stopping"):
            rows.append(_row(f"{r['id']} public IPv4", r.get("name", ""), "public IPv4", 1, ipv4,
                             "auto-assigned public address of the instance"))

    for r in addresses.to_dict("records"):
        attached = r.get("instance_id") or ""
        rows.append(_row(r["id"], r.get("name", ""), "public IPv4", 1, ipv4,
                         f"Elastic IP {r.get('public_ip', '')}" + (f" on {attached}" if attached else "")))

    nat_hour = pt.monthly(pt["nat_gateway_hour"])
    for r in _live(_frame(inv, "nat_gateways"), "state").to_dict("records"):
        rows.append(_row(r["id"], r.get("name", ""), "NAT gateway", 1, nat_hour,
                         f"in {r.get('az', '?')}; + ${pt['nat_gateway_gb']}/GB processed, not estimated"))

    for r in _live(_frame(inv, "load_balancers"), "state").to_dict("records"):
        if str(r.get("type", "application")) != "application":
            rows.append(_row(r["id"], r.get("name", ""), "load balancer", 1, None,
                             f"{r.get('type')}: no price in {PRICES.name}"))
            continue
        lcus = pt["alb_lcus"]
        unit = pt.monthly(pt["alb_hour"]) + lcus * pt.monthly(pt["alb_lcu_hour"])
        rows.append(_row(r["id"], r.get("name", ""), "load balancer", 1, unit,
                         f"ALB: ${pt.monthly(pt['alb_hour'])} + {lcus} LCU assumed at ${pt.monthly(pt['alb_lcu_hour'])}"))
        azs = r.get("azs") if isinstance(r.get("azs"), (list, tuple)) else []
        if r.get("scheme") == "internet-facing" and azs:
            rows.append(_row(f"{r['id']} public IPv4", r.get("name", ""), "public IPv4", len(azs), ipv4,
                             f"one address per AZ of the internet-facing ALB ({', '.join(azs)})"))

    for r in _live(_frame(inv, "db_instances"), "status").to_dict("records"):
        cls, multi = r.get("instance_class", ""), bool(r.get("multi_az", False))
        price = pt["rds_instance_hour"].get(cls)
        label = "Multi-AZ" if multi else "single-AZ"
        if price is None:
            rows.append(_row(r["id"], r.get("name", ""), "RDS instance", 1, None,
                             f"{cls}: no price in {PRICES.name}; add it there"))
        else:
            hourly = price.get("multi_az" if multi else "single_az") or (2 * price["single_az"] if multi else None)
            rows.append(_row(r["id"], r.get("name", ""), "RDS instance", 1, pt.monthly(hourly),
                             f"{cls} {r.get('engine', '')}, {label}" + (": primary + standby" if multi else "")))
        gb = r.get("allocated_storage")
        source = "allocated"
        if not gb and p is not None:
            gb, source = p.db_allocated_storage, "db_allocated_storage parameter"
        if gb:
            unit = pt["rds_gp3_gb_month"] * (2 if multi else 1)
            rows.append(_row(f"{r['id']} storage", r.get("name", ""), "RDS storage", int(gb), unit,
                             f"gp3 GB ({source})" + (", doubled for Multi-AZ" if multi else "")))

    for r in _frame(inv, "hosted_zones").to_dict("records"):
        rows.append(_row(r["id"], r.get("domain", r.get("name", "")), "Route 53 zone", 1, pt["route53_zone_month"], ""))

    alarms = _frame(inv, "alarms")
    if not alarms.empty:
        n, free = len(alarms), pt["cloudwatch_alarms_free"]
        rows.append(_row("alarms", ", ".join(alarms["id"].astype(str).head(3)) + ("…" if n > 3 else ""),
                         "CloudWatch alarms", n, pt["cloudwatch_alarm_month"],
                         f"standard resolution; the first {free} alarms of the account are free",
                         billed=max(0, n - free)))

    for r in _frame(inv, "dashboards").to_dict("records"):
        rows.append(_row(r["id"], r.get("name", ""), "CloudWatch dashboard", 1, pt["cloudwatch_dashboard_month"], ""))

    frames = [_frame(inv, n) for n in ("instances", "addresses", "nat_gateways", "load_balancers", "db_instances",
                                       "hosted_zones", "dashboards")]
    if not alarms.empty and "step" in alarms.columns:
        for r in rows:
            if r["resource"] == "alarms":
                r["step"] = str(alarms["step"].iloc[0])
    return pd.DataFrame(_with_steps(rows, frames), columns=COLUMNS)


def _with_steps(rows: list[dict[str, Any]], frames: list[pd.DataFrame]) -> list[dict[str, Any]]:
    """Each row gets the workbook:step of the resource it prices (extra rows: of their resource)."""
    steps: dict[str, str] = {}
    for df in frames:
        if not df.empty and "step" in df.columns:
            steps.update(dict(zip(df["id"].astype(str), df["step"].fillna("").astype(str))))
    for r in rows:
        base = r["resource"].removesuffix(" public IPv4").removesuffix(" storage")
        r["step"] = r["step"] or steps.get(base, "")
    return rows


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Both estimates in one frame with a leading phase column."""
    return pd.concat([before.assign(phase="before"), after.assign(phase="after")], ignore_index=True)[
        ["phase", *COLUMNS]]


def before_after(inv: InventoryLike, p: Params | None = None, prices: PriceTable | None = None) -> pd.DataFrame:
    """One stack's inventory split in two: the dev environment (made by 00_setup) is "before",
    everything the migration steps made is "after"."""
    df = estimate(inv, p, prices)
    dev = df["step"] == DEV_STEP
    return compare(df[dev].reset_index(drop=True), df[~dev].reset_index(drop=True))


def totals(table: pd.DataFrame) -> pd.DataFrame:
    """Monthly USD per phase and type (rows without a price are counted in `unpriced`)."""
    g = table.groupby(["phase", "type"], sort=False)
    out = g["monthly_usd"].sum(min_count=1).fillna(0).round(2).to_frame("monthly_usd")
    out["unpriced"] = g["monthly_usd"].apply(lambda s: int(s.isna().sum()))
    return out.reset_index()


def explain(table: pd.DataFrame, p: Params | None = None, prices: PriceTable | None = None) -> str:
    """Markdown: the two totals, then why they differ, from what the estimate found."""
    pt = prices or load_prices()
    before = table[table.phase == "before"]
    after = table[table.phase == "after"]
    tb, ta = before.monthly_usd.sum(), after.monthly_usd.sum()
    lines = [f"**Before ${tb:,.2f} a month, after ${ta:,.2f} a month** "
             f"({'+' if ta >= tb else '-'}${abs(ta - tb):,.2f}). Prices: {pt.source}, as of {pt.as_of}."]
    nat = after[after.type == "NAT gateway"]
    if len(nat):
        unit = pt.monthly(pt["nat_gateway_hour"])
        if len(nat) > 1:
            lines.append(f"- **NAT gateways:** {len(nat)} x ${unit} = ${nat.monthly_usd.sum():,.2f}: one per AZ, so "
                         f"losing an AZ does not cut the other AZs' private subnets off the internet. A single NAT "
                         f"would save ${unit * (len(nat) - 1):,.2f} a month at that risk.")
        else:
            az = p.az_count if p else 2
            lines.append(f"- **NAT gateway:** one, ${unit} a month, shared by all AZs: if its AZ fails the private "
                         f"subnets of the others lose outbound access. One per AZ (nat_per_az=True) would cost "
                         f"${unit * (az - 1):,.2f} more.")
    rds = after[after.type == "RDS instance"]
    multi = rds[rds.note.str.contains("Multi-AZ", na=False)]
    if len(multi):
        storage = after[(after.type == "RDS storage") & after.note.str.contains("Multi-AZ", na=False)]
        lines.append(f"- **RDS Multi-AZ:** ${multi.monthly_usd.sum():,.2f} for the instance"
                     + (f" and ${storage.monthly_usd.sum():,.2f} for storage" if len(storage) else "")
                     + ", twice single-AZ: a synchronous standby in a second AZ takes over on failure.")
    elif len(rds):
        lines.append(f"- **RDS:** single-AZ ${rds.monthly_usd.sum():,.2f}; Multi-AZ would double it and add a standby.")
    alb = after[after.type == "load balancer"]
    if len(alb):
        alb_ip = after[(after.type == "public IPv4") & after.note.str.contains("ALB", na=False)]
        lines.append(f"- **Load balancer:** ${alb.monthly_usd.sum():,.2f}"
                     + (f" + ${alb_ip.monthly_usd.sum():,.2f} for its public addresses" if len(alb_ip) else "")
                     + ": one entry point that spreads traffic over the Auto Scaling group and routes around a "
                       "failed instance; LCU charges grow with traffic.")
    ec2_b = before[before.type == "EC2 instance"].monthly_usd.sum()
    ec2_a = after[after.type == "EC2 instance"].monthly_usd.sum()
    if ec2_a or ec2_b:
        lines.append(f"- **EC2:** ${ec2_b:,.2f} before, ${ec2_a:,.2f} after "
                     f"({len(after[after.type == 'EC2 instance'])} app instance(s) instead of one server that also "
                     f"ran the database).")
    ip_b = before[before.type == "public IPv4"].monthly_usd.sum()
    ip_a = after[(after.type == "public IPv4") & ~after.note.str.contains("ALB", na=False)].monthly_usd.sum()
    if ip_b or ip_a:
        app_ips = after[(after.type == "public IPv4") & after.resource.str.endswith(" public IPv4", na=False)
                        & ~after.note.str.contains("ALB", na=False)]
        lines.append(f"- **Public IPv4:** ${ip_b:,.2f} before, ${ip_a:,.2f} after outside the ALB "
                     f"(${pt.monthly(pt['public_ipv4_hour'])} per address); "
                     + ("the app servers have none." if app_ips.empty else
                        f"{len(app_ips)} app server(s) still have a public address."))
    unpriced = table[table.monthly_usd.isna()]
    if len(unpriced):
        lines.append(f"- **Not priced:** {', '.join(sorted(set(unpriced.note)))}.")
    lines.append("- Not included: data transfer, NAT data processing, CloudWatch Logs ingestion and storage, "
                 "snapshots, taxes.")
    return "\n".join(lines)
