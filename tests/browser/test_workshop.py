"""The workshop walked as a newcomer: JupyterLab in Chromium (started as `make lab` starts it, on copies of
the notebooks), the form first, a fresh stack, 00 to 03, a kernel restart and a reopened notebook in the
middle. Screenshots of every stage go to build/screenshots/workshop-*.png.

Asserted: the stack named in the form is the one acted on (not the prebuilt one), the widgets come back
after the restart (and say what to run while they are gone), 02's plan lists the security-group rules
apply creates and AWS then holds, no jargon line is shown, and the working tree stays clean.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
JUPYTER_START_S = 60
NB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the visible tab
STACK = "ws1"
# What an attendee must not meet in an output (collapsed notes are not shown text)
JARGON = re.compile(r"\[sandbox|workaround|\bmoto\b|\d+/\d+ checks|elapsed$", re.M | re.I)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(base: str, token: str, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + JUPYTER_START_S
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200 and b"started" in r.read():
                    return True
        except (OSError, ValueError, http.client.HTTPException):
            pass
        time.sleep(0.3)
    return False


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def _ec2(sandbox):
    return boto3.client("ec2", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def lab(sandbox, tmp_path_factory):
    """JupyterLab as `make lab` starts it (workbook.lab), on copies in a private folder, its kernels on the
    test's private sandbox. A stack named 'demo' already exists there (a newcomer must not land on it)."""
    from workbook import lab as workshop_lab
    from workbook.params import saved_path
    saved_path().unlink(missing_ok=True)
    _ec2(sandbox).create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": "workbook:stack", "Value": "demo"}, {"Key": "workbook:step", "Value": "02_network"},
        {"Key": "Name", "Value": "demo-vpc"}]}])
    token = secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter-home")
    served = tmp_path_factory.mktemp("workshop")
    env = {**os.environ, **workshop_lab.prepare(served), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "WORKBOOK_STATE_DIR": str(sandbox["state_dir"])}
    env.pop("JUPYTER_PATH", None)
    for _attempt in range(3):   # a port another process took between picking and binding: pick again
        port = _free_port()
        log = open(home / "lab.log", "w")
        proc = subprocess.Popen(workshop_lab.command(served, port=port, token=token, port_retries=0), env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=served)
        base = f"http://127.0.0.1:{port}"
        if _serving(base, token, proc):
            break
        proc.kill()
    else:
        pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
    yield {"base": base, "token": token, "served": served}
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def page(browser):
    """A page that leaves a screenshot behind: what the attendee saw last."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    yield page
    page.screenshot(path=str(SHOTS / "workshop-last.png"))
    page.close()


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"workshop-{name}.png"))


def _kernel_idle(page) -> None:
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=60_000)


def _open(page, lab, notebook: str) -> None:
    # ?reset: a fresh workspace with just this notebook open
    page.goto(f"{lab['base']}/lab/tree/notebooks/{notebook}?reset&token={lab['token']}")
    page.locator(f"{NB} .jp-Cell").first.wait_for(timeout=60_000)
    _kernel_idle(page)


def _menu(page, menu: str, item: str | re.Pattern) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item if isinstance(item, re.Pattern) else re.compile(f"^{re.escape(item)}")).click()


def _run_all(page) -> None:
    _menu(page, "Run", "Run All Cells")


def _run_through_panel(page, lab, notebook: str) -> None:
    """Shift+Enter from the first cell down to the step panel's cell, and not one cell further."""
    cells = json.loads((lab["served"] / "notebooks" / notebook).read_text())["cells"]
    n = next(i for i, c in enumerate(cells) if "ui.step_panel(" in "".join(c["source"])) + 1
    page.locator(f"{NB} .jp-Cell").first.click()
    for _ in range(n):
        page.keyboard.press("Shift+Enter")
    page.get_by_role("button", name="Apply").wait_for()
    _kernel_idle(page)


def _panel_rows(page, title: str) -> list[dict[str, str]]:
    """The table a panel action drew under the buttons, as dicts (the whole one: the last, collapsed)."""
    out = page.locator(".jp-OutputArea-output", has_text=title).last
    out.wait_for()
    return out.evaluate("""el => { const ts = el.querySelectorAll('table'); const t = ts[ts.length - 1];
        if (!t) return [];
        const head = [...t.querySelectorAll('thead th')].map(th => th.textContent.trim());
        return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(
            [...tr.children].map((td, i) => [head[i], td.textContent.trim()]))); }""")


