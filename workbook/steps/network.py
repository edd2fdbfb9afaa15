"""Step 02_network: a VPC with public, private-app and private-db subnets over several AZs.

Why (the article, in our words): servers and database belong in a private network of their own, where
nothing on the internet can reach them directly; the only way in is the entry point in front. Subnets
in two or more availability zones are what later lets every tier be redundant.

What `apply` builds, each piece by its own `ensure_*` unit (through workbook.engine: found by the
stack's tag, else created with tags and, where AWS takes one, a client token):

- the VPC (DNS support and hostnames on) and 3 subnets per AZ (public / app / db), carved from
  `vpc_cidr` deterministically, tagged `workbook:tier`; no subnet maps public IPs (FSBP EC2.15);
- an internet gateway; one NAT gateway (or one per AZ with `nat_per_az`), each with an Elastic IP.
  A NAT takes minutes on AWS: `start_nat_gateways` starts it, `wait_nat_gateways` waits at the end;
- route tables: public -> internet gateway; app (one per AZ) -> its AZ's NAT or the single one; db: no
  route out at all. RDS is patched by AWS, not by downloads from the instance, so a db tier without a
  default route can neither exfiltrate nor be reached even if its security group were loosened;
- the security-group chain ALB -> app -> DB (network_sg.py); the VPC's default group loses its rules;
- VPC flow logs to CloudWatch Logs (FSBP EC2.6) through a role only the flow-logs service may assume.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, cost, engine, names, plan_cost, progress, tagging
from ..connect import Context, Resource
from ..inventory import ec2 as ec2_inventory
from ..params import ParameterError, Params, _subnet_bits
from . import Step, destroy_kinds, register
from .network_flowlogs import (FLOW_LOG_POLICY, ensure_flow_log, ensure_flow_log_group,  # noqa: F401  (the step's units)
                               ensure_flow_log_role, ensure_flow_logs, ensure_retention, flow_log_name,
                               flow_log_role)
from .network_sg import close_default_security_group, ensure_security_groups  # noqa: F401  (the step's units)

STEP_ID = "02_network"
ANYWHERE = "0.0.0.0/0"

STEP = register(Step(
    STEP_ID, "Private network (VPC)",
    why=("Servers and database belong in a private network of their own that nothing on the internet reaches "
         "directly; only the entry point in front is public. Subnets in two or more availability zones let "
         "every later tier be redundant."),
    short="Network", module="network",
    kinds=("vpc", "subnet", "internet_gateway", "elastic_ip", "nat_gateway", "route_table", "security_group",
           "flow_log", "log_group", "iam_role"),
    permissions=("ec2:DescribeAvailabilityZones", "ec2:DescribeInstances", "ec2:DescribeVpcAttribute",
                 "ec2:ModifyVpcAttribute", "ec2:ModifySubnetAttribute", "ec2:CreateTags",
                 "ec2:DescribeNetworkInterfaces", "ssm:PutParameter", "ssm:GetParameter"),
))


# ---- names this step needs beyond workbook/names.py ----------------------------------------------
def eip_name(p: Params, az: str) -> str:
    return f"{names.nat(p, az)}-eip"


# ---- pure planning -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubnetSpec:
    tier: str
    az: str
    cidr: str
    name: str


def carve_subnets(p: Params, azs: list[str]) -> list[SubnetSpec]:
    """Deterministic layout: slot = tier_index * az_count + az_index, each slot the same size, so the
    same parameters always give the same CIDRs (a rerun finds, never re-carves)."""
    vpc = ipaddress.IPv4Network(p.vpc_cidr)
    slots = list(vpc.subnets(prefixlen_diff=_subnet_bits(len(azs))))
    return [SubnetSpec(tier, az, str(slots[t * len(azs) + a]), names.subnet(p, tier, az))
            for t, tier in enumerate(names.TIERS) for a, az in enumerate(azs)]


def nat_azs(p: Params, azs: list[str]) -> list[str]:
    """AZs that get a NAT gateway: every one, or the first only."""
    return list(azs) if p.nat_per_az else azs[:1]


def nat_for_az(p: Params, azs: list[str], az: str) -> str:
    """The NAT (by AZ) that the app subnets of `az` route through."""
    return az if p.nat_per_az else azs[0]


def nat_cost(p: Params) -> pd.DataFrame:
    """Monthly cost of the NAT gateways this plan runs (hourly charge plus the Elastic IP), data extra;
    from the workbook's dated price table, for p.region (NaN and "not priced for <region>" without a figure)."""
    rp = cost.region_prices(p)
    count = p.az_count if p.nat_per_az else 1
    nat_h, ip_h = rp.rate("nat_gateway_hour"), rp.rate("public_ipv4_hour")
    nan = float("nan")
    nat, ip = (nan if nat_h is None else rp.monthly(nat_h)), (nan if ip_h is None else rp.monthly(ip_h))
    rows = [
        {"item": "NAT gateway (hourly)", "count": count, "unit_usd_month": nat, "usd_month": round(count * nat, 2),
         "note": f"${nat_h}/h x {rp.hours:g} h" if nat_h is not None else rp.not_priced("NAT gateway hour")},
        {"item": "public IPv4 (NAT EIP)", "count": count, "unit_usd_month": ip, "usd_month": round(count * ip, 2),
         "note": f"${ip_h}/h per address" if ip_h is not None else rp.not_priced("public IPv4 hour")},
    ]
    df = pd.DataFrame(rows)
    total = round(float(df.usd_month.sum(min_count=2)), 2)
    gb = rp.rate("nat_gateway_gb")
    df = pd.concat([df, pd.DataFrame([{"item": "total" + (f" (plus ${gb} per GB processed)" if gb is not None else
                                                          " (data processed: not priced)"),
                                       "count": None, "unit_usd_month": None, "usd_month": total,
                                       "note": f"prices {rp.as_of}, {rp.name} on-demand"}])],
                   ignore_index=True)
    df.attrs["monthly_usd"] = total
    return df


