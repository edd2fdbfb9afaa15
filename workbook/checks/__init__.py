"""The controls: one check, one unit, with its metadata beside it (as prowler does).

A check is a function `(inv: Inventory, p: Params) -> list[Finding]` registered with its id,
severity, risk and remediation; Security Hub FSBP control ids are used where one exists (EC2.18,
RDS.5 ...), else an `ARTICLE.*` id for the article's own practices. Modules in this package group
checks by concern (dev.py, network.py, database.py ...); tests mirror them under tests/checks/.

Status is one of PASS, FAIL, NOT_EMULATED (the target cannot show it: never reported as passed),
NOT_APPLICABLE. A check never asks which target it runs on: where a target cannot show something
(the sandbox's named gaps, `workbook/sandbox/seam.py` GAPS), it calls `not_emulated(inv, gap, resource)`,
which asks the inventory's context and gives None on a target that shows it, so the check goes on
to evaluate for real.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from ..params import Params

SEVERITIES = ("critical", "high", "medium", "low", "informational")
STATUSES = ("PASS", "FAIL", "NOT_EMULATED", "NOT_APPLICABLE")
COLUMNS = ["id", "title", "severity", "resource", "status", "detail", "remediation", "group"]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    severity: str
    risk: str
    remediation: str
    group: str                   # "dev", "network", "database", ... (which steps run it)
    func: Callable[..., list["Finding"]]


@dataclass(frozen=True)
class Finding:
    resource: str
    status: str
    detail: str = ""


REGISTRY: dict[str, Check] = {}


def not_emulated(inv, gap: str, resource: str, detail: str = "") -> Finding | None:
    """NOT_EMULATED for `resource` when the inventory's target cannot show `gap` (with the target's
    reason, after `detail` if given); None when it can, and the check evaluates for real."""
    why = inv.ctx.gap(gap)
    if not why:
        return None
    return Finding(resource, "NOT_EMULATED", f"{detail} ({why})" if detail else why)


def check(id: str, title: str, severity: str, risk: str, remediation: str, group: str):
    """Register a check. The decorated function returns findings for the resources it looked at."""
    assert severity in SEVERITIES, severity

    def wrap(func: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        # Keyed by group too: the same FSBP control (EC2.8 ...) is checked on the dev host and on the
        # launch template by different units, and neither may replace the other.
        REGISTRY[f"{group}/{id}"] = Check(id, title, severity, risk, remediation, group, func)
        return func
    return wrap


def get(id: str, group: str) -> Check:
    return REGISTRY[f"{group}/{id}"]


def load_all() -> None:
    for m in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{m.name}")


def run(inv, p: Params, groups: list[str] | None = None) -> pd.DataFrame:
    """Run the checks of the given groups (all by default) into a findings frame."""
    load_all()
    rows = []
    for c in REGISTRY.values():
        if groups is not None and c.group not in groups:
            continue
        for f in c.func(inv, p):
            assert f.status in STATUSES, f.status
            rows.append({"id": c.id, "title": c.title, "severity": c.severity, "resource": f.resource,
                         "status": f.status, "detail": f.detail, "remediation": c.remediation, "group": c.group})
    df = pd.DataFrame(rows, columns=COLUMNS)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return df.sort_values(["status", "severity"], key=lambda s: s.map(order) if s.name == "severity" else s.map(
        {"FAIL": 0, "NOT_EMULATED": 1, "PASS": 2, "NOT_APPLICABLE": 3})).reset_index(drop=True)


def score(findings: pd.DataFrame) -> float:
    """Share of evaluated findings that pass, weighted by severity (critical 5 ... informational 1)."""
    weight = {"critical": 5, "high": 4, "medium": 3, "low": 2, "informational": 1}
    ev = findings[findings.status.isin(["PASS", "FAIL"])]
    if ev.empty:
        return 0.0
    w = ev.severity.map(weight)
    return round(100 * w[ev.status == "PASS"].sum() / w.sum(), 1)
