"""Every AWS resource kind the workbook creates, declared once as data.

As cloud-custodian declares a `resource_type` (enum op, id, name, ...) and moto keeps one family per
module, each kind here says how to list it and read its tags, which field is its id and its name, how
to create it (operation, where the tags go, the client-token field), which botocore waiter makes it
usable, how to delete it and wait for that, and which kinds must go before it. The generic engine
(`workbook.engine`) reads these declarations: one `ensure`, one `find`, one `delete` for every kind,
and a teardown that is derived from the dependency order. The IAM actions of each declared operation
come from `workbook.iam_actions`, so a kind's permissions are never written by hand twice.

Behaviour a declaration cannot say (detach before delete, empty a bucket first, turn deletion
protection off) is a hook registered by name in the family's module with `@hook(kind, "delete")`.

Modules: ec2.py (network and instances), elbv2.py, autoscaling.py, rds.py, iam.py, monitoring.py
(logs, CloudWatch, SNS), edge.py (Route 53, ACM, API Gateway), storage.py (S3, SSM, Secrets Manager).
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# The workbook's tags (tagging.py re-exports them for the steps).
STACK = "workbook:stack"
STEP = "workbook:step"


@dataclass(frozen=True)
class Kind:
    name: str                     # one spelling everywhere: "security_group", "nat_gateway" ...
    service: str                  # boto3 client name
    describe: str                 # list/describe operation (paginated when botocore has a paginator)
    items: str                    # result key; "Reservations.Instances" flattens one level
    id: str                       # the item's id field (what delete and waiters take)
    name_key: str = ""            # the item's name field; "" = the Name tag
    arn_key: str = ""
    title: str = ""               # for people: "NAT gateway"
    # Finding what belongs to a stack:
    #   "ec2"  server-side Filters=[tag:workbook:stack=...] (EC2 describes)
    #   "asg"  the same filter in Auto Scaling's syntax
    #   "tags" list everything, read each item's tags (inline `tags_key` or `tags_op`), keep ours
    find: str = "tags"
    describe_args: dict[str, Any] = field(default_factory=dict)   # fixed arguments (Owners=["self"])
    by_name: str = ""             # describe argument for one name; "Names[]" passes a one-item list
    by_id: str = ""               # describe argument for one id ("InstanceIds[]"), to ask about one resource
    arn_type: str = ""            # the resource type in its ARN (EC2: "instance", "natgateway" ...)
    tags_key: str = ""            # tags inline in the item ("Tags", "TagList", "TagSet", "tags")
    tags_op: str = ""             # per-item tag read, see engine.TAG_READERS
    exists_codes: tuple[str, ...] = ()   # create's answer for "that name is taken" beyond *AlreadyExists*
    live_key: str = ""            # a state field; items whose state is in `gone_states` do not exist
    gone_states: tuple[str, ...] = ()
    # Creating
    create: str = ""
    create_tags: str = ""         # "spec:<ResourceType>" | "list:<Param>" | "dict:<Param>" | "asg:<Param>"
    #                               (Auto Scaling: all but Name propagate to the instances) | "" (tagged by a hook)
    token: str = ""               # client-token parameter of `create`
    created_key: str = ""         # where the new item is in the create response ("Vpc", "LoadBalancers.0")
    waiter: str = ""              # botocore waiter that makes it usable
    waiter_arg: str = ""          # "VpcIds[]" (a list of one) or "DBInstanceIdentifier"
    # Acceptors (botocore's waiter format) tried before the waiter's own, for documented states it has none
    # for: without one, a resource that can never become usable is polled until the waiter gives up.
    waiter_acceptors: tuple[dict[str, Any], ...] = ()
    # Deleting
    delete: str = ""
    delete_arg: str = ""          # "VpcId"; "Names[]" for a list of one
    delete_waiter: str = ""
    delete_waiter_arg: str = ""
    after: tuple[str, ...] = ()   # kinds that must be deleted before this one
    retry_codes: tuple[str, ...] = ()  # delete refusals that clear by themselves (ENIs freed late)
    # The delete's own not-found codes, when its answer can name another resource's NotFound (an Elastic
    # IP's release names its NAT's interface): only these mean "already gone". Empty: any not-found does.
    not_found: tuple[str, ...] = ()
    # Once deleted, it leaves network interfaces for tens of minutes that hold its subnets and groups (a VPC
    # link's: 20-40 min): teardown deletes it, and what must go before it, as early as the order allows.
    lingers: bool = False
    extra_permissions: tuple[str, ...] = ()
    taggable: bool = True         # False: ownership is the exact name (recorded in the stack's ledger)
    # A list with no server-side tag filter would cost one tag call per item in an account with
    # hundreds (IAM roles): "name-prefix" reads tags only of names the workbook would give (<stack>-...,
    # /<stack>/...). The tag still decides; the prefix only narrows whom to ask.
    narrow: str = ""

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ")


KINDS: dict[str, Kind] = {}
_FAMILY: dict[str, str] = {}   # kind -> the module that declared it
HOOKS: dict[tuple[str, str], Callable[..., Any]] = {}


def declare(*kinds: Kind) -> None:
    module = sys._getframe(1).f_globals.get("__name__", "")   # the family that declares them
    for k in kinds:
        assert k.name not in KINDS, f"kind {k.name} declared twice"
        KINDS[k.name] = k
        _FAMILY[k.name] = module.rpartition(".")[2]


class Kept(Exception):
    """Raised by a "before_delete" or "delete" hook: this resource stays, for the reason given (what
    blocks its deletion is not the stack's to change). `disowned`: it is no longer the stack's at all
    (someone changed it), so an untaggable one leaves the stack's ledger too."""

    def __init__(self, reason: str, *, disowned: bool = False):
        super().__init__(reason)
        self.disowned = disowned


def hook(kind: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register behaviour a declaration cannot express: "delete" (replaces the declared delete),
    "before_delete", "find" (replaces the declared listing), "tags" (reads an item's tags), "created"
    (after the create call: `(ctx, kind, raw, tags) -> raw`, e.g. tags where the create takes none)."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        HOOKS[(kind, what)] = fn
        return fn
    return wrap


def load_all() -> None:
    """Every family loaded, and KINDS in one order whatever was imported first: family by family as the
    package lists them, each family's kinds as declared (teardown's order among kinds free to go)."""
    families = [m.name for m in pkgutil.iter_modules(__path__)]
    for name in families:
        importlib.import_module(f"{__name__}.{name}")
    rank = {f: i for i, f in enumerate(families)}
    ordered = sorted(KINDS.items(), key=lambda kv: rank.get(_FAMILY.get(kv[0], ""), len(rank)))
    if list(KINDS) != [n for n, _ in ordered]:
        KINDS.clear()
        KINDS.update(ordered)


def get(name: str) -> Kind:
    load_all()
    if name not in KINDS:
        raise KeyError(f"no resource kind {name!r}; known: {', '.join(sorted(KINDS))}")
    return KINDS[name]


def all_kinds() -> list[Kind]:
    load_all()
    return list(KINDS.values())


def deletion_order(names: Iterable[str] | None = None) -> list[Kind]:
    """Kinds in the order a teardown deletes them: each after every kind listed in its `after`
    (transitively). Among kinds that are free to go, one that lingers (and what must go before it)
    comes first, then declaration order decides, so the order is the same on every run."""
    load_all()
    wanted = [n for n in KINDS if names is None or n in set(names)]
    for k in KINDS.values():
        for a in k.after:
            assert a in KINDS, f"{k.name} is deleted after unknown kind {a}"
    closure = {n: _after_closure(n) for n in wanted}
    early = {m for n in wanted if KINDS[n].lingers for m in closure[n] | {n}}
    order: list[str] = []
    pending = list(wanted)
    while pending:
        # the first pending kind none of whose `after` kinds (transitively) is still pending
        free = [n for n in pending if not closure[n] & set(pending)]
        nxt = next((n for n in free if n in early), free[0] if free else None)
        assert nxt is not None, f"deletion order has a cycle among {pending}"
        order.append(nxt)
        pending.remove(nxt)
    return [KINDS[n] for n in order]


def _after_closure(name: str) -> set[str]:
    out: set[str] = set()
    todo = list(KINDS[name].after)
    while todo:
        a = todo.pop()
        if a not in out:
            out.add(a)
            todo.extend(KINDS[a].after)
    out.discard(name)
    return out


def tag_dict(tags: Any) -> dict[str, str]:
    """Tags in any of AWS's shapes ([{Key, Value}], [{key, value}], {k: v}) as a dict."""
    if isinstance(tags, dict):
        return dict(tags)
    return {t.get("Key", t.get("key", "")): t.get("Value", t.get("value", "")) for t in tags or []}