# ---- lookups -------------------------------------------------------------------------------------
def pick_azs(ctx: Context) -> list[str]:
    """The first az_count available AZs of the region (sorted, so every run picks the same). The region
    having fewer is a parameter problem, said before anything is created."""
    p = ctx.p
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    # Local Zones and Wavelength Zones are not for a VPC's core subnets.
    found = sorted(z["ZoneName"] for z in zones if z.get("ZoneType", "availability-zone") == "availability-zone")
    if len(found) < p.az_count:
        raise ParameterError({"az_count": f"{p.region} has {len(found)} available AZs ({', '.join(found)}); "
                                          f"use az_count <= {len(found)}"})
    return found[: p.az_count]


def vpc_id(ctx: Context) -> str | None:
    it = engine.find_one(ctx, "vpc", names.vpc(ctx.p))
    return it.id if it else None


def require_vpc(ctx: Context) -> str | None:
    """The VPC's id; None in a dry run before it exists; otherwise its absence is an error."""
    vid = vpc_id(ctx)
    if vid is None and not ctx.dry_run:
        raise RuntimeError(f"no VPC {names.vpc(ctx.p)} yet: run ensure_vpc first")
    return vid


def dev_vpc_cidrs(ctx: Context) -> dict[str, list[str]]:
    """VPC id -> CIDRs of the dev instance(s) found by dev_instance_id or dev_tag ({} if none)."""
    try:
        instances = ec2_inventory.find_dev_instances(ctx, ctx.p)
    except ClientError as e:
        if e.response["Error"]["Code"].startswith("InvalidInstanceID"):
            return {}  # a dev instance that does not exist cannot overlap; 01_assess reports it
        raise
    ids = sorted({i["VpcId"] for i in instances if i.get("VpcId")})
    if not ids:
        return {}
    vpcs = ec2_inventory.paginate(ctx, "describe_vpcs", "Vpcs", VpcIds=ids)
    return {v["VpcId"]: [a["CidrBlock"] for a in v.get("CidrBlockAssociationSet", [])
                         if a.get("CidrBlockState", {}).get("State", "associated") == "associated"]
            or [v["CidrBlock"]] for v in vpcs}


