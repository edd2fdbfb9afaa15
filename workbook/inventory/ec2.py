"""EC2 and VPC frames: vpcs, subnets, security_groups, sg_rules, instances, volumes, snapshots, addresses.

Each fetcher takes `(ctx, stack)`; with a stack it returns what bears `workbook:stack=<stack>` (volumes
and snapshots also when they belong to the stack's instances, since a launch template may not tag
them). `discover_dev(ctx, p)` is the other way in: the dev environment found from one instance
(`p.dev_instance_id` or the tag `p.dev_tag`), which in aws mode carries none of the workbook's tags;
its `declared_db` column is the engine `p.dev_db_engine` says it runs ("" in the stack frames).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable

import pandas as pd

from ..connect import Context
from ..names import TIER
from ..params import Params
from ..tagging import STACK, as_dict
from . import BASE_COLUMNS, FETCHERS, Inventory, fetcher, tag_columns

DEV_DB_TAG = "workbook:dev-db"   # the engine the dev instance runs (set by 00_setup in the sandbox)
DEV_STEP = "00_setup"            # the step tag of the dev environment
LIVE_STATES = ["pending", "running", "stopping", "stopped"]

COLUMNS: dict[str, list[str]] = {
    "vpcs": ["cidr", "is_default"],
    "subnets": ["vpc_id", "az", "cidr", "tier", "public"],
    "security_groups": ["vpc_id", "group_name", "description"],
    "sg_rules": ["group_id", "group_name", "vpc_id", "direction", "protocol", "from_port", "to_port", "source",
                 "open_to_internet"],
    "instances": ["vpc_id", "subnet_id", "az", "state", "public_ip", "private_ip", "instance_type",
                  "security_groups", "imds_tokens", "image_id", "asg_name", "dev_db", "declared_db", "launch_time", "monitoring"],
    "volumes": ["instance_id", "size", "encrypted", "az", "volume_type"],
    "snapshots": ["volume_id", "start_time", "state", "volume_size"],
    "addresses": ["public_ip", "instance_id", "association_id"],
}


def _frame(kind: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=BASE_COLUMNS + COLUMNS[kind])


def _stack_filter(stack: str | None) -> list[dict[str, Any]]:
    return [{"Name": f"tag:{STACK}", "Values": [stack]}] if stack else []


def paginate(ctx: Context, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    """All items of a paginated EC2 describe (every page, not just the first)."""
    pages = ctx.client("ec2").get_paginator(operation).paginate(**kwargs)
    return [item for page in pages for item in page.get(key, [])]


def describe_addresses(ctx: Context, filters: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """DescribeAddresses has no paginator: it returns every address in one answer."""
    return ctx.client("ec2").describe_addresses(**({"Filters": filters} if filters else {}))["Addresses"]


def describe_instances(ctx: Context, filters: list[dict[str, Any]] | None = None,
                       instance_ids: list[str] | None = None) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {"Filters": filters or []}
    if instance_ids:
        kwargs["InstanceIds"] = instance_ids
    reservations = paginate(ctx, "describe_instances", "Reservations", **kwargs)
    return [i for r in reservations for i in r["Instances"]]


# ---- raw items -> frames (shared by the stack fetchers and discover_dev) ------------------------
def vpcs_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("vpcs", [{"id": v["VpcId"], **tag_columns(as_dict(v.get("Tags"))), "cidr": v["CidrBlock"],
                            "is_default": bool(v.get("IsDefault"))} for v in items])


def subnets_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for s in items:
        tags = as_dict(s.get("Tags"))
        rows.append({"id": s["SubnetId"], **tag_columns(tags), "vpc_id": s["VpcId"], "az": s["AvailabilityZone"],
                     "cidr": s["CidrBlock"], "tier": tags.get(TIER, ""), "public": bool(s.get("MapPublicIpOnLaunch"))})
    return _frame("subnets", rows)


def security_groups_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("security_groups", [
        {"id": g["GroupId"], **tag_columns(as_dict(g.get("Tags"))), "vpc_id": g.get("VpcId", ""),
         "group_name": g["GroupName"], "description": g.get("Description", "")} for g in items])


def _is_internet(cidr: str) -> bool:
    """0.0.0.0/0 or ::/0 (any prefix /0 reaches the whole internet)."""
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def sg_rules_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per permission x source; ports -1/None (all traffic) become 0..65535."""
    rows = []
    for g in items:
        tags = as_dict(g.get("Tags"))
        for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
            for perm in g.get(key, []):
                proto = str(perm.get("IpProtocol", "-1"))
                all_ports = proto == "-1" or perm.get("FromPort") in (None, -1)
                lo, hi = (0, 65535) if all_ports else (int(perm["FromPort"]), int(perm["ToPort"]))
                sources = ([r["CidrIp"] for r in perm.get("IpRanges", [])]
                           + [r["CidrIpv6"] for r in perm.get("Ipv6Ranges", [])]
                           + [p["GroupId"] for p in perm.get("UserIdGroupPairs", [])]
                           + [p["PrefixListId"] for p in perm.get("PrefixListIds", [])])
                for src in sources:
                    rows.append({"id": f"{g['GroupId']}/{direction}/{proto}/{lo}-{hi}/{src}", **tag_columns(tags),
                                 "group_id": g["GroupId"], "group_name": g["GroupName"], "vpc_id": g.get("VpcId", ""),
                                 "direction": direction, "protocol": proto, "from_port": lo, "to_port": hi,
                                 "source": src, "open_to_internet": _is_internet(src)})
    df = _frame("sg_rules", rows)
    return df.astype({"from_port": "int64", "to_port": "int64", "open_to_internet": "bool"})


