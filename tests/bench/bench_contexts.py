"""Benchmark: what a new context costs, with every session on one loader (workbook/boto_models.py) and with a
loader per session (boto3's default, what the workbook did before).

Run: python tests/bench/bench_contexts.py  (no server, no call made; prints a table, asserts nothing).
Each context makes a client of every service the workbook uses, as a notebook does over its cells.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

import boto3  # noqa: E402

from workbook import boto_models  # noqa: E402

SERVICES = ("ec2", "rds", "elbv2", "autoscaling", "iam", "logs", "cloudwatch", "ssm", "s3", "route53", "acm",
            "apigatewayv2", "sns", "secretsmanager", "sts")
ROUNDS = 5


def contexts(make_session) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        s = make_session(region_name="us-east-1")
        for service in SERVICES:
            s.client(service, endpoint_url="http://127.0.0.1:1")
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    print(f"{'sessions':<26} {'first (s)':>9} {'next, each (s)':>14}")
    for label, make in (("one loader (the workbook)", boto_models.session),
                        ("a loader per session", boto3.Session)):
        times = contexts(make)
        print(f"{label:<26} {times[0]:>9.2f} {sum(times[1:]) / (len(times) - 1):>14.2f}")
    print(f"({len(SERVICES)} clients a context; the first context of a process parses the models either way)")


if __name__ == "__main__":
    main()
