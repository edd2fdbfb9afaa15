"""Tables as a workshop attendee sees them: compact, nothing cut to "...", long text wrapped, and three
kinds of frame shown short with the whole table one click away:

- a findings frame (columns `id` and `status`): "12 pass / 3 fail (2 not emulated)", each control id
  with what it checks beside it (from the checks' registry: the ids explain themselves), FAIL rows marked;
  a long one shows what needs attention first;
- a plan or "what changed" frame (columns `type`, `name`, `action`): one row per kind and action (how many,
  which, the monthly cost of a priced plan) under a line with the total.
- any other long frame: its first rows.

`install()` makes IPython render every DataFrame this way (nb.start calls it in the workshop);
`to_html(df)` is the same renderer for any other caller. Everything sits in a block MathJax skips:
JupyterLab (MathJax 3: mathjax_ignore) would typeset "$36.50 ... $0.00" as mathematics.
"""
from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from . import kernel

MAX_ROWS = 200   # beyond this a table says how many rows it left out (call logs of long cells)
ID_COLUMNS = ("id", "step", "type", "action", "severity")
TEXT_COLUMNS = ("title", "checks", "detail", "remediation", "names", "cost_note")   # wrapped, never squeezed
SAME = ("step", "group")   # a column with one value throughout says nothing a table's context does not
SHORT = 15       # a longer table shows this many rows (or its summary) and the rest in a collapsed block
STATUS_COLORS = {"FAIL": "#b00020", "PASS": "#1b5e20", "NOT_EMULATED": "#8a6d00", "NOT_APPLICABLE": "#666"}
CSS = ("<style>"
       "table.wb-t{border-collapse:collapse;font-size:12px;line-height:1.35;margin:2px 0 8px 0;table-layout:auto}"
       "table.wb-t th{white-space:nowrap;text-align:left!important;padding:2px 8px;border-bottom:1px solid #bbb;"
       "background:#f4f4f4}"
       "table.wb-t td{padding:2px 8px;vertical-align:top;border-bottom:1px solid #eee;max-width:38em;"
       "white-space:normal;overflow-wrap:break-word;text-align:left!important}"
       "table.wb-t td.wb-num{text-align:right!important;white-space:nowrap}"
       "table.wb-t td.wb-id{white-space:nowrap}"
       "table.wb-t td.wb-text{min-width:9em}"
       ".wb-line{font-size:13px;margin:4px 0 2px 0}"
       ".wb-more>summary{font-size:12px;color:#1565c0;cursor:pointer}"
       "</style>")


def is_findings(df: pd.DataFrame) -> bool:
    return {"id", "status"} <= set(df.columns)


def is_plan(df: pd.DataFrame) -> bool:
    return {"type", "name", "action"} <= set(df.columns) and "usd_month" in df.columns


def counts_line(df: pd.DataFrame) -> str:
    """'N pass / M fail (K not emulated)', plus not applicable when there are any."""
    s = df["status"].astype(str).value_counts()
    line = f"{s.get('PASS', 0)} pass / {s.get('FAIL', 0)} fail ({s.get('NOT_EMULATED', 0)} not emulated)"
    if s.get("NOT_APPLICABLE", 0):
        line += f", {s.get('NOT_APPLICABLE', 0)} not applicable"
    return line


def money(v: Any) -> str:
    return "not priced" if v is None or (isinstance(v, float) and math.isnan(v)) else f"${v:,.2f}"


def plan_line(df: pd.DataFrame) -> str:
    """What a plan creates and its monthly cost: the total first, then new and already running."""
    acts = df["action"].astype(str)
    new = int(acts.str.startswith("would create").sum())
    there = int(acts.isin(["exists", "available"]).sum())
    change = len(df) - new - there
    total, added, running = (df.attrs.get(k) for k in ("usd_month_total", "usd_month_new", "usd_month_running"))
    if total is None:
        total = float(pd.to_numeric(df["usd_month"], errors="coerce").sum())
    line = f"{new} to create, " + (f"{change} to change, " if change else "") + \
        f"{there} already there · about <b>{money(total)} a month</b>"
    if added is not None and running is not None:
        line += f" ({money(added)} new, {money(running)} already running)"
    unpriced = df.attrs.get("unpriced")
    if unpriced:
        line += f"; not priced: {html.escape(unpriced)}"
    return line


