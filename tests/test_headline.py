"""The report's first screen as the notebooks compute it: what was built, availability under the fault."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from fake_inventory import production_stack
from workbook import headline
from workbook.params import Params


def test_availability_says_what_it_was_measured_under():
    def run(fault, availability, errors):
        return SimpleNamespace(fault=fault, rate=40, seconds=10.0, summary=lambda: {
            "availability": availability, "error_rate": errors, "ok_in_last_second": 1.0})
    out = headline.availability(run("stop_dev", 0.3, 0.6675), run("kill_app_instance", 0.8, 0.05), Params())
    assert out["availability after (%)"] == 80.0 and out["availability before (%)"] == 30.0
    assert out["error rate before (%)"] == 66.75
    assert "one of the 2 app servers was killed" in out["measured"] and "the dev host was stopped" in out["measured"]


def test_built_names_each_part_of_the_stack():
    inv = production_stack()
    rows = {r["part"]: r["what"] for r in headline.built(inv, Params(stack_name="demo"))}
    assert {"Network", "App servers", "Database"} <= set(rows)
    assert "Multi-AZ" in rows["Database"] and "PostgreSQL" in rows["Database"]


def test_built_leaves_out_what_an_inventory_cannot_show():
    class Empty:
        def has(self, name): return False
        def frame(self, name): return pd.DataFrame()
    assert headline.built(Empty(), Params()) == []
