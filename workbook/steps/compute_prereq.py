"""What 04_compute builds on, found and never created here: the subnets and security groups of
02_network, the database (endpoint and managed secret) of 03_database, the certificate of 05_edge.

Subnets are found by the stack's tag and their `workbook:tier` (public | app), the security groups by
the names 02_network gives them (`names.alb_sg`, `names.app_sg`). The database is looked up by its name
(`names.db_instance`): it is only read, to point the app at it and to narrow the role's policy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from botocore.exceptions import ClientError

from .. import engine, names
from ..connect import Context

STEP_ID = "04_compute"


class PrerequisiteMissing(RuntimeError):
    """A resource of an earlier step is missing; the message names the step to run."""


@dataclass
class Network:
    """What 02_network made that this step builds on."""
    vpc_id: str = ""
    public_subnets: dict[str, str] = field(default_factory=dict)   # subnet id -> AZ
    app_subnets: dict[str, str] = field(default_factory=dict)
    alb_sg: str = ""
    app_sg: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.vpc_id and self.public_subnets and self.app_subnets and self.alb_sg and self.app_sg)


def find_network(ctx: Context, *, required: bool = True) -> Network:
    """Subnets by tier tag, security groups by name; with required, a clear error when missing."""
    p, net = ctx.p, Network()
    for s in engine.find(ctx, "subnet"):
        tier = s.tags.get(names.TIER)
        if tier in ("public", "app"):
            (net.public_subnets if tier == "public" else net.app_subnets)[s.id] = s.raw["AvailabilityZone"]
            net.vpc_id = s.raw["VpcId"]
    wanted = {names.alb_sg(p): "alb_sg", names.app_sg(p): "app_sg"}
    for g in engine.find(ctx, "security_group"):
        for candidate in (g.name, g.raw.get("GroupName")):
            if candidate in wanted:
                setattr(net, wanted[candidate], g.id)
    if required and not net.complete:
        missing = [what for what, ok in (("VPC subnets of tier public", net.public_subnets),
                                         ("VPC subnets of tier app", net.app_subnets),
                                         (f"security group {names.alb_sg(p)}", net.alb_sg),
                                         (f"security group {names.app_sg(p)}", net.app_sg)) if not ok]
        raise PrerequisiteMissing(f"stack {p.stack_name!r} has no {', '.join(missing)}: run 02_network "
                                  f"(notebooks/02_network.ipynb) first")
    return net


def _database(ctx: Context) -> dict | None:
    try:
        return ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(ctx.p))["DBInstances"][0]
    except ClientError as e:
        if not engine.missing(e):
            raise
        return None


def db_secret_arn(ctx: Context) -> tuple[str, bool]:
    """The secret the app logs in with (its DB_SECRET_ARN): the app's own database user's secret
    (`names.app_db_secret`, made by 08 with that user) once it exists, else the RDS-managed master
    secret of 03_database, else a pattern for any RDS-managed secret of this account and region.
    Returns (arn, exact)."""
    own = engine.find_one(ctx, "secret", names.app_db_secret(ctx.p))
    if own is not None and not own.raw.get("DeletedDate"):
        return own.id, True
    arn = ((_database(ctx) or {}).get("MasterUserSecret") or {}).get("SecretArn", "")
    if arn:
        return arn, True
    return f"arn:aws:secretsmanager:{ctx.p.region}:{ctx.account_id}:secret:rds!db-*", False


def db_endpoint(ctx: Context) -> tuple[str, int, str]:
    """Address, port and database name of 03_database's instance ("" while it does not exist)."""
    db = _database(ctx)
    if db is None:
        return "", ctx.p.db_port, ""
    ep = db.get("Endpoint") or {}
    return ep.get("Address", ""), int(ep.get("Port") or ctx.p.db_port), db.get("DBName", "")


def find_certificate(ctx: Context) -> str:
    """ARN of an ISSUED ACM certificate covering domain_name (05_edge requests it), or ""."""
    p = ctx.p
    if not p.domain_name:
        return ""
    wildcard = "*." + p.domain_name.split(".", 1)[1] if "." in p.domain_name else ""
    for page in ctx.client("acm").get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
        for c in page["CertificateSummaryList"]:
            covered = {c.get("DomainName", "")} | set(c.get("SubjectAlternativeNameSummaries", []))
            if p.domain_name in covered or (wildcard and wildcard in covered):
                return c["CertificateArn"]
    return ""


def prerequisites(ctx: Context) -> pd.DataFrame:
    """What this step builds on, found by tag/name: a table for the notebook (read-only)."""
    p = ctx.p
    net = find_network(ctx, required=False)
    secret, exact = db_secret_arn(ctx)
    cert = find_certificate(ctx)
    rows = [{"needs": f"{tier} subnets", "from": "02_network", "found": ", ".join(
                f"{s} ({az})" for s, az in sorted(subnets.items(), key=lambda x: x[1])) or "missing"}
            for tier, subnets in (("public", net.public_subnets), ("app", net.app_subnets))]
    rows += [{"needs": f"security group {n}", "from": "02_network", "found": gid or "missing"}
             for n, gid in ((names.alb_sg(p), net.alb_sg), (names.app_sg(p), net.app_sg))]
    rows.append({"needs": "database secret", "from": "03_database",
                 "found": secret if exact else f"not yet: policy uses the pattern {secret}"})
    rows.append({"needs": f"certificate for {p.domain_name or '(no domain_name)'}", "from": "05_edge",
                 "found": cert or ("not yet: HTTP only until 05_edge, then rerun" if p.domain_name else "n/a: HTTP only")})
    return pd.DataFrame(rows, columns=["needs", "from", "found"])
