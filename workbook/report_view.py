"""What the report's template shows, as plain data: the first screen, the sections of artifacts, the run.

`view()` reads only the artifacts the notebooks handed over (report.artifact) and the run's record;
the template (report_template/workbook_report/index.html.j2) lays them out. Nothing here renders
HTML but markdown (nbconvert's own filter) and pandas tables are passed as rows.
"""
from __future__ import annotations

import base64
import html
import io
import re
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import buildtime
from .connect import mask_account
from .masking import text as mask_accounts

if TYPE_CHECKING:
    import nbformat

    from .report import Artifact

# section id, title, the artifacts it shows in this order (known names; the rest go under "Other results")
SECTIONS = (("before-after", "Before and after", ("before_diagram", "after_diagram")),
            ("findings", "Findings", ("findings_compare", "findings_after", "findings_before")),
            ("measurements", "Measurements before and after", ("availability", "metrics", "metrics_chart")),
            ("cost", "Monthly cost", ("cost", "cost_explained")),
            ("built", "What was built, resource by resource", ("built",)))
FIRST_SCREEN_ONLY = ("built_summary", "scores")
LONG_TABLE = 25  # rows; a longer findings table shows its FAIL and NOT_EMULATED rows, the rest folded
TEARDOWN = "make teardown"


# ---- images: small ------------------------------------------------------------
def small_png(raw: bytes) -> bytes:
    """The image in 256 colours (diagrams and charts have few), when that is smaller."""
    from PIL import Image
    try:
        img = Image.open(io.BytesIO(raw))
        if img.mode == "P":
            return raw
        out = io.BytesIO()
        img.convert("RGBA").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    except (OSError, ValueError):
        return raw
    return out.getvalue() if out.tell() < len(raw) else raw


def data_uri(raw: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(small_png(raw)).decode()


STATUSES = ("FAIL", "PASS", "NOT_EMULATED", "NOT_APPLICABLE")
FINDING_COLUMNS = ["id", "title", "severity", "resource", "detail", "remediation"]
FAILURES_SHOWN = 5


# ---- values and tables -----------------------------------------------------------------------------
def readable(v: Any) -> str:
    """3 significant figures for a reader: measured values arrive with float noise (5.0187019996)."""
    if isinstance(v, float):
        if v != v:
            return ""
        if not v.is_integer():
            return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) >= 1 else f"{v:.3g}"
        return str(int(v))
    if isinstance(v, str) and re.fullmatch(r"-?\d+\.\d{4,}", v):
        return readable(float(v))
    return mask_accounts(str(v))


def table(df: pd.DataFrame, fold: bool = True) -> dict[str, Any]:
    """Rows for the template's table macro. A status column gets its counts and a class per cell; a long
    findings table shows what needs attention, the whole of it one click away. A column that is zero
    on every row says nothing and is left out (e.g. a cost table's "unpriced")."""
    df = df.copy()
    for col in list(df.columns):
        if len(df) > 1 and pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]) \
                and (df[col] == 0).all():
            df = df.drop(columns=col)
    status_cols = [c for c in df.columns if c in ("status", "before", "after")
                   and df[c].astype(str).isin(STATUSES + ("not checked", "")).all()]
    rows = [[{"v": readable(v), "c": f"wb-status-{v}" if c in status_cols and v in STATUSES else ""}
             for c, v in zip(df.columns, r)] for r in df.itertuples(index=False)]
    out: dict[str, Any] = {"columns": [str(c) for c in df.columns], "rows": rows, "counts": [], "attention": None}
    if "status" in df.columns and not df.empty:
        out["counts"] = [(str(s), int(n)) for s, n in df["status"].value_counts().items()]
        if fold and len(df) > LONG_TABLE:
            keep = df["status"].isin(["FAIL", "NOT_EMULATED"]).tolist()
            out["attention"] = [r for r, k in zip(rows, keep) if k]
    return out


