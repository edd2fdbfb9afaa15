"""The workshop's widgets: the parameter form, the step panel, the navigator.

Built only when interactive; every button calls the same step functions the headless path calls.
Cells that show these widgets are tagged `widget` and left out of the report.
"""
from __future__ import annotations

import html
import time

from typing import Any, Callable, Literal, get_args, get_type_hints

import ipywidgets as W
import pandas as pd
from IPython.display import display

from . import lock, progress
from .connect import Context
from .params import ParameterError, Params, help_text

# Form sections, in the order a newcomer meets them.
SECTIONS = {
    "Where": ["stack_name", "target", "region", "aws_profile", "aws_account_id"],
    "Network": ["az_count", "vpc_cidr", "dev_vpc_cidr", "nat_per_az"],
    "Compute": ["instance_type", "app_port", "health_check_path", "min_capacity", "desired_capacity", "max_capacity"],
    "Database": ["db_engine", "db_engine_version", "db_instance_class", "db_allocated_storage", "multi_az",
                 "backup_retention_days"],
    "Edge and alarms": ["domain_name", "hosted_zone_id", "entry", "alarm_email", "log_retention_days"],
    "Dev environment": ["demo_dev_host", "dev_instance_id", "dev_tag", "dev_instance_type", "dev_db_engine",
                        "dev_db_name", "dev_attach_profile", "dev_elastic_ip", "dev_split_security_groups"],
    "Evidence and teardown": ["probe_rate", "probe_seconds", "fault", "sample_rows", "keep_final_snapshot",
                              "teardown_dev", "dry_run"],
}


def _field_widget(name: str, hint: Any, value: Any) -> W.Widget:
    style = {"description_width": "190px"}
    layout = W.Layout(width="460px")
    if getattr(hint, "__origin__", None) is Literal:
        return W.Dropdown(options=list(get_args(hint)), value=value, description=name, style=style, layout=layout)
    if hint is bool:
        return W.Checkbox(value=value, description=name, style=style, indent=True)
    if hint is int:
        return W.IntText(value=value, description=name, style=style, layout=layout)
    return W.Text(value=value, description=name, style=style, layout=layout)


class ParameterForm:
    """Each field with its help, validated as it is edited with the same rules as headless runs."""

    def __init__(self, p: Params):
        hints = get_type_hints(Params)
        helps = help_text()
        self.inputs: dict[str, W.Widget] = {}
        self.errors: dict[str, W.HTML] = {}
        sections = []
        for title, names in SECTIONS.items():
            rows = []
            for name in names:
                w = _field_widget(name, hints[name], p.to_dict()[name])  # "auto" shown as auto
                w.observe(lambda _c: self.validate(), names="value")
                self.inputs[name] = w
                self.errors[name] = W.HTML()
                rows.append(W.VBox([w, W.HTML(f"<small style='margin-left:198px;color:#555'>"
                                              f"{html.escape(helps[name])}</small>"), self.errors[name]]))
            sections.append(W.VBox(rows))
        self.tabs = W.Accordion(children=sections, titles=tuple(SECTIONS))
        self.tabs.selected_index = 0
        self.status = W.HTML()
        self.save_button = W.Button(description="Save parameters", button_style="primary", icon="save")
        self.save_button.on_click(lambda _b: self.save())
        self.widget = W.VBox([self.tabs, W.HBox([self.save_button, self.status])])
        self.params: Params | None = p
        self.validate()

    def _ipython_display_(self) -> None:
        display(self.widget)  # a cell ending in ui.parameter_form(p) shows the form, not the object

    def values(self) -> dict[str, Any]:
        return {k: w.value for k, w in self.inputs.items()}

    def validate(self) -> Params | None:
        for e in self.errors.values():
            e.value = ""
        try:
            self.params = Params.from_mapping({**self.values(), "interactive": True})
        except ParameterError as err:
            self.params = None
            for name, msg in err.problems.items():
                if name in self.errors:
                    self.errors[name].value = f"<span style='color:#b00020;margin-left:198px'>⚠ {html.escape(msg)}</span>"
            self.status.value = f"<span style='color:#b00020'>{len(err.problems)} invalid value(s)</span>"
            self.save_button.disabled = True
            return None
        self.save_button.disabled = False
        self.status.value = "<span style='color:#1b5e20'>valid</span>"
        return self.params

    def save(self) -> None:
        p = self.validate()
        if p is not None:
            path = p.save()
            self.status.value = (f"<span style='color:#1b5e20'>saved to {html.escape(str(path))}; "
                                 f"the other notebooks use these values</span>")


def parameter_form(p: Params) -> ParameterForm | None:
    if not p.interactive:
        return None
    return ParameterForm(p)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="wb-table", escape=True)


