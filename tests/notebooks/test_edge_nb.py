"""notebooks/05_edge.ipynb, headless against the sandbox, with API Gateway and a domain: what it built."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest

from edge_obs_fixtures import build_stack
from workbook import engine, names, outputs
from workbook.connect import connect
from workbook.params import Params
from workbook.steps import edge

ROOT = Path(__file__).resolve().parents[2]
NB = ROOT / "notebooks" / "05_edge.ipynb"
STACK = "edgenb"  # a stack of its own: the session's sandbox is shared with other notebook tests
DOMAIN = "api.edgenb.example.com"


def outputs_of(nb: nbformat.NotebookNode, tag: str) -> str:
    cell = next(c for c in nb.cells if tag in c.metadata.get("tags", []))
    return json.dumps(cell.outputs)


@pytest.fixture(scope="module")
def run(sandbox, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb05") / "05_edge.ipynb"
    p = Params(stack_name=STACK, domain_name=DOMAIN, entry="api_gateway")
    ctx = connect(p)
    # What 02 and 04 leave behind, made directly: running those notebooks would take far longer.
    stack = build_stack(ctx, p, scheme="internal", asg=False, rds=False)
    papermill.execute_notebook(str(NB), str(out), parameters={
        "stack_name": STACK, "domain_name": DOMAIN, "entry": "api_gateway", "interactive": False},
        cwd=str(ROOT), execution_timeout=300, progress_bar=False)
    return {"ctx": ctx, "p": p, "stack": stack, "nb": nbformat.read(str(out), as_version=4)}


def test_notebook_puts_the_api_behind_a_name_with_tls(run):
    ctx, p, stack = run["ctx"], run["p"], run["stack"]
    api = edge.find_api(ctx)
    link = edge.find_vpc_link(ctx)
    assert sorted(link["SubnetIds"]) == sorted(stack["app"])
    integration = ctx.client("apigatewayv2").get_integrations(ApiId=api["ApiId"])["Items"][0]
    assert integration["ConnectionId"] == link["VpcLinkId"]
    cert = edge.find_certificate(ctx)
    assert cert["Status"] == "ISSUED"
    zone = edge.find_zone(ctx)
    assert zone["Name"] == DOMAIN + "."
    # the name is not pointed yet: 08's cutover does it once the data has moved
    assert edge.find_record(ctx, zone["Id"].rsplit("/", 1)[-1], DOMAIN, "A") is None
    ledger = engine.ledger(ctx)["dns_record"]   # every record the notebook wrote, for teardown to find
    assert f"{zone['Id'].rsplit('/', 1)[-1]}/{DOMAIN}/A" not in ledger and len(ledger) == 1   # the validation CNAME
    alias = edge.ensure_alias_record(ctx)       # what 08's cutover calls
    assert "execute-api" in edge.find_record(ctx, zone["Id"].rsplit("/", 1)[-1], DOMAIN, "A")["AliasTarget"]["DNSName"]
    assert alias.id in engine.ledger(ctx)["dns_record"]


def test_notebook_shows_what_changed_the_findings_and_the_diagram(run):
    nb = run["nb"]
    changed = outputs_of(nb, "resources")
    for kind in ("hosted_zone", "certificate", "vpc_link", "http_api", "stage", "dns_record"):
        assert kind in changed
    findings = outputs_of(nb, "findings")
    for control in ("ARTICLE.DNS_ALIAS", "ARTICLE.API_GATEWAY_ONLY_WAY_IN", "APIGateway.9", "ACM.1"):
        assert control in findings
    assert "FAIL" not in findings
    everything = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert "Delegate it where edgenb.example.com is served" in everything and "[sandbox] in the sandbox nothing resolves" in everything
    assert (outputs.home() / "diagrams" / "05_edge.png").stat().st_size > 0
    assert names.api(run["p"]) in json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