def check_dev_overlap(ctx: Context) -> None:
    """The new VPC must not overlap the dev instance's VPC (its real CIDR, not only dev_vpc_cidr):
    overlapping ranges cannot be peered, and the database move runs between the two."""
    p = ctx.p
    ours = ipaddress.IPv4Network(p.vpc_cidr)
    mine = vpc_id(ctx)
    taken = [ipaddress.IPv4Network(c) for vid, cidrs in dev_vpc_cidrs(ctx).items() if vid != mine for c in cidrs]
    clash = [str(n) for n in taken if n.overlaps(ours)]
    if clash:
        free = next((c for c in ("10.20.0.0/16", "10.30.0.0/16", "10.40.0.0/16", "10.50.0.0/16", "192.168.0.0/16")
                     if not any(ipaddress.IPv4Network(c).overlaps(n) for n in taken)), "another private range")
        raise ParameterError({"vpc_cidr": f"{p.vpc_cidr} overlaps the dev instance's VPC ({', '.join(clash)}); "
                                          f"pick a range that does not, e.g. {free}"})


def stack_subnets(ctx: Context) -> dict[str, engine.Item]:
    return {it.name: it for it in engine.find(ctx, "subnet", step=STEP_ID)}


# ---- ensure_*: one resource (kind) each ------------------------------------------------------------
def ensure_vpc(ctx: Context) -> Resource:
    """The VPC with DNS support and DNS hostnames on (RDS endpoints and private DNS need both)."""
    p, name = ctx.p, names.vpc(ctx.p)
    rec = engine.ensure(ctx, "vpc", name, step=STEP_ID, create={"CidrBlock": p.vpc_cidr})
    if rec.action == "would create":
        return rec
    if rec.item.get("CidrBlock", p.vpc_cidr) != p.vpc_cidr:
        raise ParameterError({"vpc_cidr": f"the stack's VPC {rec.id} already exists with {rec.item['CidrBlock']}; "
                                          f"set vpc_cidr={rec.item['CidrBlock']} or destroy the network first"})
    ec2 = ctx.client("ec2")
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        if not ec2.describe_vpc_attribute(VpcId=rec.id, Attribute=attr[0].lower() + attr[1:])[attr]["Value"]:
            if not ctx.dry_run:
                ec2.modify_vpc_attribute(VpcId=rec.id, **{attr: {"Value": True}})
            ctx.note(STEP_ID, "vpc_attribute", f"{name} {attr}", rec.id, "would update" if ctx.dry_run else "updated")
    return rec


def ensure_subnets(ctx: Context, azs: list[str] | None = None) -> list[Resource]:
    """Public, app and db subnets in each AZ; none maps public IPs on launch (FSBP EC2.15): only the
    ALB and the NAT live in public subnets, and both get their addresses another way."""
    p = ctx.p
    azs = azs or pick_azs(ctx)
    vid = require_vpc(ctx)
    have = stack_subnets(ctx) if vid else {}
    out = []
    for s in carve_subnets(p, azs):
        found = have.get(s.name)
        if found and (found.raw["CidrBlock"] != s.cidr or found.raw["AvailabilityZone"] != s.az):
            raise RuntimeError(f"subnet {s.name} ({found.id}) is {found.raw['CidrBlock']} in "
                               f"{found.raw['AvailabilityZone']}, the plan says {s.cidr} in {s.az}; "
                               "destroy the network or restore the earlier parameters")
        rec = engine.ensure(ctx, "subnet", s.name, step=STEP_ID, found=found, extra_tags={names.TIER: s.tier},
                            create=lambda s=s: {"VpcId": vid, "CidrBlock": s.cidr, "AvailabilityZone": s.az})
        out.append(rec)
        if rec.item.get("MapPublicIpOnLaunch"):
            if not ctx.dry_run:
                ctx.client("ec2").modify_subnet_attribute(SubnetId=rec.id, MapPublicIpOnLaunch={"Value": False})
            ctx.note(STEP_ID, "subnet_attribute", f"{s.name} MapPublicIpOnLaunch=false", rec.id,
                     "would update" if ctx.dry_run else "updated")
    return out


