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


# ---- what a good AWS workshop has, in every module ---------------------------------------------------
import re  # noqa: E402

import nbformat  # noqa: E402
import pytest  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cells(path):
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_module_says_what_you_build_learn_how_long_and_what_it_costs(path):
    text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
    for needle in ("**You build:**", "**You learn:**", "**Time:**", "**On a real account (`target=aws`) it costs:**"):
        assert needle in text, needle
    assert "Architect your Dev Backend to Production on AWS" in text      # the article named
    assert "### Checkpoint" in text and "**Expected:**" in text and "**If it differs:**" in text


@pytest.mark.parametrize("path", NOTEBOOKS[:-1], ids=[p.stem for p in NOTEBOOKS[:-1]])
def test_each_module_ends_with_the_next_one_and_the_way_out(path):
    last = _cells(path)[-1]
    following = NOTEBOOKS[NOTEBOOKS.index(path) + 1].name
    assert last.cell_type == "markdown" and f"Next: open [{following}]({following})" in last.source
    if path.stem not in ("00_setup", "01_assess"):
        assert "09_teardown.ipynb" in last.source and "make teardown" in last.source


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=[p.stem for p in NOTEBOOKS[1:]])
def test_each_step_shows_where_you_are(path):
    sources = [c.source for c in _cells(path) if c.cell_type == "code"]
    start = next(i for i, s in enumerate(sources) if "nb.start(" in s)
    assert f'ui.you_are_here(ctx, "{path.stem}")' in sources[start + 1]


def test_setup_puts_the_target_architecture_and_the_form_before_anything_runs():
    cells = [c for c in _cells(ROOT / "notebooks" / "00_setup.ipynb") if c.cell_type == "code"]
    order = [next(i for i, c in enumerate(cells) if needle in c.source) for needle in (
        'ui.you_are_here(globals(), "00_setup")', "ui.parameter_form(globals())", "nb.start(")]
    assert order == sorted(order)
    assert all("widget" in cells[i].metadata.get("tags", []) for i in order[:2])   # left out of the report


def test_assess_records_itself_and_ends_with_the_glossary():
    cells = _cells(ROOT / "notebooks" / "01_assess.ipynb")
    assert any("workshop.record_assessment(ctx, findings)" in c.source for c in cells)
    assert any(c.source.strip().endswith("ui.glossary()") for c in cells[-3:])
    text = "\n".join(c.source for c in cells)
    assert re.search(r"## Glossary", text)
