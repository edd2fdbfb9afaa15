"""The report: one self-contained HTML file with the summary, the run, and the notebooks."""
from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from nbfactory import write_notebook
from workbook import connect, pipeline, report
from workbook.params import Params

ROOT = Path(__file__).resolve().parent.parent

DIAGRAM = '''import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(2, 1))
ax.text(0.1, 0.5, "dev")
fig.savefig("{png}")
from workbook import report
report.artifact("before_diagram", "{png}")'''
FINDINGS = '''import pandas as pd
from workbook import report
findings = pd.DataFrame([
    {{"id": "EC2.19", "title": "SG open to the internet", "severity": "high",
      "resource": "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1", "status": "FAIL", "detail": "22 open"}},
    {{"id": "ARTICLE.BACKUPS", "title": "database backed up", "severity": "critical",
      "resource": "i-0abc", "status": "PASS", "detail": ""}}])
report.artifact("findings_before", findings)
findings'''
CODE_MARKER = "code_marker_that_only_shows_with_code = 1"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, sandbox):
    tmp = tmp_path_factory.mktemp("report")
    nbs = tmp / "notebooks"
    nbs.mkdir()
    png = tmp / "before.png"
    write_notebook(nbs / "00_setup.ipynb", DIAGRAM.format(png=png), CODE_MARKER)
    nb = write_notebook(nbs / "01_assess.ipynb", FINDINGS.format(),
                        'print("role arn:aws:iam::123456789012:role/app")',
                        'print("WIDGET-ONLY output")', 'print("REMOVE-ONLY output")')
    import nbformat
    book = nbformat.read(nb, as_version=4)
    book.cells[-2].metadata["tags"] = ["widget"]
    book.cells[-1].metadata["tags"] = ["remove"]
    nbformat.write(book, nb)
    run_dir = pipeline.run(Params(stack_name="rep"), notebooks_dir=nbs, runs_dir=tmp / "runs", timeout=120,
                           stream=io.StringIO())
    return {"run_dir": run_dir, "png": png, "tmp": tmp}


@pytest.fixture(scope="module")
def page(run_folder):
    out = report.build(run_dir=run_folder["run_dir"], out=run_folder["tmp"] / "report.html")
    return out.read_text()


def test_report_is_one_file_with_toc_run_metadata_and_notebooks(run_folder, page):
    assert (run_folder["tmp"] / "report.html").is_file()
    assert 'href="#summary"' in page and 'href="#nb-00_setup"' in page and 'href="#nb-01_assess"' in page
    assert 'id="nb-00_setup"' in page and 'id="nb-01_assess"' in page
    for text in ("target", "sandbox", "us-east-1", "rep", "papermill", "boto3"):
        assert text in page


def test_before_diagram_is_embedded_as_data_uri(run_folder, page):
    data = base64.b64encode(run_folder["png"].read_bytes()).decode()
    assert re.search(r'<img [^>]*src="data:image/png;base64,' + re.escape(data) + '"', page)


def test_findings_table_is_in_the_summary(page):
    summary = page.split('id="summary"', 1)[1].split('id="run"', 1)[0]
    assert "EC2.19" in summary and "SG open to the internet" in summary
    assert "FAIL 1" in summary and "PASS 1" in summary


def test_nothing_is_fetched_from_the_network(page):
    assert report.external_references(page) == []
    assert not re.search(r"<script[^>]+src=", page)
    assert "require.js" not in page and "mathjax" not in page.lower() and "cdnjs" not in page


def test_external_reference_detector_finds_them():
    bad = ('<script src="https://cdn.example.com/x.js"></script><link rel="stylesheet" href="//x.org/a.css">'
           '<a href="https://example.com">a link is fine</a>')
    assert len(report.external_references(bad)) == 2


def test_code_hidden_by_default_and_shown_with_code(run_folder, page):
    def text(html_page: str) -> str:  # code is syntax-highlighted: tokens sit in spans
        return re.sub(r"<[^>]+>", "", html_page)
    assert CODE_MARKER not in text(page)
    with_code = report.build(run_dir=run_folder["run_dir"], with_code=True,
                             out=run_folder["tmp"] / "report-code.html").read_text()
    assert CODE_MARKER in text(with_code)
    assert report.external_references(with_code) == []


def test_account_id_is_masked(page):
    assert "123456789012" not in page
    assert "arn:aws:iam::********9012:role/app" in page


def test_widget_and_remove_cells_are_left_out(page):
    assert "WIDGET-ONLY" not in page and "REMOVE-ONLY" not in page