def ensure_internet_gateway(ctx: Context) -> Resource:
    """The internet gateway, attached to the VPC (a crash between create and attach is finished here)."""
    p, name = ctx.p, names.igw(ctx.p)
    vid = require_vpc(ctx)
    rec = engine.ensure(ctx, "internet_gateway", name, step=STEP_ID, create={})
    attached = {a["VpcId"] for a in rec.item.get("Attachments", []) if a.get("State") in ("attached", "available",
                                                                                             "attaching")}
    label = f"{name} -> {names.vpc(p)}"
    if vid is None or vid not in attached:
        if not ctx.dry_run:
            engine.propagating(ctx, lambda: ctx.client("ec2").attach_internet_gateway(InternetGatewayId=rec.id, VpcId=vid),
                               f"attach {name}")
        ctx.note(STEP_ID, "igw_attachment", label, rec.id, "would create" if ctx.dry_run else "created")
    return rec


def _live_nat(ctx: Context, name: str) -> engine.Item | None:
    """The NAT of this name that is pending or available, else a failed one (to be replaced)."""
    found = [n for n in engine.find(ctx, "nat_gateway", name=name) if n.raw["State"] != "deleting"]
    return next((n for n in found if n.raw["State"] != "failed"), found[0] if found else None)


def start_nat_gateways(ctx: Context, azs: list[str] | None = None) -> list[Resource]:
    """Elastic IP + NAT gateway per NAT AZ, created WITHOUT waiting (1.5-2 min each on AWS, up to 10):
    the other resources are built meanwhile and `wait_nat_gateways` waits at the end."""
    p = ctx.p
    azs = azs or pick_azs(ctx)
    vid = require_vpc(ctx)
    subnets = stack_subnets(ctx) if vid else {}
    out: list[Resource] = []
    for az in nat_azs(p, azs):
        name = names.nat(p, az)
        nat = _live_nat(ctx, name)
        if nat and nat.raw["State"] != "failed":
            out.append(ctx.note(STEP_ID, "nat_gateway", name, nat.id, "exists", item=nat.raw))
            continue
        # AllocateAddress takes no client token; finding it by tag first is what keeps a rerun from a twin.
        eip = engine.ensure(ctx, "elastic_ip", eip_name(p, az), step=STEP_ID, create={"Domain": "vpc"})
        out.append(eip)
        subnet = subnets.get(names.subnet(p, "public", az))
        if subnet is None and not ctx.dry_run:
            raise RuntimeError(f"no subnet {names.subnet(p, 'public', az)} yet: run ensure_subnets first")
        token_name = name
        if nat:  # failed (e.g. capacity): delete it; a new token, since the old one returns the failed NAT
            if not ctx.dry_run:
                ctx.client("ec2").delete_nat_gateway(NatGatewayId=nat.id)
            ctx.note(STEP_ID, "nat_gateway", name, nat.id, "would delete (failed)" if ctx.dry_run else "deleted (failed)")
            token_name = f"{name}/{nat.id}"
        out.append(engine.ensure(ctx, "nat_gateway", name, step=STEP_ID, lookup=False, wait_ready=False,
                                 token=engine.client_token(ctx, token_name),
                                 create=lambda subnet=subnet, eip=eip: {"SubnetId": subnet.id, "AllocationId": eip.id,
                                                                        "ConnectivityType": "public"}))
        if out[-1].action == "created":
            progress.started(f"NAT gateway {name}", "1.5-2 minutes (up to 10)",
                             "the app subnets' route through it (the app servers of 04_compute)")
    return out


