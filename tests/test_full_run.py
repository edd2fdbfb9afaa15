"""The whole headless pipeline on the sandbox, as `make report` runs it, then a rerun and a teardown.

One pipeline run with the default parameters (on a stack of its own) builds the stack from the dev host
to the cutover; the tests assert on what it built (read back from the sandbox), on the checks of the
after-state, on the report, and in a real browser. A second run must create nothing; the teardown must
leave nothing.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from workbook import checks, pipeline, report
from workbook.connect import connect
from workbook.inventory.ec2 import ProductionInventory
from workbook.params import Params

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "screenshots"
# The defaults of `make report`: the whole article in the sandbox (a domain of the stack's own with its
# zone and certificate, HTTPS, API Gateway in front of an internal ALB, a NAT per AZ, an alarm address).
PARAMS = Params.from_mapping({"stack_name": "full", "sample_rows": 3000})
FIRST_SCREEN = {"width": 1300, "height": 1000}


def snapshot(ctx) -> dict[str, set[str]]:
    """Every resource id the stack has, per inventory frame."""
    inv = ProductionInventory(ctx, PARAMS.stack_name)
    return {name: set(inv.frame(name)["id"]) for name in sorted(inv.summary()["resource"])}


@pytest.fixture(scope="module")
def first_run(sandbox, tmp_path_factory):
    runs = tmp_path_factory.mktemp("full") / "runs"
    run_dir = pipeline.run(PARAMS, runs_dir=runs, timeout=300, stream=io.StringIO())
    ctx = connect(PARAMS)
    return {"run_dir": run_dir, "runs": runs, "ctx": ctx, "inv": ProductionInventory(ctx, PARAMS.stack_name)}


def test_pipeline_builds_the_whole_stack(first_run):
    inv = first_run["inv"]
    subnets = inv.subnets
    for tier in ("public", "app", "db"):
        assert subnets[subnets.tier == tier].az.nunique() >= 2, tier
    assert inv.nat_gateways.az.nunique() == 2                               # a NAT gateway per AZ
    db = inv.db_instances[inv.db_instances.id == f"{PARAMS.stack_name}-db"].iloc[0]
    assert db.multi_az and db.encrypted and not db.publicly_accessible and db.backup_retention >= 7
    assert db.deletion_protection
    lb = inv.load_balancers.iloc[0]
    assert lb.scheme == "internal" and len(lb.azs) >= 2                   # API Gateway is the way in
    listeners = inv.listeners.set_index("port")
    assert listeners.loc[80, "action"] == "redirect" and listeners.loc[80, "redirect_to"] == "HTTPS:443"
    assert listeners.loc[443, "protocol"] == "HTTPS"
    asg = inv.auto_scaling_groups.iloc[0]
    assert asg["min"] == PARAMS.min_capacity and len(asg.instance_ids) == PARAMS.desired_capacity
    assert asg.health_check_type == "ELB"
    assert (inv.launch_templates.imds_tokens == "required").all()
    assert not inv.launch_templates.associate_public_ip.any()
    assert len(inv.alarms) >= 6 and inv.alarms.actions.map(len).gt(0).all()
    assert len(inv.hosted_zones) == 1 and len(inv.iam_groups) == 1
    # Route 53, TLS, API Gateway, an alarm that reaches someone
    assert PARAMS.domain_name == "api.full.example"
    alias = inv.records[(inv.records.name == PARAMS.domain_name) & (inv.records.type == "A")].iloc[0]
    assert alias.alias and "execute-api" in alias.target
    cert = inv.certificates.iloc[0]
    assert cert.status == "ISSUED" and cert.in_use
    assert len(inv.apis) == 1 and inv.apis.iloc[0].vpc_link_id
    subs = inv.topics.iloc[0].subscriptions                              # e-mail addresses shown masked
    assert len(subs) == 1 and subs[0].endswith(f"@{PARAMS.stack_name}.example")


def test_nothing_in_the_vpc_is_open_to_the_internet_behind_the_gateway_and_no_ssh(first_run):
    """entry=api_gateway (the default): the gateway, outside the VPC, is the way in; the internal ALB admits
    the VPC link's group alone, so no group in the VPC admits 0.0.0.0/0."""
    assert PARAMS.entry == "api_gateway"
    rules = first_run["inv"].sg_rules
    open_in = rules[(rules.direction == "ingress") & rules.open_to_internet]
    assert open_in.empty, open_in[["group_name", "from_port", "source"]]
    link = rules[(rules.direction == "ingress") & (rules.group_name == f"{PARAMS.stack_name}-alb-sg")]
    assert set(link.source) == set(rules[rules.group_name == f"{PARAMS.stack_name}-vpclink-sg"].group_id)
    ingress = rules[rules.direction == "ingress"]
    assert not ((ingress.from_port <= 22) & (ingress.to_port >= 22)).any()


