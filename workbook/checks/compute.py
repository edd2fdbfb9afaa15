"""Checks of 04_compute: launch template, app instances, load balancer, Auto Scaling group.

Frames used: launch_templates, load_balancers, listeners, auto_scaling_groups (inventory/compute.py)
and, when inventory/ec2.py provides them, instances, volumes and sg_rules. A check whose frame is
not available reports NOT_APPLICABLE with the reason; what the target cannot show (a named gap) is
NOT_EMULATED.
"""
from __future__ import annotations

import pandas as pd

from .. import names
from ..params import Params
from . import Finding, check, not_emulated

GROUP = "compute"


def _frame(inv, name: str) -> pd.DataFrame | None:
    return inv.frame(name) if inv.has(name) else None


def _group_instances(inv, p: Params) -> pd.DataFrame | None:
    """The running instances of the stack's Auto Scaling group (the instances frame of inventory/ec2.py)."""
    instances = _frame(inv, "instances")
    if instances is None:
        return None
    live = instances[instances.state.isin(["pending", "running", "stopping", "stopped"])]
    return live[live.asg_name == names.asg(p)]


def _no_frame(what: str, frame: str) -> list[Finding]:
    return [Finding(what, "NOT_APPLICABLE", f"the {frame} inventory is not available")]


def _nothing(what: str) -> list[Finding]:
    return [Finding(what, "NOT_APPLICABLE", f"no {what} in this stack yet (04_compute creates it)")]


@check(id="EC2.8", title="App servers require IMDSv2 (launch template and instances)", severity="high",
       risk="With IMDSv1, a server-side request forgery in the app can read the instance role's credentials "
            "from the metadata service without a token.",
       remediation="Launch template MetadataOptions HttpTokens=required; modify_instance_metadata_options on "
                   "running instances (or an instance refresh).", group=GROUP)
def imdsv2_required(inv, p: Params) -> list[Finding]:
    lts = inv.frame("launch_templates")
    if lts.empty:
        return _nothing("launch template")
    out = [Finding(r.name or r.id, "PASS" if r.imds_tokens == "required" else "FAIL",
                   f"launch template v{r.version}: HttpTokens={r.imds_tokens}") for r in lts.itertuples()]
    instances = _group_instances(inv, p)
    if instances is None:
        return out + _no_frame("app instances", "instances")
    # No sandbox note: its seam gives each group instance the template's metadata options, as AWS does.
    out += [Finding(r.id, "PASS" if r.imds_tokens == "required" else "FAIL", f"HttpTokens={r.imds_tokens}")
            for r in instances.itertuples()]
    return out


@check(id="EC2.9", title="App servers have no public IPv4 address", severity="high",
       risk="A public address makes an app server reachable around the load balancer, as the dev server was.",
       remediation="AssociatePublicIpAddress=false on the launch template's network interface; private subnets "
                   "without MapPublicIpOnLaunch.", group=GROUP)
def no_public_ip(inv, p: Params) -> list[Finding]:
    lts = inv.frame("launch_templates")
    if lts.empty:
        return _nothing("launch template")
    out = [Finding(r.name or r.id, "FAIL" if r.associate_public_ip else "PASS",
                   "launch template asks for a public IP" if r.associate_public_ip else "no public IP requested")
           for r in lts.itertuples()]
    instances = _group_instances(inv, p)
    if instances is None:
        return out + _no_frame("app instances", "instances")
    out += [Finding(r.id, "FAIL" if r.public_ip else "PASS", f"public IP {r.public_ip}" if r.public_ip else "private only")
            for r in instances.itertuples()]
    return out


@check(id="EC2.3", title="App server volumes are encrypted", severity="medium",
       risk="Unencrypted volumes and their snapshots expose data to anyone who can copy or share them.",
       remediation="Encrypted=true in the launch template's block device mappings (or EBS encryption by default).",
       group=GROUP)
