"""The IAM drill on a real, ephemeral moto server with IAM enforcement: the developer's keys are really
refused, the controls hold, and no server process is left behind."""
from __future__ import annotations

import json

import pytest

from tests.conftest import make_ctx
from workbook.sandbox import iam_drill
from workbook.steps import access


@pytest.fixture(scope="module")
def drilled():
    """verify_policies in the sandbox, with the drill, on the step's real policy documents."""
    from moto import mock_aws
    with mock_aws():  # the main "sandbox" here is in-process; the drill's server is a real subprocess
        ctx = make_ctx(stack_name="drill")
        access.apply(ctx, ctx.params)
        seen_pids: list[int] = []
        real = iam_drill.ephemeral_server

        def spy(*a, **kw):
            cm = real(*a, **kw)
            info = cm.__enter__()
            seen_pids.append(info["pid"])
            return _Wrapped(cm, info)
        iam_drill.ephemeral_server = spy
        try:
            result = access.verify_policies(ctx, ctx.params)
        finally:
            iam_drill.ephemeral_server = real
        yield {"result": result, "log": ctx.drill_log, "pids": seen_pids}


class _Wrapped:
    def __init__(self, cm, info):
        self.cm, self.info = cm, info

    def __enter__(self):
        return self.info

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


def test_developer_is_refused_the_secret_and_sg_changes_but_reads(drilled):
    r = drilled["result"].query("principal == 'developer'").set_index("attempt")
    assert r.loc["read the DB secret", "status"] == "PASS" and r.loc["read the DB secret", "decision"].startswith("denied (403")
    assert r.loc["open the DB port in a security group", "status"] == "PASS"
    assert r.loc["attach AdministratorAccess to oneself", "status"] == "PASS"
    for allowed in ("describe instances", "describe databases", "read log groups", "describe load balancers"):
        assert r.loc[allowed, "decision"].startswith("allowed"), allowed


def test_what_moto_cannot_evaluate_is_not_emulated_never_pass(drilled):
    r = drilled["result"].query("principal == 'developer'").set_index("attempt")
    for case in ("log in to the DB with IAM database auth", "open a shell on a production instance",
                 "read the DB secret while another group grants secretsmanager:*", "read metrics"):
        assert r.loc[case, "status"] == "NOT_EMULATED", case
    assert set(drilled["result"].query("principal == 'operator'").status) == {"NOT_EMULATED"}


def test_controls_prove_enforcement_was_on(drilled):
    log = drilled["log"]
    controls = log[~log.principal.str.endswith("drill-developer")]
    assert list(controls.status) == ["PASS", "PASS"]
    assert controls.iloc[0].error_code == "InvalidClientTokenId"


def test_no_drill_server_is_left_running(drilled):
    assert len(drilled["pids"]) == 1
    assert not iam_drill.is_running(drilled["pids"][0])


def test_drill_with_an_admin_group_reports_fail():
    """The drill can fail: a group that allows everything lets the developer read the secret."""
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    log = iam_drill.run("devs", {"all": admin}, [
        iam_drill.Attempt("read the secret", "secretsmanager", "get_secret_value", "denied", {"SecretId": "{secret_arn}"})])
    assert log.set_index("attempt").loc["read the secret", "status"] == "FAIL"
    assert "SecretAccessKey" not in json.dumps(log.to_dict("records"), default=str)
