"""notebooks/06_observability.ipynb, headless against the sandbox: alarms, topic, dashboard, the drill."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from edge_obs_fixtures import build_stack
from workbook import engine, names, outputs
from workbook.connect import connect
from workbook.params import Params
from workbook.steps import observability as obs

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "06_observability.ipynb"
STACK = "obsnb"
EMAIL = "oncall@example.com"


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.outputs)


@pytest.fixture(scope="module")
def run(sandbox, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb06") / "06_observability.ipynb"
    p = Params(stack_name=STACK, alarm_email=EMAIL)
    ctx = connect(p)
    build_stack(ctx, p)  # what 02, 03 and 04 leave behind, made directly
    papermill.execute_notebook(str(NB), str(out), parameters={
        "stack_name": STACK, "alarm_email": EMAIL, "interactive": False},
        cwd=str(ROOT), execution_timeout=300, progress_bar=False)
    return {"ctx": ctx, "p": p, "nb": nbformat.read(str(out), as_version=4)}


def test_notebook_creates_alarms_topic_logs_and_dashboard(run):
    ctx, p = run["ctx"], run["p"]
    alarms = ctx.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{STACK}-alarm-")["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {names.alarm(p, s.what) for s in obs.alarm_specs(p)}
    topic = obs.find_topic(ctx)
    assert all(a["AlarmActions"] == [topic] for a in alarms)
    assert [s["Endpoint"] for s in obs.subscriptions(ctx, topic)] == [EMAIL]
    assert engine.find_one(ctx, "log_group", names.app_log_group(p)).raw["retentionInDays"] == p.log_retention_days
    ctx.client("cloudwatch").get_dashboard(DashboardName=names.dashboard(p))
    assert names.dashboard(p) in engine.ledger(ctx)["dashboard"]


def test_notebook_drill_follows_the_alarm_to_the_subscription_without_showing_the_address(run):
    nb = run["nb"]
    drill = outputs_of(nb, "drill")
    assert "ALARM" in drill and "subscription" in drill and "o***@example.com" in drill
    everything = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert "[sandbox] moto never notifies an alarm's actions" in everything
    assert "back to OK" in drill
    findings = outputs_of(nb, "findings")
    assert "CloudWatch.16" in findings and "ARTICLE.ALARMS" in findings and "NOT_EMULATED" in findings
    assert "FAIL" not in findings
    assert (outputs.home() / "diagrams" / "06_observability.png").stat().st_size > 0
