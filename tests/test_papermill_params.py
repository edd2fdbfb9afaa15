"""papermill run directly (`papermill nb.ipynb out.ipynb -p name value`): a refusal is the one-line message
at the bottom of papermill's output and a cleanly failed cell, before any AWS call; a misspelt name is
refused, not ignored; numbers papermill made of the values are accepted when their meaning is plain."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

PAPERMILL = str(Path(sys.executable).with_name("papermill"))


def tiny(tmp_path: Path) -> Path:
    """A notebook shaped like the workbook's: a parameters cell, then the validation nb.start does."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("stack_name = 'demo'\ninteractive = True")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import json\nfrom workbook import nb\np = nb.parameters(globals())\n"
        "print('PARAMS', json.dumps(p.to_dict()))")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def papermill(notebook: Path, out: Path, *args: str, state: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "WORKBOOK_STATE_DIR": str(state),
           "HOME": str(state.parent), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run([PAPERMILL, str(notebook), str(out), "--cwd", str(ROOT), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def error_output(out: Path) -> dict:
    nb = nbformat.read(out, as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert len(errors) == 1
    return errors[0]


def printed_params(out: Path) -> dict:
    nb = nbformat.read(out, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stdout")
    return json.loads(text.split("PARAMS ", 1)[1].splitlines()[0])


@pytest.mark.parametrize("args,param,says", [
    (["-p", "stak_name", "x"], "stak_name", "did you mean stack_name"),
    (["-p", "db_instance_class", "m5.large"], "db_instance_class", "db.m5.large"),
    (["-p", "db_engine_version", "16.10"], "db_engine_version", "-r db_engine_version 16.1"),
    (["-p", "stack_name", "x" * 100_000], "stack_name", "100,000 characters"),
])
def test_a_refusal_through_papermill_is_the_message_in_a_cleanly_failed_cell(tmp_path, args, param, says):
    state = tmp_path / "state"
    out = tmp_path / "out.ipynb"
    # the workbook's own notebook: nb.start refuses before it connects (no sandbox is started)
    done = papermill(ROOT / "notebooks" / "03_database.ipynb", out, "-p", "interactive", "False", *args, state=state)
    assert done.returncode != 0
    err = error_output(out)
    assert err["ename"] == "ParameterError" and param in err["evalue"] and says in err["evalue"]
    # the cell shows the message, not a traceback through the workbook's code
    shown = "\n".join(err["traceback"])
    assert "File " not in shown and "params.py" not in shown and len(shown) < 2_000
    # papermill's own output ends with the message
    tail = done.stderr.strip().splitlines()[-3:]
    assert any(param in line for line in tail), done.stderr[-2000:]
    assert len(done.stderr) < 20_000
    assert not state.exists() or not any(state.iterdir()), "a sandbox was started: a call was about to be made"


def test_numbers_papermill_makes_are_accepted_when_their_meaning_is_plain(tmp_path):
    state = tmp_path / "state"
    out = tmp_path / "out.ipynb"
    done = papermill(tiny(tmp_path), out, "-p", "interactive", "False", "-p", "db_engine_version", "16.4",
                     "-p", "aws_account_id", "123456789012", "-p", "az_count", "3", "-p", "multi_az", "True",
                     state=state)
    assert done.returncode == 0, done.stderr[-2000:]
    p = printed_params(out)
    assert (p["db_engine_version"], p["aws_account_id"], p["az_count"], p["multi_az"]) == ("16.4", "123456789012", 3,
                                                                                          True)


def test_a_parameters_file_of_the_workbook_is_read_with_its_own_text(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("db_engine_version: 16.10\nstack_name: shop\n")
    out = tmp_path / "out.ipynb"
    done = papermill(tiny(tmp_path), out, "-p", "interactive", "False", "-p", "params_file", str(f),
                     "-p", "stack_name", "fromcli", state=tmp_path / "state")
    assert done.returncode == 0, done.stderr[-2000:]
    p = printed_params(out)
    assert (p["db_engine_version"], p["stack_name"]) == ("16.10", "fromcli")   # -p wins over the file


@pytest.mark.parametrize("text,says", [("stack_name: [unclosed\n", "not valid YAML"), ("- a\n- b\n", "a list")])
def test_a_broken_parameters_file_is_named(tmp_path, text, says):
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    out = tmp_path / "out.ipynb"
    done = papermill(tiny(tmp_path), out, "-p", "interactive", "False", "-p", "params_file", str(f),
                     state=tmp_path / "state")
    assert done.returncode != 0
    err = error_output(out)
    assert "mine.yaml" in err["evalue"] and says in err["evalue"]


def test_a_mapping_file_with_a_misspelt_name_through_papermill_f_is_refused(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("stak_name: shop\n")
    out = tmp_path / "out.ipynb"
    done = papermill(tiny(tmp_path), out, "-p", "interactive", "False", "-f", str(f), state=tmp_path / "state")
    assert done.returncode != 0
    assert "stak_name" in error_output(out)["evalue"]
