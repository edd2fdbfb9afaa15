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


# RDS's default max_connections per engine, from the class's memory in bytes (RDS user guide, "Maximum
# number of database connections"); RDS counts a little less memory than the class has, so the real
# limit is a little lower. The alarm fires at 75 % of it.
MAX_CONNECTIONS = {"mysql": lambda mem: mem // 12582880, "postgres": lambda mem: min(mem // 9531392, 5000)}
CONNECTIONS_SHARE = 0.75


def class_memory_gib(instance_class: str) -> int | None:
    """db.<family>.<size>: micro, small and medium have 1, 2 and 4 GiB; large 8 GiB, doubling with each
    xlarge step; memory-optimised families (r, x) from large up twice that. None when not of that form."""
    parts = instance_class.split(".")
    if len(parts) != 3:
        return None
    family, size = parts[1], parts[2]
    small = {"micro": 1, "small": 2, "medium": 4}
    if size in small:
        return small[size]
    steps = {"large": 1, "xlarge": 2}.get(size) or (2 * int(size[:-6]) if size[:-6].isdigit() else None)
    if steps is None:
        return None
    return 8 * steps * (2 if family.startswith(("r", "x")) else 1)


def connections_threshold(p: Params) -> tuple[int, str]:
    mem = class_memory_gib(p.db_instance_class)
    if mem is None:
        return 80, f"a fixed figure: the memory of {p.db_instance_class} is not known here"
    limit = MAX_CONNECTIONS[p.rds_engine](mem * 1024 ** 3)
    return max(10, int(CONNECTIONS_SHARE * limit)), (f"75 % of {p.rds_engine}'s default max_connections on a "
                                                     f"{p.db_instance_class} ({limit}, from its {mem} GiB)")


def alarm_specs(p: Params) -> list[AlarmSpec]:
    """The key metrics and why each threshold and missing-data rule was chosen."""
    free_storage_floor = 0.1 * p.db_allocated_storage * 1024 ** 3  # 10 % of the allocated GiB, in bytes
    connections, connections_why = connections_threshold(p)
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
                  "GreaterThanThreshold", connections, 300, 2, 2, "missing",
                  f"More than {connections} connections, {connections_why}: pools leak or the app scaled past "
                  "what the database takes."),
    ]
