"""What a notebook cell calls to get going and to show what happened. No logic lives in notebooks."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from . import kernel, lock, progress, workshop
from .connect import Context, connect
from .params import ParameterError, Params, unknown_message
from .params_io import load_yaml, shown

# What papermill may inject besides parameters: its paths (--inject-paths) and the workbook's own
# `params_file` (a YAML file read here, as `python -m workbook run --params` reads it).
PAPERMILL_EXTRA = ("PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH")
PARAMS_FILE = "params_file"
# papermill's Python translator opens the cell it injects with this comment (papermill 2.x).
INJECTED_HEADER = "# Parameters"

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT_ENV = "WORKBOOK_CELL_TIMEOUT"   # AWS seconds a cell may last (the pipeline's --timeout)
_hooks: list[tuple[str, Any]] = []


def start(ns: Mapping[str, Any], step: str) -> tuple[Params, Context]:
    """Parameters from the notebook's globals (the `parameters` cell and papermill's injection),
    validated before any AWS call, then a connection to the target."""
    # Paths in the notebooks (diagrams/, build/) are relative to the checkout, wherever the kernel
    # started: JupyterLab starts it in notebooks/, papermill in the pipeline's working directory.
    os.chdir(ROOT)
    workshop.require_form(ns, step)   # the workshop acts only on the stack its form named
    p = parameters(ns)
    progress.use_bars(p.interactive)
    ctx = connect(p, step=step)
    # db_engine=auto: the engine your dev host runs (read from it; the demo host's is dev_db_engine)
    from .dbengine import settle
    ctx = settle(ctx)
    p = ctx.p
    lock.guard(ctx)   # a cell that changes the stack holds its lock until the cell ends (workbook.lock)
    _budget_cells(ctx, step)
    from .steps.database_drill import advance_beside_waits
    advance_beside_waits(ctx, step)   # 03's restore drill goes on beside this step's waits (04-08)
    where = ctx.target.where(ctx)
    print(f"{step}: stack {p.stack_name!r} in {p.region}, {where}" + (" (dry run: nothing is created)" if p.dry_run else ""))
    if p.interactive:   # the step bar, one line of sandbox notes, the form's values followed (workbook.workshop)
        workshop.attach(ns, step, p, ctx, start)
    return p, ctx


def parameters(ns: Mapping[str, Any]) -> Params:
    """The validated parameters of a notebook: its `parameters` cell, a `params_file` if papermill was
    given one (`-p params_file my.yaml`), then what papermill injected (`-p name value`, `-f file`) on top.
    A name papermill injected that is no parameter is refused: papermill itself sets any name it is given."""
    names = injected_names()
    unknown = [n for n in names or () if n not in Params.names() and n not in PAPERMILL_EXTRA + (PARAMS_FILE,)]
    if unknown:
        raise ParameterError({n: unknown_message(n) + " (papermill sets any name it is given)" for n in unknown})
    values = dict(ns)
    path = ns.get(PARAMS_FILE)
    if path:
        if not isinstance(path, str):
            raise ParameterError({PARAMS_FILE: f"expected the path of a YAML file, got {shown(path)}"})
        from_file = load_yaml(Path(path).expanduser(), label=PARAMS_FILE)
        bad = [k for k in from_file if k not in Params.names()]
        if bad:
                raise ParameterError({k: f"in {path}: {unknown_message(k)}" for k in bad})
        # the file over the parameters cell's defaults; what papermill injected by name over the file
        over = {k: ns[k] for k in (names or ()) if k in Params.names()}
        values.update({**from_file, **over})
    return Params.from_namespace(values)


def injected_names() -> list[str] | None:
    """Names assigned in the cell papermill injected into this kernel (None when none was): read from the
    kernel's own input history, where the injected cell ran like any other, and parsed, not executed."""
    ip = kernel.shell()
    history = ip.user_ns.get("_ih", []) if ip is not None else []
    for source in reversed(history):
        if source.startswith(INJECTED_HEADER + "\n"):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                return None
            return [t.id for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)]
    return None


def calls(ctx: Context) -> pd.DataFrame:
    """The API calls made since the last cell that showed them."""
    return ctx.calls.new()


def _budget_cells(ctx: Context, step: str) -> None:
    """Before each cell: its waits get the pipeline's per-cell timeout, in AWS time on the target's clock
    (progress.cell_budget; none in the workshop, where no timeout kills a cell). After each cell: the
    number of API calls so far, written to the run folder for the run's figures (pipeline.py)."""
    raw = os.environ.get(CELL_TIMEOUT_ENV, "")
    timeout = float(raw) if raw else None
    progress.cell_budget(ctx.clock, timeout)   # the cell that runs this
    run_dir, notebook = os.environ.get("WORKBOOK_RUN_DIR", ""), os.environ.get("WORKBOOK_NOTEBOOK", step)
    ip = kernel.shell()
    if ip is None:
        return
    for event, fn in _hooks:   # nb.start run again in the same kernel: one set of hooks
        ip.events.unregister(event, fn)
    _hooks.clear()

    def before(*_: Any) -> None:
        progress.cell_budget(ctx.clock, timeout)

    def after(*_: Any) -> None:
        if run_dir:
            calls_dir = Path(run_dir) / "calls"
            calls_dir.mkdir(exist_ok=True)
            created = [f"{r.type} {r.name}" for r in ctx.resources if r.action == "created"]
            (calls_dir / f"{notebook}.json").write_text(json.dumps({"calls": len(ctx.calls.calls), "created": created}))
    for event, fn in (("pre_run_cell", before), ("post_run_cell", after)):
        ip.events.register(event, fn)
        _hooks.append((event, fn))
