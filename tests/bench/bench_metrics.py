"""Benchmark: get_metric_data calls and time against the number of metrics read.

Run: python tests/bench/bench_metrics.py  (moto in process; prints a table, asserts nothing).
One query per metric and statistic; metrics.fetch packs 500 queries into a call.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from moto import mock_aws  # noqa: E402

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def main() -> None:
    from tests.conftest import make_ctx
    from workbook import metrics
    print(f"{'metrics':>8} {'datapoints':>10} {'calls':>6} {'seconds':>8} {'ms/metric':>9}")
    for n in (10, 100, 499, 500, 501, 1000, 2000):
        with mock_aws():
            ctx = make_ctx()
            cw = ctx.client("cloudwatch")
            for b in range(0, n, 1000):
                cw.put_metric_data(Namespace="Bench", MetricData=[
                    {"MetricName": "M", "Dimensions": [{"Name": "N", "Value": str(i)}],
                     "Timestamp": T0 + timedelta(minutes=k), "Value": float(i + k)}
                    for i in range(b, min(n, b + 1000) ) for k in range(1)])
            specs = [metrics.MetricSpec("Bench", "M", (("N", str(i)),), "Average") for i in range(n)]
            mark = ctx.calls.mark()
            t = time.perf_counter()
            df = metrics.fetch(ctx, specs, T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
            dt = time.perf_counter() - t
            calls = ctx.calls.count(mark, ("GetMetricData",))
            print(f"{n:>8} {len(df):>10} {calls:>6} {dt:>8.2f} {1000 * dt / n:>9.2f}")


if __name__ == "__main__":
    main()
