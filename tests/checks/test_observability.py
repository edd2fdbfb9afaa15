"""Checks of 06_observability over hand-made frames."""
from __future__ import annotations

import pandas as pd

from fake_inventory import FakeContext
from workbook import names
from workbook.alarms import alarm_specs
from workbook.checks import observability as c
from workbook.inventory import BASE_COLUMNS
from workbook.inventory.observability import COLUMNS
from workbook.params import Params

P = Params()
TOPIC = "arn:aws:sns:us-east-1:123456789012:demo-alarms"


class Inv:
    def __init__(self, target: str = "sandbox", **frames: list[dict]):
        self.ctx = FakeContext(target)
        self.frames = {k: pd.DataFrame(v, columns=BASE_COLUMNS + COLUMNS[k]) for k, v in frames.items()}

    def has(self, name: str) -> bool:
        return True

    def frame(self, name: str) -> pd.DataFrame:
        return self.frames.get(name, pd.DataFrame(columns=BASE_COLUMNS + COLUMNS[name]))


def all_alarms(**change):
    rows = []
    for s in alarm_specs(P):
        rows.append({"id": names.alarm(P, s.what), "name": names.alarm(P, s.what), "metric": s.metric,
                     "namespace": s.namespace, "state": "OK", "actions": [TOPIC], "actions_enabled": True,
                     "dimensions": {d: "x" for d in s.dimensions}, **change})
    return rows


def statuses(findings):
    return [f.status for f in findings]


def test_log_retention():
    inv = Inv(log_groups=[{"id": "/demo/app", "retention_days": 30}, {"id": "/demo/system", "retention_days": 0},
                          {"id": "/demo/x", "retention_days": 7}])
    assert statuses(c.log_retention(inv, P)) == ["PASS", "FAIL", "FAIL"]


def test_every_key_metric_needs_an_alarm_with_actions():
    assert set(statuses(c.key_metric_alarms(Inv(alarms=all_alarms()), P))) == {"PASS"}
    missing = all_alarms()[1:]
    assert statuses(c.key_metric_alarms(Inv(alarms=missing), P)).count("FAIL") == 1
    silent = all_alarms(actions=[])
    assert set(statuses(c.key_metric_alarms(Inv(alarms=silent), P))) == {"FAIL"}
    wrong_dims = all_alarms(dimensions={"InstanceId": "i-1"})
    assert set(statuses(c.key_metric_alarms(Inv(alarms=wrong_dims), P))) == {"FAIL"}


def test_disabled_actions_fail():
    assert set(statuses(c.alarm_actions_enabled(Inv(alarms=all_alarms(actions_enabled=False)), P))) == {"FAIL"}


def test_alarm_data_is_not_emulated_in_the_sandbox_and_checked_on_aws():
    assert set(statuses(c.alarms_have_data(Inv(alarms=all_alarms()), P))) == {"NOT_EMULATED"}
    rows = all_alarms()
    rows[0]["state"] = "INSUFFICIENT_DATA"
    assert statuses(c.alarms_have_data(Inv("aws", alarms=rows), P)).count("FAIL") == 1


def test_topic_needs_a_subscriber():
    topic = {"id": TOPIC, "name": "demo-alarms", "subscriptions": ["o***@example.com"], "protocols": ["email"],
             "confirmed": [True]}
    assert statuses(c.alarm_subscribers(Inv(topics=[topic]), P)) == ["PASS"]
    in_sandbox = c.alarm_subscribers(Inv(topics=[topic]), P)[0]
    on_aws = c.alarm_subscribers(Inv("aws", topics=[topic]), P)[0]
    assert "no mail is sent" in in_sandbox.detail and "sandbox" not in on_aws.detail and on_aws.status == "PASS"
    assert statuses(c.alarm_subscribers(Inv(topics=[{**topic, "subscriptions": [], "protocols": []}]), P)) == ["FAIL"]
    assert statuses(c.alarm_subscribers(Inv(topics=[]), P)) == ["FAIL"]


def test_a_subscription_nobody_confirmed_wakes_nobody():
    """On AWS an e-mail subscription delivers nothing until its recipient clicks the link in the confirmation
    mail (its ARN reads PendingConfirmation meanwhile): counting it as a subscriber told the user someone
    would be woken when nobody would."""
    topic = {"id": TOPIC, "name": "demo-alarms", "subscriptions": ["o***@example.com"], "protocols": ["email"],
             "confirmed": [False]}
    found = c.alarm_subscribers(Inv("aws", topics=[topic]), P)[0]
    assert found.status == "FAIL" and "confirm" in found.detail


def test_dashboard():
    dash = {"id": "demo-dashboard", "name": "demo-dashboard", "widgets": 9, "metrics": ["AWS/RDS/CPUUtilization"]}
    assert statuses(c.dashboard_exists(Inv(dashboards=[dash]), P)) == ["PASS"]
    assert statuses(c.dashboard_exists(Inv(dashboards=[]), P)) == ["FAIL"]