def test_artifact_kinds_and_names(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("WORKBOOK_NOTEBOOK", "06_observability")
    assert report.artifact("cost", pd.DataFrame({"a": [1]})).name == "cost.csv"
    assert report.artifact("metrics", {"p50_ms": 12}).name == "metrics.json"
    assert report.artifact("cost_explained", "NAT per AZ costs more").name == "cost_explained.md"
    assert report.artifact("cost", {"total": 3}).name == "cost.json"  # re-stored as another kind
    assert not (tmp_path / "artifacts" / "cost.csv").exists()
    got = report.artifacts(tmp_path)
    assert [a.name for a in got] == ["metrics", "cost", "cost_explained"]  # summary order, not write order
    assert got[0].notebook == "06_observability"
    with pytest.raises(ValueError, match="artifact name"):
        report.artifact("Bad Name", {})
    with pytest.raises(TypeError, match="cannot store"):
        report.artifact("thing", object())


def test_no_run_is_a_clear_error(tmp_path):
    with pytest.raises(report.ReportError, match="holds no executed notebook"):
        report.build(run_dir=tmp_path)



def test_mask_accounts_masks_ids_in_arns_and_names_but_not_images_or_other_ids():
    text = ('arn:aws:iam::123456789012:role/app s3://demo-dbmove-123456789012/dumps "Account": "123456789012" '
            'i-0999999999999abcd 99999999999999 <img src="data:image/png;base64,AAA+123456789012/BBB=">')
    masked = report.mask_accounts(text)
    assert "123456789012" not in masked.split("data:image")[0]
    assert masked.count("********9012") == 3
    assert "i-0999999999999abcd" in masked and "99999999999999" in masked  # a longer id or number stays
    assert "base64,AAA+123456789012/BBB=" in masked                       # the embedded image is untouched


def test_one_function_masks_account_ids_everywhere():
    """report, pipeline (run.json) and the context mask through connect.mask_account; no module
    outside connect writes the mask itself."""
    import ast
    assert report.mask_accounts("arn:aws:iam::210987654321:role/x") == \
        f"arn:aws:iam::{connect.mask_account('210987654321')}:role/x"
    masked = connect.mask_account("210987654321")
    assert connect.mask_account(masked) == masked                     # run.json's masked id stays as it is
    own = []
    for path in (ROOT / "workbook").rglob("*.py"):
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(
            n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body and isinstance(n.body[0], ast.Expr)}
        own += [f"{path.name}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Constant)
                and isinstance(n.value, str) and "****" in n.value and id(n) not in docs]
    assert [o.split(":")[0] for o in own] == ["connect.py"], own


def _executed(cells: list[tuple[str, dict]]) -> "nbformat.NotebookNode":
    """A notebook as papermill leaves it: each (tag, output data) becomes a tagged cell with that output."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    for tag, data in cells:
        cell = nbformat.v4.new_code_cell("x")
        cell.metadata["tags"] = [tag]
        cell.outputs = [nbformat.v4.new_output("display_data", data=data)]
        nb.cells.append(cell)
    return nb


def test_summary_falls_back_to_tagged_cells_when_no_artifact(tmp_path, monkeypatch):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    findings = pd.DataFrame({"id": ["EC2.19"], "severity": ["high"], "status": ["FAIL"]})
    after = pd.DataFrame({"id": ["RDS.5"], "severity": ["medium"], "status": ["PASS"]})
    notebooks = {
        "01_assess": _executed([("diagram", {"image/png": png}), ("findings", {"text/html": findings.to_html()})]),
        "03_database": _executed([("findings", {"text/html": after.to_html()}), ("diagram", {"image/png": png})]),
        "09_teardown": _executed([("diagram", {"image/png": base64.b64encode(b"\x89PNG\r\n\x1a\nempty").decode()})]),
    }
    got = {a.name: a for a in report.summary_artifacts(tmp_path, notebooks)}
    assert list(got) == ["before_diagram", "after_diagram", "findings_before", "findings_after"]
    assert got["after_diagram"].path.read_bytes().endswith(b"fake")  # the last step, not the teardown
    assert pd.read_csv(got["findings_before"].path).to_dict("records") == [
        {"id": "EC2.19", "severity": "high", "status": "FAIL"}]
    assert pd.read_csv(got["findings_after"].path)["step"].tolist() == ["03_database"]
    # an artifact wins over the fallback
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(tmp_path))
    report.artifact("findings_before", findings.assign(detail="from the artifact"))
    got = {a.name: a for a in report.summary_artifacts(tmp_path, notebooks)}
    assert "detail" in pd.read_csv(got["findings_before"].path).columns


def test_long_findings_table_shows_what_needs_attention_and_folds_the_rest():
    df = pd.DataFrame({"id": [f"X.{i}" for i in range(30)], "severity": "low",
                       "status": ["FAIL"] + ["PASS"] * 29})
    html_ = report._table(df)
    visible = html_.split("<details", 1)[0]
    assert "FAIL 1" in visible and "X.0" in visible and "X.1<" not in visible
    assert "all 30 rows" in html_ and "X.29" in html_
