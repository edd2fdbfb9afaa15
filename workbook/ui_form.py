"""The workshop's parameter form: every parameter with its help, checked as you type with the rules and
messages of a headless run, an error shown under every field it names, a footer naming the bad fields,
and a save that says whether the named stack is new or already holds resources.
"""
from __future__ import annotations

import html
import re
from typing import Any, Literal, Mapping, get_args, get_type_hints

import ipywidgets as W
import yaml

from .params import ParameterError, Params, help_text, saved_path

# Form sections, in the order a newcomer meets them.
SECTIONS = {
    "Where": ["stack_name", "target", "region", "aws_profile", "aws_account_id"],
    "Network": ["az_count", "vpc_cidr", "dev_vpc_cidr", "nat_per_az"],
    "Compute": ["instance_type", "app_port", "health_check_path", "min_capacity", "desired_capacity", "max_capacity"],
    "Database": ["db_engine", "db_engine_version", "db_instance_class", "db_allocated_storage", "multi_az",
                 "backup_retention_days"],
    "Edge and alarms": ["domain_name", "hosted_zone_id", "entry", "alarm_email", "log_retention_days"],
    "Dev environment": ["demo_dev_host", "dev_instance_id", "dev_tag", "dev_instance_type", "dev_db_engine",
                        "dev_db_name", "dev_attach_profile", "dev_fault_stop", "dev_elastic_ip", "dev_split_security_groups"],
    "Evidence and teardown": ["probe_rate", "probe_seconds", "fault", "sample_rows", "keep_final_snapshot",
                              "teardown_dev", "dry_run"],
}
NAME_HINT = ("name your stack: 2-20 lowercase letters, digits and single hyphens, e.g. ws-ada; a new name starts "
             "a clean stack (every resource carries it)")
ERROR = "<span style='color:#b00020;margin-left:198px'>⚠ {}</span>"


def _sections() -> dict[str, list[str]]:
    """SECTIONS, plus any parameter no section lists (a new one still gets a field)."""
    listed = {n for names in SECTIONS.values() for n in names}
    rest = [n for n in Params.names() if n not in listed and n != "interactive"]
    return {**SECTIONS, **({"Other": rest} if rest else {})}


def _field_widget(name: str, hint: Any, value: Any) -> W.Widget:
    style = {"description_width": "190px"}
    layout = W.Layout(width="460px")
    if getattr(hint, "__origin__", None) is Literal:
        return W.Dropdown(options=list(get_args(hint)), value=value, description=name, style=style, layout=layout)
    if hint is bool:
        return W.Checkbox(value=bool(value), description=name, style=style, indent=True)
    if hint is int:
        # continuous_update: the number is checked as it is typed, not when the field loses focus
        return W.IntText(value=value, description=name, style=style, layout=layout, continuous_update=True)
    return W.Text(value="" if value is None else str(value), description=name, style=style, layout=layout,
                  continuous_update=True)


def named_fields(message: str, names: list[str]) -> list[str]:
    """The parameters a message names (az_count, multi_az ...), as whole words."""
    return [n for n in names if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message)]


def _saved_values() -> dict[str, Any] | None:
    """The saved form as the form's fields hold it (None before the first save)."""
    if not saved_path().exists():
        return None
    saved = yaml.safe_load(saved_path().read_text()) or {}
    return {k: v for k, v in saved.items() if k in Params.names() and k != "interactive"}


def initial_values(ns: Mapping[str, Any] | Params) -> dict[str, Any]:
    """What the form starts from: the saved form when there is one, else the notebook's parameters cell
    with no stack name (each attendee names a stack of their own)."""
    if isinstance(ns, Params):
        return ns.to_dict()
    values = Params().to_dict()
    values.update({k: ns[k] for k in Params.names() if k in ns})
    if saved_path().exists():
        saved = yaml.safe_load(saved_path().read_text()) or {}
        values.update({k: v for k, v in saved.items() if k in values and k != "interactive"})
    else:
        values["stack_name"] = ""
    return values


