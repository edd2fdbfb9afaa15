"""Run the notebooks headless, in order, with papermill: `python -m workbook run`.

`run(p)` executes `notebooks/NN_*.ipynb` (all but the teardown, or `only=["00", "01"]`) into
`build/runs/<timestamp>/`, one kernel per notebook, cwd = the repository root, the parameters
`p.to_dict()` with `interactive=False`, and a per-cell timeout. It starts the sandbox first
(target=sandbox) and sets environment variables that every kernel inherits:

- `WORKBOOK_RUN_DIR`: the run folder, where notebooks hand the report structured results with
  `workbook.report.artifact(name, obj)`;
- `WORKBOOK_NOTEBOOK`: the stem of the notebook being run (e.g. "01_assess");
- `WORKBOOK_LOCK`: the stack's lock, which the run holds from start to end (workbook.lock), so that
  its kernels never wait on it.

The run folder holds the executed notebooks, `run.json` (parameters with the account id masked,
target, region, start/end times, versions, one record per notebook) and `timings.csv` (one row per
notebook: seconds, cells, status, slowest cell), which benchmarks read. `build/runs/latest` points at
the run that ended last (it moves when a run ends, never while one is going). On a failure the run stops, keeps the failed notebook, and raises `RunFailed`
naming the notebook, the cell (index in the source notebook and its first line) and the error.

Progress: on a terminal a tqdm bar per notebook ("[2/5] 01_assess  7/14 cells"); in a log (CI) one
line when a notebook starts and one when it ends, plus at most one progress line every 15 s.
"""
from __future__ import annotations

import atexit
import csv
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import nbformat

from . import masking, outputs
from . import pipeline_resume as resume
from .pipeline_exec import (KERNEL, ROOT, _cell_durations, _error_text, _failed_cell,  # noqa: F401
                            _source_index, execute, mask_run_outputs)
from .connect import mask_account
from .outputs import end_run, new_run_dir, point_latest  # noqa: F401 - run folders live in outputs.py
from .nb import CELL_TIMEOUT_ENV
from .params import ParameterError, Params

NOTEBOOKS = ROOT / "notebooks"


def runs_root() -> Path:
    """build/runs under the output folder (outputs.home)."""
    return outputs.build_dir() / "runs"


def diagrams_root() -> Path:
    return outputs.home() / "diagrams"


NOTEBOOK_RE = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.ipynb$")
VERSIONED = ("boto3", "botocore", "moto", "pandas", "papermill", "nbconvert", "nbclient", "ipykernel",
             "diagrams", "matplotlib")


