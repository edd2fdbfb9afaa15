"""Reads are retried longer than writes when throttled (issue 13: at 30 % throttling two runs failed on
ACM ListCertificates in 05's verify and CloudWatch ListTagsForResource in 06's diagram inventory after
botocore's 5 attempts). Exercised with the sandbox's own throttling (rehearsal_throttle) over HTTP."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from rehearsal_fixtures import endpoint, rehearsing, with_target  # noqa: F401  (endpoint is a fixture)

from conftest import make_ctx
from workbook.connect import READ_ATTEMPTS, WRITE_ATTEMPTS


class Draws:
    """The rehearsal's random draws: the first `throttled` attempts are throttled, then none."""

    def __init__(self, throttled: int):
        self.left = throttled

    def random(self) -> float:
        self.left -= 1
        return 0.0 if self.left >= 0 else 0.99


def ctx_throttled(tmp_path, endpoint, throttled: int):
    ctx = with_target(make_ctx(), rehearsing(tmp_path / "state", throttle=0.5, endpoint=endpoint))
    ctx.target.rehearsal.rng = Draws(throttled)
    return ctx


@pytest.mark.parametrize("service,call", [
    ("acm", lambda c: c.list_certificates()),
    ("cloudwatch", lambda c: c.list_tags_for_resource(ResourceARN="arn:aws:cloudwatch:us-east-1:123456789012:alarm:x")),
    ("ec2", lambda c: c.describe_vpcs()),
])
def test_a_read_throttled_past_the_write_budget_still_succeeds(tmp_path, endpoint, service, call):
    ctx = ctx_throttled(tmp_path, endpoint, WRITE_ATTEMPTS + 2)
    r = call(ctx.client(service))
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ResponseMetadata"]["RetryAttempts"] == WRITE_ATTEMPTS + 2
    assert ctx.clock.slept > 0   # the backoff was slept on the target's clock (AWS time)


def test_a_write_keeps_the_standard_budget(tmp_path, endpoint):
    ctx = ctx_throttled(tmp_path, endpoint, WRITE_ATTEMPTS + 2)
    with pytest.raises(ClientError) as e:
        ctx.client("ec2").create_vpc(CidrBlock="10.77.0.0/16")
    assert e.value.response["ResponseMetadata"]["RetryAttempts"] == WRITE_ATTEMPTS - 1


def test_a_read_gives_up_after_its_own_budget(tmp_path, endpoint):
    ctx = ctx_throttled(tmp_path, endpoint, 1000)
    with pytest.raises(ClientError) as e:
        ctx.client("acm").list_certificates()
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert READ_ATTEMPTS > WRITE_ATTEMPTS
