"""Step 02_network: a VPC with public, private-app and private-db subnets over several AZs.

Article: "VPC - Your server and database are located in a private cloud called VPC ... It also keeps
the database and your servers secure as they cannot be accessed directly from the internet."

What `apply` builds, each piece by its own `ensure_*` function (find by tag, else create):

- the VPC (DNS support and hostnames on) and 3 subnets per AZ (public / app / db), carved from
  `p.vpc_cidr` deterministically, tagged `workbook:tier`; no subnet maps public IPs (FSBP EC2.15);
- an internet gateway; one NAT gateway (or one per AZ with `p.nat_per_az`), each with an EIP; NAT
  creation starts early (`start_nat_gateways`) and is waited for late (`wait_nat_gateways`);
- route tables: public -> IGW; app (one per AZ) -> its AZ's NAT or the single one; db: no route out
  at all. The database needs no internet: RDS is patched by AWS, not by downloads from the instance,
  so a db tier without a default route cannot exfiltrate or be reached even if its SG were loosened;
- security groups chained ALB -> app -> DB (ALB: 80/443 from anywhere; app: p.app_port from the ALB
  SG; DB: p.db_port from the app SG; no SSH); the VPC's default SG loses all its rules (FSBP EC2.2);
- VPC flow logs to CloudWatch Logs (FSBP EC2.6) through an IAM role `<stack>-flowlogs-role`.
"""
from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, names, progress, tagging
from ..iam_cleanup import delete_iam_role
from ..connect import Context, Resource
from ..inventory import ec2 as ec2_inventory
from ..params import ParameterError, Params, _subnet_bits
from . import Step, created, exists, frame, is_placeholder, register, would_create

STEP_ID = "02_network"
GROUP = "network"

# Prices from AWS-FACTS.md (us-east-1 on-demand, third-party pages 2026, 730 h a month).
PRICES_AS_OF = "2026, us-east-1 on-demand (AWS-FACTS.md)"
NAT_HOURLY_USD = 0.045
NAT_MONTHLY_USD = 32.85
PUBLIC_IPV4_MONTHLY_USD = 3.65
LIVE_NAT_STATES = ["pending", "available"]
ANYWHERE = "0.0.0.0/0"
FLOW_LOG_POLICY = "flowlogs-delivery"

STEP = register(Step(
    STEP_ID, "Private network (VPC)",
    why=("Your server and database are located in a private cloud called VPC and can only be reached "
         "through the entry point from the internet; they cannot be accessed directly from the internet. "
         "Subnets in two or more availability zones let every later tier be redundant."),
    permissions=(
        "ec2:DescribeAvailabilityZones", "ec2:DescribeInstances", "ec2:DescribeVpcs", "ec2:DescribeVpcAttribute",
        "ec2:CreateVpc", "ec2:ModifyVpcAttribute", "ec2:CreateTags", "ec2:DescribeSubnets", "ec2:CreateSubnet",
        "ec2:ModifySubnetAttribute", "ec2:DescribeInternetGateways", "ec2:CreateInternetGateway",
        "ec2:AttachInternetGateway", "ec2:DescribeAddresses", "ec2:AllocateAddress",
        "ec2:DescribeNatGateways", "ec2:CreateNatGateway", "ec2:DescribeRouteTables", "ec2:CreateRouteTable",
        "ec2:AssociateRouteTable", "ec2:ReplaceRouteTableAssociation", "ec2:CreateRoute", "ec2:ReplaceRoute",
        "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:CreateSecurityGroup",
        "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:DescribeFlowLogs",
        "ec2:CreateFlowLogs",
        # destroy
        "ec2:DeleteFlowLogs", "ec2:DeleteNatGateway", "ec2:DisassociateAddress", "ec2:ReleaseAddress",
        "ec2:DisassociateRouteTable", "ec2:DeleteRouteTable", "ec2:DetachInternetGateway",
        "ec2:DeleteInternetGateway", "ec2:DeleteSubnet", "ec2:DeleteSecurityGroup", "ec2:DeleteVpc",
        "logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy", "logs:TagResource",
        "logs:TagLogGroup",
        "logs:DeleteLogGroup",
        "iam:GetRole", "iam:CreateRole", "iam:TagRole", "iam:PutRolePolicy", "iam:PassRole",
        "iam:ListRolePolicies", "iam:DeleteRolePolicy", "iam:DeleteRole", "iam:ListInstanceProfilesForRole",
        "iam:RemoveRoleFromInstanceProfile", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy",
    ),
))


# ---- names this step needs beyond workbook/names.py ----------------------------------------------
def eip_name(p: Params, az: str) -> str:
    """The Elastic IP of a NAT gateway (names.py has none)."""
    return f"{names.nat(p, az)}-eip"


def flow_log_role(p: Params) -> str:
    return p.name("flowlogs-role")


def flow_log_name(p: Params) -> str:
    return p.name("flow-log")


# ---- pure planning -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubnetSpec:
    tier: str
    az: str
    cidr: str
    name: str


def carve_subnets(p: Params, azs: list[str]) -> list[SubnetSpec]:
    """Deterministic layout: slot = tier_index * az_count + az_index, each slot the same size.

    The subnet size is the VPC split by the bits Params validated against, so the same parameters
    always give the same CIDRs (a rerun finds, never re-carves)."""
    vpc = ipaddress.IPv4Network(p.vpc_cidr)
    slots = list(vpc.subnets(prefixlen_diff=_subnet_bits(len(azs))))
    specs = []
    for t, tier in enumerate(names.TIERS):
        for a, az in enumerate(azs):
            specs.append(SubnetSpec(tier, az, str(slots[t * len(azs) + a]), names.subnet(p, tier, az)))
    return specs


def nat_azs(p: Params, azs: list[str]) -> list[str]:
    """AZs that get a NAT gateway: every one, or the first only."""
    return list(azs) if p.nat_per_az else azs[:1]


def nat_for_az(p: Params, azs: list[str], az: str) -> str:
    """The NAT (by AZ) that the app subnets of `az` route through."""
    return az if p.nat_per_az else azs[0]


