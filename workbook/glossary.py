"""The words a newcomer meets in the workshop, each said once in plain words (our own), and the control
ids of the findings tables, read from the checks' own registry so the list never drifts from the checks.

`terms()` is the short glossary (NAT, IGW, security group, IMDSv2 ...); `controls()` one row per control
id with what it checks; `title(id)` the one line a findings table shows beside an id.
"""
from __future__ import annotations

import html

import pandas as pd

TERMS: dict[str, str] = {
    "VPC": "Virtual Private Cloud: a private network of your own inside an AWS region. Nothing reaches "
           "into it from the internet unless a route and a security group let it.",
    "AZ (availability zone)": "One of a region's separate data centres (us-east-1a, us-east-1b ...). Spreading "
                              "servers and the database standby over two AZs keeps the service up when one fails.",
    "subnet": "A slice of the VPC's addresses in one AZ. Public subnets route to the internet gateway; the app "
              "and db subnets here do not.",
    "IGW (internet gateway)": "The VPC's door to the internet, used by the public subnets (the load balancer, "
                              "the NAT gateway).",
    "NAT gateway": "Lets servers in private subnets call out (updates, AWS APIs) while nothing can call in. "
                   "It is billed per hour, and one per AZ survives the loss of an AZ.",
    "security group": "A firewall around each resource, with allow rules only. Here each tier allows traffic "
                      "only from the group of the tier in front of it: load balancer -> app -> database.",
    "ALB (application load balancer)": "Spreads requests over the healthy app servers and stops sending to a "
                                       "server that fails its health check.",
    "Auto Scaling group": "Keeps the number of app servers between a minimum and a maximum, replaces a failed "
                          "one, and adds servers under load.",
    "RDS Multi-AZ": "The managed database with a standby copy in a second AZ, kept in sync, that takes over "
                    "when the primary fails.",
    "IMDSv2": "Version 2 of the instance metadata service (where a server reads its own credentials). It "
              "needs a session token, which blocks the classic trick of making a server fetch its credentials "
              "for an attacker.",
    "IAM role": "A set of permissions a server or a service takes on, instead of stored keys; least privilege "
                "means it allows only what the job needs.",
    "Route 53 / ACM": "AWS's DNS (the API's name) and its certificate service (the TLS certificate for HTTPS).",
    "API Gateway": "A managed front door for the API: the one public way in, in front of an internal load "
                   "balancer.",
    "CloudWatch / SNS": "Metrics, logs and alarms; SNS delivers an alarm to people (e-mail).",
    "Security Hub FSBP": "AWS Foundational Security Best Practices, a list of controls that AWS Security Hub "
                         "checks. Its ids name the service and a number: EC2.2, RDS.5 ... The workbook runs "
                         "the same controls itself.",
    "ARTICLE.* ids": "Checks for the article's own practices that have no Security Hub control (backups "
                     "restored, private tiers, DNS in front ...).",
    "NOT_EMULATED": "The sandbox cannot show this (e.g. where AWS really places instances); never counted as "
                    "a pass. On a real account the check runs for real.",
}


def _registry() -> dict[str, object]:
    from . import checks
    checks.load_all()
    return checks.REGISTRY


def title(control_id: str) -> str:
    """What a control checks, in one line ("" for an id no check has)."""
    for c in _registry().values():
        if c.id == control_id:
            return c.title
    return ""


def controls() -> pd.DataFrame:
    """One row per control id (a control checked in several steps once), FSBP ids first."""
    rows: dict[str, dict[str, str]] = {}
    for c in _registry().values():
        row = rows.setdefault(c.id, {"id": c.id, "checks": c.title, "steps": "", "source": (
            "the article" if c.id.startswith("ARTICLE.") else "Security Hub FSBP")})
        row["steps"] = ", ".join(sorted(set(filter(None, row["steps"].split(", "))) | {c.group}))
    return pd.DataFrame(sorted(rows.values(), key=lambda r: (r["source"] != "Security Hub FSBP", r["id"])),
                        columns=["id", "checks", "source", "steps"])


def terms() -> pd.DataFrame:
    return pd.DataFrame([{"term": k, "meaning": v} for k, v in TERMS.items()])


def html_terms() -> str:
    """The terms as a definition list (the workshop shows it in a collapsed block)."""
    items = "".join(f"<dt><b>{html.escape(k)}</b></dt><dd style='margin:0 0 6px 18px'>{html.escape(v)}</dd>"
                    for k, v in TERMS.items())
    return f"<dl style='font-size:13px'>{items}</dl>"
