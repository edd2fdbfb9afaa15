"""Network controls (group "network"): the article's private network, as FSBP controls where one exists.

The article's point, in our words: production servers and their database live in a VPC, where the
internet cannot reach them directly. Each check looks at the stack's VPC (`names.vpc(p)`); where a control
is about something that carries no stack tag (the VPC's default security group, its main route
table, a flow log someone else made) the check reads the region-wide frames, restricted to that VPC.
Everything here is control-plane configuration, which the sandbox emulates, so no check returns
NOT_EMULATED; with no stack VPC yet every check says NOT_APPLICABLE.
"""
from __future__ import annotations

import pandas as pd

from .. import cost, names
from ..inventory import Inventory
from ..params import Params
from . import Finding, check

GROUP = "network"
PRIVATE_TIERS = ("app", "db")


def _nat_monthly(region: str = "us-east-1") -> tuple[float, float] | None:
    """A NAT gateway's monthly charge and that of its Elastic IP's public IPv4 in `region`, from the
    price table; None where the table has no figure for that region."""
    rp = cost.load_prices().region(region)
    nat, ip = rp.rate("nat_gateway_hour"), rp.rate("public_ipv4_hour")
    return None if nat is None or ip is None else (rp.monthly(nat), rp.monthly(ip))


def _nat_price_text(region: str = "us-east-1") -> str:
    prices = _nat_monthly(region)
    if prices is None:
        return f"a price not in the workbook's table for {region}"
    return f"${prices[0]:.2f}/month + ${prices[1]:.2f} for its public IPv4 each ({region}, {cost.load_prices().as_of})"


def _region(inv: Inventory) -> Inventory:
    """The same account and region without the stack filter (cached on the inventory)."""
    if inv.stack is None:
        return inv
    if "_region_inv" not in inv.__dict__:
        inv.__dict__["_region_inv"] = Inventory(inv.ctx, None)
    return inv.__dict__["_region_inv"]


def _vpcs(inv: Inventory, p: Params) -> pd.DataFrame:
    v = inv.vpcs
    return v[(v["name"] == names.vpc(p)) & (v["stack"] == p.stack_name)]


def _none_yet(p: Params) -> list[Finding]:
    return [Finding(names.vpc(p), "NOT_APPLICABLE", "the stack has no VPC yet (02_network creates it)")]


def _in_vpcs(df: pd.DataFrame, vpc_ids: list[str]) -> pd.DataFrame:
    return df[df.vpc_id.isin(vpc_ids)]


def _route_table_of(inv: Inventory, subnet_id: str, vpc_id: str) -> pd.Series | None:
    """The table a subnet uses: its explicit association, else the VPC's main table."""
    for frame in (inv.route_tables, _region(inv).route_tables):
        hit = frame[frame.subnet_ids.apply(lambda ids: subnet_id in ids)]
        if not hit.empty:
            return hit.iloc[0]
    main = _region(inv).route_tables
    main = main[(main.vpc_id == vpc_id) & main.main]
    return main.iloc[0] if not main.empty else None


@check(id="ARTICLE.SUBNETS_MULTI_AZ", title="Every subnet tier spans at least two availability zones",
       severity="high", group=GROUP,
       risk="With one AZ per tier, an AZ outage takes down the load balancer, the app servers or the database: "
            "the article asks for redundancies in different availability zones.",
       remediation="Set az_count >= 2 and rerun 02_network; it adds a public, app and db subnet in each AZ.")