def instance_group_ids(i: dict[str, Any]) -> list[str]:
    """Security groups of the instance and of all its network interfaces (an instance launched with
    NetworkInterfaces=[...] lists its groups on the interface)."""
    ids = [g["GroupId"] for g in i.get("SecurityGroups", [])]
    ids += [g["GroupId"] for eni in i.get("NetworkInterfaces", []) for g in eni.get("Groups", [])]
    return list(dict.fromkeys(ids))


def instances_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for i in items:
        tags = as_dict(i.get("Tags"))
        rows.append({"id": i["InstanceId"], **tag_columns(tags), "vpc_id": i.get("VpcId", ""),
                     "subnet_id": i.get("SubnetId", ""), "az": i.get("Placement", {}).get("AvailabilityZone", ""),
                     "state": i["State"]["Name"], "public_ip": i.get("PublicIpAddress", "") or "",
                     "private_ip": i.get("PrivateIpAddress", "") or "", "instance_type": i.get("InstanceType", ""),
                     "security_groups": instance_group_ids(i),
                     "imds_tokens": i.get("MetadataOptions", {}).get("HttpTokens", "optional"),
                     "image_id": i.get("ImageId", ""), "asg_name": tags.get("aws:autoscaling:groupName", ""),
                     "dev_db": tags.get(DEV_DB_TAG, ""), "declared_db": "", "launch_time": i.get("LaunchTime"),
                     # detailed monitoring: its metrics are billed as custom metrics
                     "monitoring": i.get("Monitoring", {}).get("State") in ("enabled", "pending")})
    return _frame("instances", rows)


def volumes_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for v in items:
        att = v.get("Attachments") or [{}]
        rows.append({"id": v["VolumeId"], **tag_columns(as_dict(v.get("Tags"))),
                     "instance_id": att[0].get("InstanceId", ""), "size": v.get("Size", 0),
                     "encrypted": bool(v.get("Encrypted")), "az": v.get("AvailabilityZone", ""),
                     "volume_type": v.get("VolumeType", "")})
    return _frame("volumes", rows)


def snapshots_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("snapshots", [
        {"id": s["SnapshotId"], **tag_columns(as_dict(s.get("Tags"))), "volume_id": s.get("VolumeId", ""),
         "start_time": s.get("StartTime"), "state": s.get("State", ""), "volume_size": s.get("VolumeSize", 0)}
        for s in items])


