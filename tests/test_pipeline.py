"""The headless pipeline: notebooks run in order into a run folder; a failure names notebook, cell, error."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import nbformat
import pytest

from nbfactory import write_notebook
from workbook import connect, pipeline
from workbook.params import ParameterError, Params

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


# Each tiny notebook appends its own name to a file in the run folder the pipeline hands it.
RECORD = ('import os, pathlib\n'
          'd = pathlib.Path(os.environ["WORKBOOK_RUN_DIR"])\n'
          'with open(d / "order.txt", "a") as f:\n'
          '    f.write(os.environ["WORKBOOK_NOTEBOOK"] + f" {stack_name} {interactive}\\n")')


@pytest.fixture
def tiny(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "01_second.ipynb", RECORD)
    write_notebook(nbs / "00_first.ipynb", RECORD)
    write_notebook(nbs / "02_third.ipynb", RECORD)
    (nbs / "scratch.ipynb").write_text("{}")  # not a step notebook: never run
    return nbs


def run_tiny(nbs: Path, tmp_path: Path, **kw):
    out = io.StringIO()
    p = Params(stack_name=kw.pop("stack_name", "tiny"))
    run_dir = pipeline.run(p, notebooks_dir=nbs, runs_dir=tmp_path / "runs", timeout=TIMEOUT, stream=out, **kw)
    return run_dir, out.getvalue()


def test_runs_every_notebook_in_order_with_the_parameters(tiny, tmp_path, sandbox):
    run_dir, log = run_tiny(tiny, tmp_path)
    assert (run_dir / "order.txt").read_text().splitlines() == [
        "00_first tiny False", "01_second tiny False", "02_third tiny False"]
    assert sorted(p.name for p in run_dir.glob("*.ipynb")) == ["00_first.ipynb", "01_second.ipynb", "02_third.ipynb"]
    assert (tmp_path / "runs" / "latest").resolve() == run_dir.resolve()

    rec = json.loads((run_dir / "run.json").read_text())
    assert rec["status"] == "ok" and rec["target"] == "sandbox" and rec["region"] == "us-east-1"
    assert rec["params"]["stack_name"] == "tiny"
    assert rec["versions"]["papermill"] and rec["versions"]["python"].startswith("3.")
    assert [n["notebook"] for n in rec["notebooks"]] == ["00_first", "01_second", "02_third"]
    with open(run_dir / "timings.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["notebook"] for r in rows] == ["00_first", "01_second", "02_third"]
    assert all(r["status"] == "ok" and float(r["seconds"]) > 0 for r in rows)
    assert "[2/3] 01_second" in log and "ok in" in log


def test_only_runs_the_named_notebooks(tiny, tmp_path, sandbox):
    run_dir, log = run_tiny(tiny, tmp_path, only=["02", "00_first"])
    assert [ln.split()[0] for ln in (run_dir / "order.txt").read_text().splitlines()] == ["00_first", "02_third"]
    assert "[1/2] 00_first" in log and "01_second" not in log


def test_unknown_only_names_what_exists(tiny, tmp_path):
    with pytest.raises(ParameterError) as e:
        run_tiny(tiny, tmp_path, only=["05"])
    assert "only" in e.value.problems and "00_first, 01_second, 02_third" in e.value.problems["only"]


def test_a_failure_names_notebook_cell_and_error_and_stops(tmp_path, sandbox):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "00_ok.ipynb", RECORD)
    write_notebook(nbs / "01_broken.ipynb", "x = 1", "# look up the vpc\nvpcs = {}\nvpcs['missing']", "y = 2")
    write_notebook(nbs / "02_never.ipynb", RECORD)
    with pytest.raises(pipeline.RunFailed) as e:
        run_tiny(nbs, tmp_path)
    err = e.value
    # cell 3 of the source notebook: markdown 0, parameters 1, "x = 1" 2, the failing cell 3
    assert err.notebook == "01_broken" and err.cell_index == 3
    assert "01_broken" in str(err) and "cell 3" in str(err) and "# look up the vpc" in str(err)
    assert "KeyError" in str(err) and "missing" in str(err)
    kept = err.run_dir / "01_broken.ipynb"
    assert kept.exists() and str(kept) in str(err)
    assert [ln.split()[0] for ln in (err.run_dir / "order.txt").read_text().splitlines()] == ["00_ok"]
    rec = json.loads((err.run_dir / "run.json").read_text())
    assert rec["status"] == "failed"
    assert [n["status"] for n in rec["notebooks"]] == ["ok", "failed", "pending"]


def test_cli_exits_non_zero_and_says_where(tmp_path, sandbox, monkeypatch, capsys):
    from workbook.__main__ import main
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "00_boom.ipynb", "raise RuntimeError('boom')")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", nbs)
    monkeypatch.setenv("WORKBOOK_OUTPUT_DIR", str(tmp_path))
    assert main(["run", "--set", "stack_name=cli", "--timeout", str(TIMEOUT)]) != 0
    err = capsys.readouterr().err
    assert "00_boom failed at cell 2" in err and "RuntimeError: boom" in err


def test_cli_runs_dir_takes_the_run_and_the_checkouts_build_runs_is_left_alone(tmp_path, sandbox, monkeypatch):
    """A pipeline (or a test) that names its own runs folder leaves build/runs and its `latest` untouched."""
    from workbook.__main__ import main
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "00_ok.ipynb", "x = 1")
    monkeypatch.setattr(pipeline, "NOTEBOOKS", nbs)
    default = pipeline.runs_root()
    before = sorted(default.iterdir()) if default.exists() else []
    assert main(["run", "--set", "stack_name=cliruns", "--runs-dir", str(tmp_path / "mine"),
                 "--timeout", str(TIMEOUT)]) == 0
    assert json.loads((pipeline.latest(tmp_path / "mine") / "run.json").read_text())["status"] == "ok"
    assert (sorted(default.iterdir()) if default.exists() else []) == before


def test_account_id_never_lands_in_run_json(tmp_path):
    p = Params(target="aws", aws_account_id="210987654321", dev_instance_id="i-0123456789abcdef0")
    assert pipeline.masked_params(p)["aws_account_id"] == "********4321"
    assert pipeline.mask_account is connect.mask_account      # one masking function


ACCOUNT = "123456789012"   # the sandbox's account (moto's)


def account_ids_in(folder: Path) -> list[str]:
    """Every file under the folder that shows the account id, with how often."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        n = path.read_bytes().count(ACCOUNT.encode())
        if n:
            found.append(f"{path.relative_to(folder)}: {n}")
    return found


