"""The workshop's widgets: the parameter form (ui_form.py), the step panel, the step bar, "you are here".

Built only when interactive; every button calls the same step functions the headless path calls.
Cells that show these widgets are tagged `widget` and left out of the report. What a button produced
(the plan with its cost, what changed, the diagram drawn, the findings) is written as plain output
under the panel, so it is still there after a kernel restart or when the notebook is reopened.
"""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import ipywidgets as W
import pandas as pd
from IPython.display import HTML, display

from . import lock, outputs, progress, tables, workshop
from .connect import Context
from .params import Params
from .ui_form import SECTIONS, ParameterForm, parameter_form  # noqa: F401  (the form is part of ui)
from .workshop import step_status  # noqa: F401  (the step bar's data, read by the workshop's bar)


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, border=0, classes="wb-table", escape=True)


class StepPanel:
    """Plan / Apply / Verify (/ Destroy) for one step (from the step registry), with progress and API
    calls; what an action produced is drawn under the buttons (plan with its cost, what changed and the
    diagram after Apply, the findings after Verify)."""

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
        self.result_html = ""          # the last action's result, as written under the panel
        self._result: Any = None        # its display (plain output, kept by a saved notebook)

    def _ipython_display_(self) -> None:
        workshop.show_widget(self.widget)
        self._result = display(HTML(self.result_html), display_id=True)

    def _on_progress(self, what: str, attempt: int, total: int, elapsed: float) -> None:
        self.bar.max = total
        self.bar.value = attempt
        self.bar.description = f"waiting for {what}: {elapsed:.0f} s"

    def _show_result(self, action: str, result: Any, ctx: Context) -> None:
        parts = [f"<h4 style='margin:6px 0 2px 0'>{html.escape(RESULT_TITLES.get(action, action))}</h4>"]
        if isinstance(result, pd.DataFrame):
            parts.append(tables.to_html(result))
        if action in ("apply", "destroy"):
            png = self._draw(ctx)
            if png is not None:
                parts.append(f"<img alt='diagram after {action}' style='max-width:min(100%,760px)' "
                             f"src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>")
        if action == "apply" and "verify" in [b.description.lower() for b in self.buttons]:
            parts.append("<p style='font-size:13px'>Next: press <b>Verify</b> to check what was built.</p>")
        self.result_html = f"<div class='tex2jax_ignore mathjax_ignore'>{''.join(parts)}</div>"   # "$" is money, not maths
        if self._result is not None:
            self._result.update(HTML(self.result_html))

    def _draw(self, ctx: Context) -> Path | None:
        """The step's diagram as its notebook's last cell draws it (None when drawing fails: the rest stands)."""
        from . import architecture, inventory
        try:
            if self.step.id == "00_setup":
                from .steps import dev
                return architecture.draw_before(dev.discover(ctx), "diagrams/00_setup.png")
            return architecture.draw_stack(inventory.Inventory(ctx, ctx.p.stack_name),
                                           f"diagrams/{self.step.id}.png", f"After {self.step.id[:2]}")
        except Exception as e:  # a diagram is a picture of the result, not the result
            with self.output:
                print(f"(no diagram: {type(e).__name__}: {e})")
            return None

    def _runner(self, action: str) -> Callable[[Any], None]:
        def run(_b: Any) -> None:
            for b in self.buttons:
                b.disabled = True
            self.ctx = workshop.current(self.ctx)   # a form saved since: act on the stack it names
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
                    self._show_result(action, result, self.ctx)
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


RESULT_TITLES = {"plan": "Plan: what Apply would do (nothing was created)", "apply": "What changed",
                 "verify": "Findings", "destroy": "What was removed"}


def step_panel(ctx: Context, actions: tuple[str, ...] = ("plan", "apply", "verify")) -> StepPanel | None:
    """The buttons of the notebook's own step (ctx.step)."""
    if not ctx.p.interactive:
        return None
    return StepPanel(ctx, actions)


def navigator(ctx: Context, p: Params, current: str) -> str | None:
    """The step bar's HTML (nb.start shows it in the workshop; None headless)."""
    if not p.interactive:
        return None
    return workshop.navigator_html(ctx.replace(stack_name=p.stack_name) if ctx.p.stack_name != p.stack_name
                                   else ctx, current)


def refresh_navigators() -> None:
    """After a button changed the account, the step bar shows it (it reads the tags again)."""
    workshop.refresh()


def you_are_here(ns: Context | Params | Mapping[str, Any], step: str) -> None:
    """The target architecture with this step's part framed (workshop only; no AWS call)."""
    from .architecture_target import draw_target
    p = ns.p if isinstance(ns, Context) else ns if isinstance(ns, Params) else None
    if p is None:
        if not ns.get("interactive"):
            return None
        from .ui_form import initial_values
        values = initial_values(ns)
        values["stack_name"] = values["stack_name"] or "demo"
        try:
            p = Params.from_mapping(values)
        except Exception:
            p = Params()
    if not p.interactive and isinstance(ns, (Context, Params)):
        return None
    png = draw_target(p, outputs.build_dir() / "workshop" / "diagrams" /
                      f"target-{step}.png", current=step)
    data = base64.b64encode(png.read_bytes()).decode()
    display(HTML(f"<img alt='target architecture, step {html.escape(step[:2])}' style='max-width:600px;width:100%' "
                 f"src='data:image/png;base64,{data}'>"))
    return None


def glossary() -> None:
    """The short glossary and the control ids, collapsed (workshop and report alike)."""
    from . import glossary as g
    display(HTML(f"<details><summary><b>Glossary</b>: NAT, IGW, security group, IMDSv2 ...</summary>"
                 f"{g.html_terms()}</details>"
                 f"<details><summary><b>Control ids</b> (EC2.2, RDS.5, ARTICLE.* ...): what each one checks"
                 f"</summary>{tables.to_html(g.controls())}</details>"))
