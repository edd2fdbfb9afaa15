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
    assert 'id="summary"' in page and 'href="#run"' in page
    assert 'href="#nb-00_setup"' in page and 'href="#nb-01_assess"' in page
    assert 'id="nb-00_setup"' in page and 'id="nb-01_assess"' in page
    for text in ("target", "sandbox", "us-east-1", "rep", "papermill", "boto3"):
        assert text in page


def test_before_diagram_is_embedded_as_data_uri_once(run_folder, page):
    from PIL import Image
    section = page.split('id="before-after"', 1)[1].split("</section>", 1)[0]
    uris = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', section)
    assert len(uris) == 1
    shown = Image.open(io.BytesIO(base64.b64decode(uris[0])))
    assert shown.size == Image.open(run_folder["png"]).size        # the same picture, in 256 colours
    # the notebook displayed nothing here, and no other copy of the image is in the page
    assert page.count(uris[0]) == 1


def test_findings_table_is_in_its_section(page):
    findings = page.split('id="findings"', 1)[1].split("</section>", 1)[0]
    assert "EC2.19" in findings and "SG open to the internet" in findings
    assert "FAIL 1" in findings and "PASS 1" in findings


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


# ---- the first screen and the notebooks' detail, from a run folder made by hand (no kernel) ----------
def _png(color: str = "red") -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (40, 20), color).save(out, "PNG")
    return out.getvalue()


def _code(*outputs: dict, tags: tuple[str, ...] = ()) -> "nbformat.NotebookNode":
    import nbformat
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    cell.metadata["tags"] = list(tags)
    return cell


FINDINGS_AFTER = pd.DataFrame([
    {"id": "ELB.1", "title": "Load balancer redirects HTTP to HTTPS", "severity": "medium", "group": "compute",
     "resource": "demo-alb", "status": "FAIL", "detail": "HTTPS missing", "remediation": "set domain_name"},
    {"id": "RDS.5", "title": "RDS Multi-AZ", "severity": "medium", "group": "database", "resource": "demo-db standby",
     "status": "NOT_EMULATED", "detail": "the sandbox reports no SecondaryAvailabilityZone", "remediation": ""},
    {"id": "RDS.11", "title": "RDS backups", "severity": "medium", "group": "database", "resource": "demo-db",
     "status": "PASS", "detail": "7 days", "remediation": ""}])


@pytest.fixture
def made_run(tmp_path, monkeypatch):
    import json

    import nbformat
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(run))
    monkeypatch.setenv("WORKBOOK_NOTEBOOK", "07_access")
    report.artifact("findings_after", FINDINGS_AFTER)
    report.artifact("scores", {"score before": 0.0, "score after": 50.0, "evaluated after": 2, "fail after": 1,
                               "not emulated after": 1, "how": "weighted by severity"})
    report.artifact("findings_compare", pd.DataFrame([{"practice": "TLS (HTTPS)", "before": "not checked",
                                                       "after": "FAIL", "findings after": "1 fail"}]))
    monkeypatch.setenv("WORKBOOK_NOTEBOOK", "08_cutover_compare")
    report.artifact("availability", {"availability before (%)": 30.0, "availability after (%)": 80.0,
                                     "error rate before (%)": 66.75, "error rate after (%)": 5.0,
                                     "measured": "Measured while one of the 2 app servers was killed (after)"})
    report.artifact("cost", pd.DataFrame({"phase": ["before", "after", "after"],
                                          "type": ["EC2 instance", "EC2 instance", "NAT gateway"],
                                          "monthly_usd": [15.18, 15.18, 65.70], "unpriced": [0, 0, 0]}))
    report.artifact("built_summary", [{"part": "Way in", "what": "https://api.demo.example → API Gateway"}])
    report.artifact("metrics_chart", _png("blue"))
    report.artifact("metrics", pd.DataFrame({"measure": ["availability (% of seconds >= 95% ok)"],
                                             "before": [30.0], "after": [80.0]}))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    chart = base64.b64encode(_png("blue")).decode()
    nb.cells = [nbformat.v4.new_markdown_cell("# 08 · Move the data"),
                _code({"output_type": "stream", "name": "stdout",
                       "text": "[sandbox] moto runs nothing: local processes stand in\nmoved 1000 rows\n"}),
                _code({"output_type": "stream", "name": "stderr", "text":
                       "/x/platformdirs/api.py:441: RuntimeDirWarning: XDG_RUNTIME_DIR is not set, falling back\n"
                       "  return Path(self.user_runtime_dir)\n"}),
                _code({"output_type": "display_data", "metadata": {}, "data": {"image/png": chart}}),
                _code({"output_type": "display_data", "metadata": {}, "data": {"text/html":
                       "<table><thead><tr><th>id</th><th>status</th></tr></thead>"
                       "<tbody><tr><td>ONLY-DISPLAYED-FINDING</td><td>FAIL</td></tr></tbody></table>"}},
                      tags=("findings",))]
    nbformat.write(nb, run / "08_cutover_compare.ipynb")
    (run / "run.json").write_text(json.dumps({
        "stack_name": "demo", "target": "sandbox", "region": "us-east-1", "status": "ok", "started": "t0",
        "params": {"keep_final_snapshot": True, "teardown_dev": False},
        "notebooks": [{"notebook": "08_cutover_compare", "status": "ok", "seconds": 1.0,
                       "output": "08_cutover_compare.ipynb"}]}))
    page = report.build(run_dir=run, out=tmp_path / "report.html").read_text()
    return {"page": page, "chart": chart,
            "first": page.split('id="summary"', 1)[1].split("</section>", 1)[0],
            "notebooks": page.split('id="notebooks"', 1)[1]}


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def test_first_screen_answers_built_safe_up_cost_and_removal(made_run):
    first = _text(made_run["first"])
    assert "Way in: https://api.demo.example → API Gateway" in first
    assert "50 / 100" in first and "before: 0" in first and "1 of 2 evaluated findings fail" in first
    assert "ELB.1" in first                                               # the remaining failure, by name
    assert "80 %" in first and "one of the 2 app servers was killed" in first
    assert "$80.88 a month" in first and "before: $15.18" in first
    assert "make teardown" in first


