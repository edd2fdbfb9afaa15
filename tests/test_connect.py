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


def test_a_pipeline_kernel_writes_its_calls_into_the_run_folder(tmp_path, monkeypatch):
    """What the workbook's policy is checked against: each finished call (step, service, operation,
    outcome), appended as it happens, never an argument; outside a pipeline run nothing is written."""
    import csv
    from conftest import make_ctx
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("WORKBOOK_NOTEBOOK", "03_database")
    with mock_aws():
        ctx = make_ctx()
        ctx.step = ctx.calls.step = "03_database"
        ssm = ctx.replace(dry_run=True).client("ssm")       # a copy shares the log
        ssm.put_parameter(Name="/x/pw", Value="s3cret-value", Type="SecureString")
        with pytest.raises(ssm.exceptions.ParameterNotFound):
            ssm.get_parameter(Name="/x/missing")
    path = tmp_path / "calls" / "03_database.csv"
    rows = list(csv.DictReader(path.open()))
    assert rows == [{"step": "03_database", "service": "ssm", "operation": "PutParameter", "outcome": "ok"},
                    {"step": "03_database", "service": "ssm", "operation": "GetParameter",
                     "outcome": "ParameterNotFound"}]
    assert "s3cret" not in path.read_text() and "/x/" not in path.read_text()
    monkeypatch.delenv("WORKBOOK_RUN_DIR")
    with mock_aws():
        assert make_ctx().calls.file is None