def addresses_frame(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    return _frame("addresses", [
        {"id": a.get("AllocationId", a.get("PublicIp")), **tag_columns(as_dict(a.get("Tags"))),
         "public_ip": a.get("PublicIp", ""), "instance_id": a.get("InstanceId", "") or "",
         "association_id": a.get("AssociationId", "") or ""} for a in items])


def _unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for it in items:
        seen.setdefault(it[key], it)
    return list(seen.values())


# ---- fetchers ---------------------------------------------------------------------------------------
@fetcher("vpcs")
def fetch_vpcs(ctx: Context, stack: str | None) -> pd.DataFrame:
    return vpcs_frame(paginate(ctx, "describe_vpcs", "Vpcs", Filters=_stack_filter(stack)))


@fetcher("subnets")
def fetch_subnets(ctx: Context, stack: str | None) -> pd.DataFrame:
    return subnets_frame(paginate(ctx, "describe_subnets", "Subnets", Filters=_stack_filter(stack)))


def _security_groups(ctx: Context, stack: str | None) -> list[dict[str, Any]]:
    return paginate(ctx, "describe_security_groups", "SecurityGroups", Filters=_stack_filter(stack))


@fetcher("security_groups")
def fetch_security_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    return security_groups_frame(_security_groups(ctx, stack))


@fetcher("sg_rules")
def fetch_sg_rules(ctx: Context, stack: str | None) -> pd.DataFrame:
    return sg_rules_frame(_security_groups(ctx, stack))


def _instances(ctx: Context, stack: str | None) -> list[dict[str, Any]]:
    # Terminated instances linger in describe output for about an hour; they are not "what exists".
    return [i for i in describe_instances(ctx, _stack_filter(stack)) if i["State"]["Name"] in LIVE_STATES]


@fetcher("instances")
def fetch_instances(ctx: Context, stack: str | None) -> pd.DataFrame:
    return instances_frame(_instances(ctx, stack))


def _volumes(ctx: Context, stack: str | None) -> list[dict[str, Any]]:
    if not stack:
        return paginate(ctx, "describe_volumes", "Volumes")
    tagged = paginate(ctx, "describe_volumes", "Volumes", Filters=_stack_filter(stack))
    ids = [i["InstanceId"] for i in _instances(ctx, stack)]
    attached = paginate(ctx, "describe_volumes", "Volumes",
                        Filters=[{"Name": "attachment.instance-id", "Values": ids}]) if ids else []
    return _unique(tagged + attached, "VolumeId")


@fetcher("volumes")
def fetch_volumes(ctx: Context, stack: str | None) -> pd.DataFrame:
    return volumes_frame(_volumes(ctx, stack))


def _snapshots(ctx: Context, volume_ids: list[str], stack: str | None = None) -> list[dict[str, Any]]:
    found = paginate(ctx, "describe_snapshots", "Snapshots", OwnerIds=["self"], Filters=_stack_filter(stack)) \
        if stack else []
    if volume_ids:
        found += paginate(ctx, "describe_snapshots", "Snapshots", OwnerIds=["self"],
                          Filters=[{"Name": "volume-id", "Values": volume_ids}])
    return _unique(found, "SnapshotId")


@fetcher("snapshots")
def fetch_snapshots(ctx: Context, stack: str | None) -> pd.DataFrame:
    if not stack:
        return snapshots_frame(paginate(ctx, "describe_snapshots", "Snapshots", OwnerIds=["self"]))
    return snapshots_frame(_snapshots(ctx, [v["VolumeId"] for v in _volumes(ctx, stack)], stack))


@fetcher("addresses")
def fetch_addresses(ctx: Context, stack: str | None) -> pd.DataFrame:
    return addresses_frame(describe_addresses(ctx, _stack_filter(stack)))


# ---- the dev environment ------------------------------------------------------------------------
class DevNotFound(LookupError):
    pass


def find_dev_instances(ctx: Context, p: Params) -> list[dict[str, Any]]:
    """The dev instance(s): by p.dev_instance_id, else by the tag p.dev_tag.

    Several instances may carry the dev tag (one sandbox holds several stacks; an account may hold
    copies): those tagged with this stack win, else all are returned. Terminated ones do not count.
    """
    if p.dev_instance_id:
        # by filter, not InstanceIds: an id the account does not have (a typo, or terminated and forgotten)
        # is then found as nothing, as a terminated one is, not EC2's InvalidInstanceID.NotFound
        items = describe_instances(ctx, [{"Name": "instance-id", "Values": [p.dev_instance_id]}])
    else:
        key, value = p.dev_tag.split("=", 1)
        items = describe_instances(ctx, [{"Name": f"tag:{key}", "Values": [value]},
                                         {"Name": "instance-state-name", "Values": LIVE_STATES}])
    items = [i for i in items if i["State"]["Name"] in LIVE_STATES]
    ours = [i for i in items if as_dict(i.get("Tags")).get(STACK) == p.stack_name]
    return ours or items


def _values(cell: Any) -> set[str]:
    """Every whole value in a row (lists, dicts and a record's comma-joined values taken apart), so the
    dev host's 3.4.5.6 matches a value 3.4.5.6, never 13.4.5.67."""
    if isinstance(cell, dict):
        return set().union(set(), *(_values(v) for v in cell.values()))
    if isinstance(cell, (list, tuple, set)):
        return set().union(set(), *(_values(v) for v in cell))
    return {v.strip() for v in str(cell).split(",")} if isinstance(cell, str) else set()


SCOPE_KEYS = ("instance_ids", "vpc_ids", "public_ips", "private_ips", "sg_ids")
# The dev VPC's own network: the host's traffic crosses it whoever else uses the VPC.
VPC_FABRIC = ("internet_gateways", "route_tables", "nat_gateways")


class DevInventory(Inventory):
    """The dev environment as an Inventory: the EC2 frames hold only what the dev instance uses; any
    other frame (RDS, load balancers, alarms ...) is fetched region-wide and kept only where it serves
    the dev host. Sharing its VPC proves nothing: a dev host often sits in the default VPC, which on a
    real account holds other teams' load balancers and databases too."""

    def __init__(self, ctx: Context, frames: dict[str, pd.DataFrame], scope: dict[str, set[str]]):
        super().__init__(ctx, None)
        self._frames.update(frames)
        self.scope = {k: set(scope.get(k, ())) for k in SCOPE_KEYS}
        self._target_groups: pd.DataFrame | None = None

    def frame(self, name: str) -> pd.DataFrame:
        if name in self._frames or name not in FETCHERS:
            return super().frame(name)
        df = FETCHERS[name](self.ctx, None)
        self._frames[name] = self._restrict(name, df)
        return self._frames[name]

    def _restrict(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        if df.empty:
            return df
        if name in VPC_FABRIC:
            return df[df.vpc_id.isin(self.scope["vpc_ids"])].reset_index(drop=True)
        if name == "target_groups":
            return df[df.id.isin(set(self._serving_target_groups().id))].reset_index(drop=True)
        if name in ("load_balancers", "listeners"):
            lbs = {arn for arns in self._serving_target_groups().lb_arns for arn in arns}
            return df[(df.id if name == "load_balancers" else df.lb_arn).isin(lbs)].reset_index(drop=True)
        if name == "db_instances":
            return df[self._admit_dev_host(df)].reset_index(drop=True)
        if name == "db_snapshots":
            return df[df.db_instance_id.isin(set(self.frame("db_instances").id))].reset_index(drop=True)
        if name == "db_subnet_groups":
            return df[df.id.isin(set(self.frame("db_instances").subnet_group))].reset_index(drop=True)
        marks = self.scope["instance_ids"] | self.scope["public_ips"]
        if name == "hosted_zones" and "records" in FETCHERS:
            zones = set(self.frame("records").get("zone_id", pd.Series(dtype=str)))
            return df[df.id.isin(zones)].reset_index(drop=True)
        keep = df.apply(lambda row: bool(marks & _values(row.to_dict())), axis=1)
        return df[keep].reset_index(drop=True)

    def _serving_target_groups(self) -> pd.DataFrame:
        """Target groups that register a dev instance, by id or by its private address (target type ip);
        their load balancers are the ones in front of the host."""
        if self._target_groups is None:
            from .compute import registered_targets
            tgs = FETCHERS["target_groups"](self.ctx, None)
            # an instance target is in its group's VPC (an ip target outside it, over peering, is missed)
            tgs = tgs[tgs.vpc_id.isin(self.scope["vpc_ids"])]
            hosts = self.scope["instance_ids"] | self.scope["private_ips"]
            serving = [bool(hosts & set(registered_targets(self.ctx, arn))) for arn in tgs.id]
            self._target_groups = tgs[serving] if serving else tgs.iloc[0:0]
        return self._target_groups

    def _admit_dev_host(self, dbs: pd.DataFrame) -> pd.Series:
        """RDS instances whose security groups admit the dev host: its security group as the source, or
        its own address (/32). A VPC-wide range or 0.0.0.0/0 admits every host alike, and the stack's
        tag is on the production RDS too, so neither ties a database to the host."""
        groups = sorted({g for gs in dbs.security_groups for g in (gs or [])})
        if not groups:
            return pd.Series(False, index=dbs.index)
        # a filter, not GroupIds: a group deleted since RDS listed it is then nothing, not an error
        rules = sg_rules_frame(paginate(self.ctx, "describe_security_groups", "SecurityGroups",
                                        Filters=[{"Name": "group-id", "Values": groups}]))
        sources = self.scope["sg_ids"] | {f"{ip}/32" for ip in self.scope["private_ips"] | self.scope["public_ips"]}
        admitting = set(rules[(rules.direction == "ingress") & rules.source.isin(sources)].group_id)
        return dbs.security_groups.apply(lambda gs: bool(set(gs or []) & admitting))


def discover_dev(ctx: Context, p: Params, missing_ok: bool = False) -> DevInventory:
    """The dev environment from its instance: instance, SGs (+ rules), volumes, snapshots, EIPs, VPC, subnet.

    Raises DevNotFound naming the parameters to set when no instance matches (missing_ok: an empty
    inventory instead, e.g. a dry run before 00_setup created anything).
    """
    items = find_dev_instances(ctx, p)
    if not items and missing_ok:
        empty = {name: _frame(name, []) for name in COLUMNS}
        return DevInventory(ctx, empty, {"instance_ids": set(), "vpc_ids": set(), "public_ips": set()})
    if not items:
        how = f"dev_instance_id={p.dev_instance_id}" if p.dev_instance_id else f"dev_tag={p.dev_tag}"
        raise DevNotFound(f"no running or stopped instance matches {how} in {p.region}; run 00_setup "
                          "(sandbox) or set dev_instance_id / dev_tag to your dev server")
    instance_ids = [i["InstanceId"] for i in items]
    vpc_ids = sorted({i["VpcId"] for i in items if i.get("VpcId")})
    subnet_ids = sorted({i["SubnetId"] for i in items if i.get("SubnetId")})
    sg_ids = sorted({g for i in items for g in instance_group_ids(i)})
    groups = paginate(ctx, "describe_security_groups", "SecurityGroups", GroupIds=sg_ids) if sg_ids else []
    volumes = paginate(ctx, "describe_volumes", "Volumes",
                       Filters=[{"Name": "attachment.instance-id", "Values": instance_ids}])
    snapshots = _snapshots(ctx, [v["VolumeId"] for v in volumes])
    addresses = describe_addresses(ctx, [{"Name": "instance-id", "Values": instance_ids}])
    frames = {
        # The workbook's premise is a dev host that runs its own database (08 moves p.dev_db_name out of
        # it); one listening on localhost shows in no tag or security group, so the parameter is the evidence.
        "instances": instances_frame(items).assign(declared_db=p.dev_db_engine),
        "security_groups": security_groups_frame(groups),
        "sg_rules": sg_rules_frame(groups),
        "volumes": volumes_frame(volumes),
        "snapshots": snapshots_frame(snapshots),
        "addresses": addresses_frame(addresses),
        "vpcs": vpcs_frame(paginate(ctx, "describe_vpcs", "Vpcs", VpcIds=vpc_ids)) if vpc_ids else vpcs_frame([]),
        "subnets": subnets_frame(paginate(ctx, "describe_subnets", "Subnets", SubnetIds=subnet_ids))
        if subnet_ids else subnets_frame([]),
    }
    public_ips = {i.get("PublicIpAddress", "") for i in items} | {a["PublicIp"] for a in addresses}
    scope = {"instance_ids": set(instance_ids), "vpc_ids": set(vpc_ids), "public_ips": public_ips - {""},
             "private_ips": {i.get("PrivateIpAddress", "") for i in items} - {""}, "sg_ids": set(sg_ids)}
    return DevInventory(ctx, frames, scope)


class ProductionInventory(Inventory):
    """A stack's inventory without the dev environment (step 00_setup), which in the sandbox carries
    the same stack tag: what the production checks and the "after" diagram look at."""

    def frame(self, name: str) -> pd.DataFrame:
        df = super().frame(name)
        if "step" in df.columns and (df.step == DEV_STEP).any():
            df = self._frames[name] = df[df.step != DEV_STEP].reset_index(drop=True)
        if name in ("volumes", "snapshots", "addresses", "sg_rules") and not df.empty:
            df = self._frames[name] = self._drop_dev_dependents(name, df)
        return df

    def _drop_dev_dependents(self, name: str, df: pd.DataFrame) -> pd.DataFrame:
        """Volumes/addresses of dev instances and rules of dev SGs may be untagged: follow the links."""
        if not hasattr(self, "_dev_ids"):
            everything = FETCHERS["instances"](self.ctx, self.stack)
            self._dev_ids = set(everything[everything.step == DEV_STEP].id)
        if name in ("volumes", "addresses"):
            return df[~df.instance_id.isin(self._dev_ids)].reset_index(drop=True)
        if name == "snapshots":
            vols = set(self.frame("volumes").id)
            return df[df.volume_id.isin(vols) | (df["stack"] != "")].reset_index(drop=True)
        groups = set(self.frame("security_groups").id)
        return df[df.group_id.isin(groups)].reset_index(drop=True)