def volumes_encrypted(inv, p: Params) -> list[Finding]:
    lts = inv.frame("launch_templates")
    if lts.empty:
        return _nothing("launch template")
    out = [Finding(r.name or r.id, "PASS" if r.encrypted_volumes else "FAIL",
                   "all block devices encrypted" if r.encrypted_volumes else "a block device is not encrypted "
                   "(or none is declared, so the AMI's unencrypted default applies)") for r in lts.itertuples()]
    instances, volumes = _group_instances(inv, p), _frame(inv, "volumes")
    if instances is None or volumes is None:
        return out + _no_frame("app instance volumes", "instances/volumes")
    mine = volumes[volumes.instance_id.isin(set(instances.id))]
    for r in mine.itertuples():
        gap = None if r.encrypted else not_emulated(inv, "asg_extra_root_volume", r.id)
        out.append(gap or Finding(r.id, "PASS" if r.encrypted else "FAIL", f"encrypted={bool(r.encrypted)}"))
    return out


def _albs(inv) -> pd.DataFrame:
    lbs = inv.frame("load_balancers")
    return lbs[lbs.type == "application"]


@check(id="ELB.4", title="Load balancer drops invalid HTTP headers", severity="medium",
       risk="Headers the backend parses differently from the load balancer allow request smuggling.",
       remediation="Attribute routing.http.drop_invalid_header_fields.enabled=true.", group=GROUP)
def drop_invalid_headers(inv, p: Params) -> list[Finding]:
    albs = _albs(inv)
    if albs.empty:
        return _nothing("load balancer")
    return [Finding(r.name or r.id, "PASS" if r.drop_invalid_headers else "FAIL",
                    f"drop_invalid_header_fields={str(bool(r.drop_invalid_headers)).lower()}") for r in albs.itertuples()]


@check(id="ELB.6", title="Load balancer has deletion protection", severity="medium",
       risk="One mistaken delete takes the only way in to production offline.",
       remediation="Attribute deletion_protection.enabled=true (teardown switches it off on purpose).", group=GROUP)
def deletion_protection(inv, p: Params) -> list[Finding]:
    albs = _albs(inv)
    if albs.empty:
        return _nothing("load balancer")
    return [Finding(r.name or r.id, "PASS" if r.deletion_protection else "FAIL",
                    f"deletion_protection={str(bool(r.deletion_protection)).lower()}") for r in albs.itertuples()]


@check(id="ELB.1", title="Load balancer redirects HTTP to HTTPS", severity="medium",
       risk="Plain HTTP sends API traffic, tokens included, readable by anyone on the path.",
       remediation="Set domain_name, run 05_edge (ACM certificate), then rerun 04_compute: HTTPS 443 with the "
                   "certificate and HTTP 80 redirecting to it.", group=GROUP)
def http_redirects_to_https(inv, p: Params) -> list[Finding]:
    albs = _albs(inv)
    if albs.empty:
        return _nothing("load balancer")
    listeners = inv.frame("listeners")
    out = []
    for lb in albs.itertuples():
        mine = listeners[listeners.lb_arn == lb.id]
        https = mine[mine.protocol == "HTTPS"]
        plain = mine[mine.protocol == "HTTP"]
        bad = plain[~((plain.action == "redirect") & (plain.redirect_to == "HTTPS:443"))]
        if not https.empty and bad.empty:
            out.append(Finding(lb.name or lb.id, "PASS", "HTTPS on 443; every HTTP listener redirects to it"))
        elif not p.domain_name:
            out.append(Finding(lb.name or lb.id, "FAIL", "HTTPS missing: no domain_name is set, so there is no "
                                                       "certificate; traffic is plain HTTP"))
        else:
            out.append(Finding(lb.name or lb.id, "FAIL", f"HTTPS missing: no HTTPS listener with a certificate for "
                                                       f"{p.domain_name} (run 05_edge, then rerun 04_compute)"))
    return out


@check(id="ELB.13", title="Load balancer spans at least two availability zones", severity="medium",
       risk="A load balancer in one AZ goes down with that AZ, however many servers stand behind it.",
       remediation="Create the load balancer over subnets in two or more AZs (02_network with az_count >= 2).",
       group=GROUP)
def alb_multi_az(inv, p: Params) -> list[Finding]:
    albs = _albs(inv)
    if albs.empty:
        return _nothing("load balancer")
    return [Finding(r.name or r.id, "PASS" if len(r.azs) >= 2 else "FAIL", f"AZs: {', '.join(r.azs)}")
            for r in albs.itertuples()]


@check(id="AutoScaling.1", title="Auto Scaling group uses load balancer health checks", severity="low",
       risk="With EC2 health checks only, an instance whose app has died keeps its place and its share of traffic.",
       remediation="HealthCheckType=ELB with a grace period that covers the boot.", group=GROUP)
