"""Step 02_network, the security groups: the chain ALB -> app -> DB, and the VPC's default group closed.

Each tier accepts traffic only from the tier in front of it. The rules are compared as a set with what
exists: what is missing is added, nothing is ever opened wider, and rules someone else added (another
step, by hand) stay; the checks report anything unsafe.
"""
from __future__ import annotations

from typing import Any

from .. import engine, names
from ..connect import Context, Resource
from ..inventory import ec2 as ec2_inventory
from ..params import Params

STEP_ID = "02_network"
ANYWHERE = "0.0.0.0/0"
Rule = tuple[bool, str, int, int, str]  # (egress, protocol, from, to, source cidr or security group id)


def group_descriptions(p: Params) -> dict[str, str]:
    return {names.alb_sg(p): "ALB: HTTP/HTTPS from the API's VPC link" if p.entry == "api_gateway"
            else "ALB: HTTP/HTTPS from the internet",
            names.app_sg(p): f"app servers: port {p.app_port} from the ALB only",
            names.db_sg(p): f"database: port {p.db_port} from the app servers only"}


def desired_rules(p: Params, sg_ids: dict[str, str]) -> dict[str, set[Rule]]:
    """The chain ALB -> app -> DB. Egress: the ALB may only reach the app port, the DB nothing (groups
    are stateful, so replies still flow); the app keeps AWS's default all-out (AWS APIs, the DB,
    package mirrors through the NAT). Behind the API Gateway the ALB is internal and 05 lets in the VPC
    link's group alone: 0.0.0.0/0 there would admit anything inside the VPC around the gateway."""
    alb, app = sg_ids[names.alb_sg(p)], sg_ids[names.app_sg(p)]
    public = set() if p.entry == "api_gateway" else {(False, "tcp", 80, 80, ANYWHERE), (False, "tcp", 443, 443, ANYWHERE)}
    return {
        names.alb_sg(p): public | {(True, "tcp", p.app_port, p.app_port, app)},
        names.app_sg(p): {(False, "tcp", p.app_port, p.app_port, alb), (True, "-1", -1, -1, ANYWHERE)},
        names.db_sg(p): {(False, "tcp", p.db_port, p.db_port, app)},
    }


def rule_of(r: dict[str, Any]) -> Rule:
    source = r.get("CidrIpv4") or r.get("CidrIpv6") or r.get("ReferencedGroupInfo", {}).get("GroupId") \
        or r.get("PrefixListId", "")
    return (bool(r["IsEgress"]), str(r["IpProtocol"]), int(r.get("FromPort", -1)), int(r.get("ToPort", -1)), source)


def group_rules(ctx: Context, group_id: str) -> list[dict[str, Any]]:
    return ec2_inventory.paginate(ctx, "describe_security_group_rules", "SecurityGroupRules",
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


def describe_rule(rule: Rule, group_names: dict[str, str] | None = None) -> str:
    egress, proto, lo, hi, source = rule
    source = (group_names or {}).get(source, source)
    ports = "all" if proto == "-1" else (str(lo) if lo == hi else f"{lo}-{hi}")
    return f"{'egress to' if egress else 'ingress from'} {source} {proto if proto != '-1' else ''}:{ports}".replace(" :", " ")


def ensure_security_groups(ctx: Context) -> list[Resource]:
    """ALB, app and DB security groups and their rules; adds what is missing, never opens more."""
    p = ctx.p
    vid = engine.find_one(ctx, "vpc", names.vpc(p))
    if vid is None and not ctx.dry_run:
        raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
    ec2 = ctx.client("ec2")
    out: list[Resource] = []
    for name, description in group_descriptions(p).items():
        out.append(engine.ensure(ctx, "security_group", name, step=STEP_ID, create=lambda name=name, d=description: {
            "GroupName": name, "Description": d, "VpcId": vid.id}))
    ids = {r.name: r.id for r in out}
    id_names = {v: k for k, v in ids.items()}
    default_out = (True, "-1", -1, -1, ANYWHERE)
    for name, rules in desired_rules(p, ids).items():
        gid = ids[name]
        # a group apply would create starts, as AWS makes it, with the allow-all egress rule: the plan shows
        # the rules apply would then add or remove, not one AWS adds itself
        current = {default_out: {}} if engine.is_placeholder(gid) else {
            rule_of(r): r for r in group_rules(ctx, gid)}
        for rule in sorted(rules - set(current), key=str):
            label = f"{name} {describe_rule(rule, id_names)}"
            if ctx.dry_run or engine.is_placeholder(gid):
                ctx.note(STEP_ID, "security_group_rule", label, gid, "would create")
                continue
            authorize = ec2.authorize_security_group_egress if rule[0] else ec2.authorize_security_group_ingress
            authorize(GroupId=gid, IpPermissions=[_permission(rule)])
            ctx.note(STEP_ID, "security_group_rule", label, gid, "created")
        if name in (names.alb_sg(p), names.db_sg(p)):
            # AWS gives every new group an allow-all egress rule; these two must not have it.
            label = f"{name} {describe_rule(default_out)}"
            if default_out in current and not ctx.dry_run:
                ec2.revoke_security_group_egress(GroupId=gid, SecurityGroupRuleIds=[
                    current[default_out]["SecurityGroupRuleId"]])
                ctx.note(STEP_ID, "security_group_rule", label, gid, "deleted")
            elif default_out in current or engine.is_placeholder(gid):
                ctx.note(STEP_ID, "security_group_rule", label, gid, "would delete")
    return out


def close_default_security_group(ctx: Context) -> Resource:
    """Revoke every rule of the VPC's default security group (FSBP EC2.2): anything launched without
    naming a group then gets no traffic at all instead of the default's allow-all among members."""
    p = ctx.p
    name = f"{names.vpc(p)} default SG"
    vpc = engine.find_one(ctx, "vpc", names.vpc(p))
    if vpc is None:
        if not ctx.dry_run:
            raise RuntimeError(f"no VPC {names.vpc(p)} yet: run ensure_vpc first")
        return ctx.note(STEP_ID, "default_security_group", name, engine.placeholder("vpc", names.vpc(p)),
                        "would update")
    ec2 = ctx.client("ec2")
    sg = ec2_inventory.paginate(ctx, "describe_security_groups", "SecurityGroups", Filters=[
        {"Name": "vpc-id", "Values": [vpc.id]}, {"Name": "group-name", "Values": ["default"]}])[0]
    rules = group_rules(ctx, sg["GroupId"])
    if not rules:
        return ctx.note(STEP_ID, "default_security_group", name, sg["GroupId"], "exists")
    if ctx.dry_run:
        return ctx.note(STEP_ID, "default_security_group", f"{name}: revoke {len(rules)} rules", sg["GroupId"],
                        "would update")
    ingress = [r["SecurityGroupRuleId"] for r in rules if not r["IsEgress"]]
    egress = [r["SecurityGroupRuleId"] for r in rules if r["IsEgress"]]
    if ingress:
        ec2.revoke_security_group_ingress(GroupId=sg["GroupId"], SecurityGroupRuleIds=ingress)
    if egress:
        ec2.revoke_security_group_egress(GroupId=sg["GroupId"], SecurityGroupRuleIds=egress)
    return ctx.note(STEP_ID, "default_security_group", f"{name}: revoked {len(rules)} rules", sg["GroupId"], "updated")