def nat_cost(p: Params) -> pd.DataFrame:
    """Monthly cost of the NAT gateways this plan runs (hourly charge plus the EIP), data extra."""
    count = p.az_count if p.nat_per_az else 1
    rows = [
        {"item": "NAT gateway (hourly)", "count": count, "unit_usd_month": NAT_MONTHLY_USD,
         "usd_month": round(count * NAT_MONTHLY_USD, 2), "note": f"${NAT_HOURLY_USD}/h x 730 h"},
        {"item": "public IPv4 (NAT EIP)", "count": count, "unit_usd_month": PUBLIC_IPV4_MONTHLY_USD,
         "usd_month": round(count * PUBLIC_IPV4_MONTHLY_USD, 2), "note": "$0.005/h per address"},
    ]
    df = pd.DataFrame(rows)
    total = round(float(df.usd_month.sum()), 2)
    df = pd.concat([df, pd.DataFrame([{"item": "total (plus $0.045 per GB processed)", "count": None,
                                       "unit_usd_month": None, "usd_month": total,
                                       "note": f"prices {PRICES_AS_OF}"}])], ignore_index=True)
    df.attrs["monthly_usd"] = total
    return df


def validate_for_network(p: Params) -> None:
    """Before any AWS call (Params holds every rule, CloudWatch's retention values included)."""
    p.validate()


# ---- lookups -------------------------------------------------------------------------------------
def _paginate(ctx: Context, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return ec2_inventory.paginate(ctx, operation, key, **kwargs)


def _name_of(item: dict[str, Any]) -> str:
    return tagging.as_dict(item.get("Tags")).get("Name", "")


def pick_azs(ctx: Context, p: Params) -> list[str]:
    """The first p.az_count available AZs of the region (sorted, so every run picks the same)."""
    zones = ctx.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    # Local Zones and Wavelength Zones are not for a VPC's core subnets.
    names_ = sorted(z["ZoneName"] for z in zones if z.get("ZoneType", "availability-zone") == "availability-zone")
    if len(names_) < p.az_count:
        raise ParameterError({"az_count": f"{p.region} has {len(names_)} available AZs ({', '.join(names_)}); "
                                          f"use az_count <= {len(names_)}"})
    return names_[: p.az_count]


def find_vpc(ctx: Context, p: Params) -> dict[str, Any] | None:
    vpcs = _paginate(ctx, "describe_vpcs", "Vpcs", Filters=tagging.ec2_filters(p, name=names.vpc(p)))
    return vpcs[0] if vpcs else None


def _vpc_id(ctx: Context, p: Params) -> str | None:
    vpc = find_vpc(ctx, p)
    return vpc["VpcId"] if vpc else None


def dev_vpc_cidrs(ctx: Context, p: Params) -> dict[str, list[str]]:
    """VPC id -> CIDRs of the dev instance(s) found by p.dev_instance_id or p.dev_tag ({} if none)."""
    try:
        instances = ec2_inventory.find_dev_instances(ctx, p)
    except ClientError as e:
        if e.response["Error"]["Code"].startswith("InvalidInstanceID"):
            return {}  # a dev instance that does not exist cannot overlap; 01_assess reports it
        raise
    vpc_ids = sorted({i["VpcId"] for i in instances if i.get("VpcId")})
    if not vpc_ids:
        return {}
    vpcs = _paginate(ctx, "describe_vpcs", "Vpcs", VpcIds=vpc_ids)
    return {v["VpcId"]: [a["CidrBlock"] for a in v.get("CidrBlockAssociationSet", [])
                         if a.get("CidrBlockState", {}).get("State", "associated") == "associated"]
            or [v["CidrBlock"]] for v in vpcs}


def check_dev_overlap(ctx: Context, p: Params) -> None:
    """The new VPC must not overlap the dev instance's VPC (its real CIDR, not only p.dev_vpc_cidr):
    overlapping ranges cannot be peered, and the database move runs between the two."""
    ours = ipaddress.IPv4Network(p.vpc_cidr)
    stack_vpc = _vpc_id(ctx, p)
    taken = [ipaddress.IPv4Network(c) for vid, cidrs in dev_vpc_cidrs(ctx, p).items() if vid != stack_vpc
             for c in cidrs]
    clash = [str(n) for n in taken if n.overlaps(ours)]
    if clash:
        free = next((c for c in ("10.20.0.0/16", "10.30.0.0/16", "10.40.0.0/16", "10.50.0.0/16", "192.168.0.0/16")
                     if not any(ipaddress.IPv4Network(c).overlaps(n) for n in taken)), "another private range")
        raise ParameterError({"vpc_cidr": f"{p.vpc_cidr} overlaps the dev instance's VPC ({', '.join(clash)}); "
                                          f"pick a range that does not, e.g. {free}"})


def _stack_subnets(ctx: Context, p: Params, vpc_id: str) -> dict[str, dict[str, Any]]:
    items = _paginate(ctx, "describe_subnets", "Subnets",
                      Filters=tagging.ec2_filters(p) + [{"Name": "vpc-id", "Values": [vpc_id]}])
    return {_name_of(s): s for s in items}


def describe_nat_gateways(ctx: Context, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """DescribeNatGateways (paginated) with tag filters that hold in the sandbox too."""
    items = _paginate(ctx, "describe_nat_gateways", "NatGateways", Filter=filters)
    if ctx.sandbox:
        wanted = {f["Name"][4:]: f["Values"] for f in filters if f["Name"].startswith("tag:")}
        if wanted:
            _workaround_once(ctx, "moto 5.2.5 ignores tag filters on DescribeNatGateways: filtering NAT gateways "
                                  "by tag client-side")
            items = [n for n in items if all(tagging.as_dict(n.get("Tags")).get(k) in v for k, v in wanted.items())]
    return items


def _workaround_once(ctx: Context, message: str) -> None:
    """ctx.workaround, said once per session rather than under every lookup."""
    said = ctx.__dict__.setdefault("_workarounds_said", set())
    if message not in said:
        said.add(message)
        ctx.workaround(message)


def _live_nats(ctx: Context, p: Params, vpc_id: str) -> dict[str, dict[str, Any]]:
    items = describe_nat_gateways(ctx, tagging.ec2_filters(p) + [
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": LIVE_NAT_STATES + ["failed"]}])
    found: dict[str, dict[str, Any]] = {}
    for n in items:  # a live one wins over a failed one of the same name
        if n["State"] != "failed" or _name_of(n) not in found:
            found[_name_of(n)] = n
    return found


# ---- ensure_*: one resource (kind) each ------------------------------------------------------------
def ensure_vpc(ctx: Context, p: Params) -> Resource:
    """The VPC with DNS support and DNS hostnames on (RDS endpoints and private DNS need both)."""
    name = names.vpc(p)
    vpc = find_vpc(ctx, p)
    ec2 = ctx.client("ec2")
    if vpc:
        if vpc["CidrBlock"] != p.vpc_cidr:
            raise ParameterError({"vpc_cidr": f"the stack's VPC {vpc['VpcId']} already exists with {vpc['CidrBlock']}; "
                                              f"set vpc_cidr={vpc['CidrBlock']} or destroy the network first"})
        rec = exists(ctx, STEP_ID, "vpc", name, vpc["VpcId"])
    elif p.dry_run:
        return would_create(ctx, STEP_ID, "vpc", name)
    else:
        vpc = ec2.create_vpc(CidrBlock=p.vpc_cidr, TagSpecifications=tagging.tag_spec("vpc", p, STEP_ID, name))["Vpc"]
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc["VpcId"]])
        rec = created(ctx, STEP_ID, "vpc", name, vpc["VpcId"])
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        current = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attr[0].lower() + attr[1:])
        if not current[attr]["Value"]:
            if p.dry_run:
                ctx.note(STEP_ID, "vpc_attribute", f"{name} {attr}", vpc["VpcId"], "would update")
            else:
                ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], **{attr: {"Value": True}})
                ctx.note(STEP_ID, "vpc_attribute", f"{name} {attr}", vpc["VpcId"], "updated")
    return rec


