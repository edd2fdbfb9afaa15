"""notebooks/07_access.ipynb headless against the sandbox: the group and role it creates, the drill it
runs on an ephemeral server (and stops), what it reports as NOT_EMULATED."""
from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import nbformat
import papermill
import pytest

from workbook import names
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "07_access.ipynb"
STACK = "accnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
TIMEOUT = 300


def drill_servers() -> list[int]:
    """moto servers started with IAM enforcement (only the drill does that)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"moto.server" in cmd and b"INITIAL_NO_AUTH_ACTION_COUNT" in env:
            found.append(int(pid))
    return found


def outputs(nb, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.get("outputs", []))


@pytest.fixture(scope="module")
def run(sandbox, tmp_path_factory):
    before = set(drill_servers())
    out = tmp_path_factory.mktemp("nb07") / "07.ipynb"
    papermill.execute_notebook(str(NB), str(out), parameters={"stack_name": STACK, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    yield {"nb": nbformat.read(str(out), as_version=4), "drill_servers_before": before}
    from workbook.connect import connect
    from workbook.steps import access
    p = Params(stack_name=STACK)
    access.destroy(connect(p), p)


def test_creates_the_group_and_role_in_the_sandbox(sandbox, run):
    iam = boto3.client("iam", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    p = Params(stack_name=STACK)
    assert iam.list_group_policies(GroupName=names.developers_group(p))["PolicyNames"] == [p.name("developers-read")]
    assert iam.list_role_policies(RoleName=names.operators_role(p))["PolicyNames"] == [p.name("operators-deploy")]


def test_drill_denied_the_secret_labelled_as_workaround_and_left_no_server(run):
    text = outputs(run["nb"], "enforced")
    assert "[sandbox workaround]" in text and "ephemeral moto server" in text
    assert "denied (403" in text and "NOT_EMULATED" in text
    assert set(drill_servers()) <= run["drill_servers_before"]
    assert "InvalidClientTokenId" in outputs(run["nb"], "drill")  # the control: enforcement was on


def test_prints_the_workbooks_own_policy_and_the_findings(run):
    assert "actions," in outputs(run["nb"], "workbook_policy")
    findings = outputs(run["nb"], "findings")
    assert "IAM.1" in findings and "ARTICLE.DEV_NO_DB_SECRET" in findings
    assert "score before" in outputs(run["nb"], "compare")
    assert (ROOT / "diagrams" / "07_access.png").exists()
