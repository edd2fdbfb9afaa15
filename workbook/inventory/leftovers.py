"""Everything in the region that carries the stack's tag, kind by kind: the stack census, and after a
teardown the leftover scan.

Every declared kind is listed through the engine (the stack's tag decides, checked on each item), and
two sweeps catch what a kind-by-kind listing would miss:
- the Resource Groups Tagging API (GetResources with the stack's tag) over the whole region: an ARN
  it returns that no kind accounts for is reported as "unknown kind", so a resource created outside
  the workbook's declarations, or a kind forgotten in them, still shows;
- network interfaces whose VPC no longer exists (AWS removes them with their owner, minutes late;
  the sandbox keeps some): reported as "orphan", never deleted by name or place.

`status(item, p)` says what a teardown should have done with each: "leftover", or kept on purpose
(the final snapshot, the dev environment unless teardown_dev, a secret in its recovery window).
"""
from __future__ import annotations

import pandas as pd
from botocore.exceptions import ClientError

from .. import engine, lock, names
from .. import kinds as K
from ..connect import Context
from ..params import Params

COLUMNS = ["type", "id", "name", "step", "status", "detail"]
DEV_STEP = "00_setup"


def final_snapshot_prefix(p: Params) -> str:
    return names.db_snapshot(p, "final")


def status(it: engine.Item, p: Params) -> str:
    # keep_final_snapshot says whether this teardown takes one; a final snapshot that exists (this
    # teardown's or an earlier one's: RDS copies the instance's tags to it) is that build's data, kept.
    if it.kind == "db_snapshot" and it.id.startswith(final_snapshot_prefix(p)):
        return "kept (final snapshot)"
    if it.step == DEV_STEP and not p.teardown_dev:
        return "kept (dev environment)"
    if it.kind == "secret" and it.raw.get("DeletedDate"):
        return "pending deletion"
    return "leftover"


def _detail(kind: K.Kind, it: engine.Item) -> str:
    if kind.live_key:
        return str(engine._dig(it.raw, kind.live_key) or "")
    for key in ("CidrBlock", "Status", "DBInstanceStatus", "VpcLinkStatus"):
        if it.raw.get(key):
            return str(it.raw[key])
    return ""


def _tagged_arns(ctx: Context, stack: str) -> list[str]:
    """Every ARN the tagging API knows with the stack's tag (it does not cover every type, and moto's covers fewer)."""
    try:
        return [r["ResourceARN"] for r in engine._pages(
            ctx, "resourcegroupstaggingapi", "get_resources", "ResourceTagMappingList",
            TagFilters=[{"Key": K.STACK, "Values": [stack]}])]
    except ClientError as e:
        if engine.code(e) in ("AccessDeniedException", "AccessDenied"):
            return []
        raise


