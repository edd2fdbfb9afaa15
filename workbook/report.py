"""One self-contained HTML report of a pipeline run: `python -m workbook report`.

`build()` merges the executed notebooks of a run (default: `build/runs/latest`) into
`build/report.html` with nbconvert: code hidden unless `with_code`, images embedded as data URIs,
no script or stylesheet fetched from anywhere (the template drops require.js, MathJax, Mermaid and
the widget manager; `build` refuses to write a report that still references one), account ids
masked to their last four digits, cells tagged `widget` or `remove` left out. At the top: the run's
metadata (parameters, target, region, times, versions), a table of contents, and a summary built
from the artifacts the notebooks handed over.

Handing the report a result (for notebook authors)
--------------------------------------------------
In a notebook, after computing something the summary should show:

    from workbook import report
    report.artifact("findings_before", findings, title="Findings before the migration")
    report.artifact("before_diagram", "diagrams/before.png", title="Before")

`artifact(name, obj, title=None)` stores `obj` under `<run folder>/artifacts/` and returns the path:
a DataFrame becomes `<name>.csv`, a dict or list `<name>.json`, a PNG (a path, PNG bytes, or a
matplotlib figure) `<name>.png`, other text `<name>.md` (markdown). The run folder comes from
`WORKBOOK_RUN_DIR`, which the pipeline sets for every kernel; run by hand (JupyterLab, papermill
directly), artifacts go to `build/interactive/artifacts/` and no report reads them.

The summary shows these names first, in this order, then any other artifact in the order written:

    before_diagram   diagram of the dev environment (01_assess)
    findings_before  findings table of the dev environment (01_assess)
    after_diagram    diagram of the production stack
    findings_after   findings table of the production stack
    metrics          before/after measurements (frame)
    metrics_chart    before/after chart (figure)
    cost             monthly cost estimate before/after (workbook.cost.compare)
    cost_explained   why the cost differs (markdown, workbook.cost.explain)

A table with a `status` column (a findings frame) gets a count of each status above it.

Without an artifact, the summary takes what the notebooks displayed in cells tagged by the house
convention: `diagram` (before_diagram from 01, after_diagram from the last step before teardown),
`findings` (findings_before from 01; findings_after from the steps 02-08, with a step column),
`comparison` (metrics) and `charts` (metrics_chart). Displayed tables are what pandas showed
(truncated cells, at most 60 rows), so an artifact is the better hand-over.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd

from . import masking
from .connect import mask_account

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "report.html"
TEMPLATE_DIR = Path(__file__).resolve().parent / "report_template"
TEMPLATE = "workbook_report"
REMOVE_TAGS = ("widget", "remove")
SUMMARY_ORDER = ("before_diagram", "after_diagram", "built", "scores", "findings_compare", "findings_before",
                 "findings_after", "metrics", "metrics_chart", "cost", "cost_explained")
SIDE_BY_SIDE = ("before_diagram", "after_diagram")
TITLES = {"before_diagram": "Before: the dev environment", "findings_before": "Findings before",
          "after_diagram": "After: the production stack", "findings_after": "Findings after",
          "metrics": "Measurements before and after", "metrics_chart": "Measurements before and after",
          "cost": "Monthly cost estimate", "cost_explained": "Why the cost differs",
          "built": "What was built", "scores": "Findings score (severity-weighted share passed)",
          "findings_compare": "Findings before and after"}
NAME_RE = re.compile(r"^(?!index$)[a-z0-9][a-z0-9_]{0,63}$")
ACCOUNT_RE, DATA_URI_RE = masking.ACCOUNT_RE, masking.DATA_URI_RE   # one definition (masking.py)
WIDGET_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LONG_TABLE = 25  # rows; a longer findings table shows its FAIL and NOT_EMULATED rows, the rest folded


class ReportError(RuntimeError):
    pass


# ---- artifacts: what notebooks hand the report ---------------------------------------------------
def run_dir() -> Path:
    """The current run folder (WORKBOOK_RUN_DIR, set by the pipeline), else build/interactive."""
    env = os.environ.get("WORKBOOK_RUN_DIR")
    return Path(env) if env else ROOT / "build" / "interactive"


def artifact(name: str, obj: Any, title: str | None = None) -> Path:
    """Store one result for the report's summary; see the module docstring for the names it knows."""
    if not NAME_RE.match(name):
        raise ValueError(f"artifact name {name!r}: use lowercase letters, digits and _ (e.g. findings_before)")
    folder = run_dir() / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{name}.*"):
        old.unlink()  # a re-run may store the same name as another kind
    if isinstance(obj, pd.DataFrame):
        path = folder / f"{name}.csv"
        obj.to_csv(path, index=False)
    elif isinstance(obj, (dict, list)):
        path = folder / f"{name}.json"
        path.write_text(json.dumps(obj, indent=2, default=str))
    elif isinstance(obj, (bytes, bytearray)) and bytes(obj[:8]) == PNG_MAGIC:
        path = folder / f"{name}.png"
        path.write_bytes(bytes(obj))
    elif hasattr(obj, "savefig"):
        path = folder / f"{name}.png"
        obj.savefig(path, format="png", dpi=110, bbox_inches="tight")
    elif isinstance(obj, (str, os.PathLike)) and str(obj).lower().endswith(".png"):
        src = Path(obj) if Path(obj).is_absolute() else Path.cwd() / obj
        if not src.exists():
            raise FileNotFoundError(f"artifact {name!r}: {src} does not exist")
        path = folder / f"{name}.png"
        shutil.copyfile(src, path)
    elif isinstance(obj, str):
        path = folder / f"{name}.md"
        path.write_text(obj)
    else:
        raise TypeError(f"artifact {name!r}: cannot store a {type(obj).__name__}; "
                        "give a DataFrame, dict, list, PNG path/bytes, matplotlib figure or text")
    masking.file(path)   # what a kernel hands over is written output too: no account id in it
    index_path = folder / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    index.pop(name, None)  # a re-run moves it to the end, like a new result
    index[name] = {"file": path.name, "title": title or TITLES.get(name, name.replace("_", " ").capitalize()),
                   "notebook": os.environ.get("WORKBOOK_NOTEBOOK", ""),
                   "written": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    index_path.write_text(json.dumps(index, indent=2))
    return path


@dataclass
class Artifact:
    name: str
    title: str
    path: Path
    notebook: str = ""
    note: str = ""


def artifacts(folder: Path) -> list[Artifact]:
    """The run's artifacts: known names first in SUMMARY_ORDER, then the rest in the order written."""
    index_path = folder / "artifacts" / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    found = [Artifact(n, m["title"], folder / "artifacts" / m["file"], m.get("notebook", ""))
             for n, m in index.items() if (folder / "artifacts" / m["file"]).exists()]
    rank = {n: i for i, n in enumerate(SUMMARY_ORDER)}
    return sorted(found, key=lambda a: (rank.get(a.name, len(rank)), list(index).index(a.name)))


# ---- masking and safety ------------------------------------------------------------------------
def mask_accounts(text: str) -> str:
    """Any 12-digit number (an AWS account id, also inside ARNs) shown as connect.mask_account shows
    an account id; embedded images (data: URIs) are left as they are (masking.text)."""
    return masking.text(text)


_EXTERNAL = [re.compile(p, re.I) for p in (
    r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    r"<link[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    r"<(?:img|iframe|embed|source|video|audio)[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^\"'\s>]+",
    r"@import\s+(?:url\()?[\"']?(?:https?:)?//[^\"'\s)]+",
    r"url\(\s*[\"']?(?:https?:)?//[^\"'\s)]+",
    r"import\(\s*[\"'](?:https?:)?//[^\"']+",
)]


def external_references(page: str) -> list[str]:
    """Everything a browser would fetch from the network to show the page (links to click are fine)."""
    return [m.group(0) for rx in _EXTERNAL for m in rx.finditer(page)]


def _mask_cell(cell: nbformat.NotebookNode) -> None:
    cell.source = mask_accounts(cell.source)
    for out in cell.get("outputs", []):
        if "text" in out:
            out["text"] = mask_accounts(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        if out.get("output_type") == "error":
            out["evalue"] = mask_accounts(out.get("evalue", ""))
            out["traceback"] = [mask_accounts(t) for t in out.get("traceback", [])]
        data = out.get("data", {})
        for mime in WIDGET_MIME:
            data.pop(mime, None)
        for mime in list(data):
            if mime.startswith("text/") or mime in ("application/json",):
                value = data[mime]
                if isinstance(value, list):
                    value = "".join(value)
                if isinstance(value, str):
                    data[mime] = mask_accounts(value)


# ---- rendering pieces ----------------------------------------------------------------------------
def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _readable(v: Any) -> Any:
    """3 significant decimals for a reader: measured values arrive with float noise (5.0187019996)."""
    if isinstance(v, float) and not v.is_integer():
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"
    if isinstance(v, str) and re.fullmatch(r"-?\d+\.\d{4,}", v):
        return _readable(float(v))
    return v


def _table(df: pd.DataFrame) -> str:
    df = df.copy()
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):  # pandas 3 reads text as str, not object
            df[col] = df[col].map(lambda v: mask_accounts(v) if isinstance(v, str) else v)
        df[col] = df[col].map(_readable)
    counts = ""
    if "status" in df.columns and not df.empty:
        parts = [f'<span class="wb-status-{html.escape(str(s))}">{html.escape(str(s))} {n}</span>'
                 for s, n in df["status"].value_counts().items()]
        counts = f'<p>{" · ".join(parts)}</p>'
    def html_table(frame: pd.DataFrame) -> str:
        out = frame.to_html(index=False, classes="wb-table", border=0, na_rep="", escape=True, justify="left")
        for s in ("FAIL", "PASS", "NOT_EMULATED"):
            out = out.replace(f"<td>{s}</td>", f'<td class="wb-status-{s}">{s}</td>')
        return out

    if "status" in df.columns and len(df) > LONG_TABLE:
        # a long findings table: what needs attention in view, everything one click away
        attention = df[df["status"].isin(["FAIL", "NOT_EMULATED"])]
        return (counts + (html_table(attention) if len(attention) else "")
                + f'<details class="wb-details"><summary>all {len(df)} rows</summary>{html_table(df)}</details>')
    return counts + html_table(df)


def _markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    return markdown2html_mistune(mask_accounts(text))


def _render_artifact(a: Artifact) -> str:
    suffix = a.path.suffix
    if suffix == ".png":
        body = _img(a.path, a.title)
    elif suffix == ".csv":
        body = _table(pd.read_csv(a.path, keep_default_na=False))
    elif suffix == ".json":
        data = json.loads(a.path.read_text())
        if isinstance(data, dict) and all(not isinstance(v, (dict, list)) for v in data.values()):
            body = _kv(data)
        elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            body = _table(pd.DataFrame(data))
        else:
            body = f"<pre>{html.escape(mask_accounts(json.dumps(data, indent=2)))}</pre>"
    else:
        body = _markdown(a.path.read_text())
    src = f" (from {html.escape(a.notebook)})" if a.notebook else ""
    note = f'<p class="wb-note">{html.escape(a.note)}</p>' if a.note else ""
    return (f'<div class="wb-artifact" id="artifact-{a.name}"><h3>{html.escape(a.title)}'
            f'<span class="wb-note">{src}</span></h3>{note}{body}</div>')


def _kv(d: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(mask_accounts(str(v)))}</td></tr>"
                   for k, v in d.items())
    return f'<table class="wb-kv">{rows}</table>'


def _tagged_png(nb: nbformat.NotebookNode, tag: str) -> bytes | None:
    """The last PNG displayed by a cell with this tag."""
    for cell in reversed(nb.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            for out in reversed(cell.get("outputs", [])):
                data = out.get("data", {}).get("image/png")
                if data:
                    return base64.b64decode(data if isinstance(data, str) else "".join(data))
    return None


def _tagged_table(nb: nbformat.NotebookNode, tag: str) -> pd.DataFrame | None:
    """The last table (a displayed DataFrame) of a cell with this tag."""
    for cell in reversed(nb.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            for out in reversed(cell.get("outputs", [])):
                page = out.get("data", {}).get("text/html")
                page = "".join(page) if isinstance(page, list) else page
                if page and "<table" in page:
                    df = _html_table(page)
                    if df is not None:
                        return df
    return None


def _html_table(page: str) -> pd.DataFrame | None:
    """A pandas HTML table back into a frame (bs4 comes with nbconvert; read_html would need lxml)."""
    from bs4 import BeautifulSoup
    table = BeautifulSoup(page, "html.parser").find("table")
    if table is None or table.thead is None or table.tbody is None:
        return None
    header = [th.get_text(strip=True) for th in table.thead.find_all("tr")[-1].find_all("th")]
    rows = [[c.get_text(strip=True) for c in tr.find_all(["th", "td"])] for tr in table.tbody.find_all("tr")]
    if not rows or any(len(r) != len(header) for r in rows):
        return None
    df = pd.DataFrame(rows, columns=header)
    return df.drop(columns=[""]) if "" in df.columns else df


def _is_step(stem: str) -> bool:
    """A step of the migration proper (the step registry says which: 02 ... 08)."""
    from . import steps
    step = steps.ordered() and steps.REGISTRY.get(stem)
    return bool(step and step.migration)


def _fallbacks(notebooks: dict[str, nbformat.NotebookNode]) -> dict[str, tuple[object, str]]:
    """What the summary takes from tagged cells when a notebook handed over no artifact."""
    out: dict[str, tuple[object, str]] = {}
    assess = next(((s, nb) for s, nb in notebooks.items() if s.startswith("01_")), None)
    steps = [(s, nb) for s, nb in notebooks.items() if _is_step(s)]
    if assess:
        png = _tagged_png(assess[1], "diagram")
        if png:
            out["before_diagram"] = (png, f"the diagram {assess[0]} displayed")
        df = _tagged_table(assess[1], "findings")
        if df is not None:
            out["findings_before"] = (df, f"the findings table {assess[0]} displayed")
    for stem, nb in reversed(steps):
        png = _tagged_png(nb, "diagram")
        if png:
            out["after_diagram"] = (png, f"the diagram {stem} displayed, the last step before teardown")
            break
    tables = [df.assign(step=stem) for stem, nb in steps
              if (df := _tagged_table(nb, "findings")) is not None and {"status", "severity"} <= set(df.columns)]
    if tables:
        out["findings_after"] = (pd.concat(tables, ignore_index=True),
                                 "the findings tables of " + ", ".join(t["step"].iloc[0] for t in tables))
    for stem, nb in steps:
        if (df := _tagged_table(nb, "comparison")) is not None:
            out["metrics"] = (df, f"the comparison table {stem} displayed")
        if (png := _tagged_png(nb, "charts")) is not None:
            out["metrics_chart"] = (png, f"the charts {stem} displayed")
    return out


def summary_artifacts(folder: Path, notebooks: dict[str, nbformat.NotebookNode]) -> list[Artifact]:
    """The run's artifacts; for a known name no notebook handed over, what its tagged cell showed."""
    found = artifacts(folder)
    names = {a.name for a in found}
    extra: list[Artifact] = []
    for name, (obj, note) in _fallbacks(notebooks).items():
        if name in names:
            continue
        path = folder / "artifacts" / f"{name}.fallback.{'png' if isinstance(obj, bytes) else 'csv'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        else:
            obj.to_csv(path, index=False)  # type: ignore[attr-defined]
            masking.file(path)
        extra.append(Artifact(name, TITLES[name], path, note=f"taken from {note}"))
    rank = {n: i for i, n in enumerate(SUMMARY_ORDER)}
    return sorted(found + extra, key=lambda a: rank.get(a.name, len(rank)))


def _notebook_title(nb: nbformat.NotebookNode, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return re.sub(r"[*_`]", "", line.lstrip("#").strip())
    return stem


def _header(rec: dict[str, Any], titles: dict[str, str], parts: list[Artifact], folder: Path) -> str:
    from . import buildtime   # a rehearsed run's AWS time (issue 9)
    started = rec.get("started", "")
    status = rec.get("status", "unknown")
    status_html = f'<span class="wb-failed">{html.escape(status)}</span>' if status != "ok" else "ok"
    meta = {"run": folder.name, "status": status_html, "target": html.escape(rec.get("target", "")),
            "region": html.escape(rec.get("region", "")), "stack": html.escape(rec.get("stack_name", "")),
            "started (UTC)": html.escape(started), "finished (UTC)": html.escape(rec.get("finished", "")),
            "duration": f'{rec.get("seconds", 0):.1f} s'}
    meta_rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in meta.items())
    nb_rows = "".join(
        f'<tr><td><a href="#nb-{html.escape(n["notebook"])}">{html.escape(n["notebook"])}</a></td>'
        f'<td>{html.escape(titles.get(n["notebook"], ""))}</td>'
        f'<td class="{"wb-failed" if n["status"] == "failed" else ""}">{html.escape(n["status"])}</td>'
        f'<td>{n.get("seconds", 0):.1f}</td><td>{html.escape(mask_accounts(n.get("error", "")))}</td></tr>'
        for n in rec.get("notebooks", []))
    nb_table = (f'<table class="wb-table"><tr><th>notebook</th><th>title</th><th>status</th>'
                f'<th>seconds</th><th>error</th></tr>{nb_rows}</table>')
    toc_items = ['<li><a href="#summary">Summary</a></li>', '<li><a href="#run">The run</a></li>']
    toc_items += [f'<li><a href="#nb-{html.escape(s)}">{html.escape(t)}</a></li>' for s, t in titles.items()]
    pair = [a for a in parts if a.name in SIDE_BY_SIDE]
    rest = [a for a in parts if a.name not in SIDE_BY_SIDE]
    summary = (f'<div class="wb-pair">{"".join(_render_artifact(a) for a in pair)}</div>' if pair else "") + \
        "".join(_render_artifact(a) for a in rest) or (
        '<p class="wb-note">No results were handed to the report in this run.</p>')
    params = {k: mask_account(str(v)) if k == "aws_account_id" and v else v for k, v in rec.get("params", {}).items()}
    return f"""
<header class="wb-header">
  <h1>Dev backend to production on AWS: workbook report</h1>
  <p class="wb-sub">stack <b>{html.escape(rec.get("stack_name", ""))}</b> · target {html.escape(rec.get("target", ""))}
  · region {html.escape(rec.get("region", ""))} · run {html.escape(started)} · {status_html}</p>
  <nav class="wb-toc"><h2>Contents</h2><ol>{"".join(toc_items)}</ol></nav>
  <section id="summary"><h2>Summary</h2>{summary}</section>
  <section id="run"><h2>The run</h2>
    <table class="wb-kv">{meta_rows}</table>
    <h3>Notebooks</h3>{nb_table}{buildtime.html_section(rec)}
    <details class="wb-details"><summary>Parameters</summary>{_kv(params)}</details>
    <details class="wb-details"><summary>Versions</summary>{_kv(rec.get("versions", {}))}</details>
  </section>
</header>
"""


# ---- the report ------------------------------------------------------------------------------
def _load_run(folder: Path) -> tuple[dict[str, Any], dict[str, nbformat.NotebookNode]]:
    rec_path = folder / "run.json"
    rec = json.loads(rec_path.read_text()) if rec_path.exists() else {"notebooks": [
        {"notebook": p.stem, "status": "ok", "seconds": 0.0, "output": p.name} for p in sorted(folder.glob("*.ipynb"))]}
    notebooks = {}
    for n in rec.get("notebooks", []):
        path = folder / (n.get("output") or f'{n["notebook"]}.ipynb')
        if n.get("status") != "pending" and path.exists():
            notebooks[n["notebook"]] = nbformat.read(path, as_version=4)
    if not notebooks:
        raise ReportError(f"{folder} holds no executed notebook; run `python -m workbook run` first")
    return rec, notebooks


def merge(notebooks: dict[str, nbformat.NotebookNode], rec: dict[str, Any]) -> nbformat.NotebookNode:
    """One notebook of all: an anchor before each notebook's cells, widget/remove cells dropped."""
    merged = nbformat.v4.new_notebook()
    first = next(iter(notebooks.values()))
    merged.metadata["kernelspec"] = first.metadata.get("kernelspec", {})
    merged.metadata["language_info"] = first.metadata.get("language_info", {})
    status = {n["notebook"]: n for n in rec.get("notebooks", [])}
    for stem, nb in notebooks.items():
        info = status.get(stem, {})
        note = f'{info.get("seconds", 0):.1f} s' + (" · <b class='wb-failed'>failed</b>"
                                                    if info.get("status") == "failed" else "")
        anchor = nbformat.v4.new_raw_cell(
            f'<div class="wb-notebook-anchor" id="nb-{html.escape(stem)}">'
            f'<span class="wb-note">notebook {html.escape(stem)}.ipynb · {note}</span></div>')
        anchor.metadata["raw_mimetype"] = "text/html"
        anchor["id"] = f"{stem}-anchor"
        merged.cells.append(anchor)
        for cell in nb.cells:
            tags = set(cell.get("metadata", {}).get("tags", []))
            if tags & set(REMOVE_TAGS):
                continue
            cell = nbformat.from_dict(json.loads(json.dumps(cell)))
            cell["id"] = f"{stem}-{len(merged.cells)}"  # ids stay unique across the merged notebooks
            _mask_cell(cell)
            merged.cells.append(cell)
    nbformat.validator.normalize(merged)
    return merged


def build(run_dir: str | os.PathLike | None = None, with_code: bool = False,
          out: str | os.PathLike | None = None) -> Path:
    """Write the report of a run (default: the newest) and return its path."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from . import pipeline
    try:
        folder = Path(run_dir).resolve() if run_dir else pipeline.latest()
    except FileNotFoundError as e:
        raise ReportError(str(e)) from None
    if not folder.is_dir():
        raise ReportError(f"run folder {folder} does not exist")
    rec, notebooks = _load_run(folder)
    titles = {stem: _notebook_title(nb, stem) for stem, nb in notebooks.items()}
    header = _header(rec, titles, summary_artifacts(folder, notebooks), folder)

    c = Config()
    # The library's own preprocessor drops the tagged cells too (merge() already did: belt and braces
    # for cells whose tags only appear in output metadata).
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_TAGS)
    c.TagRemovePreprocessor.remove_input_tags = {"injected-parameters"} if not with_code else set()
    exporter = HTMLExporter(config=c, template_name=TEMPLATE, extra_template_basedirs=[str(TEMPLATE_DIR)],
                            exclude_input=not with_code, exclude_input_prompt=not with_code,
                            exclude_output_prompt=True, embed_images=True, theme="light")
    exporter.register_preprocessor("nbconvert.preprocessors.TagRemovePreprocessor", enabled=True)
    resources = {"metadata": {"name": f"workbook report {rec.get('stack_name', '')}".strip(), "path": str(ROOT)},
                 "workbook_header": header}
    page, _ = exporter.from_notebook_node(merge(notebooks, rec), resources=resources)
    refs = external_references(page)
    if refs:
        raise ReportError("the report would fetch from the network: " + "; ".join(sorted(set(refs))[:5]))
    target = Path(out) if out else DEFAULT_OUT
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(masking.text(page), encoding="utf-8")   # belt and braces: cells are masked above
    return target
