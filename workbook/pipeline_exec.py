"""One notebook run by papermill, for the pipeline: its progress lines, the notebooks it writes with the
account id masked, and which cell failed. Below both pipeline.py (the run of many notebooks) and
pipeline_resume.py (a notebook picked up again after a wait outlasted its cell).
"""
from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import nbformat

from . import masking

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "python3"


# ---- progress ----------------------------------------------------------------------------------
class _LogLines:
    """A file for tqdm in a log: each redraw becomes one line, at most one per `every` seconds."""

    def __init__(self, out: TextIO, every: float = 15.0):
        # the clock starts now: tqdm's first redraw (0 cells) would only repeat the start line
        self.out, self.every, self._last, self._t = out, every, "", time.monotonic()

    def write(self, s: str) -> int:
        for part in s.replace("\n", "\r").split("\r"):
            part = part.strip()
            if part and part != self._last and time.monotonic() - self._t >= self.every:
                self.out.write(part + "\n")
                self.out.flush()
                self._last, self._t = part, time.monotonic()
        return len(s)

    def flush(self) -> None:
        self.out.flush()


def _progress(label: str, out: TextIO) -> dict[str, Any]:
    fmt = "{desc}: {n_fmt}/{total_fmt} cells [{elapsed}]"
    if out.isatty():
        # a terminal that reports no size (a bare pty) would hide the bar: tqdm draws only bars that fit
        size = shutil.get_terminal_size((100, 20))
        return {"desc": label, "file": out, "bar_format": "{desc}: {bar} {n_fmt}/{total_fmt} cells [{elapsed}]",
                "leave": False, "ncols": min(size.columns, 120), "nrows": max(size.lines, 2)}
    return {"desc": label, "file": _LogLines(out), "bar_format": fmt, "mininterval": 15.0}


# ---- failures ----------------------------------------------------------------------------------
def _source_index(executed: nbformat.NotebookNode, index: int) -> int:
    """Index of an executed notebook's cell in the source notebook (papermill inserts a cell)."""
    injected = [i for i, c in enumerate(executed.cells)
                if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    return index - sum(1 for i in injected if i < index)


def _failed_cell(output: Path) -> tuple[int | None, str, str]:
    """(source index, first line, error) of the cell that failed or was running when it stopped."""
    try:
        nb = nbformat.read(output, as_version=4)
    except Exception:  # noqa: BLE001 - a half-written notebook must not hide the real error
        return None, "", ""
    # papermill puts an error banner at the top once it knows; it is not a source cell
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    nb.cells = cells

    def first_line(c: nbformat.NotebookNode) -> str:
        return next((ln.strip() for ln in c.source.splitlines() if ln.strip()), "")

    for i, c in enumerate(cells):
        pm = c.get("metadata", {}).get("papermill", {})
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors or pm.get("exception") or pm.get("status") in ("failed", "running"):
            err = f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
            return _source_index(nb, i), first_line(c), err
    # A cell timeout or a dead kernel leaves no error output and papermill marks the cell
    # completed: the cell that was running is the last one that started.
    started = [i for i, c in enumerate(cells)
               if c.cell_type == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")
               and "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    if started:
        return _source_index(nb, started[-1]), first_line(cells[started[-1]]), ""
    return None, "", ""


def _cell_durations(output: Path) -> list[tuple[int, float]]:
    nb = nbformat.read(output, as_version=4)
    out = []
    for i, c in enumerate(nb.cells):
        if "injected-parameters" in c.get("metadata", {}).get("tags", []):
            continue
        d = c.get("metadata", {}).get("papermill", {}).get("duration")
        if c.cell_type == "code" and d is not None:
            out.append((_source_index(nb, i), float(d)))
    return out


# ---- account ids: masked in everything the run writes ---------------------------------------------
class _MaskedNotebookWrites:
    """papermill's writer for the notebooks it saves under one run folder (after every cell, too):
    the account id is masked before the file is written, so no save ever shows it."""

    def __init__(self) -> None:
        from papermill.iorw import LocalHandler
        self._local = LocalHandler()

    def read(self, path: str) -> str:
        return self._local.read(path)

    def write(self, buf: str, path: str) -> None:
        self._local.write(masking.notebook_json(buf), path)

    def listdir(self, path: str) -> list[str]:
        return self._local.listdir(path)

    def pretty_path(self, path: str) -> str:
        return path

    def cwd(self, new_path: str | None) -> str | None:
        return self._local.cwd(new_path)


def mask_run_outputs(run_dir: Path, *, notebooks: bool = False) -> list[Path]:
    """The one place a run's written outputs get their account ids masked (connect.mask_account).
    notebooks=True: from now on papermill masks each notebook it writes into the run folder; without,
    every notebook and text file already there (artifacts the kernels wrote, a kept failed notebook)
    is masked in place."""
    if notebooks:
        from papermill.iorw import papermill_io
        prefix = str(Path(run_dir).resolve())
        if not any(scheme == prefix for scheme, _ in papermill_io._handlers):
            papermill_io.register(prefix, _MaskedNotebookWrites())
        return []
    return masking.folder(run_dir)


def execute(src: Path, out: Path, parameters: dict[str, Any], timeout: int, label: str,
            stream: TextIO = sys.stderr) -> None:
    """One notebook with papermill; raises what papermill or nbclient raised."""
    import papermill as pm
    # Each notebook takes every parameter (nb.start builds the full Params), though its parameters
    # cell lists only those it shows: papermill's one warning per other name is noise here.
    logging.getLogger("papermill").setLevel(logging.ERROR)
    # the absolute path: the run folder's masking writer (mask_run_outputs) is found by its prefix
    pm.execute_notebook(str(src), str(Path(out).resolve()), parameters=parameters, kernel_name=KERNEL,
                        cwd=str(ROOT),
                        execution_timeout=timeout, progress_bar=_progress(label, stream),
                        request_save_on_cell_execute=True, log_output=False,
                        # the kernel's own start-up warnings (TCP transport on loopback) say nothing here
                        extra_arguments=["--IPKernelApp.log_level=ERROR"])


def _error_text(e: BaseException) -> str:
    """One line for errors that left no error output (cell timeout, dead kernel, start failure)."""
    text = str(e).strip().splitlines()
    first = next((ln for ln in text if ln.strip() and not set(ln.strip()) <= {"-"}), "")
    return f"{type(e).__name__}: {first}" if first else type(e).__name__
