"""Benchmark: the headless pipeline on a fresh private sandbox: wall time and API calls per notebook.

Run: python tests/bench/bench_pipeline.py [--only 00,01]  (prints a table, asserts nothing).
Each notebook runs as its own pipeline run so the sandbox's journal (one line per API call the moto
server answered, reads included) can be counted between them; wall times are also in every run's
build/runs/<timestamp>/timings.csv.
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


def _journal_lines(state: Path) -> int:
    journal = state / "journal.jsonl"
    return sum(1 for _ in journal.open()) if journal.exists() else 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", help="comma-separated notebook prefixes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        state = Path(tmp) / "state"
        os.environ["WORKBOOK_STATE_DIR"] = str(state)  # a sandbox of its own, empty
        from workbook import pipeline
        from workbook.params import Params
        from workbook.sandbox import server
        p = Params(stack_name="bench")
        notebooks = pipeline.select(pipeline.discover(), args.only.split(",") if args.only else None)
        rows, ok = [], True
        t0 = time.perf_counter()
        server.start()
        try:
            for nb in notebooks:
                before = _journal_lines(state)
                try:
                    run_dir = pipeline.run(p, only=[nb.stem], runs_dir=Path(tmp) / "runs")
                except pipeline.RunFailed as e:
                    print(f"error: {e}", file=sys.stderr)
                    run_dir, ok = e.run_dir, False
                with open(run_dir / "timings.csv") as f:
                    timing = next(csv.DictReader(f))
                rows.append({**timing, "api_calls": _journal_lines(state) - before})
                if not ok:
                    break
        finally:
            server.stop()
        total = time.perf_counter() - t0
    print(f"{'notebook':<24} {'status':<8} {'seconds':>8} {'cells':>6} {'API calls':>10} {'slowest cell':>14}")
    for r in rows:
        slow = f"{r['slowest_cell']} ({float(r['slowest_seconds']):.1f} s)" if r["slowest_cell"] else ""
        print(f"{r['notebook']:<24} {r['status']:<8} {float(r['seconds']):>8.1f} {r['cells']:>6} "
              f"{r['api_calls']:>10} {slow:>14}")
    print(f"{'total (with sandbox start and stop)':<40} {total:>8.1f} s, "
          f"{sum(r['api_calls'] for r in rows)} API calls")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
