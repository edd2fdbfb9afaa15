"""Throttling under the rehearsal: a share of requests gets the service's own throttling error in its
protocol, and botocore's retry mode retries it for real (against a moto server: the requests go over
HTTP, and a throttled one never reaches the server)."""
from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError
from rehearsal_fixtures import endpoint, rehearsing, with_target  # noqa: F401  (endpoint is a fixture)

from conftest import make_ctx
from workbook.sandbox import rehearsal_throttle as T


def _ctx(tmp_path, endpoint, share):
    return with_target(make_ctx(), rehearsing(tmp_path / "state", throttle=share, endpoint=endpoint))


# (service, a call, the code AWS throttles it with)
CALLS = [
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
    ("rds", lambda c: c.describe_db_instances(), "Throttling"),
    ("elbv2", lambda c: c.describe_load_balancers(), "Throttling"),
    ("autoscaling", lambda c: c.describe_auto_scaling_groups(), "Throttling"),
    ("iam", lambda c: c.list_roles(), "Throttling"),
    ("cloudwatch", lambda c: c.list_metrics(), "Throttling"),
    ("sns", lambda c: c.list_topics(), "Throttled"),
    ("logs", lambda c: c.describe_log_groups(), "ThrottlingException"),
    ("acm", lambda c: c.list_certificates(), "ThrottlingException"),
    ("apigatewayv2", lambda c: c.get_apis(), "TooManyRequestsException"),
    ("route53", lambda c: c.list_hosted_zones(), "ThrottlingException"),
]


@pytest.mark.parametrize("service,call,code", CALLS, ids=[c[0] for c in CALLS])
def test_each_service_throttles_in_its_own_words(tmp_path, endpoint, service, call, code):
    ctx = _ctx(tmp_path, endpoint, 0.999999)   # every attempt throttled: botocore retries, then gives up
    with pytest.raises(ClientError) as e:
        call(ctx.client(service))
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["ResponseMetadata"]["RetryAttempts"] >= 2   # botocore's retry mode really retried
    assert ctx.clock.slept > 0                                             # its backoff slept in AWS time


def test_a_share_of_throttled_calls_still_succeeds_and_creates_once(tmp_path, endpoint):
    ctx = _ctx(tmp_path, endpoint, 0.3)
    ctx.target.rehearsal.rng = random.Random(7)   # the same draws every run: a 30 % share can fail 6 in a row
    ec2 = ctx.client("ec2")
    before = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    made = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(20)]
    after = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert after - before == set(made)        # a throttled create never reached the server: no twins
    assert all(c.outcome == "ok" for c in ctx.calls.calls)   # every call ended ok after its retries
    assert ctx.clock.slept > 0                # some were throttled and retried


def test_throttling_answer_parses_like_the_service(tmp_path):
    """The answers, parsed by botocore's own parser for each protocol, give the expected code."""
    import botocore.session
    from botocore.endpoint import convert_to_response_dict
    from botocore.parsers import create_parser
    session = botocore.session.get_session()
    for service, _, code in CALLS:
        model = session.get_service_model(service)
        op = model.operation_model(model.operation_names[0])
        resp = T.answer(service, model.resolved_protocol, "http://x", "awsQueryCompatible" in model.metadata)
        parsed = create_parser(model.resolved_protocol).parse(convert_to_response_dict(resp, op), op.output_shape)
        assert parsed["Error"]["Code"] == code, service


def test_in_process_mock_is_never_throttled():
    """With moto's in-process mock a throttled answer would not stop the request: no throttling there."""
    import tempfile

    from moto import mock_aws
    with mock_aws():
        ctx = with_target(make_ctx(), rehearsing(tempfile.mkdtemp(), throttle=0.999999))
        assert ctx.client("ec2").describe_vpcs()["Vpcs"]
