"""Observability frames: contract columns, stack filter, masked e-mail."""
from __future__ import annotations

from edge_obs_fixtures import build_stack

from conftest import make_ctx
from workbook import inventory, names
from workbook.inventory import BASE_COLUMNS
from workbook.inventory.observability import COLUMNS
from workbook.steps import observability as obs


def test_frames_after_06(ctx):
    c = make_ctx(alarm_email="ops@example.com")
    build_stack(c, c.params)
    obs.apply(c)
    c.client("logs").create_log_group(logGroupName="/untagged/forever")
    inv = inventory.Inventory(c, "demo")
    for name, cols in COLUMNS.items():
        assert list(inv.frame(name).columns) == BASE_COLUMNS + cols
    logs = inv.log_groups.set_index("id")
    assert set(logs.index) == {names.app_log_group(c.params), names.system_log_group(c.params)}
    assert (logs.retention_days == 30).all()
    every = inventory.Inventory(c, None).log_groups.set_index("id")
    assert every.loc["/untagged/forever", "retention_days"] == 0  # never expires
    alarms = inv.alarms.set_index("id")
    a = alarms.loc[names.alarm(c.params, "db-cpu")]
    assert (a.namespace, a.metric, a.state) == ("AWS/RDS", "CPUUtilization", "OK")
    assert a.actions == [inv.topics.iloc[0].id] and a.dimensions == {"DBInstanceIdentifier": "demo-db"}
    topic = inv.topics.iloc[0]
    assert topic.subscriptions == ["o***@example.com"] and topic.protocols == ["email"]
    dash = inv.dashboards.iloc[0]
    assert dash.id == names.dashboard(c.params) and dash.widgets > 1 and "AWS/RDS/CPUUtilization" in dash.metrics
    other = inventory.Inventory(c, "other")
    assert other.alarms.empty and other.topics.empty and other.dashboards.empty and other.log_groups.empty
