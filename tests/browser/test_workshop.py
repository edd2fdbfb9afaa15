"""The workshop as an attendee sees it: JupyterLab in Chromium, the form, a step panel's Apply button."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
JUPYTER_START_S = 60
NB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the visible tab


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(sandbox, tmp_path_factory):
    """JupyterLab on 127.0.0.1 over the checkout, its kernels on the test's private sandbox."""
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter-home")
    # A copy of the notebooks: JupyterLab saves what it runs, and the committed ones stay without outputs.
    served = tmp_path_factory.mktemp("served")
    shutil.copytree(ROOT / "notebooks", served / "notebooks")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "WORKBOOK_STATE_DIR": str(sandbox["state_dir"])}
    env.pop("JUPYTER_PATH", None)
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}", "--allow-root",
         "--LabApp.news_url=", "--ServerApp.open_browser=False"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=served)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + JUPYTER_START_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield {"base": base, "token": token}
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _open(page, lab, notebook: str) -> None:
    # ?reset: a fresh workspace with just this notebook open
    page.goto(f"{lab['base']}/lab/tree/notebooks/{notebook}?reset&token={lab['token']}")
    page.locator(f"{NB} .jp-Cell").first.wait_for(timeout=60_000)
    # the kernel is ready when the status bar says so (the toolbar's indicator is idle before that)
    page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).wait_for(timeout=60_000)


def _run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    # the first code cell got an execution count: the kernel took the cells
    page.locator(".jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).first.wait_for(timeout=60_000)


@pytest.fixture
def page(browser):
    """A page that leaves a screenshot behind when the test fails: what the attendee would have seen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    yield page
    page.screenshot(path=str(SHOTS / "workshop-last.png"))
    page.close()


def test_form_then_apply_a_step(lab, page, sandbox):

    # 00_setup: run it, change the form, save
    _open(page, lab, "00_setup.ipynb")
    _run_all(page)
    form_field = page.locator(".widget-text", has=page.locator("label", has_text=re.compile(r"^stack_name$")))
    form_field.locator("input").wait_for()
    page.get_by_text("valid", exact=True).wait_for()
    page.locator(".widget-accordion").get_by_text("Network", exact=True).click()  # open the form's section
    az = page.locator(".widget-text", has=page.locator("label", has_text=re.compile(r"^az_count$"))).locator("input")
    az.fill("1")
    az.press("Enter")
    page.get_by_text(re.compile("Multi-AZ needs at least 2 availability zones")).wait_for()  # the headless rule, live
    az.fill("3")
    az.press("Enter")
    page.locator(".widget-accordion").get_by_text("Where", exact=True).click()
    form_field.locator("input").fill("lab")
    form_field.locator("input").press("Tab")
    page.get_by_role("button", name="Save parameters").click()
    page.get_by_text(re.compile("saved to .*params.yaml")).wait_for()
    page.locator(".jp-OutputArea-output img").last.wait_for()  # the diagram: every cell ran
    page.screenshot(path=str(SHOTS / "workshop-00_setup.png"))

    # 02_network: the first cells up to the step panel, then Apply
    _open(page, lab, "02_network.ipynb")
    page.locator(f"{NB} .jp-Cell").first.click()
    for _ in range(4):  # title, parameters, setup (navigator), the step panel
        page.keyboard.press("Shift+Enter")
    apply = page.get_by_role("button", name="Apply")
    apply.wait_for()
    page.get_by_text(re.compile(r"Stack lab")).first.wait_for()  # navigator: the form's stack name
    apply.click()
    page.get_by_text(re.compile(r"apply done in [\d.]+ s")).wait_for(timeout=120_000)  # the bar completed
    assert page.locator(".progress-bar-success, .widget-progress .progress-bar-success").count() >= 1
    panel_out = page.locator(".widget-output").filter(has_text="created").first
    panel_out.wait_for()
    text = panel_out.inner_text()
    assert "lab-vpc" in text and "us-east-1c" in text  # the saved az_count=3 reached this notebook
    page.get_by_text(re.compile(r"\d+ API calls")).first.wait_for()
    page.screenshot(path=str(SHOTS / "workshop-02_network-apply.png"))

    from workbook.connect import connect
    from workbook.params import Params
    ec2 = connect(Params(stack_name="lab")).client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:workbook:stack", "Values": ["lab"]}])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 3
