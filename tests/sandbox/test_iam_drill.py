"""The IAM drill, which answers IAM policy simulation in the sandbox: on a real, ephemeral moto server
with IAM enforcement the developer's keys are really refused, the controls hold, what moto cannot
evaluate comes back NOT_EMULATED, and no server process is left behind, even when the run that started
one is killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_ctx
from workbook.sandbox import iam_drill, server
from workbook.steps import access

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def drilled(tmp_path_factory):
    """verify_policies in the sandbox on the step's real policy documents; its own state folder, so
    the drill servers it records are this test's only."""
    from moto import mock_aws
    old = os.environ.get("WORKBOOK_STATE_DIR")
    os.environ["WORKBOOK_STATE_DIR"] = str(tmp_path_factory.mktemp("drill-state"))
    try:
        with mock_aws():  # the main "sandbox" here is in-process; the drill's server is a real subprocess
            ctx = make_ctx(stack_name="drill")
            access.apply(ctx)
            result = access.verify_policies(ctx)
            again = access.verify_policies(ctx)
            yield {"ctx": ctx, "result": result, "again": again, "log": ctx.target.drill_log(),
                   "servers": server.tracked()}
    finally:
        server.stop()
        if old is None:
            os.environ.pop("WORKBOOK_STATE_DIR", None)
        else:
            os.environ["WORKBOOK_STATE_DIR"] = old


def test_developer_is_refused_the_secret_and_sg_changes_but_reads(drilled):
    r = drilled["result"].query("principal == 'developer'").set_index("attempt")
    assert r.loc["read the DB secret", "status"] == "PASS" and r.loc["read the DB secret", "decision"] == "implicitDeny"
    assert r.loc["open the DB port in a security group", "status"] == "PASS"
    assert r.loc["open the DB port in a security group", "decision"] == "explicitDeny"  # despite ec2:* elsewhere
    assert r.loc["attach AdministratorAccess to oneself", "status"] == "PASS"
    for allowed in ("describe instances", "describe databases", "read log groups", "describe load balancers",
                    "describe auto scaling groups"):
        assert (r.loc[allowed, "decision"], r.loc[allowed, "status"]) == ("allowed", "PASS"), allowed


def test_the_decisions_are_the_drill_users_real_outcomes(drilled):
    log = drilled["log"]
    tried = log[log.principal == iam_drill.USER].set_index(["extra_grant", "attempt"])
    assert tried.loc[("", "read the DB secret"), "outcome"] == "denied"
    assert tried.loc[("ec2:*", "open the DB port in a security group"), "outcome"] == "denied"
    assert tried.loc[("", "describe instances"), "outcome"] == "allowed"


def test_what_moto_cannot_evaluate_is_not_emulated_never_pass(drilled):
    r = drilled["result"].query("principal == 'developer'").set_index("attempt")
    for case, why in (("log in to the DB with IAM database auth", "IAM database authentication"),
                      ("open a shell on a production instance", "condition"),
                      ("read the DB secret while another group grants secretsmanager:*", 'Resource "*"'),
                      ("read metrics", "monitoring:*")):
        assert r.loc[case, "status"] == "NOT_EMULATED", case
        assert why in r.loc[case, "how"], case
    ops = drilled["result"].query("principal == 'operator'")
    assert set(ops.status) == {"NOT_EMULATED"} and ops.how.str.contains("role").all()


def test_controls_prove_enforcement_was_on(drilled):
    log = drilled["log"]
    controls = log[log.attempt.str.startswith("control:")]
    assert list(controls.status) == ["PASS", "PASS"] * 2  # one drill per set of policies: as deployed, + ec2:*
    assert controls.iloc[0].error_code == "InvalidClientTokenId"


def test_a_second_verification_asks_no_new_drill(drilled):
    assert drilled["again"].equals(drilled["result"])
    assert len(drilled["servers"]) == 2  # not four: the same policies are not drilled twice


def test_every_drill_server_was_recorded_and_is_stopped(drilled):
    servers = drilled["servers"]
    assert {s["what"] for s in servers} == {"iam-drill"}
    assert all(s["stopped"] and not s["running"] and not iam_drill.is_running(s["pid"]) for s in servers)


def test_simulation_answers_in_aws_shape(drilled):
    ctx = drilled["ctx"]
    group = ctx.client("iam").get_group(GroupName="drill-developers")["Group"]["Arn"]
    out = ctx.client("iam").simulate_principal_policy(
        PolicySourceArn=group, ActionNames=["ec2:DescribeInstances", "cloudwatch:GetMetricData"])
    first, second = out["EvaluationResults"]
    assert (first["EvalActionName"], first["EvalResourceName"], first["EvalDecision"]) == \
        ("ec2:DescribeInstances", "*", "allowed")
    assert "EvalDecisionDetails" not in first
    assert ctx.gap(second["EvalDecisionDetails"]["sandbox"]).startswith("moto names CloudWatch actions")


def test_drill_with_an_admin_group_reports_fail(state_dir):
    """The drill can fail: a group that allows everything lets the developer read the secret."""
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    log = iam_drill.run("devs", {"all": admin}, [
        iam_drill.Attempt("read the secret", "secretsmanager", "get_secret_value", "denied", {"SecretId": "{secret_arn}"})])
    assert log.set_index("attempt").loc["read the secret", "status"] == "FAIL"
    assert "SecretAccessKey" not in json.dumps(log.to_dict("records"), default=str)


def test_drill_server_left_by_a_killed_run_is_stopped_by_sandbox_stop(state_dir):
    """A run killed during the drill never reaches the drill's own stop; `sandbox stop` finds the
    server through its record and stops it."""
    code = ("import os, signal\n"
            "from workbook.sandbox import iam_drill\n"
            "with iam_drill.ephemeral_server() as srv:\n"
            "    print(srv['pid'], flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == -signal.SIGKILL, run.stderr
    pid = int(run.stdout.split()[0])
    assert iam_drill.is_running(pid)                  # left running: its runner died first
    assert [(r["pid"], r["running"]) for r in server.tracked()] == [(pid, True)]
    out = server.stop()
    assert out["other_processes"] == [pid]
    assert not iam_drill.is_running(pid)
    assert server.tracked() == []