def ensure_subnets(ctx: Context, p: Params, azs: list[str] | None = None) -> list[Resource]:
    """Public, app and db subnets in each AZ; none maps public IPs on launch (FSBP EC2.15): only the
    ALB and the NAT live in public subnets, and both get their addresses another way."""
    azs = azs or pick_azs(ctx, p)
    specs = carve_subnets(p, azs)
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None:
        if p.dry_run:
            return [would_create(ctx, STEP_ID, "subnet", s.name) for s in specs]
        raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
    ec2 = ctx.client("ec2")
    have = _stack_subnets(ctx, p, vpc_id)
    out = []
    for s in specs:
        found = have.get(s.name)
        if found:
            if found["CidrBlock"] != s.cidr or found["AvailabilityZone"] != s.az:
                raise RuntimeError(f"subnet {s.name} ({found['SubnetId']}) is {found['CidrBlock']} in "
                                   f"{found['AvailabilityZone']}, the plan says {s.cidr} in {s.az}; "
                                   "destroy the network or restore the earlier parameters")
            out.append(exists(ctx, STEP_ID, "subnet", s.name, found["SubnetId"]))
        elif p.dry_run:
            out.append(would_create(ctx, STEP_ID, "subnet", s.name))
            continue
        else:
            spec = tagging.tag_spec("subnet", p, STEP_ID, s.name)
            spec[0]["Tags"].append({"Key": names.TIER, "Value": s.tier})
            found = ec2.create_subnet(VpcId=vpc_id, CidrBlock=s.cidr, AvailabilityZone=s.az,
                                      TagSpecifications=spec)["Subnet"]
            out.append(created(ctx, STEP_ID, "subnet", s.name, found["SubnetId"]))
        if found.get("MapPublicIpOnLaunch"):
            if p.dry_run:
                ctx.note(STEP_ID, "subnet_attribute", f"{s.name} MapPublicIpOnLaunch=false", found["SubnetId"],
                         "would update")
            else:
                ec2.modify_subnet_attribute(SubnetId=found["SubnetId"], MapPublicIpOnLaunch={"Value": False})
                ctx.note(STEP_ID, "subnet_attribute", f"{s.name} MapPublicIpOnLaunch=false", found["SubnetId"],
                         "updated")
    new = [r.id for r in out if r.action == "created"]
    if new:
        ec2.get_waiter("subnet_available").wait(SubnetIds=new)
    return out


