"""A plan's monthly cost: every row priced, what it would create and what already runs, with a total.

`priced(plan, p)` adds `usd_month` and `cost_note` to a plan frame (rows: step, type, name, id, action)
and sets `attrs`: `usd_month_total`, `usd_month_new` (rows "would create"), `usd_month_running` (rows
that exist), `unpriced` (what the price table has no figure for) and `by_use` (charges that follow
traffic or storage, left out of the total and named). A row is priced from what AWS described when it
exists (its instance type, its DB class and Multi-AZ, its size) and from the parameters when it would be
created. Free kinds (VPC, subnets, security groups, roles ...) are 0; sub-things of a resource (rules,
routes, listeners) carry no charge of their own and are 0 too. Figures come from `prices.yaml` through
`cost.region_prices`, never from another region.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from .params import Params

FREE = {"vpc", "subnet", "internet_gateway", "route_table", "security_group", "network_interface",
        "launch_template", "target_group", "iam_role", "instance_profile", "iam_group", "iam_user", "iam_policy",
        "db_subnet_group", "db_parameter_group", "sns_topic", "dns_record", "certificate", "vpc_link",
        "api_domain", "ssm_parameter", "stack_lock"}
BY_USE = {"flow_log": "flow-log records delivered", "log_group": "log data stored", "s3_bucket": "objects stored",
          "ami": "its snapshot's GB", "ebs_snapshot": "GB stored", "db_snapshot": "backup GB beyond the free share"}
NAN = float("nan")
Row = tuple[float, str]


def _get(item: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if item.get(k) not in (None, ""):
            return item[k]
    return default


def _monthly(rp: Any, key: str, *path: str, label: str) -> float | None:
    rate = rp.rate(key, *path, label=label)
    return None if rate is None else rp.monthly(rate)


def _instance(rp: Any, item: dict[str, Any], p: Params, row: Any) -> Row:
    itype = _get(item, "InstanceType", default=p.dev_instance_type if row.step == "00_setup" else p.instance_type)
    if (item.get("State") or {}).get("Name") in ("stopped", "stopping"):
        return 0.0, f"{itype}, stopped: no compute charge"
    m = _monthly(rp, "ec2_instance_hour", itype, label=f"{itype} instance hour")
    return (NAN, rp.not_priced(f"{itype} instance hour")) if m is None else (m, f"{itype} on demand")


def _asg(rp: Any, item: dict[str, Any], p: Params, row: Any) -> Row:
    n = int(_get(item, "DesiredCapacity", default=p.desired_capacity))
    m = _monthly(rp, "ec2_instance_hour", p.instance_type, label=f"{p.instance_type} instance hour")
    if m is None:
        return NAN, rp.not_priced(f"{p.instance_type} instance hour")
    return round(n * m, 2), f"{n} x {p.instance_type} (desired capacity)"


def _db(rp: Any, item: dict[str, Any], p: Params, row: Any) -> Row:
    cls = _get(item, "DBInstanceClass", default=p.db_instance_class)
    engine = _get(item, "Engine", default=p.rds_engine)
    multi = bool(item["MultiAZ"]) if "MultiAZ" in item else p.multi_az
    gb = int(_get(item, "AllocatedStorage", default=p.db_allocated_storage))
    hour = _monthly(rp, "rds_instance_hour", engine, cls, "multi_az" if multi else "single_az",
                    label=f"RDS {engine} {cls} hour")
    store = rp.rate("rds_gp3_gb_month", label="RDS storage GB-month")
    if hour is None or store is None:
        return NAN, rp.not_priced(f"RDS {engine} {cls} hour" if hour is None else "RDS storage GB-month")
    total = round(hour + gb * store * (2 if multi else 1), 2)
    return total, (f"{cls} {engine}, {'Multi-AZ (primary + standby)' if multi else 'single-AZ'}: "
                   f"${hour:,.2f} + {gb} GB gp3 {'x 2 ' if multi else ''}${store}/GB")


def _alb(rp: Any, item: dict[str, Any], p: Params, row: Any, pt: Any) -> Row:
    hour = rp.rate("alb_hour", label="load balancer (ALB) hour")
    lcu = rp.rate("alb_lcu_hour", label="load balancer LCU hour")
    ip = rp.rate("public_ipv4_hour", label="public IPv4 hour")
    if hour is None or lcu is None:
        return NAN, rp.not_priced("load balancer (ALB) hour")
    lcus = pt.assumption("alb_lcus")
    internet = _get(item, "Scheme", default="internal" if p.entry == "api_gateway" else "internet-facing")
    azs = len(item.get("AvailabilityZones") or []) or p.az_count
    addresses = azs if internet == "internet-facing" and ip is not None else 0
    total = rp.monthly(hour + lcus * lcu + addresses * (ip or 0))
    return total, f"ALB + {lcus:g} LCU assumed" + (f" + {addresses} public IPv4" if addresses else "")


def _nat(rp: Any, item: dict[str, Any]) -> Row:
    """The hourly charge; one that runs also has its public address (a new one's Elastic IP is its own row)."""
    m = _monthly(rp, "nat_gateway_hour", label="NAT gateway hour")
    if m is None:
        return NAN, rp.not_priced("NAT gateway hour")
    ips = sum(1 for a in item.get("NatGatewayAddresses") or [] if a.get("PublicIp"))
    ip = _monthly(rp, "public_ipv4_hour", label="public IPv4 hour") if ips else 0.0
    if ip is None:
        return NAN, rp.not_priced("public IPv4 hour")
    return round(m + ips * ip, 2), "hourly charge" + (f" + {ips} public IPv4" if ips else "") + "; data processed extra"


def _simple(key: str, label: str, note: str = "") -> Callable[..., Row]:
    def price(rp: Any, item: dict[str, Any], p: Params, row: Any) -> Row:
        rate = rp.rate(key, label=label)
        if rate is None:
            return NAN, rp.not_priced(label)
        return (rp.monthly(rate) if key.endswith("_hour") else rate), note
    return price


def _api(rp: Any, item: dict[str, Any], p: Params, row: Any, pt: Any) -> Row:
    millions = pt.assumption("api_requests_million")
    rate = rp.rate("apigw_http_million", label="API Gateway HTTP requests")
    return (NAN, rp.not_priced("API Gateway HTTP requests")) if rate is None else \
        (round(millions * rate, 2), f"HTTP API, {millions:g} million requests a month assumed")


PRICERS: dict[str, Callable[..., Row]] = {
    "instance": _instance, "auto_scaling_group": _asg, "db_instance": _db,
    "nat_gateway": lambda rp, item, p, row: _nat(rp, item),
    "elastic_ip": _simple("public_ipv4_hour", "public IPv4 hour", "public IPv4 address"),
    "hosted_zone": _simple("route53_zone_month", "Route 53 zone month", "hosted zone"),
    "alarm": _simple("cloudwatch_alarm_month", "CloudWatch alarm month", "standard alarm (first 10 of the account free)"),
    "dashboard": _simple("cloudwatch_dashboard_month", "CloudWatch dashboard month", "dashboard"),
}
NEEDS_TABLE = {"load_balancer": _alb, "http_api": _api}


def price_row(row: Any, p: Params, rp: Any, pt: Any) -> Row:
    """(usd a month, note) for one plan row; NaN when the table has no figure or the charge is by use."""
    from . import kinds as K
    K.load_all()
    item = row.item if isinstance(getattr(row, "item", None), dict) else {}
    kind = str(row.type)
    if kind in PRICERS:
        return PRICERS[kind](rp, item, p, row)
    if kind in NEEDS_TABLE:
        return NEEDS_TABLE[kind](rp, item, p, row, pt)
    if kind in BY_USE:
        return NAN, f"billed by use ({BY_USE[kind]})"
    if kind in FREE or kind not in K.KINDS:
        return 0.0, ""   # free, or a part of a resource (a rule, a route, a listener)
    return NAN, rp.not_priced(K.KINDS[kind].title if hasattr(K.KINDS[kind], "title") else kind)


def priced(plan: pd.DataFrame, ctx_or_p: Any, items: list[dict[str, Any]] | None = None) -> pd.DataFrame:
    """The plan with `usd_month` and `cost_note` per row and the totals in attrs. `items` are the raw
    descriptions per row (the Resource records' `item`), when the caller has them."""
    from .cost import load_prices, region_prices
    p = getattr(ctx_or_p, "p", ctx_or_p)
    pt, rp = load_prices(), region_prices(p)
    df = plan.copy()
    df.attrs.update(plan.attrs)
    rows = []
    for i, r in enumerate(df.itertuples(index=False)):
        item = items[i] if items is not None and i < len(items) else {}
        rows.append(price_row(_Row(r, item), p, rp, pt))
    df["usd_month"] = [u for u, _ in rows]
    df["cost_note"] = [n for _, n in rows]
    new = df["action"].astype(str).str.startswith("would create")
    keeps = ~df["action"].astype(str).str.contains("delete|deleted|gone", regex=True)
    usd = pd.to_numeric(df["usd_month"], errors="coerce")
    df.attrs["usd_month_new"] = round(float(usd[new].sum()), 2)
    df.attrs["usd_month_running"] = round(float(usd[~new & keeps].sum()), 2)
    df.attrs["usd_month_total"] = round(df.attrs["usd_month_new"] + df.attrs["usd_month_running"], 2)
    unpriced = sorted({n.split(": ", 1)[-1].split(" (")[0] for n in df["cost_note"] if n.startswith("not priced")})
    df.attrs["unpriced"] = ", ".join(unpriced)
    df.attrs["by_use"] = ", ".join(sorted({str(t) for t, n in zip(df["type"], df["cost_note"])
                                           if n.startswith("billed by use")}))
    df.attrs["prices"] = f"prices {rp.as_of}, {rp.name} on demand, {rp.hours:g} h a month"
    return df


class _Row:
    """A plan row with the raw description the engine kept (Resource.item)."""

    def __init__(self, r: Any, item: dict[str, Any]):
        self.__dict__.update(r._asdict())
        self.item = item


def for_step(ctx: Any, mark: int) -> pd.DataFrame:
    """The plan a step's apply(dry_run) noted since `mark`, priced (the records keep AWS's descriptions)."""
    records = ctx.resources[mark:]
    frame = ctx.resources_frame(since=mark)
    return priced(frame, ctx, [r.item for r in records])


def is_nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def plan(ctx: Any, apply: Callable[[Any], pd.DataFrame]) -> pd.DataFrame:
    """A step's plan: its apply in a dry run (creates nothing), every row priced."""
    mark = len(ctx.resources)
    df = apply(ctx.replace(dry_run=True))
    records = ctx.resources[mark:]
    items = [r.item for r in records] if len(records) == len(df) else None
    return priced(df, ctx, items)
