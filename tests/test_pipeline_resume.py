"""A wait that outlasts its cell (progress.StillWaiting) is picked up by the pipeline as a user would:
the notebook runs again (it finds what exists by its tags), or, from a cell tagged `resumable`, only
that cell and those after it. Tiny notebooks stand in for the steps; each counts its runs in a file."""
from __future__ import annotations

import io
import json
from pathlib import Path

import nbformat
import pytest

from workbook import pipeline, pipeline_resume
from workbook.params import Params

TIMEOUT = 120
COUNT = ('import os, pathlib\n'
         'runs = pathlib.Path(os.environ["WORKBOOK_RUN_DIR"]) / "{name}.count"\n'
         'n = int(runs.read_text()) + 1 if runs.exists() else 1\n'
         'runs.write_text(str(n))')
STILL = ('from workbook.progress import StillWaiting\n'
         'if n <= {times}:\n'
         '    raise StillWaiting("db to be available", 540, "15-20 min")\n'
         'print("ready after", n, "runs")')


def notebook(path: Path, *cells: tuple[str, tuple[str, ...]]) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('stack_name = "demo"\ntarget = "sandbox"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}"), params]
    for source, tags in cells:
        c = nbformat.v4.new_code_cell(source)
        if tags:
            c.metadata["tags"] = list(tags)
        nb.cells.append(c)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def run(nbs: Path, tmp_path: Path, timeout: int = TIMEOUT) -> tuple[Path, str]:
    out = io.StringIO()
    run_dir = pipeline.run(Params(stack_name="tiny"), notebooks_dir=nbs, runs_dir=tmp_path / "runs", timeout=timeout,
                           stream=out)
    return run_dir, out.getvalue()


def test_a_wait_that_outlasts_its_cell_reruns_the_notebook(tmp_path, sandbox):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    notebook(nbs / "00_waits.ipynb", (COUNT.format(name="whole") + "\n" + STILL.format(times=1), ()))
    run_dir, log = run(nbs, tmp_path)
    assert (run_dir / "whole.count").read_text() == "2"
    assert "still waiting" in log and "running 00_waits again" in log
    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "ok" and rec["notebooks"][0]["attempts"] == 2
    assert (run_dir / "attempts" / "00_waits.1.ipynb").exists()


def test_a_resumable_cell_is_run_again_alone(tmp_path, sandbox):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    notebook(nbs / "00_tail.ipynb", (COUNT.format(name="head"), ()),
             (COUNT.format(name="tail") + "\n" + STILL.format(times=2), ("resumable",)))
    run_dir, log = run(nbs, tmp_path)
    assert (run_dir / "head.count").read_text() == "1"          # the work before it is not done again
    assert (run_dir / "tail.count").read_text() == "3"
    assert "running that cell again" in log
    executed = nbformat.read(run_dir / "00_tail.ipynb", as_version=4)
    last = executed.cells[-1]
    assert "ready after 3 runs" in json.dumps(last.outputs) and not any(
        o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    assert json.loads((run_dir / "run.json").read_text())["notebooks"][0]["attempts"] == 3


def test_a_wait_that_never_ends_fails_after_the_reruns(tmp_path, sandbox):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    notebook(nbs / "00_never.ipynb", (COUNT.format(name="never") + "\n" + STILL.format(times=99), ("resumable",)))
    with pytest.raises(pipeline.RunFailed, match="StillWaiting"):
        run(nbs, tmp_path, timeout=1800)   # long cells: few reruns (resumes()), each a kernel
    run_dir = max((tmp_path / "runs").glob("2*"))
    assert (run_dir / "never.count").read_text() == str(pipeline_resume.resumes(1800) + 1)


def test_the_reruns_outlast_the_longest_wait_aws_can_impose():
    """Teardown on AWS: VPC-link interfaces hold a security group 20-40 minutes after the link is gone;
    with 600-second cells, four attempts (9 minutes of waiting each) fell short in `make rehearse`."""
    from workbook import engine, progress
    longest = max(engine.RETRY_BUDGETS_S.values())
    for timeout in (300, 600, 1800):
        waited = (pipeline_resume.resumes(timeout) + 1) * timeout * (1 - progress.CELL_MARGIN)
        assert waited >= longest, timeout


def test_the_still_waiting_line_says_what_is_awaited_whole_and_not_what_the_cell_would_advise():
    """`make rehearse` printed "(on AWS it takes 2-30 min after its validation record exists, sometimes );" and
    "it goes on in AWS: a rerun re);": the reason was cut at 160 characters, mid-word, and its advice ("a rerun
    of this notebook does") repeated what the pipeline's line goes on to say it does."""
    from workbook.progress import StillWaiting
    err = "StillWaiting: " + StillWaiting("certificate for api.demo.example", 480,
                                          "2-30 min after its validation record exists, sometimes hours").text()
    why = pipeline_resume.why_waiting(err)
    assert why == ("certificate for api.demo.example: still not ready after 8.0 min of waiting in this cell (on AWS "
                   "it takes 2-30 min after its validation record exists, sometimes hours)")
    long = pipeline_resume.why_waiting("StillWaiting: " + StillWaiting("x" * 50 + " y" * 200, 60).text())
    assert len(long) <= 200 and long.endswith(" …") and " y …" in long
