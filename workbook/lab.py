"""`make lab`: JupyterLab on copies of the notebooks under build/workshop/, never on the committed files.

JupyterLab saves what it runs (outputs, execution counts) into the notebook it has open; the committed
notebooks must stay without outputs (`git status` clean after a workshop). So the workshop opens copies:
`prepare()` copies each notebook that is missing there or older than the committed one (an attendee's
saved work is newer and is kept), and writes the lab's settings beside them (no news pop-up, a saved
notebook every 20 s so a reopened one keeps its outputs). Run as `python -m workbook.lab [--port N]`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKSHOP = ROOT / "build" / "workshop"
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosaveInterval": 20},
}


def prepare(dest: Path = WORKSHOP) -> dict[str, str]:
    """The copies and the lab's settings under `dest`; returns the environment JupyterLab runs with."""
    notebooks = dest / "notebooks"
    notebooks.mkdir(parents=True, exist_ok=True)
    for src in sorted((ROOT / "notebooks").glob("*.ipynb")):
        copy = notebooks / src.name
        if not copy.exists() or copy.stat().st_mtime < src.stat().st_mtime:
            shutil.copy2(src, copy)
    settings = dest / ".lab" / "user-settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
    return {"JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(dest / ".lab" / "workspaces")}


def command(dest: Path = WORKSHOP, *, port: int = 8888, token: str | None = None,
            port_retries: int | None = None) -> list[str]:
    """port_retries=0: fail when the port is taken instead of trying the next ones (a test that picked it)."""
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--ServerApp.root_dir={dest}", "--LabApp.default_url=/lab/tree/notebooks/00_setup.ipynb"]
    if token is not None:
        args.append(f"--IdentityProvider.token={token}")
    if port_retries is not None:
        args.append(f"--ServerApp.port_retries={port_retries}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    return args


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m workbook.lab", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8888)
    ap.add_argument("--dest", type=Path, default=WORKSHOP)
    a = ap.parse_args(argv)
    env = {**os.environ, **prepare(a.dest)}
    print(f"the workshop opens copies of the notebooks in {a.dest / 'notebooks'} (the committed ones stay "
          "unmodified); start with 00_setup.ipynb", flush=True)
    os.execve(sys.executable, command(a.dest, port=a.port), env)


if __name__ == "__main__":
    main()
