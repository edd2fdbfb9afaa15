"""Before and after, computed one way: one findings frame per side, one score, one table.

- before: the "dev" group (01_assess's checks) on the dev environment;
- after: every other group (network, database, compute, edge, observability, access) on the
  production stack, i.e. every check the steps run;
- the score of each side is `checks.score` of that frame: PASS and FAIL findings weighted by severity;
  NOT_EMULATED (the target cannot show it) and NOT_APPLICABLE are left out of it and counted apart;
- the before/after table has one row per practice of the article, and its "after" is read from the
  same frame as the findings list and the score, so the three cannot disagree.

The dev environment has no load balancer, certificate or IAM group to look at, so the two sides run
different checks; PRACTICES says which checks answer each practice on either side. Every check of
the registry belongs to exactly one practice (tests/checks/test_compare.py holds that).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import REGISTRY, load_all, run, score

BEFORE_GROUPS = ("dev",)
# (practice, checks of the dev environment, checks of the production stack)
PRACTICES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("Managed database (RDS)", ("ARTICLE.MANAGED_DB",),
     ("ARTICLE.MANAGED_DATABASE", "ARTICLE.DB_MANAGED_PASSWORD", "RDS.8", "RDS.13")),
    ("Database backups", ("ARTICLE.BACKUPS",), ("RDS.11",)),
    ("Redundancy across availability zones", ("ARTICLE.MULTI_AZ",),
     ("RDS.5", "ARTICLE.SUBNETS_MULTI_AZ", "ARTICLE.DB_SUBNET_GROUP_AZS", "AutoScaling.2", "ELB.13",
      "ARTICLE.NAT_REDUNDANCY")),
    ("Load balancer in front of the servers", ("ARTICLE.LOAD_BALANCER",),
     ("ARTICLE.APP_ONLY_FROM_ALB", "ELB.4", "ELB.6", "AutoScaling.1")),
    ("Auto scaling", ("ARTICLE.AUTO_SCALING",), ("ARTICLE.SERVER_AUTOSCALING",)),
    ("Database off the internet", ("ARTICLE.DB_REACHABLE", "EC2.19"),
     ("RDS.2", "ARTICLE.PRIVATE_NO_IGW_ROUTE", "ARTICLE.SG_CHAIN")),
    ("Servers in a private network", ("EC2.9", "EC2.13", "EC2.18"),
     ("EC2.9", "EC2.15", "ARTICLE.NO_SSH", "ARTICLE.ONLY_ALB_PUBLIC", "EC2.2")),
    ("Hardened servers and encrypted storage", ("EC2.8", "EC2.3"), ("EC2.8", "EC2.3", "RDS.3")),
    ("Monitoring and alarms that reach someone", ("ARTICLE.MONITORING",),
     ("ARTICLE.ALARMS", "CloudWatch.17", "ARTICLE.ALARMS_HAVE_DATA", "ARTICLE.ALARM_SUBSCRIBERS",
      "ARTICLE.DASHBOARD")),
    ("Logs kept", (), ("CloudWatch.16", "EC2.6", "RDS.9", "APIGateway.9")),
    ("A domain name (Route 53)", ("ARTICLE.DNS",), ("ARTICLE.DNS_ALIAS",)),
    ("TLS (HTTPS)", (), ("ELB.1", "ARTICLE.TLS_CERTIFICATE", "ACM.1")),
    ("API Gateway as the only way in", (), ("ARTICLE.API_GATEWAY_ONLY_WAY_IN",)),
    ("Least privilege", (), ("IAM.1", "ARTICLE.DEV_NO_DB_SECRET", "ARTICLE.NO_USER_INLINE_ADMIN",
                             "ARTICLE.APP_ROLE_SECRET_SCOPED")),
)
NOT_CHECKED = "not checked"
HOW_SCORED = ("Score: the share of findings that pass, weighted by severity (critical 5, high 4, medium 3, "
              "low 2, informational 1). Findings the target cannot evaluate (NOT_EMULATED) and those that do "
              "not apply are not in the score; they are counted and listed apart.")


def after_groups() -> list[str]:
    """Every group of checks but the dev environment's: the whole production stack."""
    load_all()
    return sorted({c.group for c in REGISTRY.values()} - set(BEFORE_GROUPS))


def practice_status(findings: pd.DataFrame, ids: tuple[str, ...]) -> tuple[str, str]:
    """(status, counts) of the findings of `ids`: FAIL if any fails, else PASS if any passes, else
    NOT_EMULATED, else NOT_APPLICABLE; `not checked` when none of them ran on this side."""
    rows = findings[findings.id.isin(ids)] if len(ids) else findings.iloc[0:0]
    if rows.empty:
        return NOT_CHECKED, ""
    counts = rows.status.value_counts()
    for status in ("FAIL", "PASS", "NOT_EMULATED", "NOT_APPLICABLE"):
        if counts.get(status, 0):
            break
    words = {"PASS": "pass", "FAIL": "fail", "NOT_EMULATED": "not emulated", "NOT_APPLICABLE": "not applicable"}
    return status, ", ".join(f"{counts[s]} {words[s]}" for s in words if counts.get(s, 0))


def practices_table(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """One row per practice: its status on the dev environment and on the production stack."""
    rows = []
    for title, dev_ids, prod_ids in PRACTICES:
        b, _ = practice_status(before, dev_ids)
        a, detail = practice_status(after, prod_ids)
        rows.append({"practice": title, "before": b, "after": a, "findings after": detail,
                     "checks after": ", ".join(prod_ids)})
    return pd.DataFrame(rows)


def counts(findings: pd.DataFrame) -> dict[str, int]:
    c = findings.status.value_counts()
    return {s: int(c.get(s, 0)) for s in ("PASS", "FAIL", "NOT_EMULATED", "NOT_APPLICABLE")}


@dataclass
class BeforeAfter:
    before: pd.DataFrame        # findings of the dev environment
    after: pd.DataFrame         # findings of the production stack: the list, the table and the score
    table: pd.DataFrame         # one row per practice

    @property
    def scores(self) -> dict[str, Any]:
        """What the report's headline shows, from the two frames."""
        a = counts(self.after)
        return {"score before": score(self.before), "score after": score(self.after),
                "findings after": int(len(self.after)), "evaluated after": a["PASS"] + a["FAIL"],
                "pass after": a["PASS"], "fail after": a["FAIL"], "not emulated after": a["NOT_EMULATED"],
                "not applicable after": a["NOT_APPLICABLE"], "fail before": counts(self.before)["FAIL"],
                "how": HOW_SCORED}


def before_after(before_inv: Any, after_inv: Any, p: Any) -> BeforeAfter:
    """Run the dev checks on the dev environment and every other check on the production stack."""
    before = run(before_inv, p, groups=list(BEFORE_GROUPS))
    after = run(after_inv, p, groups=after_groups())
    return BeforeAfter(before, after, practices_table(before, after))
