"""The fault tests of 08 on a real account (in-process moto, target=aws): a dev instance the workbook did not
create is never stopped unless `dev_fault_stop` says so, and a stopped dev instance is started again after
the probe, so a rerun of 08 still finds it (issue 10, finding #6)."""
from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import probe
from workbook.dataplane import FaultRefused
from workbook.steps import cutover

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402


def _state(ctx, iid):
    return ctx.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]


def _stack(owner, **params):
    ctx = make_ctx(target="aws", aws_account_id="123456789012", **params)
    return ctx, create_stack(ctx, ctx.params, rds=False, asg=False, dev_owner=owner)


def _stops(ctx, mark):
    return [c.operation for c in ctx.calls.calls[mark:] if c.operation in ("StopInstances", "TerminateInstances")]


def test_a_users_own_dev_instance_is_not_stopped_by_default(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx, stack = _stack("user")
        mark = ctx.calls.mark()
        with pytest.raises(FaultRefused, match="dev_fault_stop"):
            probe.fault_action(ctx, "stop_dev")
        assert _stops(ctx, mark) == [] and _state(ctx, stack["dev"]) == "running"


def test_the_parameter_lets_the_fault_stop_it_and_the_probe_starts_it_again(monkeypatch, server):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx, stack = _stack("user", dev_fault_stop=True, probe_seconds=2, probe_rate=10)
        monkeypatch.setattr(type(ctx.target.dataplane), "endpoint_url", lambda self, c, kind: server)
        run = probe.probe(ctx, "dev", "before", fault="stop_dev")
        assert run.fault_info["stopped"] == stack["dev"]
        assert run.fault_info["restored"] and _state(ctx, stack["dev"]) == "running"   # a rerun finds it
        assert ctx.target.dataplane.dev_instance_id(ctx) == stack["dev"]


def test_the_stacks_own_dev_host_is_stopped_and_started_again(monkeypatch, server):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx, stack = _stack("stack", probe_seconds=2, probe_rate=10)
        monkeypatch.setattr(type(ctx.target.dataplane), "endpoint_url", lambda self, c, kind: server)
        mark = ctx.calls.mark()
        run = probe.probe(ctx, "dev", "before", fault="stop_dev")
        assert run.fault_info["stopped"] == stack["dev"] and _state(ctx, stack["dev"]) == "running"
        # back as it was, not only "running": its status checks passed (the OS booted, so its agent, app and
        # database come back), before a rerun's move or a rollback sends it a command
        assert "status checks passed" in run.fault_info["restored"]
        assert "DescribeInstanceStatus" in [c.operation for c in ctx.calls.calls[mark:]]
        from workbook import iam_actions, steps
        used = iam_actions.actions_for_calls(ctx.calls.calls[mark:])
        assert sorted(used - set(steps.get("08_cutover_compare").all_permissions())) == []


def test_a_refused_fault_is_reported_as_not_measured_not_as_a_failure(monkeypatch, server):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx, stack = _stack("user", probe_seconds=2, probe_rate=10)
        monkeypatch.setattr(type(ctx.target.dataplane), "endpoint_url", lambda self, c, kind: server)
        mark = ctx.calls.mark()
        before = probe.probe(ctx, "dev", "before", fault="stop_dev")
        assert _stops(ctx, mark) == [] and _state(ctx, stack["dev"]) == "running"
        assert "dev_fault_stop" in before.fault_info["refused"]
        after = probe.probe(ctx, "dev", "after", fault="none")

        class Move:
            already_moved, ok, freeze_held, write_during_freeze, timings, engine = False, True, True, "", {}, "postgres"
            verification = __import__("pandas").DataFrame({"rows_rds": [1]})
        row = cutover.verify(Move(), before, after).set_index("id").loc["CUTOVER.DEV_SPOF"]
        assert row.status == "NOT MEASURED" and "dev_fault_stop" in row.detail


class _Ok(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
