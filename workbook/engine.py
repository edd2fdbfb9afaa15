"""One engine for every declared resource kind: find by the stack's tag, ensure, wait, delete.

- `find(ctx, kind)`: what carries `workbook:stack=<stack>` (server-side tag filter where the service
  has one, else each item's own tags), optionally narrowed to a Name or a step. Ownership is always
  decided by the tag, never by a name prefix.
- `ensure(ctx, kind, name, step=..., create=...)`: find by tag; else "would create" in a dry run; else
  create with the workbook's tags and a client token derived from stack, build and name, and wait with the
  kind's botocore waiter. A same-named resource that is not the stack's is refused, never adopted.
- `delete(ctx, kind, item)`: not-found is success; refusals that clear by themselves (ENIs freed late:
  DependencyViolation ...) are retried within a bound, sleeping on the target's clock.
- `destroy(ctx, kinds, step=...)`: kind by kind in the declared deletion order.

Every function records what it did in `ctx.resources` (type = the kind's one name).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pandas as pd
from botocore.exceptions import ClientError, WaiterError

from . import kinds as K
from . import progress, tagging
from .connect import Context, Resource
from .calls import (NOT_FOUND_CODES, PROPAGATION, PROPAGATION_BUDGET_S, RETRY_ATTEMPTS,  # noqa: F401
                    RETRY_BUDGET_S, RETRY_BUDGETS_S, RETRY_DELAY_S, TRANSIENT_CODES, _arg, _dig, _pages,
                    _with_stack_filter, code, missing, propagating, retrying, wait)
from .ledger import BUILD, build_id, client_token, end_build, forget, ledger, ledger_name, remember  # noqa: F401

class ForeignResource(RuntimeError):
    """A resource with the name the stack would use exists but does not carry the stack's tag."""


@dataclass
class Item:
    """One resource as found: its kind, id, name, tags and the raw description."""
    kind: str
    id: str
    name: str
    tags: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def stack(self) -> str:
        return self.tags.get(K.STACK, "")

    @property
    def step(self) -> str:
        return self.tags.get(K.STEP, "")


# ---- reading ------------------------------------------------------------------------------------
def list_items(ctx: Context, kind: K.Kind, stack: str | None = None, **kw: Any) -> list[dict[str, Any]]:
    """Raw items of a kind (server-side narrowed to the stack where the service can filter by tag)."""
    custom = K.HOOKS.get((kind.name, "find"))
    if custom:
        return custom(ctx, kind, stack, **kw)
    args = {**kind.describe_args, **kw}
    if stack:
        args = _with_stack_filter(kind, stack, args)
    try:
        items = _pages(ctx, kind.service, kind.describe, kind.items, **args)
    except ClientError as e:
        if missing(e):
            return []
        raise
    if kind.live_key:
        items = [i for i in items if _dig(i, kind.live_key) not in kind.gone_states]
    return items


def tags_of(ctx: Context, kind: K.Kind, raw: dict[str, Any]) -> dict[str, str]:
    if kind.tags_key:
        return K.tag_dict(raw.get(kind.tags_key))
    reader = K.HOOKS.get((kind.name, "tags"))
    if reader is None:
        return {}
    try:
        return K.tag_dict(reader(ctx, raw))
    except ClientError as e:
        if missing(e):
            return {}
        raise


def name_of(kind: K.Kind, raw: dict[str, Any], tags: dict[str, str]) -> str:
    if kind.name_key:
        return str(_dig(raw, kind.name_key) or "")
    return tags.get("Name", "")


def item(ctx: Context, kind: K.Kind, raw: dict[str, Any], tags: dict[str, str] | None = None) -> Item:
    tags = tags_of(ctx, kind, raw) if tags is None else tags
    return Item(kind.name, str(_dig(raw, kind.id)), name_of(kind, raw, tags) or str(_dig(raw, kind.id)), tags, raw)


