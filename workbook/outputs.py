"""Where a run's files go, so that two runs at once never remove or half-write each other's.

During a pipeline run (`WORKBOOK_RUN_DIR` set) a diagram or figure named `diagrams/x.png` is written into
the run folder (`<run>/diagrams/x.png`), which no other run touches; when the run ends the pipeline
publishes the folder's pictures to `diagrams/`, each replaced atomically (a reader sees the old file or
the new one, never half of one). Outside a run (the workshop) a file is written straight to its path, the
same atomic way. Anything drawn is made in a private temporary folder first (`private_dir`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

RUN_DIR_ENV = "WORKBOOK_RUN_DIR"


def run_dir() -> Path | None:
    value = os.environ.get(RUN_DIR_ENV)
    return Path(value) if value else None


def place(path: str | os.PathLike) -> Path:
    """Where a file asked for at `path` is written: inside the run folder during a run, else `path`."""
    run = run_dir()
    return run / "diagrams" / Path(path).name if run is not None else Path(path)


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
