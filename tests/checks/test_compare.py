"""Before and after computed one way: one frame per side, one score, a table read from the same frame."""
from __future__ import annotations

import pandas as pd

from workbook import checks
from workbook.checks import compare


def _findings(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame([{"id": i, "title": i, "severity": sev, "resource": "r", "status": st, "detail": "",
                          "remediation": "", "group": "g"} for i, sev, st in rows], columns=checks.COLUMNS)


def test_every_check_belongs_to_one_practice_on_its_side():
    checks.load_all()
    dev = {c.id for c in checks.REGISTRY.values() if c.group == "dev"}
    prod = [c.id for c in checks.REGISTRY.values() if c.group != "dev"]
    named_dev = [i for _, d, _ in compare.PRACTICES for i in d]
    named_prod = [i for _, _, a in compare.PRACTICES for i in a]
    assert sorted(named_dev) == sorted(dev)                       # each dev check once
    assert sorted(named_prod) == sorted(prod)                     # each production check once
    assert compare.after_groups() == sorted({c.group for c in checks.REGISTRY.values()} - {"dev"})


def test_a_failure_after_shows_in_its_practice_and_counts_in_the_score():
    before = _findings(("ARTICLE.DNS", "low", "FAIL"))
    after = _findings(("ARTICLE.DNS_ALIAS", "medium", "PASS"), ("ELB.1", "medium", "FAIL"),
                      ("ACM.1", "medium", "PASS"), ("RDS.5", "medium", "NOT_EMULATED"), ("RDS.11", "medium", "PASS"))
    result = compare.BeforeAfter(before, after, compare.practices_table(before, after))
    rows = result.table.set_index("practice")
    assert rows.loc["TLS (HTTPS)", "after"] == "FAIL" and rows.loc["TLS (HTTPS)", "before"] == compare.NOT_CHECKED
    assert rows.loc["TLS (HTTPS)", "findings after"] == "1 pass, 1 fail"
    assert rows.loc["A domain name (Route 53)", "before"] == "FAIL" and rows.loc["A domain name (Route 53)", "after"] == "PASS"
    # RDS.5 could not be evaluated: the practice passes on what was evaluated and says so
    assert rows.loc["Redundancy across availability zones", "findings after"] == "1 not emulated"
    assert rows.loc["Redundancy across availability zones", "after"] == "NOT_EMULATED"
    s = result.scores
    assert s["score after"] == checks.score(after) == 75.0           # 3 of 4 evaluated, all medium
    assert (s["fail after"], s["evaluated after"], s["not emulated after"]) == (1, 4, 1)
    assert s["score before"] == 0.0 and "NOT_EMULATED" in s["how"]