def ensure_internet_gateway(ctx: Context, p: Params) -> Resource:
    """The internet gateway, attached to the VPC (a crash between create and attach is finished here)."""
    name = names.igw(p)
    ec2 = ctx.client("ec2")
    vpc_id = _vpc_id(ctx, p)
    igws = _paginate(ctx, "describe_internet_gateways", "InternetGateways", Filters=tagging.ec2_filters(p, name=name))
    if igws:
        igw = igws[0]
        rec = exists(ctx, STEP_ID, "internet_gateway", name, igw["InternetGatewayId"])
    elif p.dry_run:
        return would_create(ctx, STEP_ID, "internet_gateway", name)
    else:
        igw = ec2.create_internet_gateway(
            TagSpecifications=tagging.tag_spec("internet-gateway", p, STEP_ID, name))["InternetGateway"]
        ec2.get_waiter("internet_gateway_exists").wait(InternetGatewayIds=[igw["InternetGatewayId"]])
        rec = created(ctx, STEP_ID, "internet_gateway", name, igw["InternetGatewayId"])
    attached = {a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") in ("attached", "available", "attaching")}
    if vpc_id is None:
        if not p.dry_run:
            raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
        ctx.note(STEP_ID, "igw_attachment", f"{name} -> {names.vpc(p)}", rec.id, "would create")
    elif vpc_id not in attached:
        if p.dry_run:
            ctx.note(STEP_ID, "igw_attachment", f"{name} -> {names.vpc(p)}", rec.id, "would create")
        else:
            ec2.attach_internet_gateway(InternetGatewayId=rec.id, VpcId=vpc_id)
            ctx.note(STEP_ID, "igw_attachment", f"{name} -> {names.vpc(p)}", rec.id, "created")
    return rec


def _ensure_eip(ctx: Context, p: Params, az: str) -> Resource:
    name = eip_name(p, az)
    found = ec2_inventory.describe_addresses(ctx, tagging.ec2_filters(p, name=name))
    if found:
        return exists(ctx, STEP_ID, "elastic_ip", name, found[0]["AllocationId"])
    if p.dry_run:
        return would_create(ctx, STEP_ID, "elastic_ip", name)
    # AllocateAddress takes no client token; the tag lookup above is what keeps a rerun from a twin.
    eip = ctx.client("ec2").allocate_address(Domain="vpc",
                                             TagSpecifications=tagging.tag_spec("elastic-ip", p, STEP_ID, name))
    return created(ctx, STEP_ID, "elastic_ip", name, eip["AllocationId"])


def start_nat_gateways(ctx: Context, p: Params, azs: list[str] | None = None) -> list[Resource]:
    """EIP + NAT gateway per NAT AZ, created WITHOUT waiting (1.5-2 min each on AWS, up to 10):
    the other resources are built meanwhile and `wait_nat_gateways` waits at the end."""
    azs = azs or pick_azs(ctx, p)
    vpc_id = _vpc_id(ctx, p)
    ec2 = ctx.client("ec2")
    out: list[Resource] = []
    if vpc_id is None and not p.dry_run:
        raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
    nats = _live_nats(ctx, p, vpc_id) if vpc_id else {}
    subnets = _stack_subnets(ctx, p, vpc_id) if vpc_id else {}
    for az in nat_azs(p, azs):
        name = names.nat(p, az)
        nat = nats.get(name)
        if nat and nat["State"] != "failed":
            out.append(exists(ctx, STEP_ID, "nat_gateway", name, nat["NatGatewayId"]))
            continue
        eip = _ensure_eip(ctx, p, az)
        out.append(eip)
        subnet = subnets.get(names.subnet(p, "public", az))
        if p.dry_run or subnet is None:
            if not p.dry_run:
                raise RuntimeError(f"no subnet {names.subnet(p, 'public', az)} yet: run ensure_subnets first")
            out.append(would_create(ctx, STEP_ID, "nat_gateway", name))
            continue
        token_name = name
        if nat:  # failed (e.g. capacity): delete it; a new token, since the old one returns the failed NAT
            ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
            ctx.note(STEP_ID, "nat_gateway", name, nat["NatGatewayId"], "deleted (failed)")
            token_name = f"{name}/{nat['NatGatewayId']}"
        made = ec2.create_nat_gateway(SubnetId=subnet["SubnetId"], AllocationId=eip.id, ConnectivityType="public",
                                      ClientToken=tagging.client_token(p, token_name),
                                      TagSpecifications=tagging.tag_spec("natgateway", p, STEP_ID, name))["NatGateway"]
        out.append(created(ctx, STEP_ID, "nat_gateway", name, made["NatGatewayId"]))
    return out


def wait_nat_gateways(ctx: Context, p: Params) -> list[Resource]:
    """Wait (botocore nat_gateway_available, 15 s x 40, with a progress bar) for this stack's NATs."""
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None:
        return []
    out = []
    for name, nat in sorted(_live_nats(ctx, p, vpc_id).items()):
        if nat["State"] == "failed":
            raise RuntimeError(f"NAT gateway {name} ({nat['NatGatewayId']}) failed: {nat.get('FailureMessage', '')}; "
                               "run start_nat_gateways again to replace it")
        if nat["State"] != "available":
            progress.wait_for(ctx.client("ec2"), "nat_gateway_available", f"NAT gateway {name}",
                              NatGatewayIds=[nat["NatGatewayId"]])
        out.append(ctx.note(STEP_ID, "nat_gateway", name, nat["NatGatewayId"], "available"))
    return out


def _route_tables(ctx: Context, p: Params, vpc_id: str) -> dict[str, dict[str, Any]]:
    items = _paginate(ctx, "describe_route_tables", "RouteTables",
                      Filters=tagging.ec2_filters(p) + [{"Name": "vpc-id", "Values": [vpc_id]}])
    return {_name_of(t): t for t in items}


def _subnet_associations(ctx: Context, vpc_id: str) -> dict[str, tuple[str, str]]:
    """subnet id -> (route table id, association id) for explicit associations in the VPC."""
    items = _paginate(ctx, "describe_route_tables", "RouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return {a["SubnetId"]: (t["RouteTableId"], a["RouteTableAssociationId"])
            for t in items for a in t.get("Associations", []) if a.get("SubnetId")}


def route_table_layout(p: Params, azs: list[str]) -> dict[str, list[str]]:
    """Route table name -> names of the subnets it serves: one public, one app per AZ, one db."""
    layout = {names.route_table(p, "public"): [names.subnet(p, "public", az) for az in azs]}
    for az in azs:
        layout[names.route_table(p, "app", az)] = [names.subnet(p, "app", az)]
    layout[names.route_table(p, "db")] = [names.subnet(p, "db", az) for az in azs]
    return layout


def _default_route(table: dict[str, Any]) -> dict[str, Any] | None:
    return next((r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == ANYWHERE), None)


def _ensure_default_route(ctx: Context, p: Params, table: dict[str, Any], name: str, target: dict[str, str]) -> None:
    """0.0.0.0/0 -> target ({"GatewayId": igw} or {"NatGatewayId": nat}); replaces a stale or blackholed one."""
    ec2 = ctx.client("ec2")
    target_id = next(iter(target.values()))
    route = _default_route(table)
    if route and route.get(next(iter(target))) == target_id and route.get("State", "active") == "active":
        ctx.note(STEP_ID, "route", f"{name} 0.0.0.0/0", target_id, "exists")
    elif p.dry_run:
        ctx.note(STEP_ID, "route", f"{name} 0.0.0.0/0", target_id, "would create" if not route else "would update")
    elif route:
        ec2.replace_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock=ANYWHERE, **target)
        ctx.note(STEP_ID, "route", f"{name} 0.0.0.0/0", target_id, "updated")
    else:
        ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock=ANYWHERE, **target)
        ctx.note(STEP_ID, "route", f"{name} 0.0.0.0/0", target_id, "created")


