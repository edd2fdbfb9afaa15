"""Two runs at once (issue 13): one run's outputs are written where another cannot remove them (diagrams
are drawn in a private folder, kept in the run folder and published to diagrams/ atomically), and
build/runs/latest moves only when a run ends."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from workbook import architecture, pipeline
from workbook.params import Params

ROOT = Path(__file__).resolve().parent.parent


def empty_inventory():
    """An inventory with nothing in it: draw_stack draws its "nothing exists yet" note."""
    return SimpleNamespace(has=lambda name: False)


def test_a_diagram_survives_another_run_removing_the_shared_file_mid_render(tmp_path, monkeypatch):
    """The interleaving that failed: diagrams writes <name> (Graphviz source) beside <name>.png, renders
    and removes <name>; another run drawing the same name removed it first -> FileNotFoundError."""
    import diagrams
    monkeypatch.delenv("WORKBOOK_RUN_DIR", raising=False)
    out = tmp_path / "diagrams"
    render = diagrams.Diagram.render

    def render_then_other_run_cleans_up(self):
        render(self)
        (out / "after").unlink(missing_ok=True)         # what the other run's __exit__ removes
        (out / "after.png").unlink(missing_ok=True)     # and what it may be replacing
    monkeypatch.setattr(diagrams.Diagram, "render", render_then_other_run_cleans_up)
    png = architecture.draw_stack(empty_inventory(), out / "after.png", "After")
    assert png == out / "after.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["after.png"]   # no source file, no temp file left


def test_in_a_run_a_diagram_is_written_in_the_run_folder(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "20260101-000000"
    run.mkdir(parents=True)
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(run))
    monkeypatch.chdir(tmp_path)
    png = architecture.draw_stack(empty_inventory(), "diagrams/after.png", "After")
    assert png == run / "diagrams" / "after.png" and png.exists()
    assert not (tmp_path / "diagrams" / "after.png").exists()   # published when the run ends


DRAW = """
import os, sys
from types import SimpleNamespace
from workbook import architecture
os.environ.pop("WORKBOOK_RUN_DIR", None)
for _ in range(8):
    architecture.draw_stack(SimpleNamespace(has=lambda n: False), sys.argv[1], "After")
"""


def test_two_processes_drawing_the_same_diagram_both_succeed(tmp_path):
    target = tmp_path / "diagrams" / "after.png"
    procs = [subprocess.Popen([sys.executable, "-c", DRAW, str(target)], stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert target.read_bytes()[:4] == b"\x89PNG"


# ---- latest, and publishing at the end -----------------------------------------------------------------------
def one_notebook(folder: Path) -> Path:
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, folder / "00_only.ipynb")
    return folder


@pytest.fixture
def no_target(monkeypatch):
    from workbook import connect
    monkeypatch.setattr(pipeline, "preflight", lambda p: None)
    monkeypatch.setattr(pipeline, "_take_stack_lock", lambda p, paths: None)   # the stack's lock: its own tests
    monkeypatch.setattr(connect, "target_for", lambda p: SimpleNamespace(endpoint=None, clock=connect.Clock(),
                                                                         rehearsal_figures=lambda: None))


def fake_execute(seen: list, fail: bool = False):
    def execute(src, out, parameters, timeout, label, stream):
        run_dir = Path(os.environ["WORKBOOK_RUN_DIR"])
        latest = run_dir.parent / "latest"
        seen.append(latest.resolve() if latest.exists() else None)
        (run_dir / "diagrams").mkdir(exist_ok=True)
        (run_dir / "diagrams" / "after.png").write_bytes(b"\x89PNG from " + run_dir.name.encode())
        nbformat.write(nbformat.v4.new_notebook(), out)
        if fail:
            raise RuntimeError("boom")
    return execute


def test_latest_moves_only_when_a_run_ends(tmp_path, monkeypatch, no_target):
    nbs, runs, pics = one_notebook(tmp_path / "nbs"), tmp_path / "runs", tmp_path / "diagrams"
    seen: list = []
    monkeypatch.setattr(pipeline, "execute", fake_execute(seen))
    first = pipeline.run(Params(), notebooks_dir=nbs, runs_dir=runs, diagrams_dir=pics, stream=io.StringIO())
    assert seen == [None]                       # while the first run ran, there was no latest yet
    assert (runs / "latest").resolve() == first
    assert (pics / "after.png").read_bytes().endswith(first.name.encode())

    monkeypatch.setattr(pipeline, "execute", fake_execute(seen, fail=True))
    with pytest.raises(pipeline.RunFailed) as e:
        pipeline.run(Params(), notebooks_dir=nbs, runs_dir=runs, diagrams_dir=pics, stream=io.StringIO())
    second = e.value.run_dir
    assert seen[-1] == first                    # while the second ran, latest still named the first
    assert (runs / "latest").resolve() == second   # it ended (failed): latest names the run that ended last
    assert pipeline.latest(runs) == second


def test_latest_without_a_link_is_the_newest_run_that_ended(tmp_path):
    runs = tmp_path / "runs"
    for name, status in (("20260101-000000", "ok"), ("20260101-000100", "running")):
        (runs / name).mkdir(parents=True)
        (runs / name / "run.json").write_text(f'{{"status": "{status}"}}')
    assert pipeline.latest(runs) == runs / "20260101-000000"


def test_outside_a_run_outputs_go_under_the_output_dir_and_the_checkout_is_left_alone(tmp_path, monkeypatch):
    """WORKBOOK_OUTPUT_DIR (the test suite sets it) takes diagrams/ and build/: `make test` after `make report`
    used to replace the report's diagrams with its test stacks' and fill build/ with test policies and runs."""
    from workbook import policy, report
    monkeypatch.delenv("WORKBOOK_RUN_DIR", raising=False)
    monkeypatch.setenv("WORKBOOK_OUTPUT_DIR", str(tmp_path))
    monkeypatch.chdir(ROOT)   # where nb.start puts every notebook
    checkout_png = ROOT / "diagrams" / "after.png"
    before = checkout_png.stat().st_mtime_ns if checkout_png.exists() else None
    png = architecture.draw_stack(empty_inventory(), "diagrams/after.png", "After")
    assert png == tmp_path / "diagrams" / "after.png" and png.exists()
    assert (checkout_png.stat().st_mtime_ns if checkout_png.exists() else None) == before
    assert report.run_dir() == tmp_path / "build" / "interactive"
    assert policy.write({"p": {"Version": "2012-10-17", "Statement": []}}) == [tmp_path / "build" / "policy" / "p.json"]
    assert pipeline.runs_root() == tmp_path / "build" / "runs" and pipeline.diagrams_root() == tmp_path / "diagrams"
