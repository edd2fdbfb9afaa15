"""The connection: explicit retry mode, the account guard, and the call log with secrets masked."""
from __future__ import annotations

import pytest
from moto import mock_aws

from workbook.connect import RETRY_CONFIG, AccountMismatch, connect, mask
from workbook.params import ParameterError, Params


def test_calls_are_recorded_with_outcome_result_and_time(ctx):
    ec2 = ctx.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    with pytest.raises(Exception):
        ec2.describe_vpcs(VpcIds=["vpc-doesnotexist"])
    df = ctx.calls.frame()
    assert list(df.operation) == ["CreateVpc", "DescribeVpcs"]
    assert df.loc[0, "result"] == vpc and df.loc[0, "outcome"] == "ok"
    assert df.loc[0, "args"] == "CidrBlock='10.9.0.0/16'"
    assert df.loc[1, "outcome"] != "ok"
    assert (df.ms > 0).all()


def test_new_shows_each_call_once(ctx):
    ctx.client("ec2").describe_vpcs()
    assert len(ctx.calls.new()) == 1
    assert ctx.calls.new().empty


def test_secrets_never_reach_the_call_log(ctx):
    ctx.client("secretsmanager").create_secret(Name="db", SecretString="hunter2-very-secret")
    ctx.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, UserData="PASSWORD=swordfish")
    text = ctx.calls.frame().to_string()
    assert "hunter2" not in text and "swordfish" not in text
    assert "***" in text


def test_mask_keeps_structure():
    masked = mask({"MasterUserPassword": "x", "Nested": [{"SecretString": "y", "Name": "n"}], "ClientToken": "t"})
    assert masked == {"MasterUserPassword": "***", "Nested": [{"SecretString": "***", "Name": "n"}], "ClientToken": "t"}


def test_retry_mode_is_explicit():
    assert RETRY_CONFIG.retries["mode"] == "standard"


@mock_aws
def test_aws_mode_refuses_another_account(monkeypatch):
    p = Params.from_mapping({"target": "aws", "aws_account_id": "111122223333"})
    with pytest.raises(AccountMismatch) as e:
        connect(p)
    # moto's caller is 123456789012: the error names the account it saw (masked, as every output
    # shows an account id) and the parameter to set
    assert "********9012" in str(e.value) and "aws_account_id" in str(e.value)
    assert "123456789012" not in str(e.value)


@mock_aws
def test_aws_mode_acts_on_the_named_account():
    ctx = connect(Params.from_mapping({"target": "aws", "aws_account_id": "123456789012"}))
    assert ctx.account_id == "123456789012" and ctx.target.name == "aws"
    assert ctx.masked_account() == "********9012"


def test_invalid_parameters_fail_before_any_call(state_dir):
    """connect() validates first: no sandbox is started, no client is made."""
    with pytest.raises(ParameterError):
        connect(Params(az_count=1))
    assert not state_dir.exists() or not any(state_dir.iterdir())
