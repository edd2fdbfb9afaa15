"""Benchmark: wall time of each notebook in a headless run, on a fresh private sandbox.

Run: python tests/bench/bench_pipeline.py [--only 00,01]  (prints a table, asserts nothing).
The same figures are in every run's build/runs/<timestamp>/timings.csv.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated notebook prefixes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        os.environ["WORKBOOK_STATE_DIR"] = str(Path(tmp) / "state")  # a sandbox of its own, empty
        from workbook import pipeline
        from workbook.params import Params
        from workbook.sandbox import server
        t0 = time.perf_counter()
        try:
            run_dir = pipeline.run(Params(stack_name="bench"), only=args.only.split(",") if args.only else None,
                                   runs_dir=Path(tmp) / "runs")
        except pipeline.RunFailed as e:
            print(f"error: {e}", file=sys.stderr)
            run_dir = e.run_dir
        finally:
            server.stop()
        total = time.perf_counter() - t0
        with open(run_dir / "timings.csv") as f:
            rows = list(csv.DictReader(f))
    print(f"{'notebook':<24} {'status':<8} {'seconds':>8} {'cells':>6} {'slowest cell':>13}")
    for r in rows:
        slow = f"{r['slowest_cell']} ({float(r['slowest_seconds']):.1f} s)" if r["slowest_cell"] else ""
        print(f"{r['notebook']:<24} {r['status']:<8} {float(r['seconds']):>8.1f} {r['cells']:>6} {slow:>13}")
    print(f"{'total (with sandbox start)':<33} {total:>8.1f}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