LEAKY = ('arn = "arn:aws:iam::' + ACCOUNT + ':role/demo-app"\n'
         'print(arn)\n'
         'import pandas as pd\n'
         'from workbook import report\n'
         'report.artifact("leak_table", pd.DataFrame({"arn": [arn]}))\n'
         'report.artifact("leak_note", "the role " + arn)\n'
         'report.artifact("leak_json", {"Account": "' + ACCOUNT + '"})\n'
         'pd.DataFrame({"arn": [arn]})')


def test_no_written_output_shows_the_account_id(tmp_path, sandbox):
    """Executed notebooks, artifacts, run.json, the failure message and the log: masked as written."""
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "00_leaky.ipynb", LEAKY)
    write_notebook(nbs / "01_fails.ipynb", 'raise RuntimeError("no role arn:aws:iam::' + ACCOUNT + ':role/x")')
    out = io.StringIO()
    with pytest.raises(pipeline.RunFailed) as e:
        pipeline.run(Params(stack_name="leaky"), notebooks_dir=nbs, runs_dir=tmp_path / "runs", timeout=TIMEOUT,
                     stream=out)
    run_dir = e.value.run_dir
    assert ACCOUNT not in str(e.value) and ACCOUNT not in e.value.error and ACCOUNT not in out.getvalue()
    assert "********9012" in str(e.value)                          # masked, not dropped
    assert account_ids_in(run_dir) == []
    assert "********9012" in (run_dir / "00_leaky.ipynb").read_text()
    assert "********9012" in (run_dir / "artifacts" / "leak_table.csv").read_text()


