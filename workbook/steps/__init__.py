"""One module per migration step. Each declares itself with `register(Step(...))`.

Like a cloud-custodian action, a step names the IAM permissions it uses, so the workbook can print
the least-privilege policy for its own run (`policy_for`). A step module exposes:

- small `ensure_<resource>(ctx, p) -> Resource` functions, one resource each: find by tag; if
  absent, create (or with p.dry_run only note "would create"); wait with a botocore waiter;
- `plan(ctx, p) -> DataFrame` (what apply would create; creates nothing),
- `apply(ctx, p) -> DataFrame` (calls the ensure_* functions in order),
- `verify(ctx, p) -> DataFrame` (findings of the step's checks, see workbook.checks),
- `destroy(ctx, p) -> DataFrame` (reverse dependency order; safe to run twice).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..connect import Context, Resource
from ..params import Params


@dataclass(frozen=True)
class Step:
    id: str                      # notebook prefix + name, e.g. "02_network"
    title: str
    why: str                     # from the article, two or three sentences
    permissions: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.id.split("_", 1)[1]


REGISTRY: dict[str, Step] = {}


def register(step: Step) -> Step:
    REGISTRY[step.id] = step
    return step


def policy_for(step_ids: list[str] | None = None) -> dict[str, Any]:
    """Least-privilege IAM policy document covering the given steps (all by default)."""
    actions = sorted({a for s in REGISTRY.values() if step_ids is None or s.id in step_ids for a in s.permissions})
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def exists(ctx: Context, step: str, type_: str, name: str, id_: str) -> Resource:
    return ctx.note(step, type_, name, id_, "exists")


def created(ctx: Context, step: str, type_: str, name: str, id_: str) -> Resource:
    return ctx.note(step, type_, name, id_, "created")


def would_create(ctx: Context, step: str, type_: str, name: str) -> Resource:
    """dry_run: the placeholder id tells dependents there is nothing yet."""
    return ctx.note(step, type_, name, f"(new {type_})", "would create")


def frame(records: list[Resource]) -> pd.DataFrame:
    return pd.DataFrame([r.__dict__ for r in records], columns=["step", "type", "name", "id", "action"])


def is_placeholder(id_: str) -> bool:
    return id_.startswith("(new ")


def dry(p: Params) -> bool:
    return p.dry_run
