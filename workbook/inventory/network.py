"""Network frames beyond ec2.py: internet_gateways, nat_gateways, route_tables, flow_logs.

Columns (besides id, name, stack, step, tags):
- internet_gateways: vpc_id ("" when detached).
- nat_gateways: vpc_id, subnet_id, az, state, public_ip, allocation_id. Deleted NATs stay visible in
  describe output for about an hour: they are listed with state "deleted"; filter on state.
- route_tables: vpc_id, subnet_ids (list), default_target ("igw-..."|"nat-..."|"" for 0.0.0.0/0),
  main (bool: the VPC's main table, used by subnets without an explicit association), igw_route
  (bool: any route to an internet gateway), routes (list of "destination -> target").
- flow_logs: resource_id, log_group, traffic_type, status, destination_type.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..connect import Context
from ..tagging import as_dict
from . import BASE_COLUMNS, fetcher, tag_columns
from .ec2 import paginate

COLUMNS: dict[str, list[str]] = {
    "internet_gateways": ["vpc_id"],
    "nat_gateways": ["vpc_id", "subnet_id", "az", "state", "public_ip", "allocation_id"],
    "route_tables": ["vpc_id", "subnet_ids", "default_target", "main", "igw_route", "routes"],
    "flow_logs": ["resource_id", "log_group", "traffic_type", "status", "destination_type"],
}
_TARGET_KEYS = ("GatewayId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId",
                "InstanceId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId")


def _frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=BASE_COLUMNS + COLUMNS[kind])


def _stack_filter(stack: str | None) -> list[dict[str, Any]]:
    return [{"Name": "tag:workbook:stack", "Values": [stack]}] if stack else []


def _target(route: dict[str, Any]) -> str:
    return next((route[k] for k in _TARGET_KEYS if route.get(k)), "")


@fetcher("internet_gateways")
def fetch_internet_gateways(ctx: Context, stack: str | None) -> pd.DataFrame:
    items = paginate(ctx, "describe_internet_gateways", "InternetGateways", Filters=_stack_filter(stack))
    return _frame("internet_gateways", [
        {"id": g["InternetGatewayId"], **tag_columns(as_dict(g.get("Tags"))),
         "vpc_id": next((a["VpcId"] for a in g.get("Attachments", [])), "")} for g in items])


@fetcher("nat_gateways")
def fetch_nat_gateways(ctx: Context, stack: str | None) -> pd.DataFrame:
    items = paginate(ctx, "describe_nat_gateways", "NatGateways", Filter=_stack_filter(stack))
    subnet_ids = sorted({n["SubnetId"] for n in items if n.get("SubnetId")})
    # NatGateway has no AZ field: it is the AZ of its subnet.
    azs = {s["SubnetId"]: s["AvailabilityZone"] for s in
           paginate(ctx, "describe_subnets", "Subnets", Filters=[{"Name": "subnet-id", "Values": subnet_ids}])} \
        if subnet_ids else {}
    rows = []
    for n in items:
        addr = next(iter(n.get("NatGatewayAddresses", [])), {})
        rows.append({"id": n["NatGatewayId"], **tag_columns(as_dict(n.get("Tags"))), "vpc_id": n.get("VpcId", ""),
                     "subnet_id": n.get("SubnetId", ""), "az": azs.get(n.get("SubnetId", ""), ""),
                     "state": n.get("State", ""), "public_ip": addr.get("PublicIp", ""),
                     "allocation_id": addr.get("AllocationId", "")})
    return _frame("nat_gateways", rows)


@fetcher("route_tables")
def fetch_route_tables(ctx: Context, stack: str | None) -> pd.DataFrame:
    items = paginate(ctx, "describe_route_tables", "RouteTables", Filters=_stack_filter(stack))
    rows = []
    for t in items:
        routes = t.get("Routes", [])
        default = next((r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0"), {})
        rows.append({
            "id": t["RouteTableId"], **tag_columns(as_dict(t.get("Tags"))), "vpc_id": t.get("VpcId", ""),
            "subnet_ids": sorted(a["SubnetId"] for a in t.get("Associations", []) if a.get("SubnetId")),
            "default_target": _target(default),
            "main": any(a.get("Main") for a in t.get("Associations", [])),
            "igw_route": any(str(r.get("GatewayId", "")).startswith("igw-") for r in routes),
            "routes": [f"{r.get('DestinationCidrBlock') or r.get('DestinationIpv6CidrBlock') or r.get('DestinationPrefixListId')}"
                       f" -> {_target(r)}" + ("" if r.get("State", "active") == "active" else f" ({r['State']})")
                       for r in routes]})
    return _frame("route_tables", rows)


@fetcher("flow_logs")
def fetch_flow_logs(ctx: Context, stack: str | None) -> pd.DataFrame:
    items = paginate(ctx, "describe_flow_logs", "FlowLogs", Filter=_stack_filter(stack))
    return _frame("flow_logs", [
        {"id": f["FlowLogId"], **tag_columns(as_dict(f.get("Tags"))), "resource_id": f.get("ResourceId", ""),
         "log_group": f.get("LogGroupName", "") or f.get("LogDestination", ""),
         "traffic_type": f.get("TrafficType", ""), "status": f.get("FlowLogStatus", ""),
         "destination_type": f.get("LogDestinationType", "")} for f in items])
