"""Which database engine the dev host runs, and so which engine RDS runs (db_engine=auto).

The move copies the dev database as it is (pg_dump / mysqldump), so RDS must run the dev host's engine.
What 01_assess reads from the host decides: its `workbook:dev-db` tag (00_setup tags the demo host with
dev_db_engine), else the database ports its security groups accept (5432 PostgreSQL, 3306 MySQL).
`settle(ctx)` puts the detected engine into db_engine when it is auto, and refuses, naming db_engine,
when an explicit setting disagrees with what the host runs, or when auto cannot tell.
"""
from __future__ import annotations

from typing import Any

from .connect import Context
from .inventory import ec2 as inv_ec2
from .params import DB_PORTS, ParameterError

ENGINE_BY_PORT = {port: engine for engine, port in DB_PORTS.items()}


def _engine_from(inst: dict[str, Any], groups: list[dict[str, Any]]) -> tuple[str, str]:
    iid = inst["InstanceId"]
    tag = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}.get(inv_ec2.DEV_DB_TAG, "")
    if tag in DB_PORTS:
        return tag, f"{iid} is tagged {inv_ec2.DEV_DB_TAG}={tag}"
    found = set()
    for g in groups:
        for perm in g.get("IpPermissions", []):
            if perm.get("IpProtocol") != "tcp":
                continue   # "all traffic" says nothing about which database runs
            lo, hi = perm.get("FromPort", 0), perm.get("ToPort", 65535)
            found |= {e for port, e in ENGINE_BY_PORT.items() if lo <= port <= hi}
    if len(found) == 1:
        engine = found.pop()
        return engine, f"{iid} accepts port {DB_PORTS[engine]} ({engine}) in its security groups"
    if found:
        return "", f"{iid} accepts both {', '.join(f'{DB_PORTS[e]} ({e})' for e in sorted(found))}"
    return "", f"{iid} has no {inv_ec2.DEV_DB_TAG} tag and accepts no database port"


def detect(ctx: Context) -> tuple[str, str, str]:
    """(engine or "", evidence, instance id or "") for the dev host; ("", ..., "") when none is found."""
    items = inv_ec2.find_dev_instances(ctx, ctx.p)
    if len(items) != 1:
        return "", f"{len(items)} dev instances match", ""
    inst = items[0]
    ids = sorted(set(inv_ec2.instance_group_ids(inst)))
    groups = inv_ec2.paginate(ctx, "describe_security_groups", "SecurityGroups", GroupIds=ids) if ids else []
    engine, evidence = _engine_from(inst, groups)
    return engine, evidence, inst["InstanceId"]


def settle(ctx: Context) -> Context:
    """The context with db_engine set to what the dev host runs (see the module docstring). The demo dev
    host's engine is known without a call (Params already refused a disagreement)."""
    p = ctx.p
    if p.builds_demo_dev_host:
        return ctx
    engine, evidence, iid = detect(ctx)
    if not iid:
        return ctx   # no dev host found yet: the step that needs it says so
    if not engine:
        if p.db_engine == "auto":
            raise ParameterError({"db_engine": f"auto, but which database the dev host runs cannot be told ({evidence}); "
                                               "set db_engine to postgres or mysql"})
        return ctx
    if p.db_engine == "auto":
        return ctx.replace(db_engine=engine)
    if p.db_engine != engine:
        raise ParameterError({"db_engine": f"{p.db_engine}, but the dev host runs {engine} ({evidence}): the move copies "
                                           f"the dev database as it is, so RDS runs the same engine; set db_engine to "
                                           f"auto or {engine}"})
    return ctx
