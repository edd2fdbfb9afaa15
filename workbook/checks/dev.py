"""The checks of 01_assess, written over any Inventory: the dev environment (ec2.discover_dev) or a
production stack (07_access runs the same checks before and after).

Frames owned by other modules (db_instances, load_balancers, auto_scaling_groups, alarms,
hosted_zones ...) are used only when `inv.has(name)`; without them a check says what it could not see.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..params import Params
from . import Finding, check, not_emulated

GROUP = "dev"
AUTHORIZED_PORTS = {80, 443}   # EC2.18 default authorizedTcpPorts
# EC2.19's high-risk ports (FSBP control text).
HIGH_RISK_PORTS = {20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500,
                   5601, 8080, 8088, 8888, 9200, 9300}
REGULAR_DAYS = 7   # a volume snapshot older than this is not "regular backups"
DB_PORTS = {5432: "postgres", 3306: "mysql", 1433: "sqlserver", 1521: "oracle", 27017: "mongodb", 6379: "redis"}


# ---- helpers over frames -------------------------------------------------------------------------------
def frame(inv: Any, name: str) -> pd.DataFrame | None:
    """The frame, or None when no module provides it yet (absence of a frame is not absence of the thing)."""
    return inv.frame(name) if inv.has(name) else None


def _open_ingress(inv: Any) -> pd.DataFrame:
    rules = inv.frame("sg_rules")
    return rules[(rules.direction == "ingress") & rules.open_to_internet]


def _ports(rule_rows: pd.DataFrame, wanted: set[int] | None = None) -> list[int]:
    """Ports (from `wanted`, or the ranges' endpoints) that the rows open."""
    found: set[int] = set()
    for r in rule_rows.itertuples():
        if r.protocol not in ("tcp", "udp", "6", "17", "-1"):
            continue
        if wanted is None:
            found.update({r.from_port, r.to_port})
        else:
            found.update(p for p in wanted if r.from_port <= p <= r.to_port)
    return sorted(found)


def _label(r: Any) -> str:
    return f"{r.from_port}" if r.from_port == r.to_port else f"{r.from_port}-{r.to_port}"


def _sg_findings(inv: Any, bad: dict[str, str], ok: str) -> list[Finding]:
    """One finding per security group: FAIL with detail when in `bad`, else PASS with `ok`."""
    groups = inv.frame("security_groups")
    return [Finding(f"{g.id} ({g.group_name})", "FAIL" if g.id in bad else "PASS", bad.get(g.id, ok))
            for g in groups.itertuples()]


def _live_instances(inv: Any) -> pd.DataFrame:
    inst = inv.frame("instances")
    return inst[inst.state.isin(["pending", "running", "stopping", "stopped"])]


def nothing_deployed(inv: Any) -> list[Finding]:
    """[NOT_APPLICABLE] when the inventory holds no server, database or load balancer, else []."""
    others = [frame(inv, n) for n in ("db_instances", "load_balancers", "auto_scaling_groups")]
    if _live_instances(inv).empty and all(df is None or df.empty for df in others):
        return [Finding("(none)", "NOT_APPLICABLE", "nothing deployed: no instance, database or load balancer")]
    return []


def db_hosts(inv: Any) -> dict[str, str]:
    """Instances that run a database themselves -> evidence: the engine tag, a database port in their
    SGs, else the engine the parameters declare (dev_db_engine: a database on localhost shows nowhere)."""
    rules = inv.frame("sg_rules")
    ingress = rules[rules.direction == "ingress"]
    rds = _rds(inv)
    # a host an RDS instance serves keeps its database there: the declaration is then no evidence
    served_by_rds = rds is not None and not rds.empty
    hosts: dict[str, str] = {}
    for i in _live_instances(inv).itertuples():
        if i.dev_db:
            hosts[i.id] = f"runs {i.dev_db} (tag)"
            continue
        mine = ingress[ingress.group_id.isin(i.security_groups)]
        ports = _ports(mine, set(DB_PORTS))
        if ports:
            hosts[i.id] = "accepts " + ", ".join(f"{DB_PORTS[p]} ({p})" for p in ports)
        elif getattr(i, "declared_db", "") and not served_by_rds:
            hosts[i.id] = f"runs {i.declared_db} (dev_db_engine; no tag or open port shows it)"
    return hosts


def _rds(inv: Any) -> pd.DataFrame | None:
    return frame(inv, "db_instances")


# ---- FSBP controls -------------------------------------------------------------------------------------
@check(id="EC2.13", title="Security groups should not allow ingress from 0.0.0.0/0 or ::/0 to port 22",
       severity="high", risk="Anyone on the internet can try to log in over SSH; brute force and leaked keys "
       "give a shell on the server that holds the data.",
       remediation="Remove the 0.0.0.0/0 rule on port 22; use SSM Session Manager or a known CIDR.", group=GROUP)
def ssh_from_internet(inv: Any, p: Params) -> list[Finding]:
    rules = _open_ingress(inv)
    bad = {gid: "port 22 open to " + ", ".join(sorted(set(rows.source)))
           for gid, rows in rules.groupby("group_id") if _ports(rows, {22})}
    return _sg_findings(inv, bad, "port 22 not open to the internet")


@check(id="EC2.18", title="Security groups should only allow unrestricted incoming traffic for authorized ports",
       severity="high", risk="Every port open to the internet besides 80/443 is attack surface nobody asked for.",
       remediation="Allow 0.0.0.0/0 only on 80/443 (on the load balancer); reference security groups elsewhere.",
       group=GROUP)
def unauthorized_open_ports(inv: Any, p: Params) -> list[Finding]:
    bad = {}
    for gid, rows in _open_ingress(inv).groupby("group_id"):
        other = [_label(r) for r in rows.itertuples()
                 if not (r.protocol == "tcp" and r.from_port == r.to_port and r.from_port in AUTHORIZED_PORTS)]
        if other:
            bad[gid] = "open to the internet: " + ", ".join(sorted(set(other), key=lambda s: int(s.split("-")[0])))
    return _sg_findings(inv, bad, "only 80/443 (if any) open to the internet")


@check(id="EC2.19", title="Security groups should not allow unrestricted access to ports with high risk",
       severity="critical", risk="Database, remote-admin and file-sharing ports open to the internet are "
       "scanned within minutes of an address going live.",
       remediation="Remove 0.0.0.0/0 rules on high-risk ports (22, 3306, 5432, 3389 ...); allow from a security group.",
       group=GROUP)
def high_risk_ports(inv: Any, p: Params) -> list[Finding]:
    bad = {gid: "high-risk ports open: " + ", ".join(map(str, ports))
           for gid, rows in _open_ingress(inv).groupby("group_id") if (ports := _ports(rows, HIGH_RISK_PORTS))}
    return _sg_findings(inv, bad, "no high-risk port open to the internet")


@check(id="EC2.9", title="EC2 instances should not have a public IPv4 address", severity="high",
       risk="A public address makes the server directly reachable, bypassing a load balancer and any private network.",
       remediation="Launch app servers in private subnets without public IPs; enter through the load balancer.",
       group=GROUP)
def instance_public_ip(inv: Any, p: Params) -> list[Finding]:
    return [Finding(i.id, "FAIL" if i.public_ip else "PASS",
                    f"public IPv4 {i.public_ip}" if i.public_ip else "no public IPv4")
            for i in _live_instances(inv).itertuples()]


@check(id="EC2.8", title="EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)", severity="high",
       risk="With IMDSv1 an SSRF bug in the API can read the instance role's credentials.",
       remediation="Set HttpTokens=required (modify_instance_metadata_options / launch template MetadataOptions).",
       group=GROUP)
def imdsv2(inv: Any, p: Params) -> list[Finding]:
    return [Finding(i.id, "PASS" if i.imds_tokens == "required" else "FAIL", f"HttpTokens={i.imds_tokens}")
            for i in _live_instances(inv).itertuples()]


@check(id="EC2.3", title="Attached EBS volumes should be encrypted at-rest", severity="medium",
       risk="The database files sit on an unencrypted disk; snapshots of it are unencrypted too.",
       remediation="Enable EBS encryption by default (EC2.7) and move data to encrypted volumes or encrypted RDS.",
       group=GROUP)
def ebs_encrypted(inv: Any, p: Params) -> list[Finding]:
    vols = inv.frame("volumes")
    vols = vols[vols.instance_id != ""]
    inst = inv.frame("instances")
    # An unencrypted volume of a group instance may be a target's extra root volume, which says nothing
    # about the launch template (the sandbox's gap asg_extra_root_volume).
    grouped = set(inst[inst.asg_name != ""].id) if not inst.empty else set()
    out = []
    for v in vols.itertuples():
        detail = f"{v.size} GiB on {v.instance_id}, " + ("encrypted" if v.encrypted else "not encrypted")
        gap = not_emulated(inv, "asg_extra_root_volume", v.id, detail) \
            if not v.encrypted and v.instance_id in grouped else None
        out.append(gap or Finding(v.id, "PASS" if v.encrypted else "FAIL", detail))
    return out


# ---- the article's practices ----------------------------------------------------------------------------
@check(id="ARTICLE.MANAGED_DB", title="The database runs on a managed service (RDS), not on an app server",
       severity="high", risk="A database on the app server cannot be backed up, patched, scaled or made redundant "
       "on its own; losing the server loses the data.",
       remediation="Move the database to Amazon RDS (03_database) and point the app at its endpoint.", group=GROUP)
def managed_database(inv: Any, p: Params) -> list[Finding]:
    hosts = db_hosts(inv)
    findings = [Finding(iid, "FAIL", f"database on the instance: {why}") for iid, why in hosts.items()]
    rds = _rds(inv)
    if rds is not None and not rds.empty:
        findings += [Finding(d.id, "PASS", f"RDS {d.engine} {d.engine_version}") for d in rds.itertuples()]
    if not findings:
        if _live_instances(inv).empty:
            return [Finding("(none)", "NOT_APPLICABLE", "no instances and no RDS database found")]
        seen = "no RDS database found" if rds is not None else "the RDS inventory is not available"
        findings.append(Finding("(stack)", "FAIL", f"{seen}; the app's database is not a managed one"))
    return findings


@check(id="ARTICLE.BACKUPS", title="The production database has regular backups", severity="critical",
       risk="Without backups, a deleted table, a bad migration or a lost disk is permanent data loss.",
       remediation="Use RDS automated backups (retention 7+ days) and test a restore; snapshot volumes meanwhile.",
       group=GROUP)
def backups(inv: Any, p: Params) -> list[Finding]:
    findings: list[Finding] = []
    rds = _rds(inv)
    if rds is not None:
        for d in rds.itertuples():
            days = int(d.backup_retention or 0)
            findings.append(Finding(d.id, "PASS" if days > 0 else "FAIL",
                                    f"automated backups kept {days} days" if days else "automated backups off"))
    hosts = db_hosts(inv)
    if hosts:
        vols, snaps = inv.frame("volumes"), inv.frame("snapshots")
        for iid in hosts:
            vol_ids = set(vols[vols.instance_id == iid].id)
            mine = snaps[snaps.volume_id.isin(vol_ids)]
            if mine.empty:
                findings.append(Finding(iid, "FAIL", f"no snapshot of its volumes ({', '.join(sorted(vol_ids)) or 'none'}) "
                                                     "and no automated backup"))
            else:
                findings.append(_snapshot_finding(iid, mine))
    return findings or [Finding("(none)", "NOT_APPLICABLE", "no database found")]


def _snapshot_finding(iid: str, snaps: pd.DataFrame) -> Finding:
    """PASS when a completed volume snapshot is at most REGULAR_DAYS old: one taken by hand long ago,
    or one that failed or is still running, restores nothing recent. Only snapshots are counted; a
    schedule (Data Lifecycle Manager, AWS Backup) is not in the inventory."""
    started = pd.to_datetime(snaps.start_time, utc=True)
    age = (pd.Timestamp.now(tz="UTC") - started).dt.days
    done = snaps.state.isin(["completed"])
    recent = snaps[done & (age <= REGULAR_DAYS)]
    what = " (volume snapshots only, no schedule looked at; not application-consistent)"
    if not recent.empty:
        latest = started[recent.index].max()
        return Finding(iid, "PASS", f"{len(recent)} snapshot(s) completed in the last {REGULAR_DAYS} days, "
                                    f"latest {latest:%Y-%m-%d %H:%M} UTC" + what)
    why = []
    if done.any():
        newest = age[done].min()
        why.append(f"the latest completed one is {newest} days old")
    others = snaps[~done].state.value_counts()
    why += [f"{n} in state {state or 'unknown'}" for state, n in others.items()]
    return Finding(iid, "FAIL", f"no snapshot completed in the last {REGULAR_DAYS} days: {len(snaps)} snapshot(s), "
                                + "; ".join(why) + what)


@check(id="ARTICLE.MULTI_AZ", title="App servers and database are redundant across availability zones",
       severity="high", risk="Everything in one AZ (or on one server) goes down with it.",
       remediation="Run the app in an Auto Scaling group over 2+ AZs and the database as RDS Multi-AZ.", group=GROUP)
def multi_az(inv: Any, p: Params) -> list[Finding]:
    findings: list[Finding] = []
    app_azs = set(_live_instances(inv).az) - {""}
    asgs = frame(inv, "auto_scaling_groups")
    if asgs is not None and not asgs.empty:
        app_azs |= {az for azs in asgs.azs for az in (azs or [])}   # configured spread (moto packs one AZ)
    if app_azs:
        ok = len(app_azs) >= 2
        findings.append(Finding("app tier", "PASS" if ok else "FAIL", f"app in {', '.join(sorted(app_azs))}"))
    rds = _rds(inv)
    if rds is not None:
        for d in rds.itertuples():
            findings.append(Finding(d.id, "PASS" if d.multi_az else "FAIL",
                                    f"Multi-AZ (primary {d.az})" if d.multi_az else f"single-AZ in {d.az}"))
    hosts = db_hosts(inv)
    if hosts:
        inst = inv.frame("instances").set_index("id")
        findings += [Finding(iid, "FAIL", f"database on one server in {inst.at[iid, 'az']}") for iid in hosts]
    return findings or [Finding("(none)", "NOT_APPLICABLE", "nothing running")]


@check(id="ARTICLE.DB_REACHABLE", title="The database is not reachable from the internet", severity="critical",
       risk="A database port open to 0.0.0.0/0 invites password guessing and exploits against the database itself.",
       remediation="Close the database port to the internet; allow it only from the app's security group.", group=GROUP)
def database_reachable(inv: Any, p: Params) -> list[Finding]:
    if empty := nothing_deployed(inv):
        return empty
    findings = []
    for gid, rows in _open_ingress(inv).groupby("group_id"):
        ports = _ports(rows, set(DB_PORTS))
        if ports:
            findings.append(Finding(f"{gid} ({rows.group_name.iloc[0]})", "FAIL",
                                    "open to the internet: " + ", ".join(f"{DB_PORTS[x]} {x}" for x in ports)))
    rds = _rds(inv)
    if rds is not None:
        for d in rds.itertuples():
            findings.append(Finding(d.id, "FAIL" if d.publicly_accessible else "PASS",
                                    "publicly accessible" if d.publicly_accessible else "private endpoint"))
    if not findings:
        findings.append(Finding("(security groups)", "PASS", "no database port open to the internet"))
    return findings


@check(id="ARTICLE.LOAD_BALANCER", title="Users reach the servers through a load balancer", severity="medium",
       risk="Traffic goes straight to one server: no health checks, no second server to fail over to, no TLS in one place.",
       remediation="Put an Application Load Balancer in front of the app servers (04_compute).", group=GROUP)
def load_balancer(inv: Any, p: Params) -> list[Finding]:
    if empty := nothing_deployed(inv):
        return empty
    lbs = frame(inv, "load_balancers")
    if lbs is not None and not lbs.empty:
        return [Finding(lb.name or lb.id, "PASS", f"{lb.scheme} {lb.type} load balancer") for lb in lbs.itertuples()]
    direct = [i for i in _live_instances(inv).itertuples() if i.public_ip]
    seen = "no load balancer found" if lbs is not None else "no load balancer inventory"
    if direct:
        return [Finding(i.id, "FAIL", f"{seen}; users reach the instance directly at {i.public_ip}") for i in direct]
    return [Finding("(stack)", "FAIL", seen)]


@check(id="ARTICLE.AUTO_SCALING", title="App servers run in an Auto Scaling group", severity="medium",
       risk="A single hand-made server is neither replaced when it fails nor scaled when traffic grows.",
       remediation="Run the app from a launch template in an Auto Scaling group (min 2 over 2 AZs).", group=GROUP)
def auto_scaling(inv: Any, p: Params) -> list[Finding]:
    findings = []
    asgs = frame(inv, "auto_scaling_groups")
    if asgs is not None:
        findings += [Finding(g.id, "PASS" if g.max > g.min or g.min >= 2 else "FAIL",
                             f"min {g.min} / desired {g.desired} / max {g.max}") for g in asgs.itertuples()]
    standalone = [i for i in _live_instances(inv).itertuples() if not i.asg_name]
    findings += [Finding(i.id, "FAIL", "instance outside any Auto Scaling group") for i in standalone]
    return findings or [Finding("(none)", "NOT_APPLICABLE", "no app servers found")]


@check(id="ARTICLE.MONITORING", title="CloudWatch alarms watch the servers and the database", severity="medium",
       risk="Nobody is told when the API fails or the database fills up; users find out first.",
       remediation="Create CloudWatch alarms (5xx, unhealthy hosts, CPU, DB storage) notifying an SNS topic (06).",
       group=GROUP)
def monitoring(inv: Any, p: Params) -> list[Finding]:
    if empty := nothing_deployed(inv):
        return empty
    alarms = frame(inv, "alarms")
    if alarms is None:
        return [Finding("(alarms)", "FAIL", "no alarm inventory: no evidence of any alarm")]
    if alarms.empty:
        return [Finding("(alarms)", "FAIL", "no CloudWatch alarm covers these resources")]
    with_actions = [a for a in alarms.itertuples() if list(a.actions or [])]
    return [Finding("(alarms)", "PASS" if with_actions else "FAIL",
                    f"{len(alarms)} alarm(s), {len(with_actions)} with a notification action")]


@check(id="ARTICLE.DNS", title="Users reach the API by a domain name (Route 53)", severity="low",
       risk="Clients hard-code an IP address that changes when the server is replaced.",
       remediation="Create a Route 53 record (alias to the load balancer or API) and publish that name (05_edge).",
       group=GROUP)
def dns(inv: Any, p: Params) -> list[Finding]:
    if empty := nothing_deployed(inv):
        return empty
    zones = frame(inv, "hosted_zones")
    if zones is not None and not zones.empty:
        return [Finding(z.id, "PASS", f"hosted zone {z.domain}") for z in zones.itertuples()]
    ips = sorted(set(_live_instances(inv).public_ip) - {""})
    seen = "no hosted zone found" if zones is not None else "no Route 53 inventory"
    return [Finding("(dns)", "FAIL", f"{seen}" + (f"; users reach the API by IP {', '.join(ips)}" if ips else ""))]


# ---- summary ---------------------------------------------------------------------------------------------
def summary(findings: pd.DataFrame) -> pd.DataFrame:
    """One row per check (FAIL if any resource fails, then NOT_EMULATED, PASS, NOT_APPLICABLE), with how many
    resources fail; prints a one-line headline with the severity-weighted score."""
    from . import score
    rank = {"FAIL": 0, "NOT_EMULATED": 1, "PASS": 2, "NOT_APPLICABLE": 3}
    if findings.empty:
        print("no findings")
        return pd.DataFrame(columns=["id", "title", "severity", "status", "failing"])
    f = findings.assign(_rank=findings.status.map(rank), _fail=findings.status.eq("FAIL"))
    rolled = (f.sort_values("_rank").groupby("id", sort=False)
              .agg(title=("title", "first"), severity=("severity", "first"), status=("status", "first"),
                   failing=("_fail", "sum")).reset_index())
    counts = rolled.status.value_counts()
    print(f"{counts.get('FAIL', 0)} of {len(rolled)} checks fail "
          f"({counts.get('PASS', 0)} pass, {counts.get('NOT_EMULATED', 0)} not emulated); "
          f"score {score(findings)} % (severity-weighted share of passing findings)")
    return rolled
