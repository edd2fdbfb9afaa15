"""The workshop in JupyterLab (interactive=True): which stack a notebook acts on, what survives a kernel
restart, one collapsed line of sandbox notes, and the step bar. Headless runs never come here.

- **The form comes first.** Until 00_setup's form was saved, `nb.start` stops with one line saying to fill
  it in (`FormFirst`), so "Run All" never acts on a stack nobody chose. Once saved, every notebook reads the
  saved values (`Params.from_namespace`), and says so when its own parameters cell differs.
- **Saving reruns nothing**, but the next cell run (or button pressed) reads the new values: a hook before
  each cell (`_before_cell`) and the step panel (`current`) rebuild `p` and `ctx` when the saved form changed.
- **Widgets after a restart or a reopen**: every widget is shown with a line under it, hidden by CSS while
  the widget is alive, that says which cell to run to get the buttons back (`show_widget`). What must stay
  visible (the step bar, the notes, a panel's results) is plain HTML output updated in place
  (IPython's display ids), which a reopened notebook keeps.
- **Sandbox notes** (`ctx.say`) go into one collapsed line per notebook instead of "[sandbox] ..." lines.
"""
from __future__ import annotations

import hashlib
import html
import json
import time
from pathlib import Path
from typing import Any, Mapping

from IPython.display import HTML, display

from . import kernel
from .params import Params, saved_path, state_dir

FIRST = "00_setup"
LIVE_CLASS = "wb-live"      # on every widget the workshop shows; the hint below it hides while it is alive
# The hint is visible unless a live (connected) workshop widget sits in the same output area; it also hides
# ipywidgets' own "Error displaying widget: model not found" (a text-only widget output) beside it.
HINT_CSS = ("<style>.jp-OutputArea:has(.wb-live:not(.jupyter-widgets-disconnected)) .wb-dead,"
            ".jp-OutputArea-child:has(.wb-live:not(.jupyter-widgets-disconnected)) ~ .jp-OutputArea-child .wb-dead"
            "{display:none}"
            # a widget output holding only text ("Loading widget...", "Error displaying widget: model not found")
            ".jp-OutputArea:has(.wb-dead) .jp-OutputArea-output.lm-Panel:not(:has(*)){display:none}"
            ".wb-live.jupyter-widgets-disconnected{display:none}"   # dead buttons: the line says what to run
            ".wb-dead{color:#8a4b00;font-size:13px;margin:2px 0}</style>")
HINT = "↻ The buttons are not connected (the kernel restarted or the notebook was reopened): run this cell again (Shift+Enter)."


class FormFirst(RuntimeError):
    """Stops a workshop notebook before the form was saved: one line, no traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def require_form(ns: Mapping[str, Any], step: str) -> None:
    """In the workshop, nothing runs on a stack nobody chose: the form's saved values come first."""
    if not ns.get("interactive") or saved_path().exists():
        return
    where = "fill in the form above" if step == FIRST else "open 00_setup.ipynb and fill in its form"
    raise FormFirst(f"No stack chosen yet: {where}, press Save parameters, then run this notebook's cells "
                    "(Run > Run All Cells).")


def signature() -> str:
    """What the saved form holds, as a short hash ("" before the first save)."""
    path = saved_path()
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else ""


def cell_differences(ns: Mapping[str, Any], p: Params) -> dict[str, Any]:
    """Values the notebook's parameters cell sets away from the defaults that the form's values replace."""
    defaults, used = Params().to_dict(), p.to_dict()   # as given ("auto" stays "auto")
    return {k: ns[k] for k in Params.names() if k in ns and k != "interactive"
            and ns[k] != defaults[k] and ns[k] != used[k]}


def widget_hint() -> HTML:
    return HTML(f"{HINT_CSS}<div class='wb-dead'>{html.escape(HINT)}</div>")


def show_widget(widget: Any) -> None:
    """A widget, then the line that stands in for it once it is not connected any more."""
    widget.add_class(LIVE_CLASS)
    display(widget)
    display(widget_hint())


