"""One self-contained HTML report of a pipeline run: `python -m workbook report`.

`build()` merges the executed notebooks of a run (default: `build/runs/latest`) into
`build/report.html` with nbconvert and the Jinja template `report_template/workbook_report`: code
hidden unless `with_code`, images embedded (as 256-colour PNGs, each image once), nothing fetched
from anywhere (`build` refuses a page that would), account ids masked, cells tagged `widget` or
`remove` left out. The first screen answers what was built, whether it is safe, whether it stays up,
what it costs a month and how to remove it; the notebooks follow, each one collapsed, with the
sandbox's notes gathered into one list and Python warnings left out.

Handing the report a result (for notebook authors)
--------------------------------------------------
The report shows only what the notebooks hand over; it never re-reads their displayed tables or images:

    from workbook import report
    report.artifact("findings_before", findings, title="Findings before the migration")
    report.artifact("before_diagram", "diagrams/before.png", title="Before")

`artifact(name, obj, title=None)` stores `obj` under `<run folder>/artifacts/` and returns the path:
a DataFrame becomes `<name>.csv`, a dict or list `<name>.json`, a PNG (a path, PNG bytes, or a
matplotlib figure) `<name>.png`, other text `<name>.md` (markdown). The run folder comes from
`WORKBOOK_RUN_DIR`, which the pipeline sets for every kernel; run by hand (JupyterLab, papermill
directly), artifacts go to `build/interactive/artifacts/` and no report reads them.

The names the report places (any other artifact follows them under "Other results"):

    built_summary    one line per part of the stack (headline.built; 08)      first screen
    scores           the score before/after and the counts (checks/compare; 07)  first screen
    findings_after   the production stack's findings, the frame of the score (07) first screen, Findings
    availability     availability under the fault, and how it was measured (08)  first screen, Measurements
    cost             monthly cost per phase and type (cost.totals; 08)          first screen, Cost
    before_diagram, after_diagram   the two architectures (01, 08)               Before and after
    findings_compare one row per practice, before and after (07)                 Findings
    findings_before  the dev environment's findings (01)                         Findings
    metrics, metrics_chart          the probe's before/after table and chart (08) Measurements
    cost_explained   why the cost differs (markdown; 08)                          Cost
    built            resources of the stack, counted (08)                         What was built
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import masking, outputs

if TYPE_CHECKING:   # imported where used: nbformat loads jsonschema's format checkers (~0.9 s), which
    import nbformat  # every kernel would pay for report.artifact() alone

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "report_template"
TEMPLATE = "workbook_report"
REMOVE_TAGS = ("widget", "remove")
TITLES = {"before_diagram": "Before: the dev environment", "after_diagram": "After: the production stack",
          "findings_before": "Findings on the dev environment", "findings_after": "Findings on the production stack",
          "findings_compare": "The article's practices, before and after", "metrics": "Measured before and after",
          "metrics_chart": "Per second, before and after", "cost": "Monthly cost estimate",
          "cost_explained": "Why the cost differs", "built": "Resources of the stack",
          "built_summary": "What was built", "scores": "Findings score", "availability": "Availability under a fault"}
NAME_RE = re.compile(r"^(?!index$)[a-z0-9][a-z0-9_]{0,63}$")
ACCOUNT_RE, DATA_URI_RE = masking.ACCOUNT_RE, masking.DATA_URI_RE   # one definition (masking.py)
WIDGET_MIME = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SANDBOX_LINE = re.compile(r"^\[sandbox[^\]]*\]\s*")
# A Python warning as the warnings module prints it: "<file>:<line>: <Name>Warning: <message>" and the
# source line under it, indented.
WARNING_LINE = re.compile(r"^\S.*:\d+: \w*Warning: .*$")


class ReportError(RuntimeError):
    pass


# ---- artifacts: what notebooks hand the report ---------------------------------------------------
def run_dir() -> Path:
    """The current run folder (WORKBOOK_RUN_DIR, set by the pipeline), else build/interactive."""
    env = os.environ.get("WORKBOOK_RUN_DIR")
    return Path(env) if env else outputs.build_dir() / "interactive"


def artifact(name: str, obj: Any, title: str | None = None) -> Path:
    """Store one result for the report; see the module docstring for the names it places."""
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

    def load(self) -> Any:
        """The stored object: a DataFrame (csv), the JSON value, PNG bytes, or markdown text."""
        if self.path.suffix == ".csv":
            return pd.read_csv(self.path, keep_default_na=False)
        if self.path.suffix == ".json":
            return json.loads(self.path.read_text())
        if self.path.suffix == ".png":
            return self.path.read_bytes()
        return self.path.read_text()


def artifacts(folder: Path) -> list[Artifact]:
    """The run's artifacts: the names the report places first (in its order), then the rest as written."""
    index_path = folder / "artifacts" / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    found = [Artifact(n, m["title"], folder / "artifacts" / m["file"], m.get("notebook", ""))
             for n, m in index.items() if (folder / "artifacts" / m["file"]).exists()]
    from .report_view import FIRST_SCREEN_ONLY, SECTIONS
    order = [n for _, _, names in SECTIONS for n in names]
    rank = {n: i for i, n in enumerate(FIRST_SCREEN_ONLY + tuple(order))}
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


# ---- images: each one once ---------------------------------------------------------------------------
def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ---- the notebooks, merged ------------------------------------------------------------------------
def _text(value: Any) -> str:
    return value if isinstance(value, str) else "".join(value)


