"""The region's real availability zones are read (a read, describe_availability_zones) before the first
create on every path: connect() for a notebook or a step, the pipeline before its first notebook."""
from __future__ import annotations

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook.connect import MUTATING, connect
from workbook.params import ParameterError, Params


@mock_aws
def test_more_azs_than_the_region_has_is_refused_naming_az_count():
    from workbook import boundary
    ctx = make_ctx(region="eu-west-1", az_count=4)
    with pytest.raises(ParameterError) as e:
        boundary.check(ctx)
    msg = e.value.problems["az_count"]
    assert "eu-west-1" in msg and "3" in msg and "eu-west-1a" in msg
    assert [c.operation for c in ctx.calls.calls] == ["DescribeAvailabilityZones"]


@mock_aws
def test_as_many_azs_as_the_region_has_is_fine():
    from workbook import boundary
    boundary.check(make_ctx(region="eu-west-1", az_count=3))


@mock_aws
def test_connect_refuses_on_a_real_account_before_any_write():
    with pytest.raises(ParameterError, match="az_count"):
        connect(Params.from_mapping({"target": "aws", "aws_account_id": "123456789012", "region": "eu-west-1",
                                     "az_count": 4, "dev_instance_id": "i-0123456789abcdef0"}))


def test_connect_refuses_in_the_sandbox(state_dir):
    with pytest.raises(ParameterError, match="az_count"):
        connect(Params(region="eu-west-1", az_count=4))


def test_the_pipeline_refuses_before_its_first_notebook(state_dir, tmp_path):
    from workbook import pipeline
    with pytest.raises(ParameterError, match="az_count"):
        pipeline.run(Params(region="eu-west-1", az_count=4), runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@mock_aws
def test_a_context_changed_to_more_azs_is_checked_again():
    from workbook.connect import Context, Target
    ctx = connect(Params.from_mapping({"target": "aws", "aws_account_id": "123456789012", "region": "eu-west-1",
                                       "az_count": 3, "dev_instance_id": "i-0123456789abcdef0"}))
    assert isinstance(ctx, Context) and isinstance(ctx.target, Target)
    with pytest.raises(ParameterError, match="az_count"):
        ctx.replace(az_count=4)
    assert not any(c.operation.startswith(MUTATING) for c in ctx.calls.calls)