def ensure_route_tables(ctx: Context, p: Params, azs: list[str] | None = None) -> list[Resource]:
    """Route tables and their subnet associations, plus public -> IGW. The app tables get their NAT
    route from `ensure_nat_routes` once the NAT is available; the db table never gets a route out."""
    azs = azs or pick_azs(ctx, p)
    layout = route_table_layout(p, azs)
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None:
        if p.dry_run:
            return [would_create(ctx, STEP_ID, "route_table", n) for n in layout]
        raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
    ec2 = ctx.client("ec2")
    tables = _route_tables(ctx, p, vpc_id)
    subnets = _stack_subnets(ctx, p, vpc_id)
    assoc = _subnet_associations(ctx, vpc_id)
    out = []
    for name, subnet_names in layout.items():
        table = tables.get(name)
        if table:
            out.append(exists(ctx, STEP_ID, "route_table", name, table["RouteTableId"]))
        elif p.dry_run:
            out.append(would_create(ctx, STEP_ID, "route_table", name))
        else:
            table = ec2.create_route_table(VpcId=vpc_id, ClientToken=tagging.client_token(p, name),
                                           TagSpecifications=tagging.tag_spec("route-table", p, STEP_ID, name))["RouteTable"]
            tables[name] = table
            out.append(created(ctx, STEP_ID, "route_table", name, table["RouteTableId"]))
        for sn in subnet_names:
            subnet = subnets.get(sn)
            if subnet is None:
                if not p.dry_run:
                    raise RuntimeError(f"no subnet {sn} yet: run ensure_subnets first")
                ctx.note(STEP_ID, "route_table_association", f"{name} <- {sn}", "", "would create")
                continue
            current = assoc.get(subnet["SubnetId"])
            if table and current and current[0] == table["RouteTableId"]:
                continue
            if p.dry_run:
                ctx.note(STEP_ID, "route_table_association", f"{name} <- {sn}", subnet["SubnetId"],
                         "would update" if current else "would create")
            elif current:  # associated elsewhere (edited by hand): move it
                ec2.replace_route_table_association(AssociationId=current[1], RouteTableId=table["RouteTableId"])
                ctx.note(STEP_ID, "route_table_association", f"{name} <- {sn}", subnet["SubnetId"], "updated")
            else:
                ec2.associate_route_table(RouteTableId=table["RouteTableId"], SubnetId=subnet["SubnetId"])
                ctx.note(STEP_ID, "route_table_association", f"{name} <- {sn}", subnet["SubnetId"], "created")
    public = tables.get(names.route_table(p, "public"))
    igws = _paginate(ctx, "describe_internet_gateways", "InternetGateways",
                     Filters=tagging.ec2_filters(p, name=names.igw(p)))
    if public and igws:
        _ensure_default_route(ctx, p, public, names.route_table(p, "public"),
                              {"GatewayId": igws[0]["InternetGatewayId"]})
    elif p.dry_run:
        ctx.note(STEP_ID, "route", f"{names.route_table(p, 'public')} 0.0.0.0/0", "(new internet_gateway)",
                 "would create")
    else:
        raise RuntimeError(f"no internet gateway {names.igw(p)} yet: run ensure_internet_gateway first")
    return out


def ensure_nat_routes(ctx: Context, p: Params, azs: list[str] | None = None) -> list[Resource]:
    """app route table of each AZ: 0.0.0.0/0 -> that AZ's NAT (or the single one). Waits for the NAT
    first: a route to a NAT that is not available yet would not carry traffic."""
    azs = azs or pick_azs(ctx, p)
    vpc_id = _vpc_id(ctx, p)
    before = len(ctx.resources)
    if vpc_id is None:
        if not p.dry_run:
            raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
        for az in azs:
            ctx.note(STEP_ID, "route", f"{names.route_table(p, 'app', az)} 0.0.0.0/0", "(new nat_gateway)",
                     "would create")
        return ctx.resources[before:]
    nats = _live_nats(ctx, p, vpc_id)
    tables = _route_tables(ctx, p, vpc_id)
    for az in azs:
        rt_name = names.route_table(p, "app", az)
        nat = nats.get(names.nat(p, nat_for_az(p, azs, az)))
        table = tables.get(rt_name)
        if nat is None or table is None or nat["State"] == "failed":
            if not p.dry_run:
                raise RuntimeError(f"{rt_name} needs its route table and an available NAT gateway: "
                                   "run ensure_route_tables and start_nat_gateways first")
            ctx.note(STEP_ID, "route", f"{rt_name} 0.0.0.0/0", "(new nat_gateway)", "would create")
            continue
        if nat["State"] != "available" and not p.dry_run:
            progress.wait_for(ctx.client("ec2"), "nat_gateway_available", f"NAT gateway {_name_of(nat)}",
                              NatGatewayIds=[nat["NatGatewayId"]])
        _ensure_default_route(ctx, p, table, rt_name, {"NatGatewayId": nat["NatGatewayId"]})
    return ctx.resources[before:]


# ---- security groups -------------------------------------------------------------------------------
Rule = tuple[bool, str, int, int, str]  # (egress, protocol, from, to, source cidr or sg id)


def desired_rules(p: Params, sg_ids: dict[str, str]) -> dict[str, set[Rule]]:
    """The chain ALB -> app -> DB. Egress: the ALB may only reach the app port, the DB nothing (SGs
    are stateful, so replies still flow); the app keeps AWS's default all-out (AWS APIs, the DB,
    package mirrors through the NAT)."""
    alb, app, db = sg_ids[names.alb_sg(p)], sg_ids[names.app_sg(p)], sg_ids[names.db_sg(p)]
    return {
        names.alb_sg(p): {(False, "tcp", 80, 80, ANYWHERE), (False, "tcp", 443, 443, ANYWHERE),
                          (True, "tcp", p.app_port, p.app_port, app)},
        names.app_sg(p): {(False, "tcp", p.app_port, p.app_port, alb), (True, "-1", -1, -1, ANYWHERE)},
        names.db_sg(p): {(False, "tcp", p.db_port, p.db_port, app)},
    }


def _rule_of(r: dict[str, Any]) -> Rule:
    source = r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("ReferencedGroupInfo", {}).get("GroupId") \
        or r.get("PrefixListId", "")
    return (bool(r["IsEgress"]), str(r["IpProtocol"]), int(r.get("FromPort", -1)), int(r.get("ToPort", -1)), source)


def _sg_rules(ctx: Context, group_id: str) -> list[dict[str, Any]]:
    return _paginate(ctx, "describe_security_group_rules", "SecurityGroupRules",
                     Filters=[{"Name": "group-id", "Values": [group_id]}])


def _permission(rule: Rule) -> dict[str, Any]:
    _, proto, lo, hi, source = rule
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=lo, ToPort=hi)
    if source.startswith("sg-"):
        perm["UserIdGroupPairs"] = [{"GroupId": source}]
    else:
        perm["IpRanges"] = [{"CidrIp": source}]
    return perm


def _describe_rule(rule: Rule, group_names: dict[str, str] | None = None) -> str:
    egress, proto, lo, hi, source = rule
    source = (group_names or {}).get(source, source)
    ports = "all" if proto == "-1" else (str(lo) if lo == hi else f"{lo}-{hi}")
    return f"{'egress to' if egress else 'ingress from'} {source} {proto if proto != '-1' else ''}:{ports}".replace(" :", " ")


