"""The workshop widgets and flow, driven as an attendee would, without a browser."""
from __future__ import annotations

import re

import pytest

from workbook import nb, tables, tagging, ui, workshop
from workbook.params import Params, saved_path


@pytest.fixture
def state(tmp_path, monkeypatch):
    """A private state folder (the saved form lives there) and no workshop session left behind."""
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(workshop, "_install_hooks", lambda: None)   # no IPython kernel in a test
    yield tmp_path
    workshop._session = None
    from workbook.sandbox import server
    server.stop()   # saving the form may have started this folder's sandbox: no moto server outlives its test


def fake_connect(ctx):
    """connect() as nb.start calls it, onto the test's in-process moto."""
    def connect(p, step=""):
        c = ctx.replace(**p.to_dict())
        c.step = step
        return c
    return connect


def saved_form(**values) -> Params:
    p = Params(**{"stack_name": "ws1", **values, "interactive": True})
    p.save()
    return p


# ---- the form ----------------------------------------------------------------------------------------
def test_form_flags_an_invalid_value_with_the_headless_message(state):
    form = ui.ParameterForm(Params(interactive=True))
    form.inputs["vpc_cidr"].value = "172.31.0.0/16"
    assert "overlaps the dev VPC" in form.errors["vpc_cidr"].value
    assert form.save_button.disabled
    form.inputs["vpc_cidr"].value = "10.30.0.0/16"
    form.inputs["stack_name"].value = "workshop"
    assert not form.save_button.disabled
    form.save_button.click()
    assert "saved" in form.status.value
    # another notebook in the workshop picks the saved values up
    assert Params.from_namespace({"interactive": True}).stack_name == "workshop"


def test_form_covers_every_parameter_but_interactive():
    form = ui.ParameterForm(Params(interactive=True))
    assert set(form.inputs) == set(Params.names()) - {"interactive"}


def test_numbers_are_checked_as_they_are_typed():
    form = ui.ParameterForm(Params(interactive=True))
    numbers = [n for n, w in form.inputs.items() if type(w).__name__ == "IntText"]
    assert numbers and all(form.inputs[n].continuous_update for n in numbers)
    assert all(w.continuous_update for w in form.inputs.values() if type(w).__name__ == "Text")


def test_a_cross_field_error_shows_under_every_field_it_names_and_the_footer_names_them():
    form = ui.ParameterForm(Params(interactive=True))
    form.inputs["min_capacity"].value = 5          # above desired (2) and max (4)
    assert "min_capacity" in form.errors["min_capacity"].value
    assert "desired_capacity" in form.errors["desired_capacity"].value   # the message names it: shown there too
    footer = re.sub("<[^>]+>", "", form.status.value)
    assert "invalid" in footer and "min_capacity" in footer


def test_az_count_advice_does_not_lead_to_another_error():
    form = ui.ParameterForm(Params(interactive=True))
    form.inputs["az_count"].value = 1
    first = re.sub("<[^>]+>", "", form.errors["az_count"].value)
    assert "at least 2 availability zones" in first and "multi_az" not in first
    form.inputs["multi_az"].value = False            # what the old advice said to do
    assert re.sub("<[^>]+>", "", form.errors["az_count"].value) == first   # the same one message, no new one
    form.inputs["az_count"].value = 2
    assert form.errors["az_count"].value == "" and not form.save_button.disabled


def test_a_new_attendee_names_a_stack_first(state):
    """From a notebook's globals before anything was saved: no stack name, Save off, the field says why."""
    form = ui.parameter_form({"stack_name": "demo", "interactive": True})
    assert form.inputs["stack_name"].value == ""
    assert form.save_button.disabled and "name your stack" in form.errors["stack_name"].value
    form.inputs["stack_name"].value = "ws-ada"
    form.save_button.click()
    assert saved_path().exists() and Params.from_namespace({"interactive": True}).stack_name == "ws-ada"


def test_save_says_whether_the_stack_is_new_or_already_built(ctx, state, monkeypatch):
    import workbook.connect as connect_mod
    monkeypatch.setattr(connect_mod, "connect", lambda p, step="": ctx)
    form = ui.ParameterForm(Params(interactive=True, stack_name="fresh"))
    form.save()
    assert "new, nothing of it exists yet" in form.status.value
    ctx.client("ec2").create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", ctx.p, "02_network", "demo-vpc"))
    form.inputs["stack_name"].value = "demo"
    form.save()
    assert "already holds 1 resources (steps 02)" in form.status.value