def wait_nat_gateways(ctx: Context) -> list[Resource]:
    """Wait (botocore nat_gateway_available, 15 s x 40, with a progress bar) for this stack's NATs."""
    out = []
    for nat in sorted((n for n in engine.find(ctx, "nat_gateway", step=STEP_ID) if n.raw["State"] != "deleting"),
                      key=lambda n: n.name):
        if nat.raw["State"] == "failed":
            raise RuntimeError(f"NAT gateway {nat.name} ({nat.id}) failed: {nat.raw.get('FailureMessage', '')}; "
                               "run start_nat_gateways again to replace it")
        if nat.raw["State"] != "available":
            engine.wait(ctx, engine.K.get("nat_gateway"), nat.id, what=f"NAT gateway {nat.name}")
        out.append(ctx.note(STEP_ID, "nat_gateway", nat.name, nat.id, "available"))
    return out


# ---- route tables ------------------------------------------------------------------------------------
def route_table_layout(p: Params, azs: list[str]) -> dict[str, list[str]]:
    """Route table name -> names of the subnets it serves: one public, one app per AZ, one db."""
    layout = {names.route_table(p, "public"): [names.subnet(p, "public", az) for az in azs]}
    for az in azs:
        layout[names.route_table(p, "app", az)] = [names.subnet(p, "app", az)]
    layout[names.route_table(p, "db")] = [names.subnet(p, "db", az) for az in azs]
    return layout


def _associations(ctx: Context, vid: str) -> dict[str, tuple[str, str]]:
    """subnet id -> (route table id, association id) for explicit associations in the VPC."""
    items = ec2_inventory.paginate(ctx, "describe_route_tables", "RouteTables",
                                   Filters=[{"Name": "vpc-id", "Values": [vid]}])
    return {a["SubnetId"]: (t["RouteTableId"], a["RouteTableAssociationId"])
            for t in items for a in t.get("Associations", []) if a.get("SubnetId")}


def default_route(table: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == ANYWHERE), None)


def _ensure_default_route(ctx: Context, table: Resource, name: str, target: dict[str, str]) -> None:
    """0.0.0.0/0 -> target ({"GatewayId": igw} or {"NatGatewayId": nat}); replaces a stale or blackholed one."""
    ec2, key, target_id = ctx.client("ec2"), next(iter(target)), next(iter(target.values()))
    route = default_route(table.item)
    label = f"{name} 0.0.0.0/0"
    if route and route.get(key) == target_id and route.get("State", "active") == "active":
        ctx.note(STEP_ID, "route", label, target_id, "exists")
    elif ctx.dry_run or engine.is_placeholder(table.id) or engine.is_placeholder(target_id):
        ctx.note(STEP_ID, "route", label, target_id, "would update" if route else "would create")
    elif route:
        engine.propagating(ctx, lambda: ec2.replace_route(RouteTableId=table.id, DestinationCidrBlock=ANYWHERE, **target),
                           f"route of {table.name}")
        ctx.note(STEP_ID, "route", label, target_id, "updated")
    else:
        engine.propagating(ctx, lambda: ec2.create_route(RouteTableId=table.id, DestinationCidrBlock=ANYWHERE, **target),
                           f"route of {table.name}")
        ctx.note(STEP_ID, "route", label, target_id, "created")


