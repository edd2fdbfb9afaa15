"""The report's first screen as the notebooks compute it: what was built, availability under the fault."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from fake_inventory import FakeContext, production_stack
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


def _built(inv, **params) -> dict[str, str]:
    return {r["part"]: r["what"] for r in headline.built(inv, Params(stack_name="demo", **params))}


def test_built_counts_only_confirmed_subscribers():
    inv = production_stack()
    inv.frames["topics"] = pd.DataFrame([{"id": "arn:sns", "name": "demo-alarms", "stack": "demo", "step": "", "tags": {},
                                          "subscriptions": ["o***@example.com"], "protocols": ["email"],
                                          "confirmed": [False]}])
    monitoring = _built(inv)["Monitoring"]
    assert "1 subscriber" not in monitoring and "0 confirmed subscribers" in monitoring
    assert "1 awaiting confirmation" in monitoring


def test_built_says_what_the_inventory_shows_of_database_servers_and_logs():
    inv = production_stack()
    inv.frames["db_instances"].loc[:, "publicly_accessible"] = True
    inv.frames["instances"].loc[0, "public_ip"] = "3.4.5.6"
    inv.frames["log_groups"].loc[:, "retention_days"] = 14
    rows = _built(inv, log_retention_days=30)
    assert "private" not in rows["Database"] and "publicly accessible" in rows["Database"]
    assert "no public address" not in rows["App servers"] and "1 with a public address" in rows["App servers"]
    assert "logs kept 14 days" in rows["Monitoring"]
    fine = _built(production_stack())
    assert fine["Database"].endswith("private") and "no public address" in fine["App servers"]
    assert "1 confirmed subscriber" in fine["Monitoring"] and "no mail is sent" in fine["Monitoring"]   # sandbox
    on_aws = production_stack()
    on_aws.ctx = FakeContext("aws")
    assert "sandbox" not in _built(on_aws)["Monitoring"]
