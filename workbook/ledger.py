"""The stack's ledger: one SSM parameter, carrying the stack's tag, for what the stack made that cannot carry
a tag itself (an IAM group, a dashboard, DNS records), and the id of the current build, which every
idempotency token is scoped to. engine.py re-exports these; teardown deletes the parameter last."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from botocore.exceptions import ClientError

from . import tagging
from .connect import Context


def _code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


# ---- the ledger of what cannot carry a tag ----------------------------------------------------------
# An IAM group, a CloudWatch dashboard (in the sandbox) and a DNS record written into a zone the user
# owns cannot carry the stack's tag. What the stack created of those is written down in one SSM
# parameter that does carry it, so teardown finds them by that record, never by a name pattern.
def ledger_name(stack: str) -> str:
    return f"/workbook/{stack}/ledger"


def ledger(ctx: Context, stack: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    stack = stack or ctx.p.stack_name
    try:
        value = ctx.client("ssm").get_parameter(Name=ledger_name(stack))["Parameter"]["Value"]
    except ClientError as e:
        if _code(e) == "ParameterNotFound":
            return {}
        raise
    return json.loads(value)


def _write_ledger(ctx: Context, book: dict[str, Any], exists: bool = False) -> None:
    """Created with the stack's tags (Tags and Overwrite cannot go together), else overwritten."""
    ssm, name = ctx.client("ssm"), ledger_name(ctx.p.stack_name)
    value = json.dumps(book, sort_keys=True, separators=(",", ":"))
    if not exists:
        try:
            ssm.put_parameter(Name=name, Value=value, Type="String", Tags=tagging.tags(ctx.p, ctx.step or "ledger", name),
                              Description="What this workbook stack created that cannot carry its tag")
            return
        except ClientError as e:
            if _code(e) != "ParameterAlreadyExists":
                raise
    ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)


def remember(ctx: Context, kind: str, name: str, step: str, **info: Any) -> None:
    """Write an untaggable resource the stack created (or changed) into the stack's ledger."""
    book = ledger(ctx)
    book.setdefault(kind, {})[name] = {"step": step, **info}
    _write_ledger(ctx, book)


def forget(ctx: Context, kind: str, name: str) -> None:
    book = ledger(ctx)
    if name in book.get(kind, {}):
        del book[kind][name]
        _write_ledger(ctx, book)


# ---- the build: what every idempotency token is scoped to ----------------------------------------
# AWS keeps a token's answer after its resource is gone (EC2 ClientToken >= 24 h, Route 53 CallerReference
# for ever, ACM an hour). So each build of a stack has an id in the ledger: a rerun sends the same tokens
# (a create retried after a crash gets back what it made), a rebuild after teardown sends new ones.
BUILD = "build"   # the ledger's entry for the build id; not a resource kind


def build_id(ctx: Context) -> str:
    book = ledger(ctx)
    if book.get(BUILD):
        return next(iter(book[BUILD]))
    if ctx.dry_run:
        return "dry-run"        # a dry run creates nothing, so sends no token
    book[BUILD] = {uuid.uuid4().hex[:16]: {"step": ctx.step or "", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    _write_ledger(ctx, book)
    return next(iter(book[BUILD]))


def end_build(ctx: Context) -> None:
    """Ended before the first delete of a kind created with a token (a teardown's or one step's), so even a
    destroy that stops half-way leaves what is created next tokens of its own."""
    book = ledger(ctx)
    if book.pop(BUILD, None) and not ctx.dry_run:
        _write_ledger(ctx, book, exists=True)


def client_token(ctx: Context, name: str) -> str:
    return tagging.client_token(ctx.p, f"{build_id(ctx)}/{name}")
