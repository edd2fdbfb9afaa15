"""One change at a time per stack, as a team meets it: `python -m workbook run` processes on one stack
against the sandbox server (the scheduled pipeline and a person, or two people, at once).

A run's pause is a SIGSTOP of its process tree (the pipeline and its kernel), so "a second run while
the first holds the stack" is a fact of the test, not a matter of timing; every wait below waits for
a condition (the lock exists, a process ended), bounded only against a hang.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from workbook.params import Params

ROOT = Path(__file__).resolve().parent.parent
HANG_S = 600   # only against a hang: every wait ends on a condition


def ssm(sandbox):
    return boto3.client("ssm", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def lock_value(sandbox, stack: str) -> dict | None:
    try:
        value = ssm(sandbox).get_parameter(Name=f"/workbook/{stack}/lock")["Parameter"]["Value"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise
    return json.loads(value)


def cli(*args: str, stdin: str | None = None) -> subprocess.Popen:
    """`python -m workbook ...` in a session of its own (its kernels start sessions of their own too)."""
    return subprocess.Popen([sys.executable, "-m", "workbook", *args], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


RUNS: list[Path] = []   # the module's runs folder: the checkout's build/runs is left alone


@pytest.fixture(autouse=True, scope="module")
def _runs_dir(tmp_path_factory):
    RUNS[:] = [tmp_path_factory.mktemp("runs")]


def run(stack: str, only: str = "02") -> subprocess.Popen:
    return cli("run", "--only", only, "--set", f"stack_name={stack}", "--runs-dir", str(RUNS[0]))


def finish(proc: subprocess.Popen, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = proc.communicate(stdin, timeout=HANG_S)
    return proc.returncode, out, err


def descendants(pid: int) -> list[int]:
    """The process and everything it started (kernels run in sessions of their own), parents first."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return out


def signal_tree(proc: subprocess.Popen, sig: int) -> None:
    for p in descendants(proc.pid):
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def wait_for_lock(sandbox, stack: str, *procs: subprocess.Popen) -> dict:
    """The stack's lock, as soon as one of `procs` holds it; fails if they all end without one."""
    deadline = time.monotonic() + HANG_S
    while time.monotonic() < deadline:
        held = lock_value(sandbox, stack)
        if held:
            return held
        if all(p.poll() is not None for p in procs):
            outs = [finish(p) for p in procs]
            pytest.fail(f"the run(s) ended without ever holding a lock on {stack}: {outs}")
        time.sleep(0.05)
    pytest.fail("no lock appeared (hang)")


def census(stack: str):
    """The stack as the leftover scan sees it, names with the stack's name taken out, sorted."""
    from workbook.connect import connect
    from workbook.inventory import leftovers
    df = leftovers.scan(connect(Params(stack_name=stack)))
    return sorted((r.type, r.name.replace(stack, "STACK"), r.status) for r in df.itertuples())


@pytest.fixture(scope="module")
def clean_census(sandbox):
    """One clean run of 02 on a stack of its own: what every run below must end equal to."""
    code, out, err = finish(run("lkref"))
    assert code == 0, err
    yield census("lkref")
    teardown("lkref")


def teardown(stack: str) -> None:
    from workbook.connect import connect
    from workbook.steps import teardown as td
    td.destroy(connect(Params(stack_name=stack)))


def test_two_runs_started_together_one_builds_the_other_stops_and_changes_nothing(sandbox, clean_census):
    stack = "lkrace"
    first, second = run(stack), run(stack)
    held = wait_for_lock(sandbox, stack, first, second)
    holder = first if held["pid"] == first.pid else second
    other = second if holder is first else first
    signal_tree(holder, signal.SIGSTOP)   # the holder stays in the middle of its change ...
    try:
        assert lock_value(sandbox, stack)["id"] == held["id"]
        code, out, err = finish(other)       # ... while the other one tries
    finally:
        signal_tree(holder, signal.SIGCONT)
    assert code == 1, err
    lines = [ln for ln in err.splitlines() if "locked" in ln]
    assert len(lines) == 1, err
    line = lines[0]
    assert held["who"] in line and held["since"][:16].replace("T", " ") in line
    assert f"python -m workbook unlock {stack}" in line and held["id"] in line
    assert "02_network" not in out + err.replace(line, "")   # it never reached a notebook
    code, out, err = finish(holder)
    assert code == 0, err
    assert lock_value(sandbox, stack) is None                 # given back at the end of the run
    assert census(stack) == clean_census
    teardown(stack)


def test_a_teardown_or_a_second_build_during_a_build_is_refused_and_changes_nothing(sandbox, clean_census, tmp_path):
    import papermill
    from workbook import lock
    from workbook.connect import connect
    from workbook.steps import teardown as td
    stack = "lktear"
    build = run(stack)
    held = wait_for_lock(sandbox, stack, build)
    signal_tree(build, signal.SIGSTOP)
    try:
        before = census(stack)
        refused = {"teardown run": finish(run(stack, only="09")), "second build": finish(run(stack))}
        with pytest.raises(lock.StackLocked) as in_python:      # a teardown called from Python
            td.destroy(connect(Params(stack_name=stack)))
        with pytest.raises(papermill.PapermillExecutionError) as by_hand:   # the notebook, run by hand
            papermill.execute_notebook(str(ROOT / "notebooks" / "02_network.ipynb"), str(tmp_path / "02.ipynb"),
                                       parameters={"stack_name": stack, "interactive": False}, cwd=str(ROOT),
                                       execution_timeout=HANG_S, progress_bar=False)
        after = census(stack)
    finally:
        signal_tree(build, signal.SIGCONT)
    for what, (code, out, err) in refused.items():
        assert code == 1, (what, err)
        assert held["id"] in err and f"python -m workbook unlock {stack}" in err, (what, err)
    assert held["id"] in str(in_python.value)
    assert by_hand.value.ename == "StackLocked" and held["id"] in by_hand.value.evalue
    assert after == before
    code, out, err = finish(build)
    assert code == 0, err
    assert census(stack) == clean_census
    teardown(stack)
    assert census(stack) == []


def test_a_killed_runs_lock_is_reported_stale_and_released_with_its_id(sandbox, clean_census):
    stack = "lkkill"
    victim = run(stack)
    deadline = time.monotonic() + HANG_S
    held = wait_for_lock(sandbox, stack, victim)
    while not held.get("run") and time.monotonic() < deadline:   # it names its run once a notebook starts
        held = lock_value(sandbox, stack) or held
        time.sleep(0.05)
    signal_tree(victim, signal.SIGKILL)    # the run and its kernel die; the lock stays
    victim.wait()
    code, out, err = finish(run(stack))
    assert code == 1
    assert f"run {held['run']}" in err and f"process {victim.pid} is no longer running on this host" in err
    assert "the lock is stale" in err and held["id"] in err
    row = [r for r in census(stack) if r[0] == "stack_lock"]
    assert row and row[0][2] == "leftover"
    code, out, err = finish(cli("unlock", stack, stdin=""), "not-the-id\n")
    assert code == 1 and "nothing was released" in err
    assert lock_value(sandbox, stack)["id"] == held["id"]
    code, out, err = finish(cli("unlock", stack, stdin=""), held["id"] + "\n")
    assert code == 0 and f"released the lock {held['id']}" in out, err
    assert lock_value(sandbox, stack) is None
    code, out, err = finish(run(stack))    # the owner runs again: it resumes where the killed run stopped
    assert code == 0, err
    assert census(stack) == clean_census
    teardown(stack)
