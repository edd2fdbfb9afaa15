"""Issue 13 and issue 10 #14: what AWS allows is accepted (normalised), what it refuses is refused before
any call, and every message is short enough to read."""
from __future__ import annotations

import pytest
import yaml

from workbook.params import ParameterError, Params


def refused(values, param):
    with pytest.raises(ParameterError) as e:
        Params.from_mapping(values)
    assert param in e.value.problems, e.value.problems
    return e.value.problems[param]


# ---- right values accepted, normalised ---------------------------------------------------------------
def test_an_unquoted_engine_version_in_yaml_is_taken_as_written(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("db_engine_version: 16.4\n")
    assert Params.from_yaml(f).db_engine_version == "16.4"
    f.write_text("db_engine_version: 16.10\n")   # a float would be 16.1: the file's own text is kept
    assert Params.from_yaml(f).db_engine_version == "16.10"
    f.write_text("db_engine_version: 16\n")
    assert Params.from_yaml(f).db_engine_version == "16"


def test_an_engine_version_that_arrived_as_a_number_is_taken_when_unambiguous():
    assert Params.from_mapping({"db_engine_version": 16.4}).db_engine_version == "16.4"
    assert Params.from_mapping({"db_engine_version": 16}).db_engine_version == "16"
    assert Params.from_mapping({"db_engine": "mysql", "dev_db_engine": "mysql", "db_engine_version": 8.0}).db_engine_version == "8.0"


@pytest.mark.parametrize("number", [16.1, 16.2, 15.1])
def test_an_engine_version_number_that_lost_a_trailing_zero_is_refused_with_the_way_out(number):
    # 16.10 as a number is 16.1: both are PostgreSQL minors, so the number cannot say which was meant
    msg = refused({"db_engine_version": number}, "db_engine_version")
    assert f"{number}0" in msg
    assert "quote" in msg and "-r db_engine_version" in msg


def test_an_engine_named_without_a_version_gets_its_own_default():
    assert Params.from_mapping({"db_engine": "mysql", "dev_db_engine": "mysql"}).rds_engine_version == "8.4"
    assert Params.from_mapping({"dev_db_engine": "mysql"}).rds_engine_version == "8.4"   # auto: the dev host's
    assert "mysql" in refused({"db_engine": "mysql", "dev_db_engine": "mysql", "db_engine_version": "16.4"},
                              "db_engine_version")


def test_an_account_id_that_arrived_as_a_number_is_accepted():
    assert Params.from_mapping({"aws_account_id": 123456789012}).aws_account_id == "123456789012"
    # a number drops leading zeros: a shorter one is not guessed at, the message says how to pass the text
    msg = refused({"aws_account_id": 12345678901}, "aws_account_id")
    assert "-r aws_account_id 012345678901" in msg
    assert "-r aws_account_id 000000012345" in refused({"aws_account_id": 12345}, "aws_account_id")


def test_an_account_id_in_yaml_keeps_its_digits(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("aws_account_id: 012345670123\n")   # YAML 1.1 would read this as an octal number
    assert Params.from_yaml(f).aws_account_id == "012345670123"


@pytest.mark.parametrize("values,param,expected", [
    ({"az_count": "3.0"}, "az_count", 3),
    ({"az_count": 3.0}, "az_count", 3),
    ({"multi_az": 0}, "multi_az", False),
    ({"multi_az": "on"}, "multi_az", True),
    ({"region": "EU-West-1"}, "region", "eu-west-1"),
    ({"instance_type": "T3.Micro"}, "instance_type", "t3.micro"),
    ({"db_instance_class": "DB.T4G.Micro"}, "db_instance_class", "db.t4g.micro"),
    ({"domain_name": "API.Example.com"}, "domain_name", "api.example.com"),
    ({"domain_name": "api.example.com."}, "domain_name", "api.example.com"),
    ({"instance_type": "m7i-flex.large"}, "instance_type", "m7i-flex.large"),
    ({"instance_type": "c7a.metal-48xl"}, "instance_type", "c7a.metal-48xl"),
    ({"db_instance_class": "db.r7g.2xlarge"}, "db_instance_class", "db.r7g.2xlarge"),
    ({"db_instance_class": "db.m5d.large"}, "db_instance_class", "db.m5d.large"),
    ({"db_engine": "mysql", "dev_db_engine": "mysql", "db_engine_version": "8.0.39"}, "db_engine_version", "8.0.39"),
    ({"alarm_email": "ops+alerts@example.co.uk"}, "alarm_email", "ops+alerts@example.co.uk"),
    ({"dev_tag": "env=dev backend"}, "dev_tag", "env=dev backend"),
    ({"dev_tag": "aws:cloudformation:stack-name=dev"}, "dev_tag", "aws:cloudformation:stack-name=dev"),
    ({"dev_tag": "Name=dev;rm -rf /"}, "dev_tag", "Name=dev;rm -rf /"),   # EC2 takes any tag text; no shell sees it
    ({"aws_profile": "dev profile"}, "aws_profile", "dev profile"),
    ({"stack_name": "yes"}, "stack_name", "yes"),
    ({"instance_type": " t3.micro\n"}, "instance_type", "t3.micro"),   # whitespace around a value is no part of it
])
def test_values_aws_takes_are_accepted_and_normalised(values, param, expected):
    assert getattr(Params.from_mapping(values), param) == expected


def test_yaml_words_that_yaml_1_1_reads_as_booleans_stay_text_for_text_parameters(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("stack_name: yes\ndemo_dev_host: no\nmulti_az: off\n")
    p = Params.from_yaml(f)
    assert (p.stack_name, p.demo_dev_host, p.multi_az) == ("yes", "no", False)


# ---- what AWS refuses, refused before any call --------------------------------------------------------
ARABIC_3 = "\u0663"   # ARABIC-INDIC DIGIT THREE: Python's \d matches it, AWS does not


@pytest.mark.parametrize("values,param,message", [
    ({"instance_type": f"t{ARABIC_3}.micro"}, "instance_type", "t3.micro"),
    ({"instance_type": f"m5.{ARABIC_3}xlarge"}, "instance_type", "instance type"),
    ({"dev_instance_type": f"t{ARABIC_3}.small"}, "dev_instance_type", "instance type"),
    ({"db_instance_class": f"db.t{ARABIC_3}.micro"}, "db_instance_class", "RDS"),
    ({"db_engine_version": f"16.{ARABIC_3}"}, "db_engine_version", "version"),
    ({"aws_account_id": "1234567890" + ARABIC_3 * 2}, "aws_account_id", "12-digit"),
    ({"az_count": ARABIC_3}, "az_count", "whole number"),
    ({"instance_type": "t3.mirco"}, "instance_type", "did you mean t3.micro"),
    ({"db_instance_class": "m5.large"}, "db_instance_class", "db.m5.large"),
    ({"db_engine_version": "16.4; DROP TABLE x"}, "db_engine_version", "version"),
    ({"db_engine_version": "latest"}, "db_engine_version", "version"),
    ({"db_engine": "mysql", "db_engine_version": "16.4"}, "db_engine_version", "mysql"),
    ({"domain_name": "api.exa_mple.com"}, "domain_name", "DNS name"),
    ({"domain_name": "a" * 64 + ".example.com"}, "domain_name", "63"),
    ({"domain_name": ("a" * 60 + ".") * 5 + "com"}, "domain_name", "253"),
    ({"domain_name": "api.ex\u0430mple.com"}, "domain_name", "DNS name"),   # a Cyrillic a
    ({"alarm_email": "ops@example.com\nBcc: x@evil.test"}, "alarm_email", "e-mail"),
    ({"alarm_email": "a" * 65 + "@example.com"}, "alarm_email", "64"),
    ({"alarm_email": "ops@exa mple.com"}, "alarm_email", "e-mail"),
    ({"dev_tag": "Name=" + "x" * 257}, "dev_tag", "256"),
    ({"dev_tag": "k" * 129 + "=v"}, "dev_tag", "128"),
    ({"hosted_zone_id": "Z" * 33, "domain_name": "api.example.com"}, "hosted_zone_id", "zone id"),
    ({"stack_name": "de\u00e9mo"}, "stack_name", "lowercase"),
    ({"health_check_path": "/h\u00e9alth"}, "health_check_path", "URL path"),
    ({"az_count": 2.5}, "az_count", "whole number"),
    ({"az_count": True}, "az_count", "whole number"),
    ({"multi_az": 2}, "multi_az", "true or false"),
    ({"stack_name": True}, "stack_name", "text"),
    ({"stack_name": ["a"]}, "stack_name", "text"),
    ({"sample_rows": float("nan")}, "sample_rows", "whole number"),
])
def test_values_aws_refuses_are_refused_naming_the_parameter(values, param, message):
    assert message in refused(values, param)


@pytest.mark.parametrize("param,value", [("stack_name", "demo\n"), ("instance_type", "t3.micro\n"),
                                         ("health_check_path", "/health\n"), ("aws_account_id", "123456789012\n"),
                                         ("db_engine_version", "16.4\n")])
def test_a_trailing_newline_is_refused_when_params_is_made_directly(param, value):
    """`$` matches before a final newline: every pattern is matched whole."""
    with pytest.raises(ParameterError) as e:
        Params(**{param: value})
    assert param in e.value.problems


def test_desired_above_max_names_desired_capacity():
    msg = refused({"desired_capacity": 5, "max_capacity": 3}, "desired_capacity")
    assert "max_capacity" in msg


def test_min_above_desired_names_min_capacity():
    assert "desired_capacity" in refused({"min_capacity": 3, "desired_capacity": 2}, "min_capacity")


# ---- messages a person can read ------------------------------------------------------------------------
BIG = 100_000


@pytest.mark.parametrize("param", ["stack_name", "instance_type", "db_instance_class", "db_engine_version",
                                   "domain_name", "alarm_email", "dev_tag", "dev_instance_id", "hosted_zone_id",
                                   "region", "target", "vpc_cidr", "aws_account_id", "aws_profile", "fault"])
def test_a_100_kb_value_is_refused_with_a_cut_message(param):
    values = {param: "x" * BIG}
    if param == "hosted_zone_id":
        values["domain_name"] = "api.example.com"
    with pytest.raises(ParameterError) as e:
        Params.from_mapping(values)
    assert len(str(e.value)) < 1_000, str(e.value)[:300]
    assert "100,000 characters" in str(e.value)


def test_a_100_kb_unknown_name_is_cut_too():
    with pytest.raises(ParameterError) as e:
        Params.from_mapping({"x" * BIG: 1})
    assert len(str(e.value)) < 2_000


def test_a_huge_number_is_cut():
    with pytest.raises(ParameterError) as e:
        Params.from_mapping({"az_count": 10 ** 5000})
    assert len(str(e.value)) < 1_000


def test_cli_set_without_equals_is_cut(capsys):
    from workbook.__main__ import main
    assert main(["params", "--set", "y" * BIG]) == 2
    assert len(capsys.readouterr().err) < 1_000


def test_cli_5_mb_yaml_value_gives_a_short_message(tmp_path, capsys):
    from workbook.__main__ import main
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"stack_name": "s" * 5_000_000}))
    assert main(["params", "--params", str(f)]) == 2
    err = capsys.readouterr().err
    assert len(err) < 1_000 and "stack_name" in err


