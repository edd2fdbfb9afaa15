"""A plan says what it costs a month: every row priced, new and already running, with one total."""
from __future__ import annotations

import pytest

from steps.test_database import make_network
from workbook import tables
from workbook.steps import database as db
from workbook.steps import network


def test_database_plan_shows_the_multi_az_rds_monthly_cost(ctx):
    make_network(ctx)
    plan = db.plan(ctx)
    row = plan[plan.type == "db_instance"].iloc[0]
    # db.t4g.micro PostgreSQL Multi-AZ: $0.032/h x 730 h, plus 20 GB gp3 at $0.115, doubled for the standby
    assert row.usd_month == pytest.approx(0.032 * 730 + 20 * 0.115 * 2, abs=0.01)
    assert "Multi-AZ" in row.cost_note
    assert plan.attrs["usd_month_total"] == pytest.approx(row.usd_month, abs=0.01)
    assert "a month" in tables.to_html(plan)          # the total is shown above the table


def test_network_plan_prices_what_already_runs(ctx):
    network.apply(ctx)
    plan = network.plan(ctx)
    assert set(plan.action) <= {"exists", "available"}
    nat = plan[plan.type == "nat_gateway"]
    assert nat.usd_month.iloc[0] == pytest.approx(32.85 + 3.65)   # an existing NAT is not $0.0: hours + its address
    assert "1 public IPv4" in nat.cost_note.iloc[0]
    assert plan.attrs["usd_month_new"] == 0
    assert plan.attrs["usd_month_running"] == pytest.approx(36.5)
    line = tables.plan_line(plan)
    assert "$36.50 a month" in line and "$0.00 new" in line


def test_network_plan_has_a_total_before_anything_exists(ctx):
    plan = network.plan(ctx)
    assert plan.attrs["usd_month_total"] == pytest.approx(36.5)
    assert plan.attrs["usd_month_new"] == pytest.approx(36.5)
    assert "0 already there" in tables.plan_line(plan)