def test_not_emulated_is_listed_apart_and_said_not_to_count(made_run):
    assert "not in the score" in _text(made_run["first"])
    findings = made_run["page"].split('id="findings"', 1)[1].split("</section>", 1)[0]
    apart = findings.split("Not evaluated by this target, not in the score (1)", 1)[1].split("</table>", 1)[0]
    assert "RDS.5" in apart and "ELB.1" not in apart


def test_sandbox_notes_are_gathered_and_warnings_left_out(made_run):
    page, notebooks = made_run["page"], made_run["notebooks"]
    assert "RuntimeDirWarning" not in page and "XDG_RUNTIME_DIR" not in page
    assert "[sandbox]" not in notebooks and "moved 1000 rows" in notebooks
    notes = page.split('id="sandbox-notes"', 1)[1].split("</section>", 1)[0]
    assert "moto runs nothing: local processes stand in" in notes and page.count("moto runs nothing") == 1


def test_notebooks_follow_collapsed_and_sections_have_one_title_each(made_run):
    page = made_run["page"]
    opened = re.findall(r'<details class="wb-nb"[^>]*>', page)
    assert opened and all(" open" not in d for d in opened)
    titles = re.findall(r"<h[23]>([^<]+)", page.split('id="notebooks"', 1)[0])
    assert len(titles) == len(set(titles)), titles
    assert "unpriced" not in page.split('id="cost"', 1)[1].split("</section>", 1)[0]   # all zero: left out


def test_an_image_is_in_the_page_once_and_displayed_tables_are_not_re_read(made_run):
    page = made_run["page"]
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(uris) == len(set(uris)) == 1
    assert 'href="#artifact-metrics_chart"' in made_run["notebooks"]     # the notebook's copy links to it
    # a table a notebook only displayed (tagged "findings") is in its notebook, never in the summary
    assert "ONLY-DISPLAYED-FINDING" not in page.split('id="notebooks"', 1)[0]
    assert "ONLY-DISPLAYED-FINDING" in made_run["notebooks"]


def test_long_findings_table_shows_what_needs_attention_and_folds_the_rest():
    from workbook import report_view
    df = pd.DataFrame({"id": [f"X.{i}" for i in range(30)], "severity": "low",
                       "status": ["FAIL"] + ["PASS"] * 29})
    t = report_view.table(df)
    assert t["counts"] == [("PASS", 29), ("FAIL", 1)]
    assert [r[0]["v"] for r in t["attention"]] == ["X.0"] and len(t["rows"]) == 30
    assert t["attention"][0][2]["c"] == "wb-status-FAIL"
