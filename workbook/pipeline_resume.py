"""The pipeline's side of waits that outlast a cell, and of the build's time on AWS (issue 9).

A cell's wait that runs out of its time raises progress.StillWaiting (what it waits for goes on in AWS).
`execute_resuming` picks it up as a user would: the notebook runs again and finds what exists by its
tags, or, from a cell tagged `resumable` on, only those cells run again. `rehearsal_figures` turns what
a rehearsal recorded into the run's figures (buildtime.py).
"""
from __future__ import annotations

import json
import math
import shutil
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, TextIO

import nbformat

from . import pipeline_exec as X

RESUMES = 3   # at least this many reruns of a notebook whose wait outlasted its cell, before the run fails
# The longest a single thing may keep a notebook waiting on AWS: a security group, subnet or VPC that
# VPC-link interfaces hold for 20-40 minutes after the link is gone (engine.RETRY_BUDGETS_S), an ACM
# certificate's validation (edge_cert.py waits up to 45 minutes).
LONGEST_WAIT_S = 45 * 60.0


def resumes(timeout_s: float) -> int:
    """Reruns allowed with cells of `timeout_s` AWS seconds: enough that the longest wait fits across them
    (each cell waits at most its timeout less progress.CELL_MARGIN)."""
    from . import progress
    per_cell = max(1.0, timeout_s * (1 - progress.CELL_MARGIN))
    return max(RESUMES, math.ceil(LONGEST_WAIT_S / per_cell))


def _kernel_counts(run_dir: Path, stem: str) -> tuple[int, int]:
    """(API calls, resources created) the notebook's kernel wrote after its last cell (nb.start)."""
    try:
        d = json.loads((run_dir / "calls" / f"{stem}.json").read_text())
    except (OSError, ValueError):
        return 0, 0
    return int(d.get("calls", 0)), len(d.get("created", []))


def execute_resuming(src: Path, out: Path, parameters: dict[str, Any], timeout: int, label: str,
                      stream: TextIO, nbrec: Any, execute: Callable[..., None] = X.execute) -> None:
    """Run a notebook; when a cell's wait outlasted the cell (progress.StillWaiting: what it waited for
    goes on in AWS), pick it up as a user would. From a cell tagged `resumable` on (every cell after it
    is too, and needs nothing but the notebook's start cell), only those cells are run again; otherwise
    the whole notebook, which finds what exists by its tags and waits again from the state AWS reports,
    never creating anything twice. Up to RESUMES times (resumes(): the longest wait fits); the attempts that stopped are kept under attempts/."""
    first = 0   # the source cell the next attempt starts from (0: the whole notebook)
    allowed = resumes(timeout)
    for attempt in range(1, allowed + 2):
        nbrec.attempts = attempt
        (out.parent / "calls" / f"{src.stem}.json").unlink(missing_ok=True)
        target = out if not first else out.parent / "attempts" / f"{src.stem}.cells-{first}.{attempt}.ipynb"
        try:
            if first:
                _execute_from(src, target, first, parameters, timeout, label, stream, execute)
                _merge_tail(out, target, first, len(nbformat.read(src, as_version=4).cells))
            else:
                execute(src, out, parameters, timeout, label, stream)
            return
        except Exception as e:   # noqa: BLE001 - only a wait that ran out of time is resumed
            index, _, err = X._failed_cell(target) if target.exists() else (None, "", "")
            if not (err or X._error_text(e)).startswith("StillWaiting") or attempt > allowed:
                raise
            if first:
                index = first + (index or 0) - _head_cells(src, first)
            resumable = index is not None and _resumable_from(src, index)
            if not first:
                kept = out.parent / "attempts" / f"{src.stem}.{attempt}.ipynb"
                kept.parent.mkdir(exist_ok=True)
                shutil.copy(out, kept) if resumable else out.replace(kept)
            first = index if resumable else 0
            print(f"{label}: cell {index} still waiting ({why_waiting(err)}); running "
                  f"{'that cell' if first else src.stem} again to pick it up ({attempt} of {allowed})",
                  file=stream, flush=True)
        finally:
            calls, created = _kernel_counts(out.parent, src.stem)
            nbrec.calls += calls
            nbrec.created += created


def why_waiting(err: str) -> str:
    """What a StillWaiting error awaits, for the pipeline's line: without the cell's own advice (what
    picks the wait up: the line says what the pipeline does instead), cut at a word if it is long."""
    why = err.split(": ", 1)[-1].split("; it goes on in AWS", 1)[0]
    return textwrap.shorten(why, 200, placeholder=" …")


RESUMABLE_TAG = "resumable"


def _is_head(cell: Any) -> bool:
    """The cells a partial rerun keeps: parameters, and the one that starts the session."""
    return "parameters" in cell.get("metadata", {}).get("tags", []) or \
        (cell.cell_type == "code" and "nb.start(" in cell.source)


def _head_cells(src: Path, first: int) -> int:
    return sum(1 for c in nbformat.read(src, as_version=4).cells[:first] if _is_head(c))


def _resumable_from(src: Path, index: int) -> bool:
    cells = nbformat.read(src, as_version=4).cells[index:]
    return bool(cells) and all(RESUMABLE_TAG in c.get("metadata", {}).get("tags", [])
                               for c in cells if c.cell_type == "code")


def _execute_from(src: Path, out: Path, first: int, parameters: dict[str, Any], timeout: int, label: str,
                  stream: TextIO, execute: Callable[..., None] = X.execute) -> None:
    """The notebook's head cells, then its cells from `first` on."""
    nb = nbformat.read(src, as_version=4)
    nb.cells = [c for i, c in enumerate(nb.cells) if i >= first or _is_head(c)]
    out.parent.mkdir(exist_ok=True)
    part = out.with_suffix(".src.ipynb")
    nbformat.write(nb, part)
    execute(part, out, parameters, timeout, label, stream)


def _merge_tail(out: Path, part: Path, first: int, n_src: int) -> None:
    """The executed notebook takes the rerun's cells from `first` on, in place of the attempt that stopped."""
    main, got = nbformat.read(out, as_version=4), nbformat.read(part, as_version=4)
    for nb in (main, got):
        nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    at = next(i for i in range(len(main.cells)) if X._source_index(main, i) == first)
    main.cells = main.cells[:at] + got.cells[len(got.cells) - (n_src - first):]
    main.metadata.setdefault("papermill", {})["exception"] = got.metadata.get("papermill", {}).get("exception")
    nbformat.write(main, out)


def waited(target: Any, notebook: str) -> float:
    """AWS seconds the notebook's kernels have waited on the clock so far (rehearsing; 0 otherwise)."""
    got = target.rehearsal_figures()
    return float((got or {}).get("waits", {}).get(notebook, {}).get("seconds", 0.0))


def rehearsal_figures(rec: Any, target: Any, aws_t0: float) -> dict[str, Any] | None:
    """Rehearsing: each notebook's projected AWS minutes, the build's, its critical path and their
    ratio (buildtime.py), from what happened since this run started; None on AWS itself or the plain
    sandbox."""
    from . import buildtime
    got = target.rehearsal_figures() if target is not None else None
    return buildtime.figures([asdict(nb) for nb in rec.notebooks], got, since=aws_t0)
