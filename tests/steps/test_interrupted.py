"""A run killed in the middle of any step, run again, ends where an uninterrupted run ends.

Two stacks are built step by step on moto: "clean" straight through; "kill" with each step's apply
killed at its third write call (the process dies mid-step, as a kernel does), then applied again.
After every step both stacks must hold the same resources, named alike.
"""
from __future__ import annotations

from collections import Counter

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import inventory
from workbook.connect import MUTATING
from workbook.steps import access, compute, database, edge, network, observability

STEPS = [("02_network", network), ("03_database", database), ("04_compute", compute), ("05_edge", edge),
         ("06_observability", observability), ("07_access", access)]
KILL_AT = 3  # the third write call of the step


class Killed(Exception):
    pass


def killing_ctx(stack: str, kill_at: int):
    """A Context whose clients raise Killed before their kill_at-th write call, across services."""
    ctx = make_ctx(stack_name=stack, domain_name=f"api.{stack}.example", alarm_email="ops@example.com")
    writes = {"n": 0}

    def before_call(model, **_):
        if model.name.startswith(MUTATING):
            writes["n"] += 1
            if writes["n"] == kill_at:
                raise Killed(f"killed before {model.name}")

    make = ctx.client

    def client(service: str):
        fresh = service not in ctx._clients
        c = make(service)
        if fresh:
            c.meta.events.register("before-call", before_call)
        return c
    ctx.client = client  # type: ignore[method-assign]
    return ctx


def resources(stack: str) -> Counter:
    """Every frame's resource names with the stack's name taken out, counted."""
    ctx = make_ctx(stack_name=stack)
    inv = inventory.Inventory(ctx, stack)
    out: Counter = Counter()
    for frame in sorted(inventory.FETCHERS):
        df = inv.frame(frame)
        for name in df["name"] if "name" in df.columns else []:
            out[(frame, str(name).replace(stack, "STACK"))] += 1
    return out


def inventory_step(frame: str, step: str) -> bool:
    """True when the clean stack's frame holds something the step made."""
    df = inventory.Inventory(make_ctx(stack_name="clean"), "clean").frame(frame)
    return "step" in df.columns and (df["step"] == step).any()


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        yield


def test_each_step_killed_midway_then_rerun_matches_an_uninterrupted_run(aws):
    for step, module in STEPS:
        clean = make_ctx(stack_name="clean", domain_name="api.clean.example", alarm_email="ops@example.com")
        module.apply(clean, clean.params)
        killed = killing_ctx("kill", KILL_AT)
        with pytest.raises(Killed):
            module.apply(killed, killed.params)
        again = make_ctx(stack_name="kill", domain_name="api.kill.example", alarm_email="ops@example.com")
        module.apply(again, again.params)
        want, got = resources("clean"), resources("kill")
        assert any(frame for frame, _ in want if inventory_step(frame, step))  # the step made something
        assert got == want, (step, {k: (want[k], got[k]) for k in set(want) | set(got) if want[k] != got[k]})
