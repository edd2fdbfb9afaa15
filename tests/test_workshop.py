"""The workshop's material, without a browser: what the notebooks say and what they point to."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_nothing_a_reader_sees_cites_a_file_outside_the_repository():
    """Cost notes quoted prices.yaml's sources, which named AWS-FACTS.md: a file no reader has."""
    shown = [ROOT / "README.md", ROOT / "workbook" / "prices.yaml", *sorted((ROOT / "notebooks").glob("*.ipynb")),
             *sorted((ROOT / "workbook").glob("*.py")), *sorted((ROOT / "workbook" / "steps").glob("*.py")),
             *sorted((ROOT / "workbook" / "checks").glob("*.py"))]
    citing = [str(p.relative_to(ROOT)) for p in shown if "AWS-FACTS" in p.read_text()]
    assert citing == []


def test_make_lab_opens_copies_and_keeps_an_attendees_work(tmp_path, monkeypatch):
    """JupyterLab saves what it runs into the notebooks it opens: the workshop opens copies, so the
    committed notebooks stay without outputs (git status clean after a workshop)."""
    import os
    import time
    from workbook import lab
    env = lab.prepare(tmp_path)
    copies = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    assert copies == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    mine = tmp_path / "notebooks" / "02_network.ipynb"
    mine.write_text(mine.read_text().replace('"cells": [', '"cells": [ ', 1))   # an attendee saved work
    later = time.time() + 5
    os.utime(mine, (later, later))
    lab.prepare(tmp_path)
    assert '"cells": [ ' in mine.read_text()   # kept, not overwritten by the committed one
    assert str(tmp_path) in " ".join(lab.command(tmp_path)) and str(ROOT / "notebooks") not in " ".join(lab.command(tmp_path))
    settings = tmp_path / ".lab" / "user-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    assert settings.exists() and env["JUPYTERLAB_SETTINGS_DIR"].startswith(str(tmp_path))
    makefile = (ROOT / "Makefile").read_text()
    lab_rule = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "workbook.lab" in lab_rule and "root_dir" not in lab_rule
