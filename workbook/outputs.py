"""Where a run's files go, so that two runs at once never remove or half-write each other's.

During a pipeline run (`WORKBOOK_RUN_DIR` set) a diagram or figure named `diagrams/x.png` is written into
the run folder (`<run>/diagrams/x.png`), which no other run touches; when the run ends the pipeline
publishes the folder's pictures to `diagrams/`, each replaced atomically (a reader sees the old file or
the new one, never half of one). Outside a run (the workshop) a file is written straight to its path, the
same atomic way. Anything drawn is made in a private temporary folder first (`private_dir`).

Everything the workbook makes goes under `home()`: the checkout, or `WORKBOOK_OUTPUT_DIR` when set (the
test suite sets it, so `make test` leaves the diagrams, runs and report of a user's `make report` alone).

Run folders (`new_run_dir`) and `build/runs/latest` live here too: `latest` is moved by `end_run`, when a
run ends (ok or failed), never when one starts, so it never names a run still going.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

RUN_DIR_ENV = "WORKBOOK_RUN_DIR"
OUTPUT_ENV = "WORKBOOK_OUTPUT_DIR"
ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The folder that holds diagrams/ and build/: WORKBOOK_OUTPUT_DIR if set, else the checkout."""
    value = os.environ.get(OUTPUT_ENV)
    return Path(value) if value else ROOT


def build_dir() -> Path:
    return home() / "build"


def run_dir() -> Path | None:
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def place(path: str | os.PathLike) -> Path:
    """Where a file asked for at `path` is written: inside the run folder during a run, else `path` (a
    relative one under `home()`; notebooks name theirs relative to the checkout, where nb.start puts them)."""
    run = run_dir()
    if run is not None:
        return run / "diagrams" / Path(path).name
    return Path(path) if Path(path).is_absolute() else home() / path


def private_dir(near: str | os.PathLike) -> Path:
    """A new folder of this process's own beside `near` (the same file system, so a move is atomic)."""
    parent = Path(near).parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".drawing-", dir=parent))


def publish(src: str | os.PathLike, dest: str | os.PathLike, *, move: bool = False) -> Path:
    """Put `src` at `dest` atomically: copied (or moved) to a unique name beside `dest`, then renamed."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        if move:
            os.replace(src, tmp)
        else:
            shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def publish_run(run: Path, diagrams: Path) -> list[Path]:
    """A run's pictures (<run>/diagrams/*.png) to the shared diagrams folder, each atomically."""
    return [publish(png, Path(diagrams) / png.name) for png in sorted((Path(run) / "diagrams").glob("*.png"))]


# ---- run folders: build/runs/<stamp>, and build/runs/latest ---------------------------------------------
def new_run_dir(runs: Path) -> Path:
    """runs/<UTC timestamp>; a suffix if two runs start in the same second."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    runs.mkdir(parents=True, exist_ok=True)
    for n in range(100):
        d = runs / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run folder under {runs}")


def point_latest(run_dir: Path) -> Path:
    """runs/latest -> the run folder (relative link, replaced atomically)."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name, target_is_directory=True)
    os.replace(tmp, link)
    return link


def end_run(run_dir: Path, diagrams: Path) -> None:
    """What a run's end makes visible to others, each atomically: its pictures in diagrams/, then
    runs/latest (moved only here, so it never names a run still going)."""
    publish_run(run_dir, diagrams)
    point_latest(run_dir)


def latest_run(runs: Path) -> Path:
    """The run that ended last (runs/latest), else the newest run folder whose run ended."""
    link = runs / "latest"
    if link.exists():
        return link.resolve()
    dirs = sorted(d for d in runs.glob("*") if d.is_dir() and _ended(d)) if runs.exists() else []
    if not dirs:
        raise FileNotFoundError(f"no run under {runs}; run `python -m workbook run` (or `make report`) first")
    return dirs[-1]


def _ended(run_dir: Path) -> bool:
    """A run folder whose run has ended (run.json says ok or failed)."""
    try:
        return json.loads((run_dir / "run.json").read_text()).get("status") in ("ok", "failed")
    except (OSError, ValueError):
        return False