def test_nothing_is_built_headless(ctx):
    assert ui.parameter_form(Params()) is None
    assert ui.parameter_form({"interactive": False}) is None
    assert ui.navigator(ctx, Params(), "02_network") is None
    assert ui.step_panel(ctx) is None


# ---- which stack a notebook acts on ----------------------------------------------------------------------
def test_the_workshop_stops_in_one_line_until_the_form_is_saved(state):
    with pytest.raises(workshop.FormFirst) as e:
        nb.start({"stack_name": "demo", "interactive": True}, "00_setup")
    lines = e.value._render_traceback_()
    assert len(lines) == 1 and "fill in the form above" in lines[0] and "Save parameters" in lines[0]
    with pytest.raises(workshop.FormFirst, match="open 00_setup.ipynb"):
        nb.start({"stack_name": "demo", "interactive": True}, "02_network")


def test_headless_runs_need_no_form(ctx, state, monkeypatch):
    monkeypatch.setattr(nb, "connect", fake_connect(ctx))
    p, _ = nb.start({"stack_name": "demo", "interactive": False}, "02_network")
    assert p.stack_name == "demo"


def test_the_saved_form_wins_and_a_differing_parameters_cell_is_said(ctx, state, monkeypatch, capsys):
    saved_form()
    monkeypatch.setattr(nb, "connect", fake_connect(ctx))
    ns = {"stack_name": "demo", "az_count": 3, "interactive": True}
    p, c = nb.start(ns, "02_network")
    assert p.stack_name == "ws1" and c.p.stack_name == "ws1" and p.az_count == 2
    out = capsys.readouterr().out
    assert "values from the form" in out and "az_count=3" in out and "the form's values are used" in out


def test_a_form_saved_again_is_read_by_the_next_cell_not_rerun(ctx, state, monkeypatch, capsys):
    saved_form()
    monkeypatch.setattr(nb, "connect", fake_connect(ctx))
    ns = {"stack_name": "demo", "interactive": True}
    ns["p"], ns["ctx"] = nb.start(ns, "02_network")
    saved_form(stack_name="ws2")                    # Save pressed again in 00's form: nothing runs ...
    assert ns["p"].stack_name == "ws1"
    workshop._before_cell(type("Info", (), {"raw_cell": "network.ensure_vpc(ctx)"})())   # ... the next cell
    assert ns["p"].stack_name == "ws2" and ns["ctx"].p.stack_name == "ws2"
    assert "now acts on stack 'ws2'" in capsys.readouterr().out


# ---- the step panel --------------------------------------------------------------------------------------
def test_apply_in_a_panel_draws_what_changed_and_refreshes_the_step_bar(ctx, state, monkeypatch, tmp_path):
    monkeypatch.setattr(ui, "display", lambda *a, **k: None)          # no frontend in a test
    monkeypatch.setattr(workshop, "display", lambda *a, **k: type("H", (), {"update": lambda s, x: None})())
    monkeypatch.chdir(tmp_path)
    saved_form(stack_name="demo")
    ctx.step = "02_network"   # what nb.start sets: the panel acts for the notebook's own step
    c = ctx.replace(interactive=True)
    workshop.attach({}, "02_network", c.p, c)
    assert "○&nbsp;<a href='02_network.ipynb'>" in workshop.navigator_html(c, "02_network")
    panel = ui.StepPanel(c, actions=("plan", "apply"))
    panel.buttons[0].click()
    assert "a month" in panel.result_html and "to create" in panel.result_html      # the plan's total
    panel.buttons[1].click()
    assert "apply done" in panel.bar.description and panel.bar.bar_style == "success"
    assert "What changed" in panel.result_html and "demo-vpc" in panel.result_html
    assert "<img" in panel.result_html and "data:image/png;base64," in panel.result_html   # the diagram, drawn
    assert "✔&nbsp;<a href='02_network.ipynb'>" in workshop.navigator_html(c, "02_network")


def test_a_panel_acts_on_the_stack_the_form_names_now(ctx, state, monkeypatch):
    monkeypatch.setattr(ui, "display", lambda *a, **k: None)
    monkeypatch.setattr(workshop, "display", lambda *a, **k: type("H", (), {"update": lambda s, x: None})())
    saved_form(stack_name="ws1")
    monkeypatch.setattr(nb, "connect", fake_connect(ctx))
    ns = {"interactive": True}
    ns["p"], ns["ctx"] = nb.start(ns, "02_network")
    panel = ui.StepPanel(ns["ctx"], actions=("plan",))
    saved_form(stack_name="ws2")
    panel.buttons[0].click()
    assert panel.ctx.p.stack_name == "ws2" and "ws2-vpc" in panel.result_html