def markdown(text: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    return markdown2html_mistune(mask_accounts(text))


def block(a: Artifact, obj: Any = None, title: str | None = None, **extra: Any) -> dict[str, Any]:
    """One artifact as the template shows it: an image, a table, key/value pairs, markdown or text."""
    obj = a.load() if obj is None else obj
    b: dict[str, Any] = {"id": f"artifact-{a.name}", "title": title or a.title, "source": a.notebook, **extra}
    if isinstance(obj, bytes):
        b.update(kind="img", uri=data_uri(obj))
    elif isinstance(obj, pd.DataFrame):
        b.update(kind="table", table=table(obj))
    elif isinstance(obj, dict) and all(not isinstance(v, (dict, list)) for v in obj.values()):
        b.update(kind="kv", rows=[(str(k), readable(v)) for k, v in obj.items()])
    elif isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        b.update(kind="table", table=table(pd.DataFrame(obj)))
    elif isinstance(obj, str) and a.path.suffix == ".md":
        b.update(kind="html", html=markdown(obj))
    else:
        import json
        b.update(kind="text", text=mask_accounts(obj if isinstance(obj, str) else json.dumps(obj, indent=2)))
    return b


# ---- the first screen ----------------------------------------------------------------------------
def _safe(scores: dict[str, Any] | None, after: pd.DataFrame | None) -> dict[str, Any] | None:
    if scores is None:
        return None
    fails = after[after.status == "FAIL"] if after is not None and "status" in after else pd.DataFrame()
    failures = [{"id": r.id, "title": r.title, "resource": mask_accounts(str(r.resource))}
                for r in fails.head(FAILURES_SHOWN).itertuples()]
    return {"after": _score(scores.get("score after")), "before": _score(scores.get("score before")),
            "evaluated": scores.get("evaluated after"), "fail": scores.get("fail after", len(fails)),
            "not_emulated": scores.get("not emulated after", 0), "how": scores.get("how", ""),
            "failures": failures, "more": max(0, len(fails) - FAILURES_SHOWN)}


def _score(v: Any) -> str:
    return "" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}")


def _up(av: dict[str, Any] | None) -> dict[str, Any] | None:
    if av is None:
        return None
    return {"after": readable(av.get("availability after (%)")), "before": readable(av.get("availability before (%)")),
            "errors_after": readable(av.get("error rate after (%)")),
            "errors_before": readable(av.get("error rate before (%)")), "measured": av.get("measured", ""),
            "end_after": readable(av.get("served at the end, after (%)")),
            "end_before": readable(av.get("served at the end, before (%)"))}


def _money(v: float, cents: bool = False) -> str:
    return f"${v:,.0f}" if abs(v) >= 100 and not cents else f"${v:,.2f}"


def cost_totals(cost: pd.DataFrame | None) -> dict[str, str] | None:
    if cost is None or not {"phase", "monthly_usd"} <= set(cost.columns):
        return None
    by = pd.to_numeric(cost["monthly_usd"], errors="coerce").groupby(cost["phase"]).sum()
    before, after = float(by.get("before", 0.0)), float(by.get("after", 0.0))
    return {"after": _money(after), "before": _money(before), "delta": ("+" if after >= before else "−")
            + _money(abs(after - before))}