REAL = [ROOT / "notebooks" / "00_setup.ipynb", ROOT / "notebooks" / "01_assess.ipynb",
        ROOT / "notebooks" / "02_network.ipynb"]


@pytest.mark.skipif(not all(p.exists() for p in REAL), reason="notebooks 00_setup and 01_assess not written yet")
def test_real_run_of_setup_assess_and_network_and_its_report(tmp_path, state_dir):
    """On a sandbox of its own (state_dir): the pipeline starts it, as `make report` does. Nothing
    written in the run folder shows the account id (02's call log names ARNs: 32 of them before)."""
    import boto3
    from workbook import report
    from workbook.sandbox import server
    run_dir, log = run_tiny(ROOT / "notebooks", tmp_path, only=["00", "01", "02"], stack_name="pipe")
    sandbox = server.status()
    rec = json.loads((run_dir / "run.json").read_text())
    assert [n["status"] for n in rec["notebooks"]] == ["ok", "ok", "ok"]
    for name in ("00_setup", "01_assess", "02_network"):
        nb = nbformat.read(run_dir / f"{name}.ipynb", as_version=4)
        assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    # 00_setup built the dev server in the sandbox the pipeline started
    ec2 = boto3.client("ec2", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["dev-backend"]},
                                            {"Name": "instance-state-name", "Values": ["running"]}])
    assert sum(len(r["Instances"]) for r in found["Reservations"]) == 1
    # and the report of that run opens with the before diagram and the findings of 01_assess
    page = report.build(run_dir=run_dir, out=run_dir / "report.html").read_text()
    summary = page.split('id="summary"', 1)[1].split('id="run"', 1)[0]
    assert re.search(r'<img [^>]*src="data:image/png;base64,', summary)
    assert "<th>severity</th>" in summary and "<th>status</th>" in summary and "FAIL" in summary
    assert report.external_references(page) == []
    assert ACCOUNT not in page and ACCOUNT not in log
    assert account_ids_in(run_dir) == []
    assert "********9012" in (run_dir / "02_network.ipynb").read_text()    # the ARNs are there, masked


def test_masking_a_notebook_leaves_image_data_as_it_is():
    from workbook import masking
    png = "iVBORw0KGgo+" + ACCOUNT + "+AAAA"                     # base64 may hold 12 digits between + signs
    nb = {"cells": [{"cell_type": "code", "source": "x", "outputs": [{"output_type": "display_data", "data": {
        "image/png": png, "text/plain": ["arn:aws:iam::" + ACCOUNT + ":role/r"]}}]}],
        "metadata": {"papermill": {"parameters": {"aws_account_id": ACCOUNT}}}}
    out = json.loads(masking.notebook_json(json.dumps(nb)))
    data = out["cells"][0]["outputs"][0]["data"]
    assert data["image/png"] == png
    assert data["text/plain"] == ["arn:aws:iam::********9012:role/r"]
    assert out["metadata"]["papermill"]["parameters"]["aws_account_id"] == "********9012"


def test_masking_leaves_measured_numbers_as_they_are():
    """A p99 latency of 8.330218830214 ms came out of a run's metrics.csv as '8.********0214' (a fraction of
    12 digits read as an account id), and the report's comparison could no longer read it."""
    from workbook import masking
    line = f"p99 latency,8.330218830214,{ACCOUNT}.5,arn:aws:iam::{ACCOUNT}:role/r,account {ACCOUNT}."
    assert masking.text(line) == "p99 latency,8.330218830214,123456789012.5,arn:aws:iam::********9012:role/r,account ********9012."