def _clean_stream(text: str, notes: list[str]) -> str:
    """A stream without the sandbox's notes (gathered into `notes`) and without Python warnings."""
    keep, skip_source = [], False
    for line in text.splitlines(keepends=True):
        if skip_source and line[:1].isspace():
            continue
        skip_source = False
        if WARNING_LINE.match(line.rstrip("\n")):
            skip_source = True
            continue
        if SANDBOX_LINE.match(line):
            note = SANDBOX_LINE.sub("", line).strip()
            if note and note not in notes:
                notes.append(note)
            continue
        keep.append(line)
    return "".join(keep)


def _clean_cell(cell: nbformat.NotebookNode, notes: list[str], shown: dict[str, str]) -> None:
    """Masked, widgets dropped, sandbox notes and warnings taken out, images made small; an image the
    summary already shows becomes a link to it."""
    import nbformat
    cell.source = mask_accounts(cell.source)
    outputs = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            out["text"] = mask_accounts(_clean_stream(_text(out.get("text", "")), notes))
            if not out["text"].strip():
                continue
        if out.get("output_type") == "error":
            out["evalue"] = mask_accounts(out.get("evalue", ""))
            out["traceback"] = [mask_accounts(t) for t in out.get("traceback", [])]
        data = out.get("data", {})
        for mime in WIDGET_MIME:
            data.pop(mime, None)
        if "image/png" in data:
            raw = base64.b64decode(_text(data["image/png"]))
            if _digest(raw) in shown:
                out = nbformat.v4.new_output("display_data", data={"text/html": (
                    f'<p class="wb-note">(shown above: <a href="#artifact-{shown[_digest(raw)]}">'
                    f'{shown[_digest(raw)].replace("_", " ")}</a>)</p>')})
                outputs.append(out)
                continue
            from .report_view import small_png
            data["image/png"] = base64.b64encode(small_png(raw)).decode()
        for mime in list(data):
            if mime.startswith("text/") or mime == "application/json":
                if isinstance(data[mime], (str, list)):
                    data[mime] = mask_accounts(_text(data[mime]))
        if out.get("output_type") in ("display_data", "execute_result") and not data:
            continue
        outputs.append(out)
    if "outputs" in cell:
        cell.outputs = outputs


def _notebook_title(nb: nbformat.NotebookNode, stem: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return re.sub(r"[*_`]", "", line.lstrip("#").strip())
    return stem


def merge(notebooks: dict[str, nbformat.NotebookNode], rec: dict[str, Any],
          shown: dict[str, str] | None = None, notes: list[str] | None = None) -> nbformat.NotebookNode:
    """One notebook of all: each notebook's cells between an opening and a closing marker (the template
    makes them one collapsed section), widget/remove cells dropped, outputs cleaned (_clean_cell)."""
    import nbformat
    merged = nbformat.v4.new_notebook()
    first = next(iter(notebooks.values()))
    for key in ("kernelspec", "language_info"):
        if first.metadata.get(key):
            merged.metadata[key] = first.metadata[key]
    status = {n["notebook"]: n for n in rec.get("notebooks", [])}
    notes = [] if notes is None else notes
    for stem, nb in notebooks.items():
        info = status.get(stem, {})
        opening = nbformat.v4.new_raw_cell("")
        opening.metadata.update({"wb": "open", "stem": stem, "title": _notebook_title(nb, stem),
                                 "seconds": f'{info.get("seconds", 0):.1f}', "failed": info.get("status") == "failed"})
        opening["id"] = f"{stem}-open"
        merged.cells.append(opening)
        for cell in nb.cells:
            if set(cell.get("metadata", {}).get("tags", [])) & set(REMOVE_TAGS):
                continue
            cell = nbformat.from_dict(json.loads(json.dumps(cell)))
            cell["id"] = f"{stem}-{len(merged.cells)}"  # ids stay unique across the merged notebooks
            _clean_cell(cell, notes, shown or {})
            merged.cells.append(cell)
        closing = nbformat.v4.new_raw_cell("")
        closing.metadata["wb"] = "close"
        closing["id"] = f"{stem}-close"
        merged.cells.append(closing)
    nbformat.validator.normalize(merged)
    return merged


# ---- the run ------------------------------------------------------------------------------------
def _load_run(folder: Path) -> tuple[dict[str, Any], dict[str, nbformat.NotebookNode]]:
    import nbformat
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


def build(run_dir: str | os.PathLike | None = None, with_code: bool = False,
          out: str | os.PathLike | None = None) -> Path:
    """Write the report of a run (default: the newest) and return its path."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from . import pipeline
    from .report_view import view
    try:
        folder = Path(run_dir).resolve() if run_dir else pipeline.latest()
    except FileNotFoundError as e:
        raise ReportError(str(e)) from None
    if not folder.is_dir():
        raise ReportError(f"run folder {folder} does not exist")
    rec, notebooks = _load_run(folder)
    found = artifacts(folder)
    shown = {_digest(a.path.read_bytes()): a.name for a in found if a.path.suffix == ".png"}
    notes: list[str] = []
    merged = merge(notebooks, rec, shown, notes)

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
                 "wb": view(folder, rec, found, notebooks, notes), "wb_with_code": with_code}
    page, _ = exporter.from_notebook_node(merged, resources=resources)
    refs = external_references(page)
    if refs:
        raise ReportError("the report would fetch from the network: " + "; ".join(sorted(set(refs))[:5]))
    target = Path(out) if out else outputs.build_dir() / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(masking.text(page), encoding="utf-8")   # belt and braces: cells are masked above
    return target
