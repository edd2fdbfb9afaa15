"""The alarm design of 06_observability: which metric, on which dimensions, with which rule and why.

Kept below the steps so the checks (ARTICLE.ALARMS) and the step read one list. Dimension names are
filled from the stack's resources by the step:
- AWS/ApplicationELB: LoadBalancer = the ALB ARN's suffix `app/<name>/<id>`; TargetGroup =
  `targetgroup/<name>/<id>` (target-level metrics are published per TargetGroup+LoadBalancer);
- AWS/AutoScaling: AutoScalingGroupName (published only with group metrics collection on);
- AWS/RDS: DBInstanceIdentifier.
"""
from __future__ import annotations

from dataclasses import dataclass

from .params import Params


@dataclass(frozen=True)
class AlarmSpec:
    what: str                    # names.alarm(p, what)
    namespace: str
    metric: str
    dimensions: tuple[str, ...]  # dimension names, filled from the stack's resources
    statistic: str
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int
    datapoints: int
    missing: str                 # TreatMissingData
    why: str


def alarm_specs(p: Params) -> list[AlarmSpec]:
    """The key metrics and why each threshold and missing-data rule was chosen."""
    free_storage_floor = 0.1 * p.db_allocated_storage * 1024 ** 3  # 10 % of the allocated GiB, in bytes
    return [
        AlarmSpec("alb-5xx", "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", ("LoadBalancer",), "Sum",
                  "GreaterThanOrEqualToThreshold", 10, 60, 5, 3, "notBreaching",
                  "The load balancer itself answers 5xx (no healthy target, overload). No requests means "
                  "no errors, so missing data is not breaching."),
        AlarmSpec("target-5xx", "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", ("TargetGroup", "LoadBalancer"),
                  "Sum", "GreaterThanOrEqualToThreshold", 10, 60, 5, 3, "notBreaching",
                  "The app answers 5xx. No requests means no errors: missing is not breaching."),
        AlarmSpec("latency", "AWS/ApplicationELB", "TargetResponseTime", ("LoadBalancer",), "Average",
                  "GreaterThanThreshold", 1.0, 60, 5, 3, "notBreaching",
                  "Average response time above 1 s in 3 of 5 minutes; no requests, no latency."),
        AlarmSpec("unhealthy-hosts", "AWS/ApplicationELB", "UnHealthyHostCount", ("TargetGroup", "LoadBalancer"),
                  "Maximum", "GreaterThanOrEqualToThreshold", 1, 60, 3, 3, "missing",
                  "A target fails its health checks for 3 minutes. The ALB publishes this every minute, so "
                  "a gap keeps the last state rather than guessing."),
        AlarmSpec("in-service", "AWS/AutoScaling", "GroupInServiceInstances", ("AutoScalingGroupName",), "Minimum",
                  "LessThanThreshold", p.min_capacity, 60, 3, 3, "breaching",
                  f"Fewer in-service instances than min_capacity={p.min_capacity}. The group publishes every "
                  "minute once collection is on; silence means it is gone: missing is breaching."),
        AlarmSpec("db-cpu", "AWS/RDS", "CPUUtilization", ("DBInstanceIdentifier",), "Average",
                  "GreaterThanThreshold", 80, 300, 3, 3, "missing",
                  "Database CPU above 80 % for 15 minutes."),
        AlarmSpec("db-free-storage", "AWS/RDS", "FreeStorageSpace", ("DBInstanceIdentifier",), "Minimum",
                  "LessThanThreshold", free_storage_floor, 300, 1, 1, "missing",
                  f"Less than 10 % of the {p.db_allocated_storage} GiB left: a full disk stops writes."),
        AlarmSpec("db-connections", "AWS/RDS", "DatabaseConnections", ("DBInstanceIdentifier",), "Maximum",
                  "GreaterThanThreshold", 80, 300, 2, 2, "missing",
                  "More than 80 connections (a db.t4g.micro allows about 100): pools leak or the app "
                  "scaled past what the database takes."),
    ]
