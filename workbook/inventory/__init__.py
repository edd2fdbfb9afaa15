"""What exists, as tidy pandas frames, fetched lazily by name.

`Inventory(ctx, stack)` fetches a frame the first time it is asked for (`inv.frame("instances")` or
`inv.instances`) through a fetcher registered with `@fetcher("instances")` in a module of this
package (one module per service: ec2.py, rds.py, elbv2.py ...). A fetcher returns what bears the
stack's tag (stack=None: everything in the region, for discovery of an untagged dev environment).

Every frame has at least the columns `id`, `name`, `stack`, `step` (from the workbook tags, "" when
absent) and `tags` (a dict). Other columns are documented at each fetcher. An unknown frame name is
an error; a fetcher's service that has nothing returns an empty frame with its columns.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

import pandas as pd

from ..connect import Context

BASE_COLUMNS = ["id", "name", "stack", "step", "tags"]
FETCHERS: dict[str, Callable[[Context, str | None], pd.DataFrame]] = {}


def fetcher(name: str):
    def wrap(func: Callable[[Context, str | None], pd.DataFrame]):
        FETCHERS[name] = func
        return func
    return wrap


def load_all() -> None:
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")


class Inventory:
    def __init__(self, ctx: Context, stack: str | None):
        load_all()
        self.ctx, self.stack = ctx, stack
        self._frames: dict[str, pd.DataFrame] = {}

    def frame(self, name: str) -> pd.DataFrame:
        if name not in FETCHERS:
            raise KeyError(f"no inventory fetcher named {name!r}; known: {', '.join(sorted(FETCHERS))}")
        if name not in self._frames:
            self._frames[name] = FETCHERS[name](self.ctx, self.stack)
        return self._frames[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.frame(name)
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def has(self, name: str) -> bool:
        return name in FETCHERS

    def refresh(self) -> "Inventory":
        self._frames.clear()
        return self

    def summary(self) -> pd.DataFrame:
        """Counts per frame, for a quick look."""
        return pd.DataFrame([{"resource": n, "count": len(self.frame(n))} for n in sorted(FETCHERS)])


def tag_columns(tags: dict[str, str]) -> dict[str, str]:
    """The base columns every fetcher fills from a resource's tags."""
    return {"name": tags.get("Name", ""), "stack": tags.get("workbook:stack", ""),
            "step": tags.get("workbook:step", ""), "tags": tags}