def cost_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Cost per type, before and after side by side, with the totals."""
    if not {"phase", "type", "monthly_usd"} <= set(cost.columns):
        return cost
    wide = cost.pivot_table(index="type", columns="phase", values="monthly_usd", aggfunc="sum", sort=False)
    wide = wide.reindex(columns=[c for c in ("before", "after") if c in wide.columns]).fillna(0.0)
    wide.loc["total a month"] = wide.sum()
    return wide.map(lambda v: _money(v, cents=True)).reset_index().rename(columns={"type": "USD a month"})


def _teardown(params: dict[str, Any]) -> dict[str, str]:
    kept = []
    if params.get("keep_final_snapshot", True):
        kept.append("the database's final snapshot")
    if not params.get("teardown_dev", False):
        kept.append('the dev host (make teardown SET="teardown_dev=true" removes it too)')
    return {"command": TEARDOWN, "what": "deletes everything that carries the stack's tag, in reverse order "
            "(notebook 09_teardown), then scans the region for leftovers",
            "kept": "Kept: " + "; ".join(kept) + "." if kept else ""}


# ---- the page ------------------------------------------------------------------------------------
def view(folder: Any, rec: dict[str, Any], found: list[Artifact], notebooks: dict[str, nbformat.NotebookNode],
         notes: list[str]) -> dict[str, Any]:
    arts = {a.name: a for a in found}
    load = lambda name: arts[name].load() if name in arts else None  # noqa: E731
    after = load("findings_after")
    params = rec.get("params", {})
    first = {"built": load("built_summary"), "safe": _safe(load("scores"), after), "up": _up(load("availability")),
             "cost": cost_totals(load("cost")), "teardown": _teardown(params), "target": rec.get("target", "")}
    sections, used = [], set(FIRST_SCREEN_ONLY)
    for sid, title, names in SECTIONS:
        blocks = []
        for name in names:
            if name not in arts:
                continue
            used.add(name)
            a = arts[name]
            if name == "findings_compare" and "scores" in arts:
                blocks.append(_score_block(arts["scores"]))
            if name == "findings_after":
                blocks += _findings_after(a, after)
            elif name == "findings_before":
                blocks.append(block(a, folded=True))
            elif name == "availability":
                blocks.append({"id": f"artifact-{name}", "title": a.title, "source": a.notebook, "kind": "html",
                               "html": "<p>" + html.escape(load(name).get("measured", "")) + "</p>"})
            elif name == "cost":
                blocks.append(block(a, cost_table(load(name))))
            elif name == "built":
                blocks.append(block(a, folded=True))
            else:
                blocks.append(block(a, pair=sid == "before-after"))
        if blocks:
            sections.append({"id": sid, "title": title, "blocks": blocks, "pair": sid == "before-after"})
    rest = [block(a) for a in found if a.name not in used]
    if rest:
        sections.append({"id": "other", "title": "Other results", "blocks": rest, "pair": False})
    status = rec.get("status", "unknown")
    titles = {stem: next((ln.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
                          for ln in c.source.splitlines() if ln.startswith("#")), stem) for stem, nb in notebooks.items()}
    shown_params = {k: mask_account(str(v)) if k == "aws_account_id" and v else v for k, v in params.items()}
    return {
        "stack": rec.get("stack_name", ""), "target": rec.get("target", ""), "region": rec.get("region", ""),
        "started": rec.get("started", ""), "status": status, "failed": status != "ok", "first": first,
        "sections": sections, "sandbox_notes": notes,
        "run": {"meta": [("run", getattr(folder, "name", str(folder))), ("status", status),
                         ("target", rec.get("target", "")), ("region", rec.get("region", "")),
                         ("stack", rec.get("stack_name", "")), ("started (UTC)", rec.get("started", "")),
                         ("finished (UTC)", rec.get("finished", "")), ("duration", f'{rec.get("seconds", 0):.1f} s')],
                "notebooks": [{"stem": n["notebook"], "title": re.sub(r"[*_`]", "", titles.get(n["notebook"], "")),
                               "status": n.get("status", ""), "seconds": f'{n.get("seconds", 0):.1f}',
                               "error": mask_accounts(n.get("error", ""))} for n in rec.get("notebooks", [])],
                "params": [(k, readable(v)) for k, v in shown_params.items()],
                "versions": [(k, str(v)) for k, v in rec.get("versions", {}).items()],
                "rehearsal": buildtime.html_section(rec)},   # a rehearsed run's AWS time (issue 9), else ""
    }


def _findings_after(a: Artifact, after: pd.DataFrame) -> list[dict[str, Any]]:
    """The production stack's findings: what fails, what the target could not evaluate (not in the
    score), then all of them folded."""
    cols = [c for c in FINDING_COLUMNS if c in after.columns]
    fails = after[after.status == "FAIL"]
    ne = after[after.status == "NOT_EMULATED"]
    out = [block(a, fails[cols], title=f"Failing on the production stack ({len(fails)})")
           if len(fails) else {"id": f"artifact-{a.name}", "title": "Failing on the production stack (0)",
                               "source": a.notebook, "kind": "html", "html": "<p>No finding fails.</p>"}]
    if len(ne):
        out.append(block(a, ne[[c for c in cols if c != "remediation"]], id=f"artifact-{a.name}-not-emulated",
                         title=f"Not evaluated by this target, not in the score ({len(ne)})"))
    out.append(block(a, after, id=f"artifact-{a.name}-all", title=f"All {len(after)} findings of the production stack",
                     folded=True))
    return out


def _score_block(a: Artifact) -> dict[str, Any]:
    s = a.load()
    text = (f"Score {_score(s.get('score before'))} before, {_score(s.get('score after'))} after: "
            f"{s.get('fail after', 0)} of {s.get('evaluated after', 0)} evaluated findings of the production stack fail, "
            f"{s.get('not emulated after', 0)} are not evaluated by this target. {s.get('how', '')}")
    return {"id": f"artifact-{a.name}", "title": a.title, "source": a.notebook, "kind": "html",
            "html": "<p>" + html.escape(text) + "</p>"}
