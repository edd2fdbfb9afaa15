"""metrics.py: what is published reads back equal, in batches of 500 queries; the comparison."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from workbook import metrics, probe

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def _put(ctx, namespace, name, dims, values, period_s=60):
    cw = ctx.client("cloudwatch")
    data = [{"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
             "Timestamp": T0 + timedelta(seconds=i * period_s), "Value": v} for i, v in enumerate(values)]
    cw.put_metric_data(Namespace=namespace, MetricData=data)


def test_metrics_read_back_equal_what_was_published(ctx):
    cpu = [12.5, 40.0, 7.25]
    _put(ctx, "AWS/EC2", "CPUUtilization", [("InstanceId", "i-0123456789abcdef0")], cpu)
    _put(ctx, "AWS/ApplicationELB", "RequestCount", [("LoadBalancer", "app/demo-alb/abc")], [100, 250, 3])
    spec_cpu = metrics.MetricSpec("AWS/EC2", "CPUUtilization", (("InstanceId", "i-0123456789abcdef0"),), "Average")
    spec_req = metrics.MetricSpec("AWS/ApplicationELB", "RequestCount", (("LoadBalancer", "app/demo-alb/abc"),), "Sum")
    df = metrics.fetch(ctx, [spec_cpu, spec_req], T0 - timedelta(minutes=1), T0 + timedelta(minutes=5), phase="after")
    assert list(df.columns) == metrics.COLUMNS
    got_cpu = df[df["metric"] == "CPUUtilization"]
    assert got_cpu["value"].tolist() == cpu
    assert got_cpu["timestamp"].tolist() == [pd.Timestamp(T0 + timedelta(minutes=i)) for i in range(3)]
    assert df[df["metric"] == "RequestCount"]["value"].tolist() == [100, 250, 3]
    assert set(df["phase"]) == {"after"}
    assert set(df["dimensions"]) == {"InstanceId=i-0123456789abcdef0", "LoadBalancer=app/demo-alb/abc"}


def test_statistic_values_read_back_per_statistic(ctx):
    ctx.client("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
        "MetricName": "TargetResponseTime", "Dimensions": [{"Name": "LoadBalancer", "Value": "app/x/1"}],
        "Timestamp": T0, "StatisticValues": {"SampleCount": 4, "Sum": 0.2, "Minimum": 0.01, "Maximum": 0.12}}])
    specs = [metrics.MetricSpec("AWS/ApplicationELB", "TargetResponseTime", (("LoadBalancer", "app/x/1"),), s)
             for s in ("SampleCount", "Sum", "Minimum", "Maximum", "Average")]
    df = metrics.fetch(ctx, specs, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    got = dict(zip(df["statistic"], df["value"]))
    assert got == pytest.approx({"SampleCount": 4, "Sum": 0.2, "Minimum": 0.01, "Maximum": 0.12, "Average": 0.05})


def test_many_metrics_are_read_500_queries_a_call(ctx):
    cw = ctx.client("cloudwatch")
    for b in range(0, 600, 150):
        cw.put_metric_data(Namespace="Workbook/Test", MetricData=[
            {"MetricName": "M", "Dimensions": [{"Name": "N", "Value": str(i)}], "Timestamp": T0, "Value": float(i)}
            for i in range(b, b + 150)])
    found = metrics.discover(ctx, "Workbook/Test")
    assert len(found) == 600
    mark = ctx.calls.mark()
    df = metrics.read_namespace(ctx, "Workbook/Test", T0 - timedelta(minutes=1), T0 + timedelta(minutes=1),
                                statistics=("Sum",))
    assert ctx.calls.count(mark, ("GetMetricData",)) == 2
    assert len(df) == 600
    assert sorted(df["value"]) == [float(i) for i in range(600)]


def test_percentiles_are_refused_before_any_call():
    with pytest.raises(ValueError, match="percentiles in pandas"):
        metrics.MetricSpec("AWS/ApplicationELB", "TargetResponseTime", (), "p99").query("q0")


def test_stack_filter_keeps_only_the_stacks_metrics():
    from workbook.params import Params
    keep = metrics.stack_filter(Params(), instance_ids=["i-1"])
    assert keep("RequestCount", {"LoadBalancer": "app/demo-alb/123"})
    assert not keep("RequestCount", {"LoadBalancer": "app/other-alb/123"})
    assert keep("DatabaseConnections", {"DBInstanceIdentifier": "demo-db"})
    assert not keep("CPUUtilization", {"InstanceId": "i-2"})


def _run(phase, fault, oks, latencies):
    n = len(oks)
    df = pd.DataFrame({"seq": range(n), "due_s": [i / 10 for i in range(n)], "sent_at": [1000 + i / 10 for i in range(n)],
                       "latency_ms": latencies, "status": [200 if o else 0 for o in oks], "ok": oks,
                       "error": ["" if o else "ConnectionRefusedError" for o in oks], "instance": "i-1",
                       "path": "/items/", "phase": phase, "endpoint": "x"})
    df["at"] = pd.to_datetime(df["sent_at"], unit="s", utc=True)
    return probe.ProbeRun(df, "http://x", phase, "dev" if phase == "before" else "lb", 10, n / 10, 1000.0, fault,
                          {"at": 1000.0 + 2.0})


def test_compare_and_plot(tmp_path):
    before = _run("before", "stop_dev", [True] * 20 + [False] * 40, [5.0] * 20 + [2000.0] * 40)
    after = _run("after", "kill_app_instance", [True] * 25 + [False] * 3 + [True] * 32, [6.0] * 60)
    table = metrics.compare(before, after).set_index("measure")
    assert table.loc["error rate (%)", "before"] == pytest.approx(100 * 40 / 60)
    assert table.loc["error rate (%)", "after"] == pytest.approx(100 * 3 / 60)
    assert table.loc["served in the last second (%)", "before"] == 0
    assert table.loc["served in the last second (%)", "after"] == 100
    assert table.loc["p50 latency, served (ms)", "after"] == 6.0
    assert table.loc["p99 latency, served (ms)", "before"] == 5.0   # failures count as errors, not latency
    png = metrics.plot(before, after, tmp_path / "cmp.png")
    assert png.stat().st_size > 10_000


def test_in_a_run_the_evidence_chart_goes_to_the_run_folder(tmp_path, monkeypatch):
    """As the diagrams do (issue 13): a run's chart named diagrams/x.png is kept in its run folder and
    published when the run ends, so two runs at once never write the same file."""
    run = tmp_path / "run"
    monkeypatch.setenv("WORKBOOK_RUN_DIR", str(run))
    monkeypatch.chdir(tmp_path)
    before = _run("before", "stop_dev", [True] * 60, [5.0] * 60)
    after = _run("after", "kill_app_instance", [True] * 60, [6.0] * 60)
    png = metrics.plot(before, after, "diagrams/08_cutover_compare_evidence.png")
    assert png == run / "diagrams" / "08_cutover_compare_evidence.png" and png.stat().st_size > 10_000
    assert not (tmp_path / "diagrams").exists()