def test_after_state_passes_every_check_the_sandbox_can_evaluate(first_run):
    findings = pd.read_csv(first_run["run_dir"] / "artifacts" / "findings_after.csv", keep_default_na=False)
    assert set(findings.group) == {"network", "database", "compute", "edge", "observability", "access"}
    failed = findings[findings.status == "FAIL"]
    assert failed.empty, failed[["id", "resource", "detail"]].to_string()
    assert (findings.status == "PASS").sum() >= 60
    # the same checks, read back from the sandbox now, agree with what 07 handed over
    again = checks.run(first_run["inv"], PARAMS, groups=sorted(set(findings.group)))
    assert not (again.status == "FAIL").any()
    # and the dev host's checks, run on the new stack, pass where they failed before
    after = checks.run(first_run["inv"], PARAMS, groups=["dev"])
    assert not (after.status == "FAIL").any(), after[after.status == "FAIL"][["id", "detail"]].to_string()


def test_dev_dying_takes_the_service_down_one_app_instance_dying_does_not(first_run):
    """Measured by the probe in 08 against real local processes: the dev host stops mid-run; then one
    of the two app processes behind the load balancer is killed mid-run."""
    m = pd.read_csv(first_run["run_dir"] / "artifacts" / "metrics.csv").set_index("measure")
    assert m.loc["fault injected", "before"] == "stop_dev" and m.loc["fault injected", "after"] == "kill_app_instance"
    val = lambda measure, phase: float(m.loc[measure, phase])  # noqa: E731
    assert val("served in the last second (%)", "before") == 0          # the service stayed down
    assert val("error rate after the fault (%)", "before") > 90
    assert val("served in the last second (%)", "after") == 100         # the load balancer routed around it
    assert val("error rate after the fault (%)", "after") < 30           # only until the health check noticed
    assert val("availability (% of seconds >= 95% ok)", "after") > val("availability (% of seconds >= 95% ok)", "before")
    for phase in ("before", "after"):
        assert 0 < val("p50 latency, served (ms)", phase) <= val("p99 latency, served (ms)", phase)


def test_report_has_one_score_computed_from_the_findings_it_lists(first_run, tmp_path):
    out = report.build(run_dir=first_run["run_dir"], out=tmp_path / "report.html")
    page = out.read_text()
    arts = first_run["run_dir"] / "artifacts"
    findings = pd.read_csv(arts / "findings_after.csv", keep_default_na=False)
    scores = json.loads((arts / "scores.json").read_text())
    assert scores["score after"] == checks.score(findings) == 100.0
    assert scores["fail after"] == 0 and scores["not emulated after"] == (findings.status == "NOT_EMULATED").sum()
    table = pd.read_csv(arts / "findings_compare.csv", keep_default_na=False)
    # 08 records the after-state once its cutover has pointed the domain name: every practice evaluated
    assert set(table.after) <= {"PASS", "NOT_EMULATED"} and "FAIL" in set(table.before)
    first = page.split('id="summary"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'class="wb-big[^"]*">(\d+)<small> / 100', first) == ["100"]   # one score, on the first screen
    for section in ("Before and after", "Findings", "Measurements before and after", "Monthly cost"):
        assert f"<h2>{section}</h2>" in page, section
    assert page.count("<h2>Measurements before and after</h2>") == 1
    assert "123456789012" not in report.DATA_URI_RE.sub("", page)  # the sandbox account, masked
    assert "[sandbox] " not in page.split('id="notebooks"', 1)[1] and "RuntimeDirWarning" not in page
    first_run["report"] = out


