"""09_teardown: remove everything the stack created, then prove nothing is left.

The teardown is derived from the declared resource kinds (workbook.kinds): kind by kind, in their
deletion order, it deletes what carries the stack's tag `workbook:stack=<stack>` (or is written in the
stack's ledger, for what cannot carry a tag) and nothing else; a name prefix proves nothing. Deletes
that AWS refuses for a while (an interface of a deleted NAT gateway is freed minutes later) are
retried within a bound. Kept on purpose: the database's final snapshot (keep_final_snapshot), the dev
environment (unless teardown_dev), secrets already in their recovery window.

A teardown holds the stack's lock (workbook.lock) from its start to its end, so it is refused while a
build holds it (and nobody builds while it runs), and gives it back last of all; a plan takes none.

`workbook.inventory.leftovers.scan` is the independent proof: every kind listed again, plus the
region-wide tagging API and interfaces left in VPCs that are gone.
"""
from __future__ import annotations

import pandas as pd

from .. import dbmove, engine, lock
from .. import kinds as K
from ..connect import Context
from ..inventory import leftovers as scan_module
from . import Step, register

STEP = "09_teardown"

register(Step(
    STEP, "Teardown: remove the stack in dependency order, keep a final snapshot, prove it is gone",
    "A trial stack costs money every hour it runs (NAT gateways, the load balancer, a Multi-AZ database). "
    "The data is what matters most, and backups are the article's first practice, so the database leaves "
    "a final snapshot unless told otherwise.",
    short="Teardown", module="teardown", migration=False,
    kinds=tuple(k.name for k in K.all_kinds()),
    permissions=("tag:GetResources",),
))


def keep(ctx: Context):
    """Why an item stays ("" = delete it): the rules of leftovers.status."""
    def reason(it: engine.Item) -> str:
        s = scan_module.status(it, ctx.p)
        return "" if s == "leftover" else s
    return reason


def destroy(ctx: Context) -> pd.DataFrame:
    """Everything of the stack, kind by kind in deletion order; what stays is listed with its reason.
    Safe to run twice; with dry_run it lists what it would delete."""
    mark = len(ctx.resources)
    with lock.holding(ctx, STEP, eager=True) as held:
        dbmove.lift_left_freeze(ctx, STEP)   # while the dev host's move profile still exists
        engine.destroy(ctx, [k.name for k in K.deletion_order() if k.name != lock.KIND], step=STEP, keep=keep(ctx))
        gone = held.give_back()   # last of all (the pipeline's own lock is given back when its run ends)
    if gone is not None:
        ctx.note(STEP, lock.KIND, gone.name, gone.name, "released")
    return ctx.resources_frame(mark)


def scan(ctx: Context) -> pd.DataFrame:
    return scan_module.scan(ctx)


def verify(ctx: Context) -> pd.DataFrame:
    """What is still there (rows with status "leftover" or "orphan" are the failures)."""
    return scan_module.scan(ctx)


leftovers = scan_module.leftovers
summary = scan_module.summary