def _untagged(ctx: Context, kind: K.Kind, stack: str) -> list[Item]:
    entries = ledger(ctx, stack).get(kind.name, {})
    if not entries:
        return []
    custom = K.HOOKS.get((kind.name, "find"))
    raws = custom(ctx, kind, stack, entries=entries) if custom else list_items(ctx, kind, None)
    out = []
    for raw in raws:
        nm = name_of(kind, raw, {})
        if nm in entries:
            tags = {K.STACK: stack, K.STEP: entries[nm].get("step", ""), "Name": nm}
            out.append(Item(kind.name, str(_dig(raw, kind.id)), nm, tags, raw))
    return out


def find(ctx: Context, kind: K.Kind | str, *, stack: str | None = None, name: str | None = None,
         step: str | None = None) -> list[Item]:
    """What of this kind carries the stack's tag (checked client-side too: an emulator or a loose
    server-side filter must never make another stack's resource ours)."""
    kind = K.get(kind) if isinstance(kind, str) else kind
    stack = stack or ctx.p.stack_name
    if not kind.taggable:
        return [it for it in _untagged(ctx, kind, stack)
                if (name is None or it.name == name) and (step is None or it.step == step)]
    out = []
    for raw in list_items(ctx, kind, stack):
        if kind.narrow == "name-prefix" and not name_of(kind, raw, {}).startswith(
                (f"{stack}-", f"/{stack}/", f"/aws/rds/instance/{stack}-")):   # the last: its database's logs
            continue
        it = item(ctx, kind, raw)
        if it.stack != stack or (name is not None and it.name != name) or (step is not None and it.step != step):
            continue
        out.append(it)
    return out


def find_one(ctx: Context, kind: K.Kind | str, name: str, *, stack: str | None = None) -> Item | None:
    """The stack's resource of this name, or None. A kind whose name is its identity (a load balancer,
    an IAM role, a DB instance) is looked up by name, and a same-named one without the stack's tag
    raises ForeignResource: the workbook never adopts what it did not create."""
    kind = K.get(kind) if isinstance(kind, str) else kind
    stack = stack or ctx.p.stack_name
    if not kind.by_name:
        found = find(ctx, kind, stack=stack, name=name)
        return found[0] if found else None
    raws = list_items(ctx, kind, None, **_arg(kind.by_name, name))
    raws = [r for r in raws if name_of(kind, r, {}) in (name, "")]
    if not raws:
        return None
    it = item(ctx, kind, raws[0])
    if kind.taggable and it.stack != stack:
        raise ForeignResource(f"{kind.label} {name} exists but does not carry the tag {K.STACK}={stack}: it "
                              f"is not this stack's, so the workbook leaves it alone. Choose another stack_name "
                              f"or remove it yourself.")
    return it


