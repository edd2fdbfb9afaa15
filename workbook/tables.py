"""Tables as a reader sees them: compact, nothing cut to "...", long text wrapped, and two kinds of
frame with a line above them:

- a findings frame (columns `id` and `status`): "12 pass / 3 fail (2 not emulated)", each control id
  with what it checks beside it (from the checks' registry: the ids explain themselves), FAIL rows marked;
- a plan frame (columns `type`, `name`, `action`) priced by `plan_cost`: what it creates and the monthly
  total, new and already running.

`install()` makes IPython render every DataFrame this way (nb.start calls it, in the workshop and in
headless runs alike); `to_html(df)` is the same renderer for any other caller.
"""
from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

MAX_ROWS = 200   # beyond this a table says how many rows it left out (call logs of long cells)
STATUS_COLORS = {"FAIL": "#b00020", "PASS": "#1b5e20", "NOT_EMULATED": "#8a6d00", "NOT_APPLICABLE": "#666"}
CSS = ("<style>"
       ".wb-t{border-collapse:collapse;font-size:12px;line-height:1.35;margin:2px 0 8px 0}"
       ".wb-t th{white-space:nowrap;text-align:left;padding:2px 8px;border-bottom:1px solid #bbb;background:#f4f4f4}"
       ".wb-t td{padding:2px 8px;vertical-align:top;border-bottom:1px solid #eee;max-width:38em;"
       "white-space:normal;overflow-wrap:anywhere;text-align:left}"
       ".wb-t td.wb-num{text-align:right;white-space:nowrap}"
       ".wb-t td.wb-id{white-space:nowrap}"
       ".wb-line{font-size:13px;margin:4px 0 2px 0}"
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
    return f"<td{' class=wb-id' if col in ('id', 'step', 'type', 'action', 'severity') else ''}>{text}</td>"


def _findings_view(df: pd.DataFrame) -> pd.DataFrame:
    """A control id is explained where it stands: its title beside it when the frame has none."""
    if "title" in df.columns or "id" not in df.columns:
        return df
    from . import glossary
    titles = {i: glossary.title(str(i)) for i in df["id"].unique()}
    out = df.copy()
    out.insert(list(df.columns).index("id") + 1, "checks", df["id"].map(titles).fillna(""))
    return out


def to_html(df: pd.DataFrame) -> str:
    """The whole frame (up to MAX_ROWS rows), every cell in full."""
    line = ""
    view = df
    if is_findings(df):
        line = counts_line(df)
        view = _findings_view(df)
    elif is_plan(df):
        line = plan_line(df)
    shown = view.head(MAX_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False, name=None):
        rows.append("<tr>" + "".join(_cell(str(c), v) for c, v in zip(shown.columns, rec)) + "</tr>")
    more = f"<div class='wb-line'>… {len(view) - MAX_ROWS} more rows</div>" if len(view) > MAX_ROWS else ""
    top = f"<div class='wb-line'>{line}</div>" if line else ""
    if view.empty:
        return f"{CSS}{top}<div class='wb-line' style='color:#666'>(no rows)</div>"
    return (f"{CSS}{top}<table class='dataframe wb-t'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{more}")


def install() -> None:
    """Render DataFrames with `to_html` in this IPython kernel (nothing outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:   # pragma: no cover
        return
    ip = get_ipython()
    if ip is None:
        return
    ip.display_formatter.formatters["text/html"].for_type(pd.DataFrame, to_html)
