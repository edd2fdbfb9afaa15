"""probe.py: open-loop rate, per-request frame, a fault mid-run, per-second aggregates to CloudWatch."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workbook import metrics, probe
from workbook.params import ParameterError


class Ok(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("X-Instance-Id", "i-local")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv):
    return f"http://127.0.0.1:{srv.server_address[1]}"


def test_sends_rate_times_seconds_requests_evenly(server):
    run = probe.run(_url(server), rate=50, seconds=2, phase="before", endpoint="dev")
    df = run.frame
    assert len(df) == 100 and df["ok"].all()
    assert df["due_s"].diff().dropna().round(4).eq(0.02).all()   # open loop: due every 1/rate s
    assert (df["latency_ms"] > 0).all() and set(df["instance"]) == {"i-local"}
    s = run.summary()
    assert s["error_rate"] == 0 and s["availability"] == 1.0 and s["p50_ms"] <= s["p99_ms"]


def test_fault_mid_run_shows_as_errors_after_it(server):
    def stop_server():
        server.shutdown()
        server.server_close()
        return {"stopped": "test server"}
    run = probe.run(_url(server), rate=40, seconds=1.5, fault=stop_server, fault_name="stop_dev", fault_at_s=0.5,
                    timeout=0.5)
    df = run.frame
    assert run.fault_info["stopped"] == "test server"
    assert df[df["due_s"] < 0.45]["ok"].all()
    late = df[df["due_s"] > 0.75]
    assert len(late) > 0 and not late["ok"].any()
    assert set(late["error"]) <= {"ConnectionRefusedError", "RemoteDisconnected", "ConnectionResetError"}
    s = run.summary()
    assert s["ok_in_last_second"] == 0 and s["error_rate_after_fault"] > 0.5


def test_per_second_aggregates_read_back_from_cloudwatch(ctx, server):
    run = probe.run(_url(server), rate=20, seconds=2, phase="after", endpoint="lb")
    assert probe.publish(ctx, run) == 1
    start, end = metrics.window(run)
    back = metrics.read_probe(ctx, start, end, phase="after")
    requests = back[(back["metric"] == "Requests")]
    assert requests["value"].sum() == 40
    lat = back[(back["metric"] == "Latency")].pivot_table(index="timestamp", columns="statistic", values="value")
    ps = probe.per_second(run.frame).set_index("second")
    assert lat["SampleCount"].sum() == 40
    assert lat["Maximum"].max() == pytest.approx(ps["latency_max"].max())
    assert set(back["dimensions"]) >= {"Phase=after,Endpoint=lb"}


def test_bad_rate_is_refused_before_sending():
    with pytest.raises(ParameterError, match="probe_rate"):
        probe.run("http://127.0.0.1:9", rate=0, seconds=1)


def test_unknown_fault_is_refused(ctx):
    with pytest.raises(ParameterError, match="fault"):
        probe.fault_action(ctx, "meteor")


def test_no_fault_injects_nothing_on_either_target():
    from moto import mock_aws
    from conftest import make_ctx
    with mock_aws():
        for ctx in (make_ctx(), make_ctx(target="aws", aws_account_id="123456789012")):
            assert probe.fault_action(ctx, "none") is None
