from __future__ import annotations

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


def test_poll_times_out_with_a_message():
    with pytest.raises(TimeoutError, match="the thing"):
        progress.poll(lambda: False, "the thing", delay=0, max_attempts=3)