def _top(page) -> None:
    """Scroll the notebook to its start (the step bar and the start cell's lines)."""
    page.locator(f"{NB} .wb-nav").first.scroll_into_view_if_needed()
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(300)


def _shown_outputs(page) -> str:
    return "\n".join(page.locator(f"{NB} .jp-OutputArea-output").all_inner_texts())


def test_a_newcomer_walks_the_workshop(lab, page, sandbox):
    status_before = _git_status()
    ec2 = _ec2(sandbox)
    demo_before = ec2.describe_vpcs(Filters=[{"Name": "tag:workbook:stack", "Values": ["demo"]}])["Vpcs"]

    # ---- 00: Run All stops at the form, in one line ---------------------------------------------------
    _open(page, lab, "00_setup.ipynb")
    _run_all(page)
    stop = page.locator(f"{NB} .jp-OutputArea-output", has_text="No stack chosen yet")
    stop.wait_for()
    assert len(stop.inner_text().strip().splitlines()) == 1          # one line, no traceback
    page.locator(f"{NB} img[alt^='target architecture']").wait_for()  # where the workshop is going, up front
    field = lambda name: page.locator(".widget-text", has=page.locator(  # noqa: E731
        "label", has_text=re.compile(f"^{name}$"))).locator("input")
    assert field("stack_name").input_value() == ""                    # a newcomer names a stack
    page.locator(".widget-html", has_text="name your stack").first.wait_for()
    page.locator(".widget-accordion").get_by_text("Network", exact=True).click()
    field("az_count").fill("1")                                        # no Enter: checked as typed
    page.locator(".widget-html", has_text="at least 2 availability zones").first.wait_for()
    assert "az_count" in page.locator(".widget-html", has_text="invalid value").first.inner_text()  # footer names it
    _shot(page, "00-form-first")
    field("az_count").fill("2")
    page.locator(".widget-accordion").get_by_text("Where", exact=True).click()
    field("stack_name").fill(STACK)
    page.get_by_role("button", name="Save parameters").click()
    page.get_by_text(re.compile(f"saved ✔ stack {STACK}: new, nothing of it exists yet")).wait_for()
    _run_all(page)
    page.locator(f"{NB} img[alt='diagram after apply'], {NB} .jp-OutputArea-output img").last.wait_for()
    page.locator(".wb-nav", has_text=f"Stack {STACK}").first.wait_for()
    _kernel_idle(page)
    page.locator(".wb-nav").first.get_by_text(re.compile(r"✔\s00")).wait_for()
    _shot(page, "00-setup-done")
    _top(page)
    _shot(page, "00-setup-top")
    shown = _shown_outputs(page)
    assert not JARGON.search(shown), JARGON.search(shown)

    # ---- 01: the assessment, its counts line, the glossary, 01 ticked ---------------------------------
    _open(page, lab, "01_assess.ipynb")
    _run_all(page)
    page.get_by_text("Glossary", exact=False).last.wait_for()
    _kernel_idle(page)
    page.get_by_text(re.compile(r"\d+ pass / \d+ fail \(\d+ not emulated\)")).first.wait_for()
    page.locator(".wb-nav").first.get_by_text(re.compile(r"✔\s01")).wait_for(timeout=30_000)
    _shot(page, "01-assess")
    page.get_by_text(re.compile(r"\d+ pass / \d+ fail")).first.scroll_into_view_if_needed()
    _shot(page, "01-findings")
    page.locator("summary", has_text="Glossary").first.click()
    page.locator("dt", has_text="IMDSv2").first.scroll_into_view_if_needed()
    _shot(page, "01-glossary")
    assert not JARGON.search(_shown_outputs(page))

    # ---- 02: Plan and Apply with the buttons; the plan's rules are the ones apply creates ------------
    _open(page, lab, "02_network.ipynb")
    _run_through_panel(page, lab, "02_network.ipynb")
    nav = page.locator(".wb-nav").first
    spans = nav.locator("span[title]")
    tops = {round(spans.nth(i).bounding_box()["y"]) for i in range(spans.count())}
    assert len(tops) == 1 and spans.count() == 10, "the step bar wraps at 1400 px"
    assert nav.evaluate("el => el.scrollWidth <= el.clientWidth"), "the step bar is cut at 1400 px"
    page.get_by_role("button", name="Plan").click()
    plan = _panel_rows(page, "Plan: what Apply would do")
    page.get_by_text(re.compile(r"to create, .*a month")).first.wait_for()
    _shot(page, "02-plan")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text(re.compile(r"apply done in [\d.]+ s")).wait_for(timeout=120_000)
    changed = _panel_rows(page, "What changed")
    page.locator(f"{NB} img[alt='diagram after apply']").wait_for()      # the result drawn for button users
    _shot(page, "02-apply")
    page.locator(f"{NB} img[alt='diagram after apply']").scroll_into_view_if_needed()
    _shot(page, "02-apply-diagram")
    rules = lambda rows, verb: {r["name"] for r in rows if r["type"] == "security_group_rule" and r["action"] == verb}  # noqa: E731
    assert rules(plan, "would create") == rules(changed, "created") and rules(changed, "created")
    assert rules(plan, "would delete") == rules(changed, "deleted")
    from workbook.steps import network_sg
    groups = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:workbook:stack", "Values": [STACK]},
                 {"Name": "tag:workbook:step", "Values": ["02_network"]}])["SecurityGroups"]}
    held = {f"{groups[g]} {network_sg.describe_rule(network_sg.rule_of(r), groups)}" for g in groups
            for r in ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [g]}])["SecurityGroupRules"]}
    assert rules(changed, "created") <= held and f"{STACK}-app-sg egress to 0.0.0.0/0 all" in held
    assert held - rules(changed, "created") == {f"{STACK}-app-sg egress to 0.0.0.0/0 all"}
    # the stack named in the form is the one acted on; the prebuilt one is untouched
    assert {v["VpcId"] for v in ec2.describe_vpcs(Filters=[{"Name": "tag:workbook:stack", "Values": [STACK]}])["Vpcs"]}
    assert ec2.describe_vpcs(Filters=[{"Name": "tag:workbook:stack", "Values": ["demo"]}])["Vpcs"] == demo_before
    assert not JARGON.search(_shown_outputs(page))

    # ---- a kernel restart in the middle: what stays, and one line where the buttons were ------------
    page.keyboard.press("Control+s")
    _menu(page, "Kernel", re.compile(r"^Restart Kernel…"))
    page.get_by_role("button", name="Confirm Kernel Restart").click()
    _kernel_idle(page)
    hint = page.get_by_text(re.compile("run this cell again")).first
    hint.wait_for()
    hint.scroll_into_view_if_needed()
    assert page.locator(".wb-nav", has_text=f"Stack {STACK}").first.is_visible()   # the step bar stays
    assert page.locator(f"{NB} img[alt='diagram after apply']").is_visible()       # so does the result
    _shot(page, "02-after-restart")
    page.keyboard.press("Control+s")
    page.wait_for_timeout(500)
    _open(page, lab, "02_network.ipynb")                                # reopened: no "model not found"
    page.get_by_text(re.compile("run this cell again")).first.wait_for()
    page.get_by_text(re.compile("run this cell again")).first.scroll_into_view_if_needed()
    assert not page.get_by_text("Error displaying widget").first.is_visible()
    _shot(page, "02-reopened")
    _run_through_panel(page, lab, "02_network.ipynb")                  # run the cells: the buttons are back
    assert page.get_by_role("button", name="Apply").is_enabled()
    assert not page.get_by_text(re.compile("run this cell again")).first.is_visible()
    page.get_by_role("button", name="Verify").click()
    page.get_by_text(re.compile(r"verify done in")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"\d+ pass / \d+ fail \(\d+ not emulated\)")).first.wait_for()
    _shot(page, "02-widgets-back")

    # ---- 03: the plan shows the Multi-AZ database's monthly cost; apply ----------------------------
    _open(page, lab, "03_database.ipynb")
    _run_through_panel(page, lab, "03_database.ipynb")
    page.get_by_role("button", name="Plan").click()
    plan = _panel_rows(page, "Plan: what Apply would do")
    db = next(r for r in plan if r["type"] == "db_instance")
    assert "Multi-AZ" in db["cost_note"] and float(db["usd_month"].replace(",", "")) > 20
    _shot(page, "03-plan")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text(re.compile(r"apply done in [\d.]+ s")).wait_for(timeout=180_000)
    page.locator(f"{NB} img[alt='diagram after apply']").wait_for()
    _shot(page, "03-apply")
    rds = boto3.client("rds", endpoint_url=sandbox["endpoint"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    assert any(d["DBInstanceIdentifier"].startswith(f"{STACK}-") for d in rds.describe_db_instances()["DBInstances"])
    assert not JARGON.search(_shown_outputs(page))

    # ---- the committed notebooks are as they were -------------------------------------------------
    page.keyboard.press("Control+s")
    page.wait_for_timeout(500)
    assert _git_status() == status_before
