"""Benchmark: `make rehearse` on a private sandbox (the build, a rerun, the teardown, all rehearsing AWS):
per notebook the sandbox seconds and projected AWS minutes; the build's projected AWS wall time, its
critical path and their ratio; the wall time of the whole (goal: 5 minutes on 2 cores).

Run: python tests/bench/bench_rehearse.py [--throttle 0.1]  (prints the figures; exit 1 if a check fails).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--throttle", type=float, default=0.0)
    args = ap.parse_args()
    from workbook import rehearse
    from workbook.params import Params
    with tempfile.TemporaryDirectory(prefix="bench-rehearse-") as tmp:
        return rehearse.rehearse(Params(stack_name="bench"), throttle=args.throttle, state=Path(tmp) / "state")


if __name__ == "__main__":
    sys.exit(main())
