"""Why the cost differs, in markdown, from what `cost.estimate` found (see cost.py)."""
from __future__ import annotations

import pandas as pd

from .params import Params
from .price_table import PriceTable

# What the estimate leaves out: charges whose volume the workbook cannot know, or that have no
# sourced figure in the table. Said on every explanation, so a total is never read as a bill.
NOT_INCLUDED = ("data transfer to the internet", "CloudWatch Logs ingestion of the app and system logs "
                "(volume unknown)", "the probe's metrics (billed only for the hours they receive data)",
                "the RDS-managed master secret in Secrets Manager", "S3 storage of the release artifact and "
                "the database dump", "KMS requests", "free-tier credits", "taxes")


def _money(v: float) -> str:
    return f"${v:,.2f}"


def _sum(rows: pd.DataFrame) -> str:
    """The rows' monthly total, or "not priced" where the region has no figure for them."""
    if len(rows) and rows.monthly_usd.isna().all():
        return "not priced"
    total = _money(rows.monthly_usd.sum())
    return total + (" + items not priced" if rows.monthly_usd.isna().any() else "")


def _assumption(note: str) -> str:
    """The part of a note that states what was assumed (after any "not priced ..." prefix)."""
    return note.split("prices.yaml); ", 1)[-1]


def explain(table: pd.DataFrame, p: Params | None, pt: PriceTable) -> str:
    region = p.region if p is not None else "us-east-1"
    rp = pt.region(region)
    before = table[table.phase == "before"]
    after = table[table.phase == "after"]
    tb, ta = before.monthly_usd.sum(), after.monthly_usd.sum()
    lines = [f"**Before {_money(tb)} a month, after {_money(ta)} a month** "
             f"({'+' if ta >= tb else '-'}{_money(abs(ta - tb))}) in {region}"
             + (", priced items only" if table.monthly_usd.isna().any() else "")
             + f". Prices: {pt.source}, as of {pt.as_of}."]
    unpriced = table[table.monthly_usd.isna()]
    if len(unpriced):
        items = sorted({n.split(": ", 1)[1].split(" (no sourced", 1)[0] for n in unpriced.note
                        if n.startswith("not priced for ")})
        what = "this region has no block in the table" if not rp.priced else "the table has no figure for these items"
        lines.append(f"- **Not priced for {region}** ({what}; the totals leave them out): {', '.join(items)}.")
    nat = after[after.type == "NAT gateway"]
    unit = nat.unit_price.dropna()
    if len(nat) and len(unit):
        u = float(unit.iloc[0])
        if len(nat) > 1:
            lines.append(f"- **NAT gateways:** {len(nat)} x {_money(u)} = {_sum(nat)}: one per AZ, "
                         "so losing an AZ does not cut the other AZs' private subnets off the internet. A single NAT "
                         f"would save {_money(u * (len(nat) - 1))} a month at that risk.")
        else:
            az = p.az_count if p else 2
            lines.append(f"- **NAT gateway:** one, {_money(u)} a month, shared by all AZs: if its AZ fails the private "
                         "subnets of the others lose outbound access. One per AZ (nat_per_az=True) would cost "
                         f"{_money(u * (az - 1))} more.")
    cross = after[after.type == "cross-AZ data"]
    if len(cross):
        lines.append(f"- **Cross-AZ data:** {_sum(cross)}: {_assumption(cross.note.iloc[0])}.")
    rds = after[after.type == "RDS instance"]
    multi = rds[rds.note.str.contains("Multi-AZ", na=False)]
    if len(multi):
        storage = after[(after.type == "RDS storage") & after.note.str.contains("Multi-AZ", na=False)]
        lines.append(f"- **RDS Multi-AZ:** {_sum(multi)} for the instance"
                     + (f" and {_sum(storage)} for storage" if len(storage) else "")
                     + ", twice single-AZ: a synchronous standby in a second AZ takes over on failure.")
    elif len(rds):
        lines.append(f"- **RDS:** single-AZ {_sum(rds)}; Multi-AZ would double it and add a "
                     "standby.")
    alb = after[after.type == "load balancer"]
    if len(alb):
        alb_ip = after[(after.type == "public IPv4") & after.note.str.contains("ALB", na=False)]
        lines.append(f"- **Load balancer:** {_sum(alb)}"
                     + (f" + {_sum(alb_ip)} for its public addresses" if len(alb_ip) else "")
                     + ": one entry point that spreads traffic over the Auto Scaling group and routes around a "
                       "failed instance; LCU charges grow with traffic.")
    ec2_b, ec2_a = before[before.type == "EC2 instance"], after[after.type == "EC2 instance"]
    if len(ec2_a) or len(ec2_b):
        lines.append(f"- **EC2:** {_sum(ec2_b)} before, {_sum(ec2_a)} after "
                     f"({len(after[after.type == 'EC2 instance'])} app instance(s) instead of one server that also "
                     "ran the database).")
    ip_b = before[before.type == "public IPv4"]
    ip_a = after[(after.type == "public IPv4") & ~after.note.str.contains("ALB", na=False)]
    if len(ip_b) or len(ip_a):
        app_ips = after[(after.type == "public IPv4") & after.resource.str.endswith(" public IPv4", na=False)
                        & ~after.note.str.contains("ALB", na=False)]
        ipv4 = rp.rate("public_ipv4_hour")
        lines.append(f"- **Public IPv4:** {_sum(ip_b)} before, {_sum(ip_a)} after outside the ALB"
                     + (f" ({_money(rp.monthly(ipv4))} per address)" if ipv4 is not None else "") + "; "
                     + ("the app servers have none." if app_ips.empty else
                        f"{len(app_ips)} app server(s) still have a public address."))
    kinds = ("EBS volume", "EBS snapshot", "RDS backup storage", "restore drill", "CloudWatch metrics",
             "flow-log ingestion", "log storage", "API Gateway requests", "NAT data")
    small = [f"{k} {_sum(table[table.type == k])}" for k in kinds if (table.type == k).any()]
    if small:
        lines.append(f"- **Storage, monitoring and usage:** {'; '.join(small)}.")
    assumed = sorted({_assumption(n) for n in table.note.dropna() if "assumed" in n})
    if assumed:
        lines.append("- **Assumed usage a month** (prices.yaml `assumptions`; the real figure follows traffic): "
                     + "; ".join(assumed) + ".")
    lines.append(f"- **Not included:** {', '.join(NOT_INCLUDED)}.")
    return "\n".join(lines)