def _cell(col: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "<td></td>"
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, (int, float)):
        text = f"{v:,.2f}" if col.startswith("usd") or col.endswith("_usd") else (f"{v:g}" if isinstance(v, float) else f"{v:,}" if abs(v) >= 10000 else str(v))
        return f"<td class='wb-num'>{text}</td>"
    text = html.escape(", ".join(map(str, v)) if isinstance(v, (list, tuple, set)) else str(v))
    if col == "status" and str(v) in STATUS_COLORS:
        return f"<td style='color:{STATUS_COLORS[str(v)]};font-weight:600'>{text}</td>"
    cls = " class=wb-id" if col in ID_COLUMNS else " class=wb-text" if col in TEXT_COLUMNS else ""
    return f"<td{cls}>{text}</td>"


def _findings_view(df: pd.DataFrame) -> pd.DataFrame:
    """A control id is explained where it stands: its title beside it when the frame has none."""
    if "title" in df.columns or "id" not in df.columns:
        return df
    from . import glossary
    titles = {i: glossary.title(str(i)) for i in df["id"].unique()}
    out = df.copy()
    out.insert(list(df.columns).index("id") + 1, "checks", df["id"].map(titles).fillna(""))
    return out


def is_resources(df: pd.DataFrame) -> bool:
    """A plan or a "what changed" frame: rows of resources and what was (or would be) done."""
    return {"type", "name", "action"} <= set(df.columns)


def _table(view: pd.DataFrame) -> str:
    shown = view.head(MAX_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = ["<tr>" + "".join(_cell(str(c), v) for c, v in zip(shown.columns, rec)) + "</tr>"
            for rec in shown.itertuples(index=False, name=None)]
    more = f"<div class='wb-line'>… {len(view) - MAX_ROWS} more rows</div>" if len(view) > MAX_ROWS else ""
    return (f"<table class='dataframe wb-t'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"{more}")


def _names(values: pd.Series, limit: int = 3) -> str:
    names = [str(v) for v in values]
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def resources_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per kind and action, in the frame's order: how many, which, and their monthly cost."""
    rows = []
    for (kind, action), g in df.groupby(["type", "action"], sort=False):
        row = {"type": kind, "action": action, "count": len(g), "names": _names(g["name"])}
        if "usd_month" in g.columns:
            usd = pd.to_numeric(g["usd_month"], errors="coerce")
            row["usd_month"] = float("nan") if usd.isna().all() else round(float(usd.sum()), 2)
            row["cost_note"] = next((n for n in g.get("cost_note", []) if n), "")
        rows.append(row)
    return pd.DataFrame(rows)


def _more(full: pd.DataFrame, label: str) -> str:
    return f"<details class='wb-more'><summary>{html.escape(label)}</summary>{_table(full)}</details>"


def to_html(df: pd.DataFrame) -> str:
    """The frame as a short table under its line; the whole of a long one in a collapsed block below."""
    line, short = "", None
    view = df.drop(columns=[c for c in SAME if c in df.columns and df[c].nunique() <= 1 and len(df) > 1])
    if is_findings(df):
        line = counts_line(df)
        view = _findings_view(view)
        if len(view) > SHORT:
            attention = view[view["status"].astype(str).isin(["FAIL", "NOT_EMULATED"])]
            short = attention if len(attention) else view.head(SHORT)
    elif is_resources(df):
        line = plan_line(df) if is_plan(df) else f"{len(df)} row{'s' if len(df) != 1 else ''}"
        if len(df) > SHORT // 2:
            short = resources_summary(df)
    elif len(df) > SHORT:
        short = view.head(SHORT)
    top = f"<div class='wb-line'>{line}</div>" if line else ""
    if view.empty:
        body = "<div class='wb-line' style='color:#666'>(no rows)</div>"
    elif short is not None:
        body = _table(short) + _more(view, f"all {len(view)} rows")
    else:
        body = _table(view)
    return f"{CSS}<div class='tex2jax_ignore mathjax_ignore wb-tables'>{top}{body}</div>"


def install() -> None:
    """Render DataFrames with `to_html` in this IPython kernel (nothing outside IPython)."""
    ip = kernel.shell()
    if ip is None:
        return
    ip.display_formatter.formatters["text/html"].for_type(pd.DataFrame, to_html)
