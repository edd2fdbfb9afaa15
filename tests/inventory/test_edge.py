"""Edge frames: the contract columns, filtered by the stack's tag."""
from __future__ import annotations

from edge_obs_fixtures import build_stack

from conftest import make_ctx
from workbook import inventory
from workbook.inventory import BASE_COLUMNS
from workbook.inventory.edge import COLUMNS
from workbook.steps import edge


def test_frames_of_a_stack_with_api_gateway_and_a_domain(ctx):
    c = make_ctx(domain_name="api.example.com", entry="api_gateway")
    build_stack(c, c.params, scheme="internal", asg=False, rds=False)
    edge.apply(c)
    edge.ensure_alias_record(c)   # 08's cutover points the name
    other = c.client("route53").create_hosted_zone(Name="other.org", CallerReference="o")["HostedZone"]["Id"]
    inv = inventory.Inventory(c, "demo")
    for name, cols in COLUMNS.items():
        assert list(inv.frame(name).columns) == BASE_COLUMNS + cols
    zones = inv.hosted_zones
    assert list(zones.domain) == ["api.example.com"] and other.rsplit("/", 1)[-1] not in set(zones.id)
    rec = inv.records
    alias = rec[(rec.name == "api.example.com") & (rec.type == "A")].iloc[0]
    assert alias.alias and "execute-api" in alias.target
    assert (rec.type == "CNAME").sum() == 1  # the ACM validation record
    cert = inv.certificates.iloc[0]
    assert cert.domain == "api.example.com" and cert.status == "ISSUED" and cert.stack == "demo"
    api = inv.apis.iloc[0]
    assert api.protocol == "HTTP" and api.vpc_link_id == inv.vpc_links.iloc[0].id
    assert api.endpoint.startswith("https://") and api.access_log_arn.endswith("demo-api-access-logs")
    assert inventory.Inventory(c, "other").apis.empty


def test_in_a_zone_the_stack_does_not_own_only_its_own_records_are_listed(ctx):
    c = make_ctx(domain_name="api.example.com")
    build_stack(c, c.params, asg=False, rds=False)
    r53 = c.client("route53")
    zid = r53.create_hosted_zone(Name="example.com", CallerReference="owner")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "www.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "example.org"}]}}, {
        "Action": "CREATE", "ResourceRecordSet": {   # looks like a validation record of the domain; is not ours
            "Name": "_0123.api.example.com", "Type": "CNAME", "TTL": 60,
            "ResourceRecords": [{"Value": "_x.acm-validations.aws."}]}}]})
    edge.apply(c)
    edge.ensure_alias_record(c)   # 08's cutover points the name
    inv = inventory.Inventory(c, "demo")
    assert inv.hosted_zones.empty  # used, not owned
    assert set(inv.records.type) == {"A", "CNAME"} and "www.example.com" not in set(inv.records.name)
    assert len(inv.records) == 2 and "_0123.api.example.com" not in set(inv.records.name)   # the ledger's two
    assert set(inv.records.step) == {"05_edge"}
    assert "www.example.com" in set(inventory.Inventory(c, None).records.name)
