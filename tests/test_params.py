"""Every invalid parameter fails with a clear message naming it, before any AWS call."""
from __future__ import annotations

import pytest
import yaml

from workbook.params import ParameterError, Params

BAD = [
    ({"vpc_cidr": "10.20.0.0/33"}, "vpc_cidr", "not a valid IPv4 CIDR"),
    ({"vpc_cidr": "10.20.0.1/16"}, "vpc_cidr", "not a valid IPv4 CIDR"),
    ({"vpc_cidr": "10.0.0.0/8"}, "vpc_cidr", "/16 to /24"),
    ({"vpc_cidr": "172.31.128.0/20"}, "vpc_cidr", "overlaps the dev VPC"),
    ({"az_count": 1}, "az_count", "at least 2 availability zones"),
    ({"az_count": 1, "multi_az": False}, "az_count", "at least 2 availability zones"),
    ({"az_count": 9}, "az_count", "outside"),
    ({"min_capacity": 3, "desired_capacity": 2}, "min_capacity", "min_capacity <= desired_capacity"),
    ({"desired_capacity": 5, "max_capacity": 4}, "desired_capacity", "<= max_capacity"),
    ({"region": "us-east-7"}, "region", "not a known region"),
    ({"domain_name": "api..example.com"}, "domain_name", "not a DNS name"),
    ({"domain_name": "-api.example.com"}, "domain_name", "not a DNS name"),
    ({"alarm_email": "ops@"}, "alarm_email", "not an e-mail address"),
    ({"stack_name": "Demo"}, "stack_name", "lowercase"),
    ({"stack_name": "my_stack"}, "stack_name", "lowercase"),
    ({"stack_name": "a" * 21}, "stack_name", "2-20"),
    ({"stack_name": "demo-"}, "stack_name", "not ending with a hyphen"),
    ({"stack_name": "1demo"}, "stack_name", "starting with a letter"),
    ({"stack_name": "de--mo"}, "stack_name", "single hyphens"),
    ({"target": "azure"}, "target", "not one of sandbox, aws"),
    ({"target": "aws"}, "aws_account_id", "12-digit"),
    ({"db_engine": "oracle"}, "db_engine", "not one of auto, postgres, mysql"),
    ({"db_instance_class": "t3.micro"}, "db_instance_class", "start with db., e.g. db.t3.micro"),
    ({"instance_type": "large"}, "instance_type", "not an EC2 instance type"),
    ({"backup_retention_days": 0}, "backup_retention_days", "outside 1..35"),
    ({"backup_retention_days": 36}, "backup_retention_days", "outside 1..35"),
    ({"health_check_path": "health"}, "health_check_path", "starting with /"),
    ({"health_check_path": "/h\nENV\ntouch\t/tmp/x"}, "health_check_path", "no spaces or control characters"),
    ({"health_check_path": "/`touch /tmp/x`"}, "health_check_path", "URL path starting with /"),
    ({"health_check_path": "/he alth"}, "health_check_path", "URL path starting with /"),
    ({"health_check_path": "/health#top"}, "health_check_path", "URL path starting with /"),
    ({"health_check_path": "/100%"}, "health_check_path", "%XX escapes"),
    ({"health_check_path": "/" + "a" * 1024}, "health_check_path", "1,025 characters"),
    ({"dev_instance_id": "i-xyz"}, "dev_instance_id", "instance id"),
    ({"hosted_zone_id": "Z123", "domain_name": ""}, "domain_name", "hosted_zone_id is set"),
    ({"hosted_zone_id": "z-12", "domain_name": "api.example.com"}, "hosted_zone_id", "zone id"),
    ({"az_count": "two"}, "az_count", "whole number"),
    ({"multi_az": "maybe"}, "multi_az", "true or false"),
    ({"log_retention_days": 10}, "log_retention_days", "use one of 1, 3, 5, 7, 14, 30"),
    ({"no_such_param": 1}, "no_such_param", "unknown parameter"),
]


@pytest.mark.parametrize("values,param,message", BAD, ids=[b[1] + ":" + str(b[0]) for b in BAD])
def test_invalid_value_names_the_parameter(values, param, message):
    with pytest.raises(ParameterError) as e:
        Params.from_mapping(values)
    assert param in e.value.problems, e.value.problems
    assert message in e.value.problems[param]
    assert param in str(e.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ParameterError) as e:
        Params.from_mapping({"region": "mars-1", "alarm_email": "x", "vpc_cidr": "nope"})
    assert set(e.value.problems) == {"region", "alarm_email", "vpc_cidr"}


def test_defaults_run_in_the_sandbox():
    p = Params().validate()
    assert p.target == "sandbox" and p.multi_az and p.az_count >= 2 and p.backup_retention_days >= 7


def test_strings_from_cli_and_papermill_are_coerced():
    p = Params.from_mapping({"az_count": "3", "multi_az": "false", "sample_rows": "1_000"})
    assert (p.az_count, p.multi_az, p.sample_rows) == (3, False, 1000)


def test_yaml_file_round_trip(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"stack_name": "shop", "az_count": 3, "domain_name": "api.shop.example"}))
    p = Params.from_yaml(path)
    assert (p.stack_name, p.az_count, p.domain_name) == ("shop", 3, "api.shop.example")
    saved = p.save(tmp_path / "again.yaml")
    assert Params.from_yaml(saved) == p


def test_yaml_file_with_a_typo_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("stack_nme: shop\n")
    with pytest.raises(ParameterError, match="stack_nme"):
        Params.from_yaml(path)


def test_workshop_form_values_win_in_interactive_mode_only(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))
    Params(stack_name="fromform").save()
    assert Params.from_namespace({"stack_name": "demo", "interactive": True}).stack_name == "fromform"
    assert Params.from_namespace({"stack_name": "demo", "interactive": False}).stack_name == "demo"


def test_aws_target_with_account_is_valid():
    p = Params.from_mapping({"target": "aws", "aws_account_id": "111122223333"})
    assert p.target == "aws"


def test_cli_reports_invalid_parameters(capsys):
    from workbook.__main__ import main
    assert main(["params", "--set", "az_count=1", "--set", "region=nowhere"]) == 2
    err = capsys.readouterr().err
    assert "az_count" in err and "region" in err


@pytest.mark.parametrize("path", ["/", "/health", "/api/v1/health?full=1&db=yes", "/status;v=1", "/a%20b",
                                  "/~user/it's-(ok)*+,=:@$!", "/" + "a" * 1023])
def test_health_check_paths_aws_accepts_are_accepted(path):
    """Every URL path a target group takes passes, up to 1,024 characters; quoting keeps $ ' ( ) ;
    harmless where the value goes (the boot script quotes it, tests/steps/test_compute.py)."""
    assert Params.from_mapping({"health_check_path": path}).health_check_path == path


def test_a_long_refused_value_is_not_echoed_whole():
    with pytest.raises(ParameterError) as e:
        Params.from_mapping({"health_check_path": "/x" + "y" * 100_000})
    assert len(e.value.problems["health_check_path"]) < 300 and "100,002 characters" in e.value.problems[
        "health_check_path"]
