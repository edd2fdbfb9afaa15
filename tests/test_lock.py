"""The stack's lock (workbook.lock) on moto in-process, on both code paths (the sandbox's seam and the
real-account one): who meets a held lock stops before any change and says who holds it since when and
how to release it; plans take none; a notebook cell, a panel's action and a teardown give it back when
they end; unlock wants the lock's id."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import engine, lock, ui
from workbook import kinds as K
from workbook.inventory import leftovers
from workbook.kinds.storage import lock_name
from workbook.steps import network, teardown

TARGETS = pytest.mark.parametrize("target", ["sandbox", "aws"])


@pytest.fixture(autouse=True)
def aws(monkeypatch):
    monkeypatch.delenv(lock.ENV, raising=False)
    with mock_aws():
        yield


def ctx_of(stack: str = "lk", target: str = "sandbox", **extra):
    return make_ctx(stack_name=stack, target=target, **({"aws_account_id": "123456789012"} if target == "aws" else {}),
                    **extra)


def changing_calls(ctx, since: int = 0) -> list[str]:
    return [c.operation for c in ctx.calls.calls[since:] if lock.changes(c.operation)]


def value(stack: str) -> dict | None:
    """The lock as the account holds it, read outside any context."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    try:
        return json.loads(ssm.get_parameter(Name=lock_name(stack))["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def stack_vpcs(stack: str = "lk") -> list[dict]:
    return boto3.client("ec2", region_name="us-east-1").describe_vpcs(
        Filters=[{"Name": "tag:workbook:stack", "Values": [stack]}])["Vpcs"]


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ---- taking and refusing --------------------------------------------------------------------------
@TARGETS
def test_a_second_holder_is_refused_in_one_line_naming_who_since_when_and_how_to_release(target):
    first, second = ctx_of(target=target), ctx_of(target=target)
    held = lock.acquire(first, "02_network", run="20260101-120000", via="pipeline")
    mark = second.calls.mark()
    with pytest.raises(lock.StackLocked) as refused:
        lock.acquire(second, "09_teardown")
    line = str(refused.value)
    assert "\n" not in line
    assert f"{held.who} (pid {os.getpid()}, run 20260101-120000, step 02_network)" in line
    assert f"since {held.since[:10]} {held.since[11:19]} UTC" in line
    where = " --set target=aws --set aws_account_id=ACCOUNT_ID" if target == "aws" else ""   # how unlock reaches it
    assert f"python -m workbook unlock lk{where} (lock id {held.id}" in line
    assert refused.value.lock == held
    # its only write was the conditional one that AWS refused
    assert [(c.operation, c.outcome) for c in second.calls.calls[mark:] if lock.changes(c.operation)] == \
        [("PutParameter", "ParameterAlreadyExists")]
    assert value("lk")["id"] == held.id
    assert lock.release(first, held) and value("lk") is None
    assert lock.acquire(second, "09_teardown").step == "09_teardown"


def answer_lost_once(ctx, operation: str = "PutParameter") -> list[int]:
    """The first `operation` of ctx's SSM client is carried out but its answer is lost (a read timeout, a
    dropped connection): botocore's standard retry mode sends it again, as it would on AWS."""
    resent: list[int] = []

    def resend(attempts, response, **_):
        if not resent and attempts == 1 and response is not None:
            resent.append(attempts)
            return 0   # retry at once
        return None
    ctx.client("ssm").meta.events.register(f"needs-retry.ssm.{operation}", resend)
    return resent


@TARGETS
def test_a_take_whose_answer_was_lost_and_resent_holds_the_lock_it_wrote_and_gives_it_back(target):
    ctx = ctx_of(target=target)
    resent = answer_lost_once(ctx)
    held = lock.acquire(ctx, "02_network", via="pipeline")   # the resend met its own first write
    assert resent == [1]
    assert value("lk")["id"] == held.id and value("lk")["pid"] == os.getpid()
    assert lock.release(ctx, held) and value("lk") is None
    assert lock.acquire(ctx_of(target=target), "09_teardown").step == "09_teardown"


def test_the_lock_is_a_tagged_kind_counted_once_and_in_the_workbooks_policy():
    from fnmatch import fnmatch
    from workbook import policy, steps
    from workbook.params import Params
    ctx = ctx_of()
    lock.acquire(ctx, "02_network")
    kind = K.get(lock.KIND)
    assert [it.name for it in engine.find(ctx, kind)] == [lock_name("lk")]
    assert engine.find(ctx, "ssm_parameter") == []   # not also an SSM parameter
    scan = leftovers.scan(ctx)
    assert list(scan.type) == [lock.KIND] and scan.step[0] == lock.TAG_STEP
    assert "held by" in scan.detail[0] and "unlock lk" in scan.detail[0]
    assert lock.KIND in steps.get("09_teardown").kinds
    docs = policy.documents(Params(stack_name="lk"))
    wanted = {"ssm:PutParameter", "ssm:DeleteParameter", "ssm:GetParameter", "ssm:AddTagsToResource"}
    assert wanted <= policy.actions(docs)
    listed = lambda v: [v] if isinstance(v, str) else v  # noqa: E731
    arn = f"arn:aws:ssm:us-east-1:123456789012:parameter{lock_name('lk')}"
    for action in wanted:   # each allowed on the stack's lock, scoped to the stack
        assert any(fnmatch(arn, r) for d in docs.values() for st in d["Statement"] if action in listed(st["Action"])
                   for r in listed(st["Resource"])), action
    # a step that changes the stack takes the lock itself (its permissions, narrowed to that step)
    assert "ssm:PutParameter" in policy.declared(["02_network"])


# ---- a notebook: the first change of a cell takes it, the end of the cell gives it back ---------------
@TARGETS
def test_a_plan_takes_no_lock_and_a_change_takes_it_before_its_first_call(target):
    ctx = ctx_of(target=target)
    ctx.step = "02_network"
    h = lock.guard(ctx)
    network.plan(ctx)
    assert h.held is None and value("lk") is None
    network.ensure_vpc(ctx)
    assert h.held is not None and value("lk")["step"] == "02_network" and value("lk")["via"] == "notebook"
    ops = changing_calls(ctx)
    assert ops[:2] == ["PutParameter", "CreateVpc"]          # the lock first, then the change
    assert ops.count("PutParameter") == 1                     # taken once, its own write let through
    assert h.end() is not None and value("lk") is None      # the cell ends: given back


def test_a_cell_meeting_a_held_lock_changes_nothing_and_its_call_is_shown_refused():
    other = ctx_of()
    held = lock.acquire(other, "03_database", via="notebook")
    ctx = ctx_of()
    ctx.step = "02_network"
    lock.guard(ctx)
    with pytest.raises(lock.StackLocked, match=held.id):
        network.ensure_vpc(ctx)
    assert stack_vpcs() == []
    assert ctx.calls.calls[-1].operation == "CreateVpc" and ctx.calls.calls[-1].outcome == "StackLocked"
    assert "kernel pid" in str(lock.read(ctx).holder())


def test_a_kernel_of_the_pipeline_uses_the_runs_lock_and_stops_if_it_was_taken_away(monkeypatch):
    run = ctx_of()
    held = lock.acquire(run, "02_network", run="r1", via="pipeline")
    monkeypatch.setenv(lock.ENV, f"lk/{held.id}")
    kernel = ctx_of()
    kernel.step = "02_network"
    h = lock.guard(kernel)
    network.ensure_vpc(kernel)                        # no wait, no second lock
    assert "PutParameter" not in changing_calls(kernel) and h.held is None
    h.end()                                           # a cell's end never gives the run's lock back
    assert value("lk")["id"] == held.id
    lock.unlock(run, held.id)                         # someone releases the running run's lock
    with pytest.raises(lock.StackLocked, match="this run's lock .* is gone"):
        network.ensure_internet_gateway(kernel)


def right_after_the_read(ctx, then) -> None:
    """`then()` runs once, right after ctx's next read of the lock comes back (before whatever follows it)."""
    done: list[bool] = []

    def after(**_):
        if not done:
            done.append(True)
            then()
    ctx.client("ssm").meta.events.register("after-call.ssm.GetParameter", after)


def test_a_run_noting_its_step_as_its_lock_is_released_stops_and_leaves_no_untagged_lock():
    ctx = ctx_of()
    held = lock.acquire(ctx, "02_network", run="r1", via="pipeline")
    right_after_the_read(ctx, lambda: lock.unlock(ctx_of(), held.id))   # someone releases it meanwhile
    with pytest.raises(lock.StackLocked, match=f"this run's lock \\(id {held.id}\\) was released"):
        lock.note(ctx, held, step="03_database")
    assert value("lk") is None                                 # not recreated (untagged, unseen by find)
    assert leftovers.scan(ctx_of()).empty
    assert lock.acquire(ctx_of(), "09_teardown").step == "09_teardown"


def test_a_run_noting_its_step_as_another_run_takes_the_lock_stops_instead_of_both_holding_it():
    ctx = ctx_of()
    held = lock.note(ctx, lock.acquire(ctx, "02_network", run="r1", via="pipeline"), step="02_network")
    other: list[lock.Lock] = []

    def released_and_taken():
        lock.unlock(ctx_of(), held.id)
        other.append(lock.acquire(ctx_of(), "09_teardown", via="pipeline"))
    right_after_the_read(ctx, released_and_taken)
    with pytest.raises(lock.StackLocked, match="someone else wrote"):
        lock.note(ctx, held, step="03_database")
    # the other run learns at its next check that it no longer holds it
    with pytest.raises(lock.StackLocked, match=held.id):
        lock.note(ctx_of(), other[0], step="09_teardown")


# ---- unlock: the id, or nothing ---------------------------------------------------------------------
def test_unlock_wants_the_locks_id_and_says_a_dead_holder_is_stale():
    ctx = ctx_of()
    held = lock.note(ctx, lock.acquire(ctx, "02_network", run="r7", via="pipeline"), pid=dead_pid())
    assert "is no longer running on this host: the lock is stale" in lock.read(ctx).refusal(ctx)
    with pytest.raises(lock.WrongLockId, match="nothing was released"):
        lock.unlock(ctx, "deadbeef")
    assert value("lk")["id"] == held.id
    assert lock.unlock(ctx, f" {held.id}\n").run == "r7"
    assert value("lk") is None
    with pytest.raises(lock.NoLock):
        lock.unlock(ctx, held.id)


def test_unlock_command_asks_for_the_id_and_refuses_a_wrong_one(monkeypatch, capsys):
    import io
    from workbook.__main__ import main
    held = lock.acquire(ctx_of(target="aws"), "02_network")
    where = ["--set", "target=aws", "--set", "aws_account_id=123456789012"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("0000\n"))
    assert main(["unlock", "lk", *where]) == 1
    out, err = capsys.readouterr()
    assert f"locked by {held.who}" in out and "lock id to release" in out and "nothing was released" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(held.id + "\n"))
    assert main(["unlock", "lk", *where]) == 0 and value("lk") is None
    assert main(["unlock", "lk", *where]) == 0 and "holds no lock" in capsys.readouterr().out
    assert main(["unlock", "Not A Stack"]) == 2 and "stack_name" in capsys.readouterr().err


def test_a_refusal_on_a_real_account_names_the_unlock_command_that_reaches_its_account_and_region(capsys):
    import re
    import shlex
    from workbook.__main__ import main
    held = lock.acquire(ctx_of(target="aws", region="eu-west-1"), "02_network")
    with pytest.raises(lock.StackLocked) as refused:
        lock.acquire(ctx_of(target="aws", region="eu-west-1"), "09_teardown")
    line = str(refused.value)
    command = re.search(r"release its lock: (python -m workbook unlock .*?) \(lock id", line).group(1)
    assert "--set target=aws" in command and "--set region=eu-west-1" in command, line
    assert "123456789012" not in line and "********9012" in line          # the account, masked
    args = shlex.split(command.replace("ACCOUNT_ID", "123456789012"))[3:]   # the user fills in its id
    assert main([*args, "--id", held.id]) == 0
    assert f"released the lock {held.id}" in capsys.readouterr().out
    assert lock.read(ctx_of(target="aws", region="eu-west-1")) is None


def test_unlock_finding_no_lock_says_where_it_looked_and_fails_when_an_id_was_given(capsys):
    from workbook.__main__ import main
    held = lock.acquire(ctx_of(target="aws", region="eu-west-1"), "02_network")
    elsewhere = ["--set", "target=aws", "--set", "aws_account_id=123456789012"]   # the region left out
    assert main(["unlock", "lk", *elsewhere, "--id", held.id]) == 1
    out, err = capsys.readouterr()
    assert "holds no lock" in out + err and "AWS account ********9012, region us-east-1" in out + err
    assert "123456789012" not in out + err
    assert main(["unlock", "lk", *elsewhere]) == 0     # nothing asked for: nothing to release, said where
    assert "AWS account ********9012, region us-east-1" in capsys.readouterr().out
    assert lock.read(ctx_of(target="aws", region="eu-west-1")).id == held.id


# ---- teardown and the workshop panel ----------------------------------------------------------------
@TARGETS
def test_a_teardown_during_a_build_is_refused_before_anything(target):
    build = ctx_of(target=target)
    network.apply(build)
    held = lock.acquire(build, "03_database", via="pipeline")
    before = leftovers.scan(ctx_of(target=target))
    td = ctx_of(target=target)
    with pytest.raises(lock.StackLocked, match=held.id):
        teardown.destroy(td)
    # its one write: the lock's conditional one, refused, before it even looked
    assert [(c.operation, c.outcome) for c in td.calls.calls if lock.changes(c.operation)] == \
        [("PutParameter", "ParameterAlreadyExists")]
    assert leftovers.scan(ctx_of(target=target)).equals(before)


def test_a_teardown_holds_the_lock_from_start_to_end_and_removes_it_last():
    network.apply(ctx_of())
    ctx = ctx_of()
    gone = teardown.destroy(ctx)
    assert list(gone.type)[-1] == lock.KIND and list(gone.action)[-1] == "released"
    ops = changing_calls(ctx)
    assert ops[0] == "PutParameter" and ops[-1] == "DeleteParameter"
    puts = [c.args for c in ctx.calls.calls if c.operation == "PutParameter"]
    # the lock is taken once; the other write ends the build in the ledger (a rebuild gets new tokens)
    assert len(puts) == 2 and "/lock" in puts[0] and "/ledger" in puts[1], puts
    assert leftovers.scan(ctx).empty
    mark = ctx.calls.mark()
    again = teardown.destroy(ctx)   # nothing left: its lock is all it takes and gives back
    assert list(again.action) == ["released"] and changing_calls(ctx, mark) == ["PutParameter", "DeleteParameter"]
    plan = ctx_of(dry_run=True)
    teardown.destroy(plan)
    assert changing_calls(plan) == []


def test_a_panels_apply_meeting_a_held_lock_says_so_and_changes_nothing(monkeypatch, capsys):
    monkeypatch.setattr(ui, "display", lambda *a, **k: None)
    held = lock.acquire(ctx_of(), "09_teardown", via="pipeline")
    ctx = ctx_of(interactive=True)
    ctx.step = "02_network"
    lock.guard(ctx)
    panel = ui.StepPanel(ctx, actions=("apply",))
    panel.buttons[0].click()
    assert "refused" in panel.bar.description
    shown = capsys.readouterr().out   # the panel's output area, with no frontend to draw it
    assert held.id in shown and "python -m workbook unlock lk" in shown
    assert stack_vpcs() == []
    lock.release(ctx_of(), held)
    panel.buttons[0].click()                      # free now: the panel takes it and gives it back
    assert "apply done" in panel.bar.description and value("lk") is None


def test_a_run_that_changes_nothing_takes_no_lock(tmp_path):
    from workbook import pipeline
    from workbook.params import Params
    nbs = pipeline.discover()
    assert not pipeline._changes_the_stack(Params(dry_run=True), nbs)
    assert not pipeline._changes_the_stack(Params(), pipeline.select(nbs, ["01"]))
    assert pipeline._changes_the_stack(Params(), pipeline.select(nbs, ["01", "02"]))
    assert pipeline._changes_the_stack(Params(), [tmp_path / "42_unknown.ipynb"])
