"""Shared by the rehearsal tests: a context on moto's in-process mock through a rehearsing sandbox seam.

AWS time is frozen (it moves only when the test sleeps on the clock) and the scale is large, so a
20-minute AWS wait costs nothing and nothing ages between two calls: the tests are exact and fast.
"""
from __future__ import annotations

import time

import pytest

from workbook.sandbox import rehearsal
from workbook.sandbox.seam import SandboxTarget

FAST = 1e6   # AWS seconds per sandbox second in tests


def rehearsing(folder, *, time_scale: float = FAST, frozen: bool = True, throttle: float = 0.0,
               endpoint: str | None = None) -> SandboxTarget:
    s = rehearsal.Settings(on=True, time_scale=time_scale, throttle=throttle, frozen=frozen,
                           origin_wall=time.time(), state_dir=str(folder))
    return SandboxTarget(endpoint, s)


def with_target(ctx, target):
    """A make_ctx() context moved onto another sandbox target (before any client exists)."""
    ctx.target, ctx.endpoint = target, target.endpoint
    return ctx


@pytest.fixture
def rctx(tmp_path):
    """make_ctx() (tests/conftest.py) inside mock_aws(), with the rehearsal on."""
    from moto import mock_aws

    from conftest import make_ctx
    with mock_aws():
        yield with_target(make_ctx(), rehearsing(tmp_path / "state"))


def vpc_with_subnets(ctx, n: int = 2) -> tuple[str, list[str]]:
    """A VPC and subnets made on moto directly (no rehearsal, no waits): the scene of a test."""
    from workbook.sandbox.corrections import plain
    ec2 = plain(ctx, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{'abc'[i % 3]}")
               ["Subnet"]["SubnetId"] for i in range(n)]
    return vpc, subnets


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def endpoint():
    """A moto server over HTTP of the test module's own: throttling answers travel as AWS sends them."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