class ParameterForm:
    """Each field with its help, validated as it is edited with the same rules as headless runs."""

    def __init__(self, p: Params | Mapping[str, Any]):
        values = initial_values(p)
        hints = get_type_hints(Params)
        helps = help_text()
        self.inputs: dict[str, W.Widget] = {}
        self.errors: dict[str, W.HTML] = {}
        sections = []
        for title, names in _sections().items():
            rows = []
            for name in names:
                w = _field_widget(name, hints[name], values[name])
                w.observe(lambda _c: self.validate(), names="value")
                self.inputs[name] = w
                self.errors[name] = W.HTML()
                rows.append(W.VBox([w, W.HTML(f"<small style='margin-left:198px;color:#555'>"
                                              f"{html.escape(helps[name])}</small>"), self.errors[name]]))
            sections.append(W.VBox(rows))
        self.tabs = W.Accordion(children=sections, titles=tuple(_sections()))
        self.tabs.selected_index = 0
        self.status = W.HTML()
        self.save_button = W.Button(description="Save parameters", button_style="primary", icon="save")
        self.save_button.on_click(lambda _b: self.save())
        self.widget = W.VBox([self.tabs, W.HBox([self.save_button, self.status])])
        self.params: Params | None = None
        self.saved = _saved_values() if not isinstance(p, Params) else None
        self.validate()

    def _ipython_display_(self) -> None:
        from . import workshop
        workshop.show_widget(self.widget)   # with the line that stands in for it after a restart

    def values(self) -> dict[str, Any]:
        return {k: w.value for k, w in self.inputs.items()}

    def validate(self) -> Params | None:
        for e in self.errors.values():
            e.value = ""
        values = {**self.values(), "interactive": True}
        unnamed = not str(values["stack_name"]).strip()
        problems: dict[str, str] = {"stack_name": NAME_HINT} if unnamed else {}
        try:
            # every other field is checked while the stack is still unnamed
            self.params = Params.from_mapping({**values, "stack_name": "unnamed"} if unnamed else values)
        except ParameterError as err:
            problems.update(err.problems)
        if problems:
            self.params = None
            self._show(problems)
            return None
        self.save_button.disabled = False
        if self.saved is not None and self.saved == self.values():
            self.status.value = (f"<span style='color:#1b5e20'>saved ✔ these are the values in use (stack "
                                 f"<b>{html.escape(self.params.stack_name)}</b>)</span>")
        else:
            self.status.value = "<span style='color:#1b5e20'>valid: press Save parameters to use these values</span>"
        return self.params

    def _show(self, problems: dict[str, str]) -> None:
        """Each message under its field and under every other field it names; the footer names them all."""
        names = list(self.inputs)
        shown: dict[str, list[str]] = {}
        for name, msg in problems.items():
            for field in [name] + [n for n in named_fields(msg, names) if n != name]:
                if field in self.errors:
                    prefix = "" if field == name else f"{name}: "
                    shown.setdefault(field, []).append(prefix + msg)
        for field, msgs in shown.items():
            self.errors[field].value = "<br>".join(ERROR.format(html.escape(m)) for m in msgs)
        bad = ", ".join(problems)
        also = [f for f in shown if f not in problems]
        self.status.value = (f"<span style='color:#b00020'>{len(problems)} invalid value"
                             f"{'s' if len(problems) != 1 else ''}: <b>{html.escape(bad)}</b>"
                             + (f" (see also {html.escape(', '.join(also))})" if also else "")
                             + " · fix to save</span>")
        self.save_button.disabled = True

    def save(self) -> None:
        p = self.validate()
        if p is None:
            return
        path = p.save()
        self.saved = self.values()
        self.status.value = (f"<span style='color:#1b5e20'>saved ✔ stack <b>{html.escape(p.stack_name)}</b>: "
                             f"{html.escape(stack_state(p))} Now run the cells below (Run &gt; Run All Cells); "
                             f"every notebook reads these values ({html.escape(path.name)}).</span>")


def stack_state(p: Params) -> str:
    """Whether the named stack is new or already holds resources, read from the account's tags."""
    try:
        from .connect import connect
        ctx = connect(p)
        pages = ctx.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate(
            TagFilters=[{"Key": "workbook:stack", "Values": [p.stack_name]}])
        steps: dict[str, int] = {}
        for page in pages:
            for r in page["ResourceTagMappingList"]:
                step = next((t["Value"] for t in r["Tags"] if t["Key"] == "workbook:step"), "?")
                steps[step] = steps.get(step, 0) + 1
    except Exception as e:   # the form still saves; the first notebook cell will say what is wrong
        return f"(could not look it up: {type(e).__name__}).".replace("..", ".")
    if not steps:
        return "new, nothing of it exists yet."
    return (f"already holds {sum(steps.values())} resources (steps {', '.join(s[:2] for s in sorted(steps))}): "
            "the notebooks continue it; a new name starts clean.")


def parameter_form(ns: Params | Mapping[str, Any]) -> ParameterForm | None:
    """The form (workshop only): from a notebook's globals() it starts from the saved form, or from the
    parameters cell with the stack name left for the attendee to choose."""
    interactive = ns.interactive if isinstance(ns, Params) else bool(ns.get("interactive"))
    return ParameterForm(ns) if interactive else None