# ---- creating ---------------------------------------------------------------------------------------
def tag_args(kind: K.Kind, p: Any, step: str, name: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The workbook's tags (stack, step, Name, and any extra) in the shape the kind's create takes."""
    style, _, where = kind.create_tags.partition(":")
    tags = {**tagging.tag_dict(p, step, name), **(extra or {})}
    if style == "spec":
        return {"TagSpecifications": [{"ResourceType": where, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]}
    if style == "list":   # "list:CreateBucketConfiguration.Tags": a list inside a structure
        head, _, inner = where.partition(".")
        listed = [{"Key": k, "Value": v} for k, v in tags.items()]
        return {head: {inner: listed} if inner else listed}
    if style == "dict":
        return {where: tags}
    if style == "asg":  # Auto Scaling tags name their group and say whether its instances inherit them
        return {where: [{"Key": k, "Value": v, "ResourceId": name, "ResourceType": "auto-scaling-group",
                         "PropagateAtLaunch": k != "Name"} for k, v in tags.items()]}
    return {}


def placeholder(kind: str, name: str) -> str:
    """A dry run's id for what does not exist yet; unique per resource, so a plan can tell them apart."""
    return f"(new {kind} {name})"


def is_placeholder(id_: str) -> bool:
    return id_.startswith("(new ")


ENDED_STATES = {"deleting", "deleted", "failed", "shutting-down", "terminated"}
TOKEN_CHAIN = 5


def ensure(ctx: Context, kind: K.Kind | str, name: str, *, step: str,
           create: Callable[[], dict[str, Any]] | dict[str, Any], wait_ready: bool = True,
           found: Item | None = None, lookup: bool = True, extra_tags: dict[str, str] | None = None,
           token: str | None = None) -> Resource:
    """Find by tag (unless `found` is given, or `lookup` is off because the caller just looked), else
    "would create" in a dry run, else create with tags and client token and wait until usable.
    `create` gives the create arguments; a callable is only called when something is created."""
    kind = K.get(kind) if isinstance(kind, str) else kind
    it = found if found is not None else (find_one(ctx, kind, name) if lookup else None)
    if it is not None:
        return ctx.note(step, kind.name, name, it.id, "exists", item=it.raw)
    if ctx.dry_run:
        return ctx.note(step, kind.name, name, placeholder(kind.name, name), "would create")
    args = dict(create() if callable(create) else create)
    for key, value in tag_args(kind, ctx.p, step, name, extra_tags).items():
        # the caller's own TagSpecifications (e.g. an instance's root volume) are kept beside ours, and
        # so is the rest of a structure the tags go into (a bucket's LocationConstraint)
        if key == "TagSpecifications" and key in args:
            args[key] = value + list(args[key])
        elif isinstance(value, dict) and isinstance(args.get(key), dict):
            args[key] = {**args[key], **value}
        else:
            args[key] = value
    if not kind.taggable:
        # Written ahead: a crash between the create and a later write would leave the stack's own
        # resource unknown to it, and a rerun would refuse it as foreign.
        remember(ctx, kind.name, name, step)
    if kind.token:
        args.setdefault(kind.token, token or client_token(ctx, name))
    try:
        op = getattr(ctx.client(kind.service), kind.create)
        resp = propagating(ctx, lambda: op(**args), f"{kind.label} {name}")
        for _ in range(TOKEN_CHAIN):
            # EC2 answers a token it has seen (24 h at least) with what it made then, even deleted since
            # (by hand, outside the build): then a token of its own, named after that one, deterministic for
            # a rerun after a crash as the first is.
            before = _dig(resp, kind.created_key) if kind.created_key else resp
            if not (kind.token and kind.live_key and str(_dig(before, kind.live_key)) in ENDED_STATES):
                break
            args[kind.token] = client_token(ctx, f"{name}/{_dig(before, kind.id)}")
            resp = propagating(ctx, lambda: op(**args), f"{kind.label} {name}")
    except ClientError as e:
        if not kind.taggable:
            forget(ctx, kind.name, name)   # nothing was created: the entry must not claim a namesake
        c = code(e)
        if c.endswith(("AlreadyExists", "AlreadyExistsException", "AlreadyExistsFault")) or ".Duplicate" in c \
                or c.startswith("Duplicate") or c in kind.exists_codes:
            # A retried create whose first attempt AWS had carried out (its answer lost: a 5xx, a timeout)
            # meets its own resource: carrying the stack's tag, it is the one just made.
            mine = find_one(ctx, kind, name) if kind.taggable else None
            if mine is not None:
                if wait_ready:
                    wait(ctx, kind, mine.id, what=f"{kind.label} {name}")
                return ctx.note(step, kind.name, name, mine.id, "created", item=mine.raw)
            raise ForeignResource(f"{kind.label} {name} already exists but is not this stack's ({c}); the "
                                  f"workbook leaves it alone. Choose another stack_name or remove it "
                                  f"yourself.") from None
        raise
    raw = _dig(resp, kind.created_key) if kind.created_key else resp
    made = K.HOOKS.get((kind.name, "created"))
    if made:  # what the create call cannot do itself (a Route 53 zone: tags, its bare id)
        raw = made(ctx, kind, raw, {**tagging.tag_dict(ctx.p, step, name), **(extra_tags or {})})
    id_ = str(_dig(raw, kind.id) or name)   # some creates answer nothing (log groups): the name is the id
    if wait_ready:
        wait(ctx, kind, id_, what=f"{kind.label} {name}")
    return ctx.note(step, kind.name, name, id_, "created", item=raw)


# ---- deleting ---------------------------------------------------------------------------------------
def delete(ctx: Context, kind: K.Kind | str, it: Item, *, step: str, wait_gone: bool = True) -> Resource:
    """Delete one resource (found by `find`): the kind's hooks, then its delete call, then its waiter."""
    kind = K.get(kind) if isinstance(kind, str) else kind
    if ctx.dry_run:
        return ctx.note(step, kind.name, it.name, it.id, "would delete")
    try:
        before = K.HOOKS.get((kind.name, "before_delete"))
        if before:
            before(ctx, kind, it)
        custom = K.HOOKS.get((kind.name, "delete"))
        if custom:
            result = custom(ctx, kind, it)
            if isinstance(result, Resource):
                return result
        else:
            op = getattr(ctx.client(kind.service), kind.delete)
            retrying(ctx, lambda: op(**_arg(kind.delete_arg or kind.id, it.id)), f"{kind.label} {it.id}",
                     codes=TRANSIENT_CODES + kind.retry_codes, budget_s=RETRY_BUDGETS_S.get(kind.name),
                     gone=kind.not_found)
            if wait_gone:
                wait(ctx, kind, it.id, deleted=True)
    except K.Kept as e:
        if e.disowned and not kind.taggable:
            forget(ctx, kind.name, it.name)
        return ctx.note(step, kind.name, it.name, it.id, f"kept: {e}")
    except ClientError as e:
        if not ((code(e) in kind.not_found) if kind.not_found else missing(e)):
            raise
        result = ctx.note(step, kind.name, it.name, it.id, "already gone")
    else:
        result = ctx.note(step, kind.name, it.name, it.id, "deleted")
    if not kind.taggable:
        forget(ctx, kind.name, it.name)
    return result


def destroy(ctx: Context, kind_names: Iterable[str], *, step: str, only_step: str | None = None,
            keep: Callable[[Item], str] | None = None) -> pd.DataFrame:
    """Delete what carries the stack's tag, kind by kind in deletion order. `only_step` narrows to what
    one step created; `keep(item)` returns a reason to keep an item ("" deletes it). A failure is
    recorded and the rest goes on: a teardown must remove as much as it can, and say what stayed."""
    mark, ended, unfinished = len(ctx.resources), False, []
    for kind in K.deletion_order(kind_names):
        if not kind.delete and (kind.name, "delete") not in K.HOOKS:
            continue
        for it in find(ctx, kind, step=only_step):
            if unfinished and it.name == ledger_name(ctx.p.stack_name):
                # The ledger is the only proof those are the stack's (and holds what a record replaced):
                # it stays until they are gone, so a rerun finds them.
                ctx.note(step, kind.name, it.name, it.id, f"kept: it still names {', '.join(unfinished)} "
                                                         f"(their delete failed); a rerun of the teardown goes on")
                continue
            if kind.token and not ended and not ctx.dry_run and not (keep and keep(it)):
                end_build(ctx)
                ended = True
            reason = keep(it) if keep else ""
            if reason:
                # said once: a delete hook may already have noted what it keeps (RDS's final snapshot)
                if not any(r.type == kind.name and r.id == it.id and r.action == reason for r in ctx.resources[mark:]):
                    ctx.note(step, kind.name, it.name, it.id, reason)
                continue
            try:
                delete(ctx, kind, it, step=step)
            except progress.StillWaiting as e:
                # The cell's time is up: what was asked goes on in AWS; a rerun finds the rest by tag.
                ctx.note(step, kind.name, it.name, it.id, "still deleting (goes on in AWS)")
                e.then = "a rerun of the teardown finds what is left by its tag and goes on"
                raise
            except (ClientError, WaiterError, TimeoutError) as e:
                detail = code(e) if isinstance(e, ClientError) else type(e).__name__
                ctx.note(step, kind.name, it.name, it.id, f"failed: {detail}")
                if not kind.taggable:
                    unfinished.append(it.name)
    return ctx.resources_frame(mark)
