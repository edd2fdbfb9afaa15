"""One module per migration step; the step registry is the single source of their order, titles,
notebooks, functions and permissions.

A step module declares itself with `register(Step(...))`: its id (the notebook's stem, which gives the
order), its title and a short label (the workshop's step bar), why it exists (from the article, in our
own words), the resource kinds it creates (its `destroy` deletes exactly those, by the stack's tag and
the step's tag, in the kinds' deletion order) and the IAM actions it needs beyond its kinds' declared
operations. Like a cloud-custodian action, the permissions come with the code that uses them; the
workbook's own least-privilege policy (`workbook.policy`) allows exactly their union (`permissions()`).

A step module exposes small `ensure_<resource>(ctx)` units (one resource each, through
`workbook.engine`), and `plan(ctx)`, `apply(ctx)`, `verify(ctx)`, `destroy(ctx)`. The workshop's step
bar, the teardown and the report read this registry; nothing keeps a list of steps by hand.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

import pandas as pd

from .. import engine, iam_actions
from .. import kinds as K
from ..connect import RESOURCE_COLUMNS, Context, Resource


@dataclass(frozen=True)
class Step:
    id: str                      # notebook stem, e.g. "02_network"; the prefix gives the order
    title: str
    why: str                     # from the article, in our own words
    short: str = ""              # the step bar's label
    module: str = ""             # workbook.steps.<module>
    kinds: tuple[str, ...] = ()  # what the step creates (its destroy removes these)
    permissions: tuple[str, ...] = field(default=())   # beyond its kinds' operations
    migration: bool = True       # a step of the migration proper (02-08): "after" in the report

    @property
    def name(self) -> str:
        return self.id.split("_", 1)[1]

    @property
    def order(self) -> int:
        return int(self.id.split("_", 1)[0])

    @property
    def notebook(self) -> str:
        return f"{self.id}.ipynb"

    def fn(self, name: str) -> Callable[..., Any] | None:
        """The step's plan / apply / verify / destroy (None when it has none)."""
        if not self.module:
            return None
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), name, None)

    def all_permissions(self) -> tuple[str, ...]:
        # a step that creates things holds the stack's lock while it does (workbook.lock)
        kinds = set(self.kinds) | ({"stack_lock"} if self.kinds else set())
        return tuple(sorted(set(self.permissions) | {a for k in kinds for a in kind_permissions(k)}))


REGISTRY: dict[str, Step] = {}


def register(step: Step) -> Step:
    REGISTRY[step.id] = step
    return step


def load_all() -> None:
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")


def ordered() -> list[Step]:
    """Every step, in notebook order."""
    load_all()
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def get(step_id: str) -> Step:
    load_all()
    return REGISTRY[step_id]


@lru_cache(maxsize=None)
def kind_permissions(name: str) -> tuple[str, ...]:
    """The IAM actions of a kind's declared operations (list, create, delete, their waiters) and the
    extra ones it names."""
    from .. import boto_models
    from botocore import xform_name
    kind = K.get(name)
    ops = [o for o in (kind.describe, kind.create, kind.delete) if o]
    waiters = [w for w in (kind.waiter, kind.delete_waiter) if w]
    if waiters:  # a waiter polls a describe operation: that needs its permission too
        model = boto_models.waiter_model(kind.service)
        by_name = {xform_name(n): n for n in model.waiter_names}
        ops += [model.get_waiter(by_name[w]).operation for w in waiters]
    return tuple(sorted({a for o in ops for a in iam_actions.actions_for(kind.service, o)} | set(kind.extra_permissions)))


def permissions(step_ids: list[str] | None = None) -> tuple[str, ...]:
    """The union of the steps' permissions (all steps by default)."""
    return tuple(sorted({a for s in ordered() if step_ids is None or s.id in step_ids for a in s.all_permissions()}))


# ---- what a step did ---------------------------------------------------------------------------------
def frame(records: list[Resource]) -> pd.DataFrame:
    return pd.DataFrame([{k: getattr(r, k) for k in RESOURCE_COLUMNS} for r in records], columns=RESOURCE_COLUMNS)


is_placeholder = engine.is_placeholder


def destroy_kinds(ctx: Context, step: Step, keep: Callable[[engine.Item], str] | None = None) -> pd.DataFrame:
    """A step's destroy: what it created (its kinds, carrying the stack's tag and its own step tag), in
    the kinds' deletion order; safe to run twice. `keep(item)` gives a reason to keep one ("" deletes it)."""
    return engine.destroy(ctx, step.kinds, step=step.id, only_step=step.id, keep=keep)
