"""00_setup twice, then 01_assess, headless with papermill against a real sandbox server."""
from __future__ import annotations

import time
from html.parser import HTMLParser
from pathlib import Path

import boto3
import nbformat
import pandas as pd
import papermill as pm
import pytest

from workbook import outputs

ROOT = Path(__file__).resolve().parents[2]
STACK = "nbdev1"


class _Table(HTMLParser):
    """The rows of the first HTML table pandas rendered in a cell output."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(nb, tag: str) -> pd.DataFrame:
    """The DataFrame a cell tagged `tag` displayed (from its text/html output)."""
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    html = next(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    parser = _Table()
    parser.feed(html)
    header, *rows = [r for r in parser.rows if r]
    return pd.DataFrame([r[1:] for r in rows], columns=header[1:])  # drop the index column


def run(name: str, out_dir: Path, **params) -> nbformat.NotebookNode:
    out = out_dir / f"{name}-{len(list(out_dir.glob(name + '*')))}.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), cwd=str(ROOT),
                        parameters={"stack_name": STACK, "interactive": False, **params},
                        execution_timeout=300, progress_bar=False)
    return nbformat.read(out, as_version=4)


def count_stack(endpoint: str) -> dict[str, int]:
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    f = [{"Name": "tag:workbook:stack", "Values": [STACK]}]
    live = [i for r in ec2.describe_instances(Filters=f)["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"]
    return {"instances": len(live), "security_groups": len(ec2.describe_security_groups(Filters=f)["SecurityGroups"]),
            "addresses": len(ec2.describe_addresses(Filters=f)["Addresses"])}


@pytest.mark.timeout(900)
def test_setup_twice_then_assess(sandbox, tmp_path):
    started = time.time()
    first = run("00_setup", tmp_path)
    created = table(first, "resources")
    made = created[created.type.isin(["security_group", "instance", "elastic_ip"])]   # the rules are listed too
    assert sorted(made.type) == ["instance", "security_group"] and set(created.action) == {"created"}
    after_first = count_stack(sandbox["endpoint"])
    assert after_first == {"instances": 1, "security_groups": 1, "addresses": 0}

    second = run("00_setup", tmp_path)
    assert set(table(second, "resources").action) == {"exists"}
    assert count_stack(sandbox["endpoint"]) == after_first  # the second run created nothing

    assess = run("01_assess", tmp_path)
    rules = table(assess, "sg_rules")
    open_ports = {int(r.from_port) for r in rules.itertuples() if r.source == "0.0.0.0/0"}
    assert open_ports == {22, 80, 5432}
    findings = table(assess, "findings")
    assert list(findings.columns) == ["id", "severity", "resource", "status", "remediation"]
    status = findings.groupby("id").status.agg(set)
    for check_id in ("EC2.13", "EC2.19", "ARTICLE.DB_REACHABLE", "ARTICLE.BACKUPS", "ARTICLE.MANAGED_DB"):
        assert status[check_id] == {"FAIL"}, check_id
    assert set(created.id[created.type == "instance"]) <= set(findings.resource)
    summary = table(assess, "summary")
    assert summary.id.is_unique and "FAIL" in set(summary.status)
    before = outputs.home() / "diagrams" / "before.png"
    assert before.exists() and before.stat().st_mtime >= started
    diagram_cell = next(c for c in assess.cells if "diagram" in c.metadata.get("tags", []))
    assert any("image/png" in o.get("data", {}) for o in diagram_cell.outputs)  # shown inline