# ---- the session of this kernel ------------------------------------------------------------------
class Session:
    """What the workshop keeps for the kernel's notebook: its namespace, step, context and displays."""

    def __init__(self, ns: Any, step: str, ctx: Any) -> None:
        self.ns, self.step, self.ctx = ns, step, ctx
        self.signature = signature()
        self.notes: list[str] = []
        self.notes_display: Any = None
        self.nav_display: Any = None
        self.changes_seen = 0
        self.start: Any = None   # nb.start (attach)

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
        if self.notes_display is None:
            return
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.notes)
        self.notes_display.update(HTML(
            f"<details style='font-size:12px;color:#555'><summary>ⓘ {len(self.notes)} sandbox note"
            f"{'s' if len(self.notes) != 1 else ''}: where the local sandbox differs from AWS</summary>"
            f"<ul style='margin:2px 0'>{items}</ul></details>"))


_session: Session | None = None
_hooks_on = False


def attach(ns: Any, step: str, p: Params, ctx: Any, start: Any = None) -> Session:
    """After nb.start connected: notes into one line, the step bar, the hooks; says where values come from.
    `start` is nb.start, handed over so that a form saved again restarts the session (this module is
    below nb and ui, and imports neither)."""
    global _session
    from . import tables
    tables.install()
    notes = _session.notes if _session is not None and _session.step == step else []
    _session = Session(ns, step, ctx)
    _session.start = start
    ctx.tell = _session.note
    differs = cell_differences(ns, p)
    print(f"values from the form saved in {FIRST} ({_shown_path()})" + (
        "; this notebook's parameters cell differs in " + ", ".join(f"{k}={v!r}" for k, v in differs.items())
        + ": the form's values are used (change them in the form)" if differs else ""))
    _session.nav_display = display(HTML(navigator_html(ctx, step)), display_id=True)
    _session.notes_display = display(HTML(""), display_id=True)   # filled by the first sandbox note
    for m in notes:
        _session.note(m)
    _session.changes_seen = _changes(ctx)
    _install_hooks()
    return _session


def _shown_path() -> str:
    path = saved_path()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _changes(ctx: Any) -> int:
    from .connect import MUTATING
    return ctx.calls.count(prefix=MUTATING)


def current(ctx: Any) -> Any:
    """The context to act with: `ctx`, or a new one when the form was saved again since (the step panel
    asks before each button)."""
    if _session is None or _session.signature == signature():
        return ctx
    _restart_quietly()
    return _session.ctx


def _restart_quietly() -> None:
    ns, step = _session.ns, _session.step
    p, ctx = _session.start(ns, step)
    ns["p"], ns["ctx"] = p, ctx
    print(f"The form was saved again: this notebook now acts on stack {p.stack_name!r} (p and ctx re-read).")


def _before_cell(info: Any = None) -> None:
    """Before each cell: a form saved since nb.start makes p and ctx follow it (not for nb.start's own cell)."""
    if _session is None or _session.signature == signature() or not saved_path().exists():
        return
    if "nb.start(" in str(getattr(info, "raw_cell", "")):
        return
    _restart_quietly()


def _after_cell(result: Any = None) -> None:
    """After a cell that changed something, the step bar reads the tags again (fresh within a run)."""
    if _session is None:
        return
    seen = _changes(_session.ctx)
    if seen != _session.changes_seen:
        _session.changes_seen = seen
        refresh()


def _install_hooks() -> None:
    global _hooks_on
    if _hooks_on:
        return
    ip = kernel.shell()
    if ip is None:
        return
    ip.events.register("pre_run_cell", _before_cell)
    ip.events.register("post_run_cell", _after_cell)
    _hooks_on = True


# ---- the step bar -------------------------------------------------------------------------------------
BAR_TITLES = {"00_setup": "Dev", "01_assess": "Assess", "02_network": "Network", "03_database": "Database",
              "04_compute": "Compute", "05_edge": "Edge", "06_observability": "Alarms", "07_access": "Access",
              "08_cutover_compare": "Cutover", "09_teardown": "Teardown"}