def ensure_route_tables(ctx: Context, azs: list[str] | None = None) -> list[Resource]:
    """Route tables and their subnet associations, plus public -> internet gateway. The app tables get
    their NAT route from `ensure_nat_routes` once the NAT is available; the db table never gets one."""
    p = ctx.p
    azs = azs or pick_azs(ctx)
    vid = require_vpc(ctx)
    subnets = stack_subnets(ctx) if vid else {}
    assoc = _associations(ctx, vid) if vid else {}
    ec2, out = ctx.client("ec2"), []
    tables: dict[str, Resource] = {}
    for name, subnet_names in route_table_layout(p, azs).items():
        table = engine.ensure(ctx, "route_table", name, step=STEP_ID, create={"VpcId": vid})
        tables[name] = table
        out.append(table)
        for sn in subnet_names:
            subnet = subnets.get(sn)
            label = f"{name} <- {sn}"
            if subnet is None:
                if not ctx.dry_run:
                    raise RuntimeError(f"no subnet {sn} yet: run ensure_subnets first")
                ctx.note(STEP_ID, "route_table_association", label, "", "would create")
                continue
            current = assoc.get(subnet.id)
            if current and current[0] == table.id:
                continue
            if ctx.dry_run:
                ctx.note(STEP_ID, "route_table_association", label, subnet.id, "would update" if current else "would create")
            elif current:  # associated elsewhere (edited by hand): move it
                ec2.replace_route_table_association(AssociationId=current[1], RouteTableId=table.id)
                ctx.note(STEP_ID, "route_table_association", label, subnet.id, "updated")
            else:
                engine.propagating(ctx, lambda: ec2.associate_route_table(RouteTableId=table.id, SubnetId=subnet.id),
                                   f"association of {table.name}")
                ctx.note(STEP_ID, "route_table_association", label, subnet.id, "created")
    igw = engine.find_one(ctx, "internet_gateway", names.igw(p))
    if igw is None and not ctx.dry_run:
        raise RuntimeError(f"no internet gateway {names.igw(p)} yet: run ensure_internet_gateway first")
    _ensure_default_route(ctx, tables[names.route_table(p, "public")], names.route_table(p, "public"),
                          {"GatewayId": igw.id if igw else engine.placeholder("internet_gateway", names.igw(p))})
    return out


def ensure_nat_routes(ctx: Context, azs: list[str] | None = None, *, wait: bool = True) -> list[Resource]:
    """The app route table of each AZ: 0.0.0.0/0 -> that AZ's NAT (or the single one). Waits for the
    NAT first: AWS refuses a route to a NAT that is not available yet. `wait=False`: a pending NAT's
    route is left to a later call (04_compute makes it, where the app servers need it)."""
    p = ctx.p
    azs = azs or pick_azs(ctx)
    before = len(ctx.resources)
    for az in azs:
        rt_name = names.route_table(p, "app", az)
        nat_name = names.nat(p, nat_for_az(p, azs, az))
        nat, table = _live_nat(ctx, nat_name), engine.find_one(ctx, "route_table", rt_name)
        if nat is None or table is None or nat.raw["State"] == "failed":
            if not ctx.dry_run:
                raise RuntimeError(f"{rt_name} needs its route table and an available NAT gateway: "
                                   "run ensure_route_tables and start_nat_gateways first")
            ctx.note(STEP_ID, "route", f"{rt_name} 0.0.0.0/0", engine.placeholder("nat_gateway", nat_name),
                     "would create")
            continue
        if nat.raw["State"] != "available" and not ctx.dry_run:
            if not wait:
                ctx.note(STEP_ID, "route", f"{rt_name} 0.0.0.0/0", nat.id, "pending (NAT not available yet)")
                print(f"{nat.name} is {nat.raw['State']} (1.5-2 min on AWS): the route of {rt_name} through it is made "
                      f"where the app servers need it (04_compute), so nothing queues behind it here")
                continue
            engine.wait(ctx, engine.K.get("nat_gateway"), nat.id, what=f"NAT gateway {nat.name}")
        rec = Resource(STEP_ID, "route_table", rt_name, table.id, "exists", table.raw)
        _ensure_default_route(ctx, rec, rt_name, {"NatGatewayId": nat.id})
    return ctx.resources[before:]


