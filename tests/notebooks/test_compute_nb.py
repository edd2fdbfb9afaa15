"""notebooks/04_compute.ipynb, headless against the sandbox: what it builds, then the HTTPS upgrade on a rerun."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from compute_fixtures import build_network, issue_certificate
from workbook import names, outputs
from workbook.connect import connect
from workbook.params import Params

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "04_compute.ipynb"
NETWORK_NB = ROOT / "notebooks" / "02_network.ipynb"
STACK = "cmpnb"  # a stack of its own: the session's sandbox is shared with other notebook tests
DOMAIN = "api.cmpnb.example.com"
TIMEOUT = 300


def run(src: Path, out: Path, **parameters) -> nbformat.NotebookNode:
    papermill.execute_notebook(str(src), str(out), parameters={**parameters, "interactive": False},
                               cwd=str(ROOT), execution_timeout=TIMEOUT, progress_bar=False)
    return nbformat.read(str(out), as_version=4)


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.outputs)


def resource_actions(nb: nbformat.NotebookNode) -> dict[str, str]:
    """name -> action from the "What changed" table (its text/plain form)."""
    cell = next(c for c in nb.cells if "resources" in c.metadata.get("tags", []))
    text = cell.outputs[0]["data"]["text/plain"]
    found: dict[int, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0].isdigit():
            found.setdefault(int(parts[0]), []).extend(parts[1:])
    # pandas may wrap a wide frame into blocks; tokens of one row are joined above.
    actions = ("created", "exists", "updated", "deleted", "available")
    named = {cols: next((t for t in cols if t.startswith(STACK + "-")), None) for cols in map(tuple, found.values())}
    return {name: next(t for t in reversed(cols) if t in actions) for cols, name in named.items() if name}


@pytest.fixture(scope="module")
def first_run(sandbox, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("nb04")
    # entry=alb: this notebook's own way in, an internet-facing ALB (the default puts API Gateway in front)
    p = Params(stack_name=STACK, domain_name=DOMAIN, entry="alb")
    ctx = connect(p)
    if NETWORK_NB.exists():
        run(NETWORK_NB, out_dir / "02_network.ipynb", stack_name=STACK)
    else:
        build_network(ctx, p)
    # What 03_database leaves: the app servers' health check reads their database.
    ctx.client("rds").create_db_instance(
        DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, DBName="app", MasterUsername="app", ManageMasterUserPassword=True)
    nb = run(NB, out_dir / "04_compute.ipynb", stack_name=STACK, domain_name=DOMAIN, entry="alb")
    return {"ctx": ctx, "p": p, "nb": nb, "out_dir": out_dir}


def test_notebook_builds_the_compute_tier(first_run):
    ctx, p, nb = first_run["ctx"], first_run["p"], first_run["nb"]
    lb = ctx.client("elbv2").describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing" and len(lb["AvailabilityZones"]) >= 2
    group = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    in_service = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
    assert len(in_service) == p.desired_capacity and group["HealthCheckType"] == "ELB"
    for r in ctx.client("ec2").describe_instances(InstanceIds=in_service)["Reservations"]:
        assert {i["MetadataOptions"]["HttpTokens"] for i in r["Instances"]} == {"required"}

    changed = outputs_of(nb, "resources")
    for kind in ("load_balancer", "launch_template", "auto_scaling_group", "iam_role", "s3_bucket", "release_artifact",
                 "ssm_parameter"):
        assert kind in changed
    # The step returned only once every instance answered its health check, from the release it installed.
    health = outputs_of(nb, "target_health")
    assert health.count("healthy") >= p.desired_capacity and "unhealthy" not in health
    url = ctx.client("ssm").get_parameter(Name=f"/{STACK}/app/artifact-url")["Parameter"]["Value"]
    assert url.startswith(f"s3://{STACK}-release-") and url.endswith(".whl")
    findings = outputs_of(nb, "findings")
    assert "ELB.4" in findings and "AutoScaling.2" in findings and "NOT_EMULATED" in findings
    assert "HTTPS missing" in findings  # no certificate yet
    # moto's gap (instances launched without the template's settings) is corrected by the sandbox's seam,
    # which says so once, labelled; the step itself prints nothing about the sandbox.
    printed = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert printed.count("[sandbox] moto launches Auto Scaling instances without the launch template") == 1
    assert (outputs.home() / "diagrams" / "04_compute.png").stat().st_size > 0


def test_rerun_after_certificate_upgrades_to_https_and_creates_nothing_else(first_run):
    ctx, p = first_run["ctx"], first_run["p"]
    issue_certificate(ctx, DOMAIN)  # what 05_edge leaves behind
    nb = run(NB, first_run["out_dir"] / "04_compute_rerun.ipynb", stack_name=STACK, domain_name=DOMAIN, entry="alb")
    lb = ctx.client("elbv2").describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
    listeners = {x["Port"]: x for x in ctx.client("elbv2").describe_listeners(
        LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    actions = resource_actions(nb)
    assert actions[f"{names.alb(p)}:443"] == "created" and actions[f"{names.alb(p)}:80"] == "updated"
    # 02's NAT, waited for before the app servers: found available, nothing made
    assert {a for n, a in actions.items() if not n.startswith(names.alb(p) + ":")} <= {"exists", "available"}
    assert "https://" + DOMAIN in outputs_of(nb, "endpoint")
    assert "HTTPS missing" not in outputs_of(nb, "findings")