def assessment_path(p: Params) -> Path:
    return state_dir() / "assessments" / f"{p.target}-{p.region}-{p.stack_name}.json"


def record_assessment(ctx: Any, findings: Any) -> Path:
    """01 changes nothing in the account; what marks it done is its findings, kept beside the saved form
    (the step bar ticks 01 for this stack and says when it ran)."""
    path = assessment_path(ctx.p)
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = findings["status"].value_counts().to_dict() if "status" in getattr(findings, "columns", []) else {}
    path.write_text(json.dumps({"stack": ctx.p.stack_name, "at": time.strftime("%Y-%m-%d %H:%M"),
                                "counts": counts}))
    if _session is not None:
        refresh()
    return path


def assessed(p: Params) -> str:
    """When 01 last assessed this stack's dev host ("" if never)."""
    path = assessment_path(p)
    if not path.exists():
        return ""
    try:
        return json.loads(path.read_text()).get("at", "")
    except ValueError:
        return ""


def step_status(ctx: Any, p: Params) -> Any:
    """Which steps are done, from what exists in the account (tags), not from a file: the tagging API
    covers the kinds each step creates first (VPC, RDS, ALB, log groups, alarms ...); what cannot
    carry a tag (the developers' IAM group) is in the stack's ledger. 01 creates nothing: it is done
    when its assessment of this stack was recorded (workshop.record_assessment)."""
    import pandas as pd

    from . import engine, steps
    counts: dict[str, int] = {}
    pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "workbook:stack", "Values": [p.stack_name]}])
    for page in pages:
        for r in page["ResourceTagMappingList"]:
            step = next((t["Value"] for t in r["Tags"] if t["Key"] == "workbook:step"), "")
            counts[step] = counts.get(step, 0) + 1
    for kind, entries in engine.ledger(ctx, p.stack_name).items():
        if kind == engine.BUILD:
            continue
        for entry in entries.values():
            counts[entry.get("step", "")] = counts.get(entry.get("step", ""), 0) + 1

    def done(s: Any) -> bool | None:
        if s.id == "01_assess":
            return bool(assessed(p))
        return counts.get(s.id, 0) > 0 if s.kinds and s.id != "09_teardown" else None
    rows = [{"step": s.id, "title": s.short or s.title, "resources": counts.get(s.id, 0), "done": done(s)}
            for s in steps.ordered()]
    return pd.DataFrame(rows)


def navigator_html(ctx: Any, current_step: str) -> str:
    """One line, no wrap at 1400 px: ✔ built (found by its tags), ○ not yet, – nothing to build; a legend."""
    df = step_status(ctx, ctx.p)
    cells = []
    for r in df.itertuples():
        mark = "✔" if r.done else ("–" if r.done is None else "○")
        here = r.step == current_step
        style = "font-weight:bold;border-bottom:2px solid #1565c0" if here else ""
        tip = (f"assessed {assessed(ctx.p)}" if r.step == "01_assess" and r.done else
               f"{r.resources} resources tagged {r.step}")
        label = BAR_TITLES.get(r.step, r.title)
        cells.append(f"<span style='margin-right:7px;{style}' title='{html.escape(tip)}'>{mark}&nbsp;"
                     f"<a href='{r.step}.ipynb'>{html.escape(r.step[:2])}&nbsp;{html.escape(label)}</a></span>")
    legend = ("✔ done (built: found by its tags; 01: assessed) · ○ not yet · – nothing to build · "
              "<u>underlined</u>: this notebook")
    return (f"<div class='wb-nav' style='padding:4px 6px;border:1px solid #ddd;border-radius:4px;font-size:12px;"
            f"white-space:nowrap;overflow-x:auto'><b>Stack {html.escape(ctx.p.stack_name)}</b> · {''.join(cells)}"
            f"<div style='font-size:11px;color:#666;margin-top:2px'>{legend}</div></div>")


def refresh() -> None:
    """The step bar of this notebook, read again from the account."""
    if _session is not None and _session.nav_display is not None:
        _session.nav_display.update(HTML(navigator_html(_session.ctx, _session.step)))