def _find_security_groups(ctx: Context, p: Params, vpc_id: str) -> dict[str, dict[str, Any]]:
    items = _paginate(ctx, "describe_security_groups", "SecurityGroups",
                      Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    ours = {names.alb_sg(p), names.app_sg(p), names.db_sg(p)}
    # By exact group name within the VPC (unique there), which also finds one whose tags were lost.
    return {g["GroupName"]: g for g in items if g["GroupName"] in ours}


def ensure_security_groups(ctx: Context, p: Params) -> list[Resource]:
    """ALB, app and DB security groups and their rules; adds what is missing, never opens more.
    Rules someone else added (another step, by hand) stay; the checks report anything unsafe."""
    groups = {names.alb_sg(p): "ALB: HTTP/HTTPS from the internet",
              names.app_sg(p): f"app servers: port {p.app_port} from the ALB only",
              names.db_sg(p): f"database: port {p.db_port} from the app servers only"}
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None and not p.dry_run:
        raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
    ec2 = ctx.client("ec2")
    have = _find_security_groups(ctx, p, vpc_id) if vpc_id else {}
    out: list[Resource] = []
    ids: dict[str, str] = {}
    for name, description in groups.items():
        g = have.get(name)
        if g:
            out.append(exists(ctx, STEP_ID, "security_group", name, g["GroupId"]))
        elif p.dry_run:
            out.append(would_create(ctx, STEP_ID, "security_group", name))
        else:
            gid = ec2.create_security_group(GroupName=name, Description=description, VpcId=vpc_id,
                                            TagSpecifications=tagging.tag_spec("security-group", p, STEP_ID, name))["GroupId"]
            ec2.get_waiter("security_group_exists").wait(GroupIds=[gid])
            out.append(created(ctx, STEP_ID, "security_group", name, gid))
        ids[name] = out[-1].id
    id_names = {v: k for k, v in ids.items()}
    for name, rules in desired_rules(p, ids).items():
        gid = ids[name]
        current = {} if is_placeholder(gid) else {_rule_of(r): r for r in _sg_rules(ctx, gid)}
        for rule in sorted(rules - set(current), key=str):
            label = f"{name} {_describe_rule(rule, id_names)}"
            if p.dry_run or is_placeholder(gid):
                ctx.note(STEP_ID, "security_group_rule", label, gid, "would create")
                continue
            egress = rule[0]
            if egress:
                ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=[_permission(rule)])
            else:
                ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[_permission(rule)])
            ctx.note(STEP_ID, "security_group_rule", label, gid, "created")
        if name in (names.alb_sg(p), names.db_sg(p)):
            default_out = (True, "-1", -1, -1, ANYWHERE)
            if default_out in current:
                label = f"{name} {_describe_rule(default_out)}"
                if p.dry_run:
                    ctx.note(STEP_ID, "security_group_rule", label, gid, "would delete")
                else:
                    ec2.revoke_security_group_egress(GroupId=gid, SecurityGroupRuleIds=[
                        current[default_out]["SecurityGroupRuleId"]])
                    ctx.note(STEP_ID, "security_group_rule", label, gid, "deleted")
            elif is_placeholder(gid):
                ctx.note(STEP_ID, "security_group_rule", f"{name} {_describe_rule(default_out)}", gid, "would delete")
    return out


def close_default_security_group(ctx: Context, p: Params) -> Resource:
    """Revoke every rule of the VPC's default security group (FSBP EC2.2): anything launched without
    naming a group then gets no traffic at all instead of the default's allow-all among members."""
    name = f"{names.vpc(p)} default SG"
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None:
        if not p.dry_run:
            raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
        return ctx.note(STEP_ID, "default_security_group", name, "(new vpc)", "would update")
    ec2 = ctx.client("ec2")
    sg = _paginate(ctx, "describe_security_groups", "SecurityGroups",
                   Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": ["default"]}])[0]
    rules = _sg_rules(ctx, sg["GroupId"])
    if not rules:
        return ctx.note(STEP_ID, "default_security_group", name, sg["GroupId"], "exists")
    if p.dry_run:
        return ctx.note(STEP_ID, "default_security_group", f"{name}: revoke {len(rules)} rules", sg["GroupId"],
                        "would update")
    ingress = [r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]]
    egress = [r["SecurityGroupRuleId"] for r in rules if r["IsEgress"]]
    if ingress:
        ec2.revoke_security_group_ingress(GroupId=sg["GroupId"], SecurityGroupRuleIds=ingress)
    if egress:
        ec2.revoke_security_group_egress(GroupId=sg["GroupId"], SecurityGroupRuleIds=egress)
    return ctx.note(STEP_ID, "default_security_group", f"{name}: revoked {len(rules)} rules", sg["GroupId"], "updated")


# ---- flow logs -------------------------------------------------------------------------------------
def _find_log_group(ctx: Context, name: str) -> dict[str, Any] | None:
    pages = ctx.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    return next((g for page in pages for g in page.get("logGroups", []) if g["logGroupName"] == name), None)


def ensure_flow_log_group(ctx: Context, p: Params) -> Resource:
    """The CloudWatch Logs group the flow logs go to, with p.log_retention_days."""
    name = names.flow_log_group(p)
    logs = ctx.client("logs")
    group = _find_log_group(ctx, name)
    if group is None:
        if p.dry_run:
            return would_create(ctx, STEP_ID, "log_group", name)
        logs.create_log_group(logGroupName=name, tags=tagging.tag_dict(p, STEP_ID, name))
        rec = created(ctx, STEP_ID, "log_group", name, name)
    else:
        rec = exists(ctx, STEP_ID, "log_group", name, name)
    if (group or {}).get("retentionInDays") != p.log_retention_days:
        if p.dry_run:
            ctx.note(STEP_ID, "log_retention", f"{name}: {p.log_retention_days} days", name, "would update")
        else:
            logs.put_retention_policy(logGroupName=name, retentionInDays=p.log_retention_days)
            ctx.note(STEP_ID, "log_retention", f"{name}: {p.log_retention_days} days", name, "updated")
    return rec