@pytest.mark.parametrize("text,says", [
    ("stack_name: [unclosed\n", "not valid YAML"),
    ("- stack_name\n- demo\n", "mapping"),
    ("just some text\n", "mapping"),
    ("stack_name: demo\nstack_name: other\n", "twice"),
    ("? [a, b]\n: c\n", "parameter name"),
    ("1: 2\n", "parameter name"),
])
def test_a_broken_or_non_mapping_yaml_file_is_named_with_what_is_wrong(tmp_path, text, says, capsys):
    from workbook.__main__ import main
    f = tmp_path / "mine.yaml"
    f.write_text(text)
    with pytest.raises(ParameterError) as e:
        Params.from_yaml(f)
    assert "mine.yaml" in str(e.value) and says in str(e.value), str(e.value)
    assert main(["params", "--params", str(f)]) == 2
    err = capsys.readouterr().err
    assert "mine.yaml" in err and "Traceback" not in err


def test_a_parameter_error_shows_in_ipython_as_its_message_only():
    """IPython (JupyterLab, papermill's kernel) renders `_render_traceback_` in place of the traceback."""
    with pytest.raises(ParameterError) as e:
        Params.from_mapping({"az_count": 1})
    lines = e.value._render_traceback_()
    assert lines[0].startswith("ParameterError") or "invalid parameters" in lines[0]
    assert any("az_count" in ln for ln in lines) and len(lines) <= 5
    assert not any("File " in ln for ln in lines)