def test_report_first_screen_in_a_real_browser(first_run, browser):
    """What a manager sees without scrolling (1300 x 1000): what was built, the score, the availability
    under the fault, the monthly cost and how to remove it."""
    out = first_run.get("report") or report.build(run_dir=first_run["run_dir"])
    page = browser.new_page(viewport=FIRST_SCREEN)
    errors, failed = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.route("http*://**", lambda route: (failed.append(route.request.url), route.abort()))
    page.goto(out.resolve().as_uri())
    page.wait_for_load_state("load")
    assert errors == [] and failed == []
    widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert widths and all(w > 0 for w in widths)

    def on_first_screen(selector: str) -> str:
        el = page.locator(selector)
        box = el.bounding_box()
        assert el.is_visible() and box and box["y"] >= 0 and box["y"] + box["height"] <= FIRST_SCREEN["height"], \
            (selector, box)
        return el.inner_text()
    assert on_first_screen("#first-safe .wb-big").startswith("100")
    assert re.match(r"\d+(\.\d+)? %", on_first_screen("#first-up .wb-big"))
    assert "killed" in on_first_screen("#first-up .wb-note")
    assert re.match(r"\$[\d,.]+ a month", on_first_screen("#first-cost .wb-big"))
    assert "make teardown" in on_first_screen("#first-remove")
    built = on_first_screen("#first-built")
    for part in ("Route 53 alias", "ACM certificate issued", "API Gateway", "HTTPS, HTTP redirected",
                 "1 confirmed subscriber"):
        assert part in built, part
    assert "0 of" in on_first_screen("#first-safe")
    # the notebooks follow, collapsed
    assert page.locator("details.wb-nb[open]").count() == 0 and page.locator("details.wb-nb").count() == 9
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report-first-screen.png"))
    page.screenshot(path=str(SHOTS / "report.png"), full_page=True)
    page.close()


def test_after_the_move_the_servers_log_in_as_the_apps_own_user(first_run):
    """08 makes the app's own database user (its tables only, no DDL): the servers serving after the run
    must log in with it, not with the master user, and their role may read its secret alone."""
    import base64
    from workbook import names
    from workbook.steps import compute
    ctx = first_run["ctx"]
    own = ctx.client("secretsmanager").describe_secret(SecretId=names.app_db_secret(PARAMS))["ARN"]
    group = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(PARAMS)])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    assert ids
    for iid in ids:
        data = ctx.client("ec2").describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"]["Value"]
        env = compute.user_data_files(base64.b64decode(data).decode())["/etc/app/app.env"]
        assert f"DB_SECRET_ARN={own}" in env.replace("'", ""), iid
    doc = ctx.client("iam").get_role_policy(RoleName=names.app_role(PARAMS), PolicyName=compute.SECRET_POLICY_NAME)[
        "PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert [s["Resource"] for s in doc["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"] == [own]


def test_second_run_creates_nothing(first_run):
    before = snapshot(first_run["ctx"])
    run_dir = pipeline.run(PARAMS, runs_dir=first_run["runs"], timeout=300, stream=io.StringIO(),
                           only=["00", "02", "03", "04", "05", "06", "07"])
    after = snapshot(first_run["ctx"])
    assert after == before
    # what each step notebook listed under "what changed": nothing created this time
    for nb in sorted(run_dir.glob("0[0-7]_*.ipynb")):
        text = nb.read_text()
        assert ">created<" not in text, nb.name


def test_teardown_leaves_nothing(first_run):
    from workbook.steps import teardown
    pipeline.run(PARAMS, runs_dir=first_run["runs"], timeout=300, stream=io.StringIO(), only=["09"])
    scan = teardown.scan(first_run["ctx"])
    assert teardown.leftovers(scan).empty, teardown.leftovers(scan).to_string()
    kept = scan[scan.status.str.startswith("kept")]
    assert set(kept[kept.type.str.contains("snapshot")].name) == {f"{PARAMS.stack_name}-db-final"}


def test_the_workbooks_own_policy_allows_every_call_of_the_runs_and_the_teardown(first_run):
    """Each kernel wrote its calls into its run folder (calls/<notebook>.csv): the first run, the
    second and the teardown (run after the tests above). Attached to the role that runs the workbook,
    the policy 07 prints must allow every one of them."""
    from workbook import iam_actions, policy
    files = sorted(first_run["runs"].glob("*/calls/*.csv"))
    calls = pd.concat([pd.read_csv(f, keep_default_na=False).assign(notebook=f.stem) for f in files])
    assert {nb.stem for nb in pipeline.discover()} <= set(calls.notebook)  # 09_teardown included
    allowed = policy.actions(policy.documents(PARAMS))
    refused = {}
    for row in calls.drop_duplicates(["service", "operation"]).itertuples():
        for action in iam_actions.actions_for(row.service, row.operation):
            if action not in allowed:
                refused.setdefault(action, f"{row.notebook}: {row.service}.{row.operation}")
    assert not refused, refused
