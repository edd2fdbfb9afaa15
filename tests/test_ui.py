"""The workshop widgets, driven as an attendee would, without a browser."""
from __future__ import annotations

from workbook import tagging, ui
from workbook.params import Params


def test_form_flags_an_invalid_value_with_the_headless_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))
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


def test_step_status_comes_from_tags(ctx):
    p = ctx.params
    assert not ui.step_status(ctx, p).set_index("step").loc["02_network", "done"]
    ctx.client("ec2").create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", p, "02_network", "demo-vpc"))
    df = ui.step_status(ctx, p).set_index("step")
    assert df.loc["02_network", "done"] and df.loc["02_network", "resources"] == 1
    assert not df.loc["03_database", "done"]


def test_nothing_is_built_headless(ctx):
    assert ui.parameter_form(Params()) is None
    assert ui.navigator(ctx, Params(), "02_network") is None


def test_apply_in_a_panel_refreshes_the_step_bar(ctx, monkeypatch):
    ctx.step = "02_network"   # what nb.start sets: the panel acts for the notebook's own step
    monkeypatch.setattr(ui, "display", lambda *a, **k: None)  # no frontend in a test
    p = Params(interactive=True)
    nav = ui.navigator(ctx, p, "02_network")
    assert "○ <a href='02_network.ipynb'>" in nav.value
    panel = ui.StepPanel(ctx.replace(interactive=True), actions=("apply",))
    panel.buttons[0].click()
    assert "apply done" in panel.bar.description and panel.bar.bar_style == "success"
    assert "✔ <a href='02_network.ipynb'>" in nav.value
    ui._navigators.clear()
