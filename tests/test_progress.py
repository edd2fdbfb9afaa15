from __future__ import annotations

import re

import pytest
from botocore.exceptions import WaiterError

from workbook import progress


def test_wait_for_uses_the_waiter_and_tells_listeners(ctx):
    ec2 = ctx.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    heard = []
    progress.add_listener(lambda *a: heard.append(a))
    try:
        progress.wait_for(ec2, "vpc_available", "the VPC", VpcIds=[vpc])
    finally:
        progress._listeners.clear()
    assert heard[-1][0] == "the VPC" and heard[-1][1] == heard[-1][2]  # complete


def test_wait_for_gives_up_after_max_attempts(ctx):
    ec2 = ctx.client("ec2")
    with pytest.raises(WaiterError):
        progress.wait_for(ec2, "instance_running", "a missing instance", delay=0, max_attempts=2,
                          InstanceIds=["i-0123456789abcdef0"])


def test_in_the_plain_sandbox_each_look_pauses_the_waiters_delay(ctx, monkeypatch):
    """08's restore into RDS waits an hour on AWS (720 looks 5 s apart) while, in the sandbox, a real
    pg_restore runs. The plain sandbox keeps no AWS time, and reading its wall clock as AWS seconds to keep
    the waiter's cadence made the pauses shrink towards each 5 s mark: the 720 looks went by in 14.7 s."""
    import time
    from workbook.sandbox.seam import SandboxClock
    now, pauses = [1000.0], []
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(time, "sleep", lambda s: now.__setitem__(0, now[0] + s))

    class Recording(SandboxClock):
        def sleep(self, aws_seconds):
            pauses.append(aws_seconds)
            super().sleep(aws_seconds)
    with pytest.raises(WaiterError):
        progress.wait_for(ctx.client("ec2"), "instance_running", "a missing instance", delay=5, max_attempts=60,
                          sleep=Recording().sleep, InstanceIds=["i-0123456789abcdef0"])
    assert pauses[:2] == [2, 4] and min(pauses[2:]) == 5, pauses


def test_poll_times_out_with_a_message():
    with pytest.raises(TimeoutError, match="the thing"):
        progress.poll(lambda: False, "the thing", delay=0, max_attempts=3)


@pytest.fixture
def workshop_bars():
    progress.use_bars(True)
    yield
    progress.use_bars(False)


def test_workshop_wait_ready_at_once_shows_nothing(workshop_bars, capsys):
    progress.poll(lambda: True, "the VPC", delay=0, max_attempts=40)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""   # no "40/40 checks, 00:00 elapsed" bar for what never waited


def test_workshop_wait_says_ready_after_n_seconds(workshop_bars, capsys):
    looks = iter([False, False, True])
    progress.poll(lambda: next(looks), "the NAT gateway", delay=0, max_attempts=40)
    out = capsys.readouterr()
    text = out.out + out.err
    assert re.search(r"the NAT gateway: ready after \d+(\.\d)? s", text), text
    assert "checks" not in text and "elapsed" not in text   # read as a timeout, not as a wait


class _AwsClock:
    scale = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def sleep(self, s: float) -> None:
        self.t += s

    def now(self) -> float:
        return self.t


def test_a_listener_with_a_cadence_of_its_own_is_called_when_due_inside_a_long_pause():
    """03's restore drill rides on other steps' waits; a wait that pauses long (CloudWatch's delivery in 08,
    20 s; ACM's waiter, 60 s) must not hold the drill's next stage back by as much."""
    clock = _AwsClock()
    seen: list[float] = []

    class Every30:
        due = 30.0

        def __call__(self, *_):
            seen.append(clock.now())
            self.due = clock.now() + 30

    listener = Every30()
    progress.add_listener(listener)
    try:
        progress.pause(clock, 120, "CloudWatch to deliver")
        progress.poll(lambda: clock.now() >= 300, "something slow", delay=180, max_attempts=3, clock=clock)
    finally:
        progress.remove_listener(listener)
    assert seen[:4] == [30, 60, 90, 120]
    assert all(b - a <= 30 for a, b in zip(seen, seen[1:]))
    assert clock.now() == 300   # the pauses themselves last as long as they did (120, then 180)
