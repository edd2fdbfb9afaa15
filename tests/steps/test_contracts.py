"""What every step promises, checked over the step registry (one test per step that creates resources):

- its declared permissions cover every API call its apply and destroy made;
- a second apply creates and changes nothing;
- destroy removes what it created, and a second destroy does nothing;
- a run killed in the middle of apply (the process dies at its third write call, as a kernel does),
  then applied again, ends with the same resources as an uninterrupted run.

Each step is exercised on moto in-process, on top of the steps before it, with the parameters that
make every optional part of it do something (a domain, an alarm address).
"""
from __future__ import annotations

from collections import Counter

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import iam_actions, inventory, steps
from workbook.connect import MUTATING

KILL_AT = 3
CHANGED = {"created", "updated", "deleted"}


def stack_params(stack: str) -> dict:
    return {"stack_name": stack, "domain_name": f"api.{stack}.example", "alarm_email": "ops@example.com"}


def building_steps() -> list[steps.Step]:
    return [s for s in steps.ordered() if s.kinds and s.fn("apply") and s.fn("destroy") and s.id != "09_teardown"]


class Killed(Exception):
    pass


def kill_at(ctx, n: int) -> None:
    writes = {"n": 0}

    def before_call(model, **_):
        if model.name.startswith(MUTATING):
            writes["n"] += 1
            if writes["n"] == n:
                raise Killed(f"killed before {model.name}")
    ctx.on_call(before_call)


def shape(stack: str) -> Counter:
    """Every inventory frame's resource names with the stack's name taken out, counted."""
    ctx = make_ctx(**stack_params(stack))
    inv = inventory.Inventory(ctx, stack)
    out: Counter = Counter()
    for frame in sorted(inventory.FETCHERS):
        df = inv.frame(frame)
        for name in df["name"] if "name" in df.columns else []:
            out[(frame, str(name).replace(stack, "STACK"))] += 1
    return out


def build_before(step: steps.Step, stack: str) -> None:
    for s in building_steps():
        if s.order >= step.order:
            break
        s.fn("apply")(make_ctx(**stack_params(stack)))


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        yield


@pytest.mark.parametrize("step", building_steps(), ids=lambda s: s.id)
def test_step_keeps_its_contracts(aws, step):
    apply, destroy = step.fn("apply"), step.fn("destroy")
    build_before(step, "clean")
    ctx = make_ctx(**stack_params("clean"))
    made = apply(ctx)
    assert CHANGED & set(made.action), f"{step.id} created nothing on top of the steps before it"

    again = ctx.calls.mark()
    second = apply(ctx)
    assert not CHANGED & set(second.action), second[second.action.isin(CHANGED)]
    assert [c.operation for c in ctx.calls.calls[again:] if c.operation.startswith(MUTATING)] == []

    # killed midway, then applied again: the same resources as the uninterrupted run
    build_before(step, "kill")
    killed = make_ctx(**stack_params("kill"))
    kill_at(killed, KILL_AT)
    with pytest.raises(Killed):
        apply(killed)
    apply(make_ctx(**stack_params("kill")))
    assert shape("kill") == shape("clean")

    gone = destroy(ctx)
    assert "deleted" in set(gone.action) and not any(a.startswith("failed") for a in gone.action), gone
    used = iam_actions.actions_for_calls(ctx.calls.calls)
    assert sorted(used - set(step.all_permissions())) == [], f"{step.id} used undeclared permissions"

    twice = ctx.calls.mark()
    assert "deleted" not in set(destroy(ctx).action)
    assert [c.operation for c in ctx.calls.calls[twice:] if c.operation.startswith(MUTATING)] == []


def test_an_untaggable_resource_is_claimed_only_when_the_stack_created_it(aws):
    """IAM groups cannot carry tags: the stack's ledger says which are its own. A namesake created by
    someone else is refused and never written into the ledger (teardown would delete it); the stack's
    own group, written ahead of its create, is found again after a crash right after the create."""
    from workbook import engine
    ctx = make_ctx(stack_name="led")
    ctx.client("iam").create_group(GroupName="led-developers")
    with pytest.raises(engine.ForeignResource):
        engine.ensure(ctx, "iam_group", "led-developers", step="07_access", create={"GroupName": "led-developers"})
    assert "led-developers" not in engine.ledger(ctx).get("iam_group", {})

    def crash_after_create(http_response, model, **_):
        if model.name == "CreateGroup":
            raise Killed("killed right after CreateGroup answered")
    ctx.client("iam").meta.events.register("after-call.iam.CreateGroup", crash_after_create)
    with pytest.raises(Killed):
        engine.ensure(ctx, "iam_group", "led-ops", step="07_access", create={"GroupName": "led-ops"})
    again = make_ctx(stack_name="led")
    assert engine.ensure(again, "iam_group", "led-ops", step="07_access", create={"GroupName": "led-ops"}).action == "exists"