def subnets_multi_az(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    out = []
    for vpc_id in vpcs.id:
        subnets = inv.subnets[inv.subnets.vpc_id == vpc_id]
        spread = {tier: sorted(set(subnets[subnets.tier == tier].az)) for tier in names.TIERS}
        detail = "; ".join(f"{t}: {len(a)} AZ ({', '.join(a) or 'none'})" for t, a in spread.items())
        ok = all(len(a) >= 2 for a in spread.values())
        out.append(Finding(vpc_id, "PASS" if ok else "FAIL", detail))
    return out


@check(id="EC2.15", title="Subnets do not assign public IP addresses on launch", severity="medium", group=GROUP,
       risk="An instance launched into a subnet that maps public IPs is reachable from the internet as soon as "
            "a security group allows it, bypassing the load balancer.",
       remediation="modify_subnet_attribute(MapPublicIpOnLaunch=False); rerun 02_network, which sets it.")
def subnets_no_public_ip(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    subnets = _in_vpcs(inv.subnets, list(vpcs.id))
    return [Finding(s.id, "FAIL" if s.public else "PASS",
                    f"{s.name} ({s.tier or 'no tier'}): MapPublicIpOnLaunch={bool(s.public)}")
            for s in subnets.itertuples()]


@check(id="ARTICLE.PRIVATE_NO_IGW_ROUTE", title="Private (app and db) subnets have no route to the internet gateway",
       severity="high", group=GROUP,
       risk="A route to the internet gateway makes a 'private' subnet public: servers and the database could be "
            "reached directly from the internet, which the article's VPC is meant to prevent.",
       remediation="Associate app subnets with a route table whose default route is a NAT gateway and db subnets "
                   "with one that has no default route (02_network does both).")
def private_no_igw_route(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    subnets = _in_vpcs(inv.subnets, list(vpcs.id))
    out = []
    for s in subnets[subnets.tier.isin(PRIVATE_TIERS)].itertuples():
        rt = _route_table_of(inv, s.id, s.vpc_id)
        if rt is None:
            out.append(Finding(s.id, "FAIL", f"{s.name}: no route table found"))
            continue
        detail = f"{s.name} uses {rt['name'] or rt['id']}: default route -> {rt['default_target'] or 'none'}"
        out.append(Finding(s.id, "FAIL" if rt["igw_route"] else "PASS", detail))
    if not out:
        out.append(Finding(vpcs.id.iloc[0], "FAIL", "no subnet tagged workbook:tier=app or db"))
    return out


@check(id="EC2.2", title="The VPC's default security group allows no inbound or outbound traffic",
       severity="high", group=GROUP,
       risk="Anything launched without naming a group lands in the default one; its rules (members may talk to "
            "each other, all outbound) would apply to it silently.",
       remediation="Revoke every rule of the default security group (02_network's close_default_security_group).")
def default_sg_closed(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    region = _region(inv)
    groups = _in_vpcs(region.security_groups, list(vpcs.id))
    out = []
    for g in groups[groups.group_name == "default"].itertuples():
        rules = region.sg_rules[region.sg_rules.group_id == g.id]
        shown = ", ".join(f"{r.direction} {r.protocol}:{r.from_port}-{r.to_port} {r.source}" for r in rules.itertuples())
        out.append(Finding(g.id, "FAIL" if len(rules) else "PASS",
                           f"default SG of {g.vpc_id}: {len(rules)} rules" + (f" ({shown})" if shown else "")))
    return out


@check(id="ARTICLE.ONLY_ALB_PUBLIC", title="Only the load balancer's security group is open to the internet, and only on 80/443",
       severity="high", group=GROUP,
       risk="A group open to 0.0.0.0/0 on any other port, or on any group but the ALB's, lets the internet reach "
            "servers or the database directly instead of through the load balancer.",
       remediation="Remove the 0.0.0.0/0 (and ::/0) ingress rules from every group but the ALB's; on the ALB's "
                   "keep only TCP 80 and 443.")
def only_alb_open(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    groups = _in_vpcs(inv.security_groups, list(vpcs.id))
    rules = inv.sg_rules
    out = []
    for g in groups.itertuples():
        open_ = rules[(rules.group_id == g.id) & (rules.direction == "ingress") & rules.open_to_internet]
        if g.group_name == names.alb_sg(p):
            bad = open_[~((open_.protocol == "tcp") & (open_.from_port == open_.to_port) & open_.from_port.isin([80, 443]))]
        else:
            bad = open_
        ports = ", ".join(f"{r.protocol}:{r.from_port}-{r.to_port} from {r.source}" for r in bad.itertuples())
        ok_ports = ", ".join(sorted({str(r.from_port) for r in open_.itertuples()})) or "none"
        out.append(Finding(g.id, "FAIL" if len(bad) else "PASS",
                           f"{g.group_name}: " + (f"open to the internet on {ports}" if len(bad)
                                                  else f"internet-open ports: {ok_ports}")))
    return out


@check(id="ARTICLE.NO_SSH", title="No security group allows SSH (port 22) from any source (stricter than FSBP EC2.13)",
       severity="high", group=GROUP,
       risk="SSH is a way around the load balancer and the least-privilege access the article asks for; "
            "FSBP EC2.13 flags it from 0.0.0.0/0, this check from any source (use SSM Session Manager instead).",
       remediation="Revoke every ingress rule that covers port 22 (including all-traffic rules).")
def no_ssh(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    region = _region(inv)
    groups = _in_vpcs(region.security_groups, list(vpcs.id))
    rules = region.sg_rules
    out = []
    for g in groups.itertuples():
        r = rules[(rules.group_id == g.id) & (rules.direction == "ingress")]
        ssh = r[(r.protocol == "-1") | (r.protocol.isin(["tcp", "6"]) & (r.from_port <= 22) & (r.to_port >= 22))]
        srcs = ", ".join(sorted(set(ssh.source)))
        out.append(Finding(g.id, "FAIL" if len(ssh) else "PASS",
                           f"{g.group_name}: " + (f"port 22 reachable from {srcs}" if len(ssh) else "no rule covers port 22")))
    return out


@check(id="EC2.6", title="VPC flow logging is enabled", severity="medium", group=GROUP,
       risk="Without flow logs there is no record of who connected to what: no way to investigate an incident "
            "or to see that a private subnet was reached from outside.",
       remediation="Create a flow log (traffic type ALL or REJECT) for the VPC into CloudWatch Logs or S3 "
                   "(02_network's ensure_flow_logs).")
def flow_logs_enabled(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    logs = _region(inv).flow_logs
    out = []
    for vpc_id in vpcs.id:
        mine = logs[(logs.resource_id == vpc_id) & logs.status.isin(["ACTIVE", ""])
                    & logs.traffic_type.isin(["ALL", "REJECT"])]
        out.append(Finding(vpc_id, "PASS" if len(mine) else "FAIL",
                           f"{len(mine)} active flow log(s)" + (f" -> {', '.join(sorted(set(mine.log_group)))}"
                                                                 f" ({', '.join(sorted(set(mine.traffic_type)))})"
                                                                 if len(mine) else "")))
    return out


@check(id="ARTICLE.NAT_REDUNDANCY", title="Each AZ's app subnets reach the internet through a NAT gateway in the same AZ",
       severity="low", group=GROUP,
       risk="With a single NAT gateway, an outage of its AZ also cuts outbound traffic (AWS APIs, package mirrors) "
            "for the app servers in every other AZ. A NAT per AZ removes that single point of failure at "
            f"{_nat_price_text()}: a trade-off, hence low severity.",
       remediation="Set nat_per_az=True and rerun 02_network (one NAT gateway and route per AZ).")
def nat_redundancy(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    nats = inv.nat_gateways
    nats = nats[nats.state.isin(["available", "pending"])]
    nat_az = dict(zip(nats.id, nats.az))
    out = []
    for vpc_id in vpcs.id:
        subnets = inv.subnets[(inv.subnets.vpc_id == vpc_id) & (inv.subnets.tier == "app")]
        crossing, without = [], []
        for s in subnets.itertuples():
            rt = _route_table_of(inv, s.id, vpc_id)
            target = rt["default_target"] if rt is not None else ""
            if not target.startswith("nat-") or target not in nat_az:
                without.append(s.az)
            elif nat_az[target] != s.az:
                crossing.append(f"{s.az} -> NAT in {nat_az[target]}")
        if not len(subnets):
            out.append(Finding(vpc_id, "FAIL", "no app subnets"))
        elif crossing or without:
            extra = len(set(subnets.az)) - len(set(nat_az.values()) & set(subnets.az))
            detail = "; ".join(filter(None, [
                f"app subnets that depend on another AZ's NAT: {', '.join(crossing)}" if crossing else "",
                f"no NAT route in {', '.join(sorted(without))}" if without else "",
                f"a NAT per AZ adds about ${extra * sum(m):.2f}/month" if (m := _nat_monthly(p.region))
                else f"a NAT per AZ adds {_nat_price_text(p.region)}"]))
            out.append(Finding(vpc_id, "FAIL", detail))
        else:
            out.append(Finding(vpc_id, "PASS", f"{len(subnets)} app subnets, each through a NAT in its own AZ"))
    return out


@check(id="ARTICLE.SG_CHAIN", title="App servers accept traffic only from the ALB, the database only from the app servers",
       severity="high", group=GROUP,
       risk="If the app or database group accepts other sources, the load balancer and the private network no "
            "longer stand between the internet (or a compromised neighbour) and the data.",
       remediation="Keep a single ingress rule on each: app port from the ALB's group, DB port from the app's group.")
def sg_chain(inv: Inventory, p: Params) -> list[Finding]:
    vpcs = _vpcs(inv, p)
    if vpcs.empty:
        return _none_yet(p)
    groups = _in_vpcs(inv.security_groups, list(vpcs.id))
    by_name = dict(zip(groups.group_name, groups.id))
    rules = inv.sg_rules
    out = []
    for name, port, source_name in ((names.app_sg(p), p.app_port, names.alb_sg(p)),
                                    (names.db_sg(p), p.db_port, names.app_sg(p))):
        gid = by_name.get(name)
        if gid is None:
            out.append(Finding(name, "FAIL", f"security group {name} does not exist"))
            continue
        ingress = rules[(rules.group_id == gid) & (rules.direction == "ingress")]
        expected = (ingress.source == by_name.get(source_name, "?")) & (ingress.protocol == "tcp") \
            & (ingress.from_port == port) & (ingress.to_port == port)
        extra = ingress[~expected]
        if extra.empty and expected.any():
            out.append(Finding(gid, "PASS", f"{name}: tcp:{port} from {source_name} only"))
        else:
            shown = ", ".join(f"{r.protocol}:{r.from_port}-{r.to_port} from {r.source}" for r in extra.itertuples())
            out.append(Finding(gid, "FAIL", f"{name}: " + (f"also open to {shown}" if shown
                                                           else f"no tcp:{port} rule from {source_name}")))
    return out
