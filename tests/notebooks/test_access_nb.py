"""notebooks/07_access.ipynb headless against the sandbox: the group and role it creates, the drill that
answers the policy simulation on an ephemeral server (and stops), what it reports as NOT_EMULATED."""
from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import nbformat
import papermill
import pytest

from workbook import names
from workbook import outputs as written
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "07_access.ipynb"
STACK = "accnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
TIMEOUT = 300


def drill_servers(since: float) -> list[dict]:
    """The drill servers started since `since`, as the drill recorded them in this test's own sandbox
    state folder (never other processes: another pytest worker's drill is none of this test's business)."""
    from workbook.sandbox import server
    return [r for r in server.tracked() if r["what"] == "iam-drill" and r["started"] >= since]


def outputs(nb, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.get("outputs", []))


@pytest.fixture(scope="module")
def run(sandbox, tmp_path_factory):
    started = time.time()
    out = tmp_path_factory.mktemp("nb07") / "07.ipynb"
    papermill.execute_notebook(str(NB), str(out), parameters={"stack_name": STACK, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    yield {"nb": nbformat.read(str(out), as_version=4), "drills": drill_servers(started)}
    from workbook.connect import connect
    from workbook.steps import access
    access.destroy(connect(Params(stack_name=STACK)))


def test_creates_the_group_and_role_in_the_sandbox(sandbox, run):
    iam = boto3.client("iam", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    p = Params(stack_name=STACK)
    assert iam.list_group_policies(GroupName=names.developers_group(p))["PolicyNames"] == [p.name("developers-read")]
    assert iam.list_role_policies(RoleName=names.operators_role(p))["PolicyNames"] == [p.name("operators-deploy")]


def test_drill_denied_the_secret_labelled_as_sandbox_and_left_no_server(run):
    text = outputs(run["nb"], "enforced")
    assert "[sandbox]" in text and "ephemeral moto server" in text
    assert "implicitDeny" in text and "explicitDeny" in text and "NOT_EMULATED" in text
    assert "PASS" in text and "FAIL" not in text
    drill = outputs(run["nb"], "drill")
    assert "InvalidClientTokenId" in drill  # the control: enforcement was on
    assert "403" in drill and "AccessDenied" in drill  # the developer's keys were really refused
    assert run["drills"], "the drill recorded no server"
    from workbook.sandbox import iam_drill
    assert all(r["stopped"] and not iam_drill.is_running(r["pid"]) for r in run["drills"])


def test_prints_the_workbooks_own_policy_and_the_findings(run):
    assert "actions (all" in outputs(run["nb"], "workbook_policy") and "-workbook-network" in outputs(run["nb"], "workbook_policy")
    assert "dev host" in outputs(run["nb"], "workbook_policy_json")            # the scopes, with why
    assert "Empty DataFrame" in outputs(run["nb"], "workbook_policy_lint")     # parliament found nothing
    files = outputs(run["nb"], "workbook_policy_files")
    assert "build/policy/" in files and "aws iam create-policy" in files and "123456789012" not in files
    findings = outputs(run["nb"], "findings")
    assert "IAM.1" in findings and "ARTICLE.DEV_NO_DB_SECRET" in findings
    assert (written.home() / "diagrams" / "07_access.png").exists()