# ---- the step bar ---------------------------------------------------------------------------------------
def test_step_status_comes_from_tags(ctx, state):
    p = ctx.params
    assert not ui.step_status(ctx, p).set_index("step").loc["02_network", "done"]
    ctx.client("ec2").create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", p, "02_network", "demo-vpc"))
    df = ui.step_status(ctx, p).set_index("step")
    assert df.loc["02_network", "done"] and df.loc["02_network", "resources"] == 1
    assert not df.loc["03_database", "done"]


def test_01_ticks_once_the_assessment_ran(ctx, state):
    import pandas as pd
    assert not ui.step_status(ctx, ctx.p).set_index("step").loc["01_assess", "done"]
    workshop.record_assessment(ctx, pd.DataFrame({"id": ["EC2.2"], "status": ["FAIL"]}))
    assert ui.step_status(ctx, ctx.p).set_index("step").loc["01_assess", "done"]
    assert not ui.step_status(ctx, ctx.p.replace(stack_name="other")).set_index("step").loc["01_assess", "done"]
    bar = workshop.navigator_html(ctx, "01_assess")
    assert "✔&nbsp;<a href='01_assess.ipynb'>" in bar and "assessed 20" in bar


def test_the_step_bar_has_a_legend_and_does_not_wrap(ctx, state):
    bar = workshop.navigator_html(ctx, "02_network")
    assert "white-space:nowrap" in bar
    legend = re.sub("<[^>]+>", "", bar.split("margin-top:2px'>", 1)[1])
    assert "✔ done" in legend and "○ not yet" in legend and "nothing to build" in legend


# ---- what an attendee reads -------------------------------------------------------------------------------
def test_sandbox_notes_go_into_one_collapsed_line(ctx, state, capsys, monkeypatch):
    updates = []
    monkeypatch.setattr(workshop, "display", lambda *a, **k: type("H", (), {
        "update": lambda s, x: updates.append(x.data)})())
    workshop.attach({}, "02_network", ctx.p.replace(interactive=True), ctx)
    ctx.say("moto ignores tag filters on DescribeNatGateways; the sandbox filters")
    ctx.say("another gap")
    ctx.say("another gap")
    out = capsys.readouterr().out
    assert "[sandbox]" not in out
    assert updates[-1].startswith("<details") and "2 sandbox notes" in updates[-1]


def test_findings_tables_count_explain_their_ids_and_cut_nothing():
    import pandas as pd
    long = "Restrict the security group to the load balancer's group; " * 4
    df = pd.DataFrame({"id": ["EC2.2", "EC2.19", "RDS.5"], "severity": ["high", "critical", "medium"],
                       "resource": ["sg-1", "sg-2", "db-1"], "status": ["PASS", "FAIL", "NOT_EMULATED"],
                       "detail": ["", long, ""]})
    page = tables.to_html(df)
    assert "1 pass / 1 fail (1 not emulated)" in page
    assert long.strip() in page.replace("&#x27;", "'") and "..." not in page
    assert "<th>checks</th>" in page            # each id with what it checks beside it
    assert "max-width:38em" in page and "white-space:nowrap" in page


def test_glossary_names_the_terms_and_every_control_id():
    from workbook import checks, glossary
    assert {"NAT gateway", "IGW (internet gateway)", "security group", "IMDSv2"} <= set(glossary.TERMS)
    checks.load_all()
    assert set(glossary.controls().id) == {c.id for c in checks.REGISTRY.values()}
    assert glossary.title("EC2.2")


def test_an_unnamed_stack_does_not_hide_the_other_errors(state):
    form = ui.parameter_form({"interactive": True})
    form.inputs["az_count"].value = 1
    assert "name your stack" in form.errors["stack_name"].value
    assert "at least 2 availability zones" in form.errors["az_count"].value
    assert "stack_name, az_count" in re.sub("<[^>]+>", "", form.status.value)


def test_the_step_bar_is_fresh_after_a_cell_that_changed_something(ctx, state, monkeypatch):
    shown = []
    monkeypatch.setattr(workshop, "display", lambda obj, **k: type("H", (), {
        "update": lambda s, x: shown.append(x.data)})())
    workshop.attach({}, "02_network", ctx.p.replace(interactive=True), ctx)
    shown.clear()
    workshop._after_cell()                       # a cell that read only: the bar is not read again
    assert shown == []
    ctx.client("ec2").create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", ctx.p, "02_network", "demo-vpc"))
    workshop._after_cell()                       # a cell that created something: the bar follows
    assert shown and "✔&nbsp;<a href='02_network.ipynb'>" in shown[-1]
