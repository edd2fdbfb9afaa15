"""What a notebook cell calls to get going and to show what happened. No logic lives in notebooks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import lock, progress
from .connect import Context, connect
from .params import Params

ROOT = Path(__file__).resolve().parent.parent


def start(ns: Mapping[str, Any], step: str) -> tuple[Params, Context]:
    """Parameters from the notebook's globals (the `parameters` cell and papermill's injection),
    validated before any AWS call, then a connection to the target."""
    # Paths in the notebooks (diagrams/, build/) are relative to the checkout, wherever the kernel
    # started: JupyterLab starts it in notebooks/, papermill in the pipeline's working directory.
    os.chdir(ROOT)
    p = Params.from_namespace(ns)
    progress.use_bars(p.interactive)
    ctx = connect(p, step=step)
    lock.guard(ctx)   # a cell that changes the stack holds its lock until the cell ends (workbook.lock)
    where = ctx.target.where(ctx)
    print(f"{step}: stack {p.stack_name!r} in {p.region}, {where}" + (" (dry run: nothing is created)" if p.dry_run else ""))
    if p.interactive:
        from . import ui
        ui.navigator(ctx, p, step)
    return p, ctx


def calls(ctx: Context) -> pd.DataFrame:
    """The API calls made since the last cell that showed them."""
    return ctx.calls.new()