def elb_health_checks(inv, p: Params) -> list[Finding]:
    groups = inv.frame("auto_scaling_groups")
    if groups.empty:
        return _nothing("Auto Scaling group")
    out = []
    for g in groups.itertuples():
        if not g.target_group_arns:
            out.append(Finding(g.id, "FAIL", "no target group attached"))
        else:
            out.append(Finding(g.id, "PASS" if g.health_check_type == "ELB" else "FAIL",
                               f"HealthCheckType={g.health_check_type}, grace {g.grace_period} s"))
    return out


@check(id="AutoScaling.2", title="Auto Scaling group covers multiple availability zones", severity="medium",
       risk="Servers in one AZ all fail together; the article asks for redundancies in different AZs.",
       remediation="VPCZoneIdentifier with one app subnet in each of two or more AZs.", group=GROUP)
def asg_multi_az(inv, p: Params) -> list[Finding]:
    groups = inv.frame("auto_scaling_groups")
    if groups.empty:
        return _nothing("Auto Scaling group")
    out = []
    for g in groups.itertuples():
        out.append(Finding(g.id, "PASS" if len(g.azs) >= 2 else "FAIL", f"configured AZs: {', '.join(g.azs)}"))
        spread = sorted(set(g.instance_azs))
        gap = not_emulated(inv, "asg_instance_spread", f"{g.id} instances")
        if gap:
            out.append(gap)
        elif g.desired >= 2:
            out.append(Finding(f"{g.id} instances", "PASS" if len(spread) >= 2 else "FAIL",
                               f"instances run in: {', '.join(spread) or 'none'}"))
    return out


@check(id="ARTICLE.SERVER_AUTOSCALING", title="App servers are redundant and scale with load", severity="medium",
       risk="One server, or a fixed number of them, is overloaded by a traffic peak or down with one failure.",
       remediation="min_capacity >= 2, max_capacity above it, and target-tracking policies (CPU, requests per target).",
       group=GROUP)
def scales_with_load(inv, p: Params) -> list[Finding]:
    groups = inv.frame("auto_scaling_groups")
    if groups.empty:
        return _nothing("Auto Scaling group")
    out = []
    for g in groups.itertuples():
        problems = []
        if g.min < 2:
            problems.append(f"min {g.min} < 2: one failure leaves no server")
        if g.max <= g.min:
            problems.append(f"max {g.max} <= min {g.min}: cannot scale out")
        if not g.policies:
            problems.append("no scaling policy")
        out.append(Finding(g.id, "FAIL" if problems else "PASS",
                           "; ".join(problems) or f"{g.min}..{g.max} servers, policies: {', '.join(g.policies)}"))
    return out


@check(id="ARTICLE.APP_ONLY_FROM_ALB", title="App servers accept traffic only from the load balancer", severity="high",
       risk="Any other source (the internet, the whole VPC) bypasses the load balancer's TLS, header checks and "
            "health-based routing.",
       remediation="The app security group's only ingress: the app port from the load balancer's security group.",
       group=GROUP)
def app_only_from_alb(inv, p: Params) -> list[Finding]:
    rules, groups = _frame(inv, "sg_rules"), _frame(inv, "security_groups")
    if rules is None or groups is None:
        return _no_frame(names.app_sg(p), "sg_rules")
    by_name = {r.name or r.group_name: r.id for r in groups.itertuples()}
    by_name.update({r.group_name: r.id for r in groups.itertuples()})
    app, alb = by_name.get(names.app_sg(p)), by_name.get(names.alb_sg(p))
    if app is None:
        return _nothing(f"security group {names.app_sg(p)}")
    ingress = rules[(rules.group_id == app) & (rules.direction == "ingress")]
    wrong = ingress[(ingress.source != alb) | (ingress.from_port != p.app_port) | (ingress.to_port != p.app_port)]
    if ingress.empty:
        return [Finding(names.app_sg(p), "FAIL", "no ingress at all: the load balancer cannot reach the app")]
    if wrong.empty:
        return [Finding(names.app_sg(p), "PASS", f"only port {p.app_port} from {names.alb_sg(p)}")]
    shown = ", ".join(f"{r.protocol} {r.from_port}-{r.to_port} from {r.source}" for r in wrong.itertuples())
    return [Finding(names.app_sg(p), "FAIL", f"also open to: {shown}")]