def _kind_of(arn: str) -> tuple[K.Kind | None, str]:
    """The declared kind an ARN names (by service and resource type), and the resource's id."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or "/" not in parts[5]:
        return None, ""
    rtype, _, id_ = parts[5].partition("/")
    kind = next((k for k in K.all_kinds() if k.arn_type == rtype and k.service == parts[2]), None)
    return kind, id_


def _still_there(ctx: Context, kind: K.Kind, id_: str) -> list[dict]:
    """The resource described by its id, if it still exists (deleted states count as gone)."""
    try:
        raws = engine.list_items(ctx, kind, None, **engine._arg(kind.by_id, id_))
    except ClientError as e:
        if engine.missing(e):
            return []
        raise
    return [r for r in raws if str(engine._dig(r, kind.id)) == id_]


def _automated_backup(ctx: Context, arn: str) -> dict | None:
    """An RDS automated snapshot carries its instance's tags; RDS owns it and deletes it with the instance
    (the workbook deletes with DeleteAutomatedBackups). Left over only once its instance is gone."""
    ident = arn.split(":snapshot:", 1)[1]
    try:
        snap = ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=ident)["DBSnapshots"][0]
    except ClientError as e:
        if engine.missing(e):
            return None
        raise
    owner = snap.get("DBInstanceIdentifier", "")
    alive = bool(engine.list_items(ctx, K.get("db_instance"), None, DBInstanceIdentifier=owner))
    return {"type": "db_snapshot", "id": ident, "name": ident, "step": "",
            "status": "automated backup" if alive else "leftover",
            "detail": f"automated backup of {owner}" + ("" if alive else " (its instance is gone)")}


def _orphan_interfaces(ctx: Context) -> list[dict]:
    """Network interfaces in a VPC that no longer exists."""
    vpcs = {v["VpcId"] for v in engine._pages(ctx, "ec2", "describe_vpcs", "Vpcs")}
    return [n for n in engine._pages(ctx, "ec2", "describe_network_interfaces", "NetworkInterfaces")
            if n.get("VpcId") and n["VpcId"] not in vpcs]


def _arn_names(arn: str, id_: str) -> bool:
    """True when the ARN ends with the id as a whole segment (".../vpc-123", "...:parameter/a/b")."""
    tail = id_.lstrip("/")
    return len(tail) > 3 and arn.endswith(tail) and arn[-len(tail) - 1] in "/:"


def scan(ctx: Context, p: Params | None = None, *, stack: str | None = None) -> pd.DataFrame:
    """One row per resource of the stack: type (the kind), id, name, step, status, detail."""
    p = p or ctx.p
    stack = stack or p.stack_name
    rows, seen = [], set()
    for kind in K.deletion_order():
        for it in engine.find(ctx, kind, stack=stack):
            rows.append({"type": kind.name, "id": it.id, "name": it.name, "step": it.step,
                         "status": status(it, p), "detail": _detail(kind, it)})
            if kind.name == lock.KIND:   # this very run's lock is no leftover; another's says whose it is
                rows[-1]["status"], rows[-1]["detail"] = lock.census(ctx, stack)
            seen.add(it.id)
            if kind.arn_key and it.raw.get(kind.arn_key):
                seen.add(it.raw[kind.arn_key])
    for arn in _tagged_arns(ctx, stack):
        if arn in seen or any(_arn_names(arn, s) for s in seen):
            continue
        if ":snapshot:rds:" in arn:
            row = _automated_backup(ctx, arn)
            if row:
                rows.append(row)
            continue
        kind, id_ = _kind_of(arn)
        if kind is not None and kind.by_id:
            raws = _still_there(ctx, kind, id_)
            if not raws:
                continue   # the tagging API still lists a resource just deleted (terminated instances linger)
            it = engine.item(ctx, kind, raws[0])
            rows.append({"type": kind.name, "id": it.id, "name": it.name, "step": it.step, "status": status(it, p),
                         "detail": _detail(kind, it)})
            continue
        rows.append({"type": "unknown kind", "id": arn, "name": arn.rsplit(":", 1)[-1], "step": "",
                     "status": "leftover", "detail": "tagged with the stack; no declared kind lists it"})
    for n in _orphan_interfaces(ctx):
        rows.append({"type": "network_interface", "id": n["NetworkInterfaceId"], "name": n.get("Description", ""),
                     "step": "", "status": "orphan", "detail": f"its VPC {n['VpcId']} is gone"})
    return pd.DataFrame(rows, columns=COLUMNS)


def leftovers(scan_frame: pd.DataFrame) -> pd.DataFrame:
    return scan_frame[scan_frame.status.isin(["leftover", "orphan"])].reset_index(drop=True)


def summary(scan_frame: pd.DataFrame, nonzero: bool = False) -> pd.DataFrame:
    """Counts per kind and status, every kind listed (zeros included) so "nothing left" shows;
    nonzero=True keeps only the kinds with something in them."""
    kinds = [k.name for k in K.deletion_order()]
    counts = (scan_frame.groupby(["type", "status"]).size().unstack(fill_value=0) if not scan_frame.empty
              else pd.DataFrame())
    out = counts.reindex(kinds + [t for t in counts.index if t not in kinds], fill_value=0)
    if "leftover" not in out.columns:
        out["leftover"] = 0
    out = out.fillna(0).astype(int)
    out.columns.name = None
    out = out.reset_index(names="type")
    if nonzero:
        out = out[out.drop(columns=["type"]).sum(axis=1) > 0]
    return out.reset_index(drop=True)