# ---- the step ----------------------------------------------------------------------------------------
def retire_unused_nats(ctx: Context, azs: list[str] | None = None) -> list[Resource]:
    """The stack's NAT gateways no route uses any more (nat_per_az turned off, fewer AZs): each costs by the
    hour, so once the routes have moved (ensure_nat_routes) it is deleted and its address released."""
    p = ctx.p
    wanted = {names.nat(p, az) for az in nat_azs(p, azs or pick_azs(ctx))}
    out: list[Resource] = []
    routed = {r.get("NatGatewayId") for t in engine.find(ctx, "route_table") for r in t.raw.get("Routes", [])}
    for nat in engine.find(ctx, "nat_gateway", step=STEP_ID):
        if nat.name in wanted or nat.raw["State"] == "deleting" or nat.id in routed:   # a route still uses it
            continue
        out.append(engine.delete(ctx, "nat_gateway", nat, step=STEP_ID))
        address = engine.find_one(ctx, "elastic_ip", f"{nat.name}-eip")   # eip_name of its AZ
        if address is not None:
            out.append(engine.delete(ctx, "elastic_ip", address, step=STEP_ID))
    return out


def apply(ctx: Context) -> pd.DataFrame:
    """Everything, in dependency order, NAT creation early and its wait late."""
    mark = len(ctx.resources)
    check_dev_overlap(ctx)
    azs = pick_azs(ctx)
    ensure_vpc(ctx)
    ensure_subnets(ctx, azs)
    ensure_internet_gateway(ctx)
    start_nat_gateways(ctx, azs)
    ensure_route_tables(ctx, azs)
    ensure_security_groups(ctx)
    close_default_security_group(ctx)
    ensure_flow_logs(ctx)
    if not ctx.dry_run:
        wait_nat_gateways(ctx)
    ensure_nat_routes(ctx, azs)
    retire_unused_nats(ctx, azs)
    return ctx.resources_frame(mark)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do, creating nothing, each row priced (new and already running, with the total:
    plan_cost). `attrs["nat_monthly_usd"]` holds the NAT total (hourly charge + EIP) for the plan as a whole."""
    df = plan_cost.plan(ctx, apply)
    df.attrs["nat_monthly_usd"] = nat_cost(ctx.p).attrs["monthly_usd"]
    df.attrs["new_usd_month"] = df.attrs["usd_month_new"]
    return df


def verify(ctx: Context) -> pd.DataFrame:
    """The network checks (group "network") on the stack's production inventory."""
    return checks.run(ec2_inventory.ProductionInventory(ctx, ctx.p.stack_name), ctx.p, groups=["network"])


def summary(ctx: Context) -> pd.DataFrame:
    """One row per subnet: tier, AZ, CIDR, route table and where its default route goes."""
    cols = ["subnet", "id", "tier", "az", "cidr", "route_table", "default_route"]
    vid = vpc_id(ctx)
    if vid is None:
        return pd.DataFrame(columns=cols)
    tables = {t["RouteTableId"]: t for t in ec2_inventory.paginate(
        ctx, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vid]}])}
    assoc = _associations(ctx, vid)
    rows = []
    for s in sorted(stack_subnets(ctx).values(), key=lambda s: (names.TIERS.index(s.tags.get(names.TIER, "public")),
                                                              s.raw["AvailabilityZone"])):
        rt = tables.get(assoc.get(s.id, ("", ""))[0], {})
        route = default_route(rt) or {}
        rows.append({"subnet": s.name, "id": s.id, "tier": s.tags.get(names.TIER, ""), "az": s.raw["AvailabilityZone"],
                     "cidr": s.raw["CidrBlock"], "route_table": tagging.as_dict(rt.get("Tags")).get("Name", ""),
                     "default_route": route.get("GatewayId") or route.get("NatGatewayId") or "none (VPC only)"})
    return pd.DataFrame(rows, columns=cols)


def destroy(ctx: Context) -> pd.DataFrame:
    """What this step created, in the kinds' deletion order; safe twice. Resources of later steps inside
    the VPC (ALB, instances, RDS) must be gone first (09_teardown removes everything in order): until
    then the subnets and the VPC answer DependencyViolation, and the rows say "failed"."""
    return destroy_kinds(ctx, STEP)