class RunFailed(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the error."""

    def __init__(self, message: str, run_dir: Path, notebook: str, cell_index: int | None, error: str):
        super().__init__(message)
        self.run_dir, self.notebook, self.cell_index, self.error = run_dir, notebook, cell_index, error


@dataclass
class NotebookRecord:
    notebook: str
    status: str = "pending"          # ok | failed | pending (not reached)
    seconds: float = 0.0
    cells: int = 0
    slowest_cell: int | None = None  # index in the source notebook
    slowest_seconds: float = 0.0
    output: str = ""
    error: str = ""
    attempts: int = 1                # >1: rerun to pick up waits that outlasted a cell (pipeline_resume)
    calls: int = 0                   # API calls its kernels made
    created: int = 0                 # resources it created (0 on a rerun of a built stack)
    aws_seconds: float | None = None  # AWS time that passed on the target's clock while it ran
    aws_waited_s: float = 0.0        # of which waiting on the clock (rehearsing)


@dataclass
class RunRecord:
    run_dir: str
    params: dict[str, Any]
    target: str
    region: str
    stack_name: str
    started: str
    finished: str = ""
    seconds: float = 0.0
    status: str = "running"
    sandbox_endpoint: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    notebooks: list[NotebookRecord] = field(default_factory=list)
    cell_timeout_aws_s: int = 0      # the per-cell timeout, in AWS seconds (waits end before it)
    rehearsal: dict[str, Any] | None = None   # rehearsing: projected AWS time, critical path (buildtime.py)


# ---- which notebooks -------------------------------------------------------------------------
def discover(notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The step notebooks, in order of their NN_ prefix."""
    return sorted(p for p in Path(notebooks_dir).glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def select(paths: list[Path], only: list[str] | None) -> list[Path]:
    """Keep the notebooks named by prefix ("01") or stem ("01_assess"); an unknown name is an error.

    By default every notebook but the teardown: a pipeline builds and measures the stack, and a
    second run finds it and creates nothing; removing it is asked for by name (`--only 09`)."""
    if not only:
        return [p for p in paths if "teardown" not in p.stem]
    wanted = [w.strip().removesuffix(".ipynb") for w in only if w.strip()]
    unknown = [w for w in wanted if not any(p.stem == w or p.stem.split("_", 1)[0] == w for p in paths)]
    if unknown:
        known = ", ".join(p.stem for p in paths) or "(no notebooks found)"
        raise ParameterError({"only": f"no notebook matches {', '.join(unknown)}; known: {known}"})
    return [p for p in paths if any(p.stem == w or p.stem.split("_", 1)[0] == w for w in wanted)]


# ---- metadata ----------------------------------------------------------------------------------
def masked_params(p: Params) -> dict[str, Any]:
    d = p.to_dict()
    d["aws_account_id"] = mask_account(d.get("aws_account_id", ""))
    return d


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    from . import __version__
    out["workbook"] = __version__
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        if sha:
            out["git"] = sha
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_record(rec: RunRecord) -> None:
    d = Path(rec.run_dir)
    (d / "run.json").write_text(masking.text(json.dumps(asdict(rec), indent=2, default=str)))
    with open(d / "timings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["notebook", "status", "seconds", "cells", "slowest_cell", "slowest_seconds"])
        for nb in rec.notebooks:
            w.writerow([nb.notebook, nb.status, nb.seconds, nb.cells,
                        "" if nb.slowest_cell is None else nb.slowest_cell, nb.slowest_seconds])


# ---- the run -----------------------------------------------------------------------------------
def run(p: Params, only: list[str] | None = None, timeout: int = 600, *,
        notebooks_dir: Path | None = None, runs_dir: Path | None = None, diagrams_dir: Path | None = None,
        stream: TextIO | None = None) -> Path:
    """Run the notebooks in order into a new run folder; return it. Raises RunFailed on a failure.

    `notebooks_dir`/`runs_dir`/`diagrams_dir` default to notebooks/, build/runs/ and diagrams/ (tests
    point them elsewhere). When the run ends, ok or not, its pictures are published to diagrams/ and
    build/runs/latest is pointed at it (`end_run`), both atomically: another run still going is untouched.
    """
    stream = stream or sys.stderr
    paths = select(discover(Path(notebooks_dir or NOTEBOOKS)), only)
    if not paths:
        raise ParameterError({"only": f"no notebooks NN_*.ipynb in {notebooks_dir or NOTEBOOKS}"})
    if timeout <= 0:
        raise ParameterError({"timeout": f"{timeout} must be a positive number of seconds per cell"})
    p = p.replace(interactive=False)
    preflight(p)                        # reads only: a value the account cannot serve is refused first
    held = _take_stack_lock(p, paths)   # before anything else: a refused run leaves nothing behind
    run_dir = new_run_dir(Path(runs_dir or runs_root()))
    rec = RunRecord(run_dir=str(run_dir), params=masked_params(p), target=p.target, region=p.region,
                    stack_name=p.stack_name, started=_now(), versions=versions(),
                    notebooks=[NotebookRecord(nb.stem) for nb in paths])
    write_record(rec)
    mask_run_outputs(run_dir, notebooks=True)
    pictures = Path(diagrams_dir or diagrams_root())

    from .connect import target_for
    target = target_for(p)
    rec.sandbox_endpoint = target.endpoint or ""   # the sandbox starts here, before any kernel
    rec.cell_timeout_aws_s = timeout
    aws_t0 = target.clock.now()
    t_run = time.perf_counter()
    print(f"run {run_dir.name}: {len(paths)} notebook(s), target {p.target}, region {p.region}, "
          f"stack {p.stack_name}" + (f", sandbox {rec.sandbox_endpoint}" if rec.sandbox_endpoint else ""),
          file=stream, flush=True)

    saved_env = {k: os.environ.get(k) for k in ("WORKBOOK_RUN_DIR", "WORKBOOK_NOTEBOOK", CELL_TIMEOUT_ENV)}
    os.environ["WORKBOOK_RUN_DIR"] = str(run_dir)
    os.environ[CELL_TIMEOUT_ENV] = str(timeout)   # each cell's waits end within it, in AWS time (nb.start)
    try:
        for n, (src, nbrec) in enumerate(zip(paths, rec.notebooks), start=1):
            out = run_dir / src.name
            nbrec.output = out.name
            cells = nbformat.read(src, as_version=4).cells
            nbrec.cells = sum(1 for c in cells if c.cell_type == "code")
            label = f"[{n}/{len(paths)}] {src.stem}"
            print(f"{label}: {len(cells)} cells ({nbrec.cells} code) ...", file=stream, flush=True)
            os.environ["WORKBOOK_NOTEBOOK"] = src.stem
            _lock_at(held, run_dir, src.stem)
            t0, aws0, waited0 = time.perf_counter(), target.clock.now(), resume.waited(target, src.stem)
            try:
                resume.execute_resuming(src, out, p.to_dict(), timeout, label, stream, nbrec, execute)
            except BaseException as e:  # noqa: BLE001 - also a timeout, a dead kernel, Ctrl-C
                nbrec.seconds = round(time.perf_counter() - t0, 2)
                nbrec.aws_seconds = round(target.clock.now() - aws0, 1)
                nbrec.aws_waited_s = round(resume.waited(target, src.stem) - waited0, 1)
                nbrec.status = "failed"
                index, first, err = _failed_cell(out) if out.exists() else (None, "", "")
                err = masking.text(err or _error_text(e))
                first = masking.text(first)
                nbrec.error = err
                mask_run_outputs(run_dir)
                rec.status = "failed"
                _finish(rec, t_run, target, aws_t0)
                end_run(run_dir, pictures)
                where = f"cell {index} ({first!r})" if index is not None else "before any cell ran"
                msg = (f"{src.stem} failed at {where}: {err}\n"
                       f"  the failed notebook is kept: {out}\n"
                       f"  run folder: {run_dir}")
                print(f"{label}: FAILED after {nbrec.seconds:.1f} s", file=stream, flush=True)
                if isinstance(e, KeyboardInterrupt):
                    raise
                raise RunFailed(msg, run_dir, src.stem, index, err) from None
            nbrec.seconds = round(time.perf_counter() - t0, 2)
            nbrec.aws_seconds = round(target.clock.now() - aws0, 1)
            nbrec.aws_waited_s = round(resume.waited(target, src.stem) - waited0, 1)
            nbrec.status = "ok"
            mask_run_outputs(run_dir)
            durations = _cell_durations(out)
            if durations:
                nbrec.slowest_cell, slow = max(durations, key=lambda x: x[1])
                nbrec.slowest_seconds = round(slow, 2)
            write_record(rec)
            slowest = (f", slowest cell {nbrec.slowest_cell} {nbrec.slowest_seconds:.1f} s"
                       if nbrec.slowest_cell is not None else "")
            print(f"{label}: ok in {nbrec.seconds:.1f} s{slowest}", file=stream, flush=True)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _give_back_stack_lock(held)
    rec.status = "ok"
    _finish(rec, t_run, target, aws_t0)
    end_run(run_dir, pictures)
    print(f"run {run_dir.name}: ok in {rec.seconds:.1f} s -> {run_dir}", file=stream, flush=True)
    return run_dir


# ---- the stack's lock (workbook.lock) ----------------------------------------------------------
@dataclass
class _Held:
    ctx: Any
    lock: Any
    sigterm: tuple[Any, ...] = ()    # (the handler before ours,) while ours is set
    given_back: bool = False


def _changes_the_stack(p: Params, paths: list[Path]) -> bool:
    """A dry run, or a run of read-only notebooks only (steps that create no kind), changes nothing:
    it takes no lock (a kernel still takes it for a cell that does change something)."""
    if p.dry_run:
        return False
    from . import steps
    known = {s.id: s for s in steps.ordered()}
    return any(src.stem not in known or known[src.stem].kinds for src in paths)


def _take_stack_lock(p: Params, paths: list[Path]) -> _Held | None:
    """The run holds the stack's lock from its start to its end, so its kernels never wait on it: they
    inherit its id (WORKBOOK_LOCK). Raises lock.StackLocked, naming the holder, before any change. A
    run stopped by SIGTERM (a scheduler's timeout) still gives it back; one killed outright leaves it
    naming its run and process."""
    if not _changes_the_stack(p, paths):
        return None
    from . import lock
    from .connect import connect
    ctx = connect(p, step="run")
    held = _Held(ctx, lock.acquire(ctx, paths[0].stem, via="pipeline"))
    os.environ[lock.ENV] = f"{p.stack_name}/{held.lock.id}"
    atexit.register(_give_back_stack_lock, held)
    if threading.current_thread() is threading.main_thread():
        held.sigterm = (signal.signal(signal.SIGTERM, _terminated),)
    return held


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit("terminated (SIGTERM)")


def _lock_at(held: _Held | None, run_dir: Path, notebook: str) -> None:
    """The lock says which run holds it and which notebook runs now."""
    if held is not None:
        from . import lock
        held.lock = lock.note(held.ctx, held.lock, run=run_dir.name, step=notebook)


def _give_back_stack_lock(held: _Held | None) -> None:
    if held is None or held.given_back:
        return
    from . import lock
    held.given_back = True
    os.environ.pop(lock.ENV, None)
    atexit.unregister(_give_back_stack_lock)
    if held.sigterm:
        signal.signal(signal.SIGTERM, held.sigterm[0] if held.sigterm[0] is not None else signal.SIG_DFL)
    try:
        lock.release(held.ctx, held.lock)
    except Exception as e:  # noqa: BLE001 - the run's own outcome must not be hidden by this
        print(f"warning: could not give back the lock on stack {held.lock.stack!r} (id {held.lock.id}): {e}; "
              f"release it with: {lock.unlock_command(held.ctx, held.lock.stack)}{lock.account_note(held.ctx)}",
              file=sys.stderr)


def preflight(p: Params) -> None:
    """Connect once before the first notebook: the target starts (the sandbox) and the boundary checks that
    need a read (the region's AZs, the account) refuse a bad value before any notebook creates anything."""
    from .connect import connect
    connect(p)


def _finish(rec: RunRecord, t_run: float, target: Any = None, aws_t0: float = 0.0) -> None:
    rec.finished = _now()
    rec.seconds = round(time.perf_counter() - t_run, 2)
    rec.rehearsal = resume.rehearsal_figures(rec, target, aws_t0)
    write_record(rec)


def latest(runs_dir: Path | None = None) -> Path:
    """The run that ended last (build/runs/latest), else the newest run folder whose run ended."""
    from .outputs import latest_run
    return latest_run(Path(runs_dir or runs_root()))
