"""The figures the rehearsal plays, each with where it comes from.

Every duration is a range in AWS seconds; a resource gets a point in its range picked from its own id
(so the same build takes the same AWS time on every run, and two NAT gateways differ as on AWS).
`source` says where the figure comes from: AWS documentation, botocore's waiter definitions, re:Post
answers and provider issue trackers, gathered 2026-11 (the section named is the team's fact sheet that
collects them). Where the sources give no size ("minutes"), `assumed` says so and the figure is the
model's choice, to be replaced when a source is found: no figure is invented without that mark.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

MIN = 60.0


@dataclass(frozen=True)
class Fact:
    low: float             # AWS seconds
    high: float
    source: str
    assumed: bool = False  # True: no sized figure was found; the range is the model's choice


FACTS: dict[str, Fact] = {
    # ---- durations of the states users wait on ----
    "rds_create_single": Fact(5 * MIN, 10 * MIN, 'AWS docs, "Durations for the model": RDS single-AZ create 5-10 min'),
    "rds_create_multi": Fact(15 * MIN, 20 * MIN, 'AWS docs, "Durations for the model": Multi-AZ 15-20 min'),
    "rds_modify": Fact(5 * MIN, 10 * MIN, 'AWS docs, table: "single-AZ -> Multi-AZ modify: no downtime; minutes; no sized '
                                          'figure" (the standby is built like a single-AZ create)', assumed=True),
    "rds_snapshot": Fact(2 * MIN, 5 * MIN, 'AWS docs, "Durations for the model": manual snapshot of a small DB 2-5 min'),
    "rds_restore": Fact(10 * MIN, 20 * MIN, 'AWS docs, "Durations for the model": restore 10-20 min'),
    "rds_restore_backing_up": Fact(120 * MIN, 180 * MIN, 'AWS docs, table: restore from snapshot "with automated backups '
                                                         'on, stays backing-up 2-3 h (since 2025)"'),
    "rds_reboot": Fact(1 * MIN, 2 * MIN, 'AWS docs, "Durations for the model": reboot with failover 1-2 min'),
    "rds_delete": Fact(5 * MIN, 10 * MIN, 'AWS docs, "Durations for the model": delete with final snapshot 5-10 min '
                                          '(also used without one: no figure)'),
    "nat_create": Fact(1.5 * MIN, 2 * MIN, 'AWS docs, "Durations for the model": NAT 1.5-2 min up'),
    "nat_delete": Fact(1 * MIN, 1 * MIN, 'AWS docs, "Durations for the model": NAT ~1 min down'),
    "alb_create": Fact(2 * MIN, 3 * MIN, 'AWS docs, "Durations for the model": ALB 2-3 min'),
    "ec2_running": Fact(30, 30, 'AWS docs, "Durations for the model": EC2 instance running ~30 s'),
    "asg_in_service": Fact(15, 30, 'AWS docs, table: ASG instance -> InService 15-30 s after launch'),
    "ec2_shutting_down": Fact(1 * MIN, 2 * MIN, "no figure in AWS docs for shutting-down -> terminated", assumed=True),
    "acm_validation": Fact(2 * MIN, 30 * MIN, 'AWS docs, "Durations for the model": ACM DNS validation 2-30 min after '
                                              'the record exists'),
    "route53_insync": Fact(60, 60, 'AWS docs, "Durations for the model": Route 53 change INSYNC within 60 s (the bound)'),
    # ---- eventual consistency ----
    "iam_propagation": Fact(10, 10, 'AWS docs, "IAM propagation": a new role or instance profile can be refused for '
                                    'seconds to ~10 s after creation'),
    "ec2_not_found": Fact(2, 2, 'EC2 API reference "Eventual consistency in the Amazon EC2 API": a new resource\'s '
                                'id may not have propagated; retry describes "starting with a couple of seconds"'),
    # ---- dependencies that linger ----
    "eni_nat": Fact(1 * MIN, 1 * MIN, 'AWS docs, "Network interfaces linger": NAT gateway; gone with the NAT (~1 min down)'),
    "eni_alb": Fact(2 * MIN, 5 * MIN, 'AWS docs, "Network interfaces linger" after their owner is deleted (ALB): '
                                      '"minutes", no sized figure', assumed=True),
    "eni_vpc_link": Fact(20 * MIN, 40 * MIN, 'AWS docs, "Network interfaces linger": Lambda/VPC-link interfaces up to '
                                             '~20-40 min'),
    # ---- CloudWatch delivery ----
    "cw_delivery": Fact(60, 60, 'AWS docs, "CloudWatch": basic metrics arrive about 1 minute late (issue 9: '
                                'datapoints reach get_metric_data about a minute after they are published)'),
    "cw_list_metrics": Fact(15 * MIN, 15 * MIN, 'AWS docs, "CloudWatch": ListMetrics can take up to 15 minutes to show '
                                                'a new metric (the documented bound)'),
    # ---- the API itself ----
    "api_call": Fact(0.15, 0.15, "no figure in AWS docs: a typical round trip of one AWS API call from a laptop, which "
                                 "the local sandbox answers in milliseconds (used only for the projected AWS time)",
                     assumed=True),
    # ---- target health ----
    "target_first_check": Fact(30, 30, 'AWS docs, table: target -> healthy after one passing check; default interval '
                                       '30 s (the target group\'s own interval is used when set)'),
    "deregistration_delay": Fact(300, 300, 'AWS docs, "Target deregistration": deregistration_delay.timeout_seconds '
                                           'defaults to 300 s (the target group\'s own attribute is used when set)'),
}


def point(name: str, key: str) -> float:
    """The duration of `name` for the resource `key`: a fixed point in the fact's range."""
    fact = FACTS[name]
    if fact.high <= fact.low:
        return fact.low
    frac = int(hashlib.sha256(f"{name}:{key}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(fact.low + frac * (fact.high - fact.low), 1)


def table() -> list[dict[str, object]]:
    """The facts as rows, for the report and the closing note."""
    return [{"behaviour": k, "low_min": round(f.low / MIN, 2), "high_min": round(f.high / MIN, 2),
             "assumed": f.assumed, "source": f.source} for k, f in FACTS.items()]