def flow_log_trust_policy(account_id: str) -> dict[str, Any]:
    """Only the flow logs service of this account may assume the role (confused-deputy guard)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}}}]}


def flow_log_delivery_policy(p: Params, account_id: str) -> dict[str, Any]:
    """Write to the one log group, nothing else (the group exists, so no logs:CreateLogGroup)."""
    arn = f"arn:aws:logs:{p.region}:{account_id}:log-group:{names.flow_log_group(p)}"
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
        "Resource": [arn, f"{arn}:*"]}]}


def ensure_flow_log_role(ctx: Context, p: Params) -> Resource:
    """IAM role `<stack>-flowlogs-role` that the flow logs service uses to deliver (found by exact name:
    IAM has no tag filter on list/describe)."""
    name = flow_log_role(p)
    iam = ctx.client("iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
        rec = exists(ctx, STEP_ID, "iam_role", name, role["Arn"])
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        if p.dry_run:
            return would_create(ctx, STEP_ID, "iam_role", name)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(flow_log_trust_policy(ctx.account_id)),
                               Description=f"VPC flow logs of {names.vpc(p)} -> {names.flow_log_group(p)}",
                               Tags=tagging.tags(p, STEP_ID, name))["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
        rec = created(ctx, STEP_ID, "iam_role", name, role["Arn"])
    # The inline policy may be missing after a crash between the two calls.
    have = iam.list_role_policies(RoleName=name)["PolicyNames"]
    if FLOW_LOG_POLICY not in have:
        if p.dry_run:
            ctx.note(STEP_ID, "iam_role_policy", f"{name}/{FLOW_LOG_POLICY}", rec.id, "would create")
        else:
            iam.put_role_policy(RoleName=name, PolicyName=FLOW_LOG_POLICY,
                                PolicyDocument=json.dumps(flow_log_delivery_policy(p, ctx.account_id)))
            ctx.note(STEP_ID, "iam_role_policy", f"{name}/{FLOW_LOG_POLICY}", rec.id, "created")
    return rec


def ensure_flow_log(ctx: Context, p: Params) -> Resource:
    """Flow log of ALL traffic of the VPC into the log group (FSBP EC2.6 asks for at least REJECT)."""
    name = flow_log_name(p)
    vpc_id = _vpc_id(ctx, p)
    group = names.flow_log_group(p)
    if vpc_id is None:
        if not p.dry_run:
            raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
        return would_create(ctx, STEP_ID, "flow_log", name)
    found = [f for f in _paginate(ctx, "describe_flow_logs", "FlowLogs",
                                  Filter=[{"Name": "resource-id", "Values": [vpc_id]}])
             if f.get("LogGroupName") == group and f.get("FlowLogStatus", "ACTIVE") == "ACTIVE"]
    if found:
        return exists(ctx, STEP_ID, "flow_log", name, found[0]["FlowLogId"])
    if p.dry_run:
        return would_create(ctx, STEP_ID, "flow_log", name)
    role_arn = ctx.client("iam").get_role(RoleName=flow_log_role(p))["Role"]["Arn"]
    resp = ctx.client("ec2").create_flow_logs(
        ResourceIds=[vpc_id], ResourceType="VPC", TrafficType="ALL", LogDestinationType="cloud-watch-logs",
        LogGroupName=group, DeliverLogsPermissionArn=role_arn, ClientToken=tagging.client_token(p, name),
        TagSpecifications=tagging.tag_spec("vpc-flow-log", p, STEP_ID, name))
    if resp.get("Unsuccessful"):
        err = resp["Unsuccessful"][0].get("Error", {})
        raise RuntimeError(f"create_flow_logs failed for {vpc_id}: {err.get('Code')}: {err.get('Message')}")
    return created(ctx, STEP_ID, "flow_log", name, resp["FlowLogIds"][0])


def ensure_flow_logs(ctx: Context, p: Params) -> list[Resource]:
    """Log group, delivery role, flow log: in that order, each found before it is made."""
    return [ensure_flow_log_group(ctx, p), ensure_flow_log_role(ctx, p), ensure_flow_log(ctx, p)]


# ---- the step ----------------------------------------------------------------------------------------
def _since(ctx: Context, mark: int) -> pd.DataFrame:
    return frame(ctx.resources[mark:])


def apply(ctx: Context, p: Params) -> pd.DataFrame:
    """Everything, in dependency order, NAT creation early and its wait late."""
    validate_for_network(p)
    mark = len(ctx.resources)
    check_dev_overlap(ctx, p)
    azs = pick_azs(ctx, p)
    ensure_vpc(ctx, p)
    ensure_subnets(ctx, p, azs)
    ensure_internet_gateway(ctx, p)
    start_nat_gateways(ctx, p, azs)
    ensure_route_tables(ctx, p, azs)
    ensure_security_groups(ctx, p)
    close_default_security_group(ctx, p)
    ensure_flow_logs(ctx, p)
    if not p.dry_run:
        wait_nat_gateways(ctx, p)
    ensure_nat_routes(ctx, p, azs)
    return _since(ctx, mark)


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do, creating nothing, with the monthly cost of what it would add.

    `attrs["nat_monthly_usd"]` holds the NAT total (hourly charge + EIP) for the plan as a whole."""
    dry = p if p.dry_run else p.replace(dry_run=True)
    df = apply(ctx, dry)
    cost = {"nat_gateway": NAT_MONTHLY_USD, "elastic_ip": PUBLIC_IPV4_MONTHLY_USD}
    df["usd_month"] = [cost.get(t, 0.0) if a == "would create" else 0.0 for t, a in zip(df.type, df.action)]
    df.attrs["nat_monthly_usd"] = nat_cost(p).attrs["monthly_usd"]
    df.attrs["new_usd_month"] = round(float(df.usd_month.sum()), 2)
    return df


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    """The network checks (group "network") on the stack's production inventory."""
    from ..inventory.ec2 import ProductionInventory
    return checks.run(ProductionInventory(ctx, p.stack_name), p, groups=[GROUP])