class StepPanel:
    """Plan / Apply / Verify (/ Destroy) for one step (from the step registry), with output, progress
    and API calls."""

    def __init__(self, ctx: Context, actions: tuple[str, ...] = ("plan", "apply", "verify")):
        from . import steps
        self.step = steps.get(ctx.step)
        self.p, self.ctx = ctx.p, ctx
        self.output = W.Output()
        self.bar = W.IntProgress(value=0, min=0, max=100, description="idle", bar_style="",
                                 style={"description_width": "initial"}, layout=W.Layout(width="520px"))
        self.calls = W.HTML()
        self.buttons = []
        for action in actions:
            b = W.Button(description=action.capitalize(), button_style="danger" if action == "destroy" else "",
                         icon={"plan": "list", "apply": "play", "verify": "check", "destroy": "trash"}[action])
            b.on_click(self._runner(action))
            self.buttons.append(b)
        self.widget = W.VBox([W.HBox(self.buttons), self.bar, self.output, self.calls])

    def _ipython_display_(self) -> None:
        display(self.widget)

    def _on_progress(self, what: str, attempt: int, total: int, elapsed: float) -> None:
        self.bar.max = total
        self.bar.value = attempt
        self.bar.description = f"waiting for {what}: {elapsed:.0f} s"

    def _runner(self, action: str) -> Callable[[Any], None]:
        def run(_b: Any) -> None:
            for b in self.buttons:
                b.disabled = True
            mark = self.ctx.calls.mark()
            self.bar.bar_style, self.bar.value, self.bar.max = "info", 0, 100
            self.bar.description = f"{action} running"
            progress.add_listener(self._on_progress)
            t0 = time.monotonic()
            self.output.clear_output()
            try:
                with self.output:
                    # the stack's lock from the action's first change to its end (a plan takes none)
                    with lock.holding(self.ctx, self.step.id, via="panel"):
                        result = self.step.fn(action)(self.ctx)
                    if isinstance(result, pd.DataFrame):
                        display(result)
                self.bar.value = self.bar.max
                self.bar.bar_style = "success"
                self.bar.description = f"{action} done in {time.monotonic() - t0:.1f} s"
            except lock.StackLocked as e:   # someone else is changing the stack: who, since when, how to release
                self.bar.bar_style = "warning"
                self.bar.description = f"{action} refused: the stack is locked"
                with self.output:
                    print(e)
            except Exception as e:  # shown to the attendee, not swallowed
                self.bar.bar_style = "danger"
                self.bar.description = f"{action} failed: {type(e).__name__}"
                with self.output:
                    print(f"{type(e).__name__}: {e}")
            finally:
                progress.remove_listener(self._on_progress)
                calls = self.ctx.calls.frame(mark)
                self.calls.value = (f"<details><summary>{len(calls)} API calls</summary>{_table(calls)}</details>")
                for b in self.buttons:
                    b.disabled = False
                refresh_navigators()
        return run


def step_panel(ctx: Context, actions: tuple[str, ...] = ("plan", "apply", "verify")) -> StepPanel | None:
    """The buttons of the notebook's own step (ctx.step)."""
    if not ctx.p.interactive:
        return None
    return StepPanel(ctx, actions)


def step_status(ctx: Context, p: Params) -> pd.DataFrame:
    """Which steps are done, from what exists in the account (tags), not from a file: the tagging API
    covers the kinds each step creates first (VPC, RDS, ALB, log groups, alarms ...); what cannot
    carry a tag (the developers' IAM group) is in the stack's ledger."""
    from . import engine, steps
    counts: dict[str, int] = {}
    pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
        TagFilters=[{"Key": "workbook:stack", "Values": [p.stack_name]}])
    for page in pages:
        for r in page["ResourceTagMappingList"]:
            step = next((t["Value"] for t in r["Tags"] if t["Key"] == "workbook:step"), "")
            counts[step] = counts.get(step, 0) + 1
    for entries in engine.ledger(ctx, p.stack_name).values():
        for entry in entries.values():
            counts[entry.get("step", "")] = counts.get(entry.get("step", ""), 0) + 1
    rows = [{"step": s.id, "title": s.short or s.title, "resources": counts.get(s.id, 0),
             "done": counts.get(s.id, 0) > 0 if s.kinds and s.id != "09_teardown" else None}
            for s in steps.ordered()]
    return pd.DataFrame(rows)


_navigators: list[tuple[W.HTML, Context, Params, str]] = []


def _navigator_html(ctx: Context, p: Params, current: str) -> str:
    df = step_status(ctx, p)
    cells = []
    for r in df.itertuples():
        mark = "✔" if r.done else ("·" if r.done is None else "○")
        style = "font-weight:bold;text-decoration:underline" if r.step == current else ""
        cells.append(f"<span style='margin-right:14px;{style}' title='{r.resources} resources tagged {r.step}'>"
                     f"{mark} <a href='{r.step}.ipynb'>{html.escape(r.step[:2])} {html.escape(r.title)}</a></span>")
    return (f"<div class='wb-nav' style='padding:6px;border:1px solid #ddd;border-radius:4px'>"
            f"<b>Stack {html.escape(p.stack_name)}</b> · {''.join(cells)}</div>")


def navigator(ctx: Context, p: Params, current: str) -> W.HTML | None:
    if not p.interactive:
        return None
    w = W.HTML(_navigator_html(ctx, p, current))
    _navigators.append((w, ctx, p, current))
    display(w)
    return w


def refresh_navigators() -> None:
    """After a button changed the account, the step bar shows it (it reads the tags again)."""
    for w, ctx, p, current in _navigators:
        w.value = _navigator_html(ctx, p, current)