def summary(ctx: Context, p: Params) -> pd.DataFrame:
    """One row per subnet: tier, AZ, CIDR, route table and where its default route goes."""
    vpc_id = _vpc_id(ctx, p)
    if vpc_id is None:
        return pd.DataFrame(columns=["subnet", "id", "tier", "az", "cidr", "route_table", "default_route"])
    subnets = _stack_subnets(ctx, p, vpc_id)
    tables = {t["RouteTableId"]: t for t in _paginate(ctx, "describe_route_tables", "RouteTables",
                                                      Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])}
    assoc = _subnet_associations(ctx, vpc_id)
    rows = []
    for name, s in sorted(subnets.items(), key=lambda kv: (names.TIERS.index(tagging.as_dict(kv[1].get("Tags")).get(
            names.TIER, "public")), kv[1]["AvailabilityZone"])):
        rt = tables.get(assoc.get(s["SubnetId"], ("", ""))[0], {})
        route = _default_route(rt) or {}
        rows.append({"subnet": name, "id": s["SubnetId"], "tier": tagging.as_dict(s.get("Tags")).get(names.TIER, ""),
                     "az": s["AvailabilityZone"], "cidr": s["CidrBlock"], "route_table": _name_of(rt),
                     "default_route": route.get("GatewayId") or route.get("NatGatewayId") or "none (VPC only)"})
    return pd.DataFrame(rows)


# ---- destroy -----------------------------------------------------------------------------------------
def _ignore_missing(e: ClientError, *codes: str) -> None:
    if not e.response["Error"]["Code"].endswith(("NotFound", "NoSuchEntity", "ResourceNotFoundException") + codes):
        raise e


def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """Reverse dependency order; everything found by the stack's tags (or exact names); safe twice.

    Resources of later steps inside the VPC (ALB, instances, RDS) must be gone first (09_teardown
    runs the steps' destroys in reverse); a leftover ENI makes DeleteSubnet/DeleteVpc fail loudly."""
    mark = len(ctx.resources)
    ec2, logs, iam = ctx.client("ec2"), ctx.client("logs"), ctx.client("iam")
    vpc_id = _vpc_id(ctx, p)

    def gone(type_: str, name: str, id_: str) -> None:
        ctx.note(STEP_ID, type_, name, id_, "would delete" if p.dry_run else "deleted")

    # 1. flow logs, their log group and role
    if vpc_id:
        for f in _paginate(ctx, "describe_flow_logs", "FlowLogs", Filter=[{"Name": "resource-id", "Values": [vpc_id]}]):
            if f.get("LogGroupName") == names.flow_log_group(p) or tagging.as_dict(f.get("Tags")).get(tagging.STACK) == p.stack_name:
                if not p.dry_run:
                    ec2.delete_flow_logs(FlowLogIds=[f["FlowLogId"]])
                gone("flow_log", _name_of(f) or flow_log_name(p), f["FlowLogId"])
    if _find_log_group(ctx, names.flow_log_group(p)):
        if not p.dry_run:
            logs.delete_log_group(logGroupName=names.flow_log_group(p))
        gone("log_group", names.flow_log_group(p), names.flow_log_group(p))
    try:
        role = iam.get_role(RoleName=flow_log_role(p))["Role"]
        if tagging.as_dict(role.get("Tags")).get(tagging.STACK, p.stack_name) == p.stack_name:
            if not p.dry_run:
                delete_iam_role(ctx, flow_log_role(p))
            gone("iam_role", flow_log_role(p), role["Arn"])
    except ClientError as e:
        _ignore_missing(e)

    # 2. NAT gateways, and wait until they are deleted (their EIPs and subnets stay busy until then)
    nats = describe_nat_gateways(ctx, tagging.ec2_filters(p, step=STEP_ID) + [
        {"Name": "state", "Values": LIVE_NAT_STATES + ["failed", "deleting"]}])
    for n in nats:
        if n["State"] != "deleting" and not p.dry_run:
            ec2.delete_nat_gateway(NatGatewayId=n["NatGatewayId"])
        gone("nat_gateway", _name_of(n), n["NatGatewayId"])
    if nats and not p.dry_run:
        progress.wait_for(ec2, "nat_gateway_deleted", f"{len(nats)} NAT gateway(s) to be deleted",
                          NatGatewayIds=[n["NatGatewayId"] for n in nats])

    # 3. Elastic IPs of the NATs
    for a in ec2_inventory.describe_addresses(ctx, tagging.ec2_filters(p, step=STEP_ID)):
        if not p.dry_run:
            if a.get("AssociationId"):
                ec2.disassociate_address(AssociationId=a["AssociationId"])
            ec2.release_address(AllocationId=a["AllocationId"])
        gone("elastic_ip", _name_of(a), a["AllocationId"])

    # 4. route tables (associations first); the main table goes with the VPC
    if vpc_id:
        for name, t in _route_tables(ctx, p, vpc_id).items():
            if any(a.get("Main") for a in t.get("Associations", [])):
                continue
            if not p.dry_run:
                for a in t.get("Associations", []):
                    ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
                ec2.delete_route_table(RouteTableId=t["RouteTableId"])
            gone("route_table", name, t["RouteTableId"])

    # 5. internet gateway: detach, delete
    for igw in _paginate(ctx, "describe_internet_gateways", "InternetGateways",
                         Filters=tagging.ec2_filters(p, step=STEP_ID)):
        if not p.dry_run:
            for a in igw.get("Attachments", []):
                ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=a["VpcId"])
            ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
        gone("internet_gateway", _name_of(igw), igw["InternetGatewayId"])

    if vpc_id:
        # 6. subnets
        for name, s in _stack_subnets(ctx, p, vpc_id).items():
            if not p.dry_run:
                ec2.delete_subnet(SubnetId=s["SubnetId"])
            gone("subnet", name, s["SubnetId"])
        # 7. security groups: revoke the rules that reference each other first, else neither can go
        groups = _find_security_groups(ctx, p, vpc_id)
        if not p.dry_run:
            for g in groups.values():
                refs = [r for r in _sg_rules(ctx, g["GroupId"]) if r.get("ReferencedGroupInfo", {}).get("GroupId")]
                ingress = [r["SecurityGroupRuleId"] for r in refs if not r["IsEgress"]]
                egress = [r["SecurityGroupRuleId"] for r in refs if r["IsEgress"]]
                if ingress:
                    ec2.revoke_security_group_ingress(GroupId=g["GroupId"], SecurityGroupRuleIds=ingress)
                if egress:
                    ec2.revoke_security_group_egress(GroupId=g["GroupId"], SecurityGroupRuleIds=egress)
        for name, g in groups.items():
            if not p.dry_run:
                ec2.delete_security_group(GroupId=g["GroupId"])
            gone("security_group", name, g["GroupId"])
        # 8. the VPC
        if not p.dry_run:
            ec2.delete_vpc(VpcId=vpc_id)
        gone("vpc", names.vpc(p), vpc_id)
    return _since(ctx, mark)

