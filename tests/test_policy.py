"""The workbook's own least-privilege policy, as a user attaches it to the role that runs the workbook.

A user creates the documents as customer managed policies (IAM refuses one over 6,144 characters) and
runs every notebook with them: every call the workbook makes must be allowed.
"""
from __future__ import annotations

import json

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import iam_actions
from workbook.steps import access

LIMIT = 6144  # a customer managed policy, whitespace not counted (IAM quotas)


def documents() -> dict[str, dict]:
    return {"workbook": access.workbook_policy()}


def iam_size(doc: dict) -> int:
    return sum(1 for ch in json.dumps(doc, separators=(",", ":")) if not ch.isspace())


def allowed() -> set[str]:
    return {a for d in documents().values() for st in d["Statement"] if st["Effect"] == "Allow"
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


def test_every_document_fits_a_customer_managed_policy():
    too_big = {name: iam_size(doc) for name, doc in documents().items() if iam_size(doc) > LIMIT}
    assert not too_big, f"IAM refuses a managed policy over {LIMIT} characters: {too_big}"


def test_allows_what_a_real_run_was_refused():
    """Found by reading each call against the policy: the zone tags of the inventory, the interfaces
    the teardown detaches, the leftover scan of the tagging API."""
    missing = {"route53:ListTagsForResources", "ec2:DetachNetworkInterface", "tag:GetResources"} - allowed()
    assert not missing, f"the workbook's policy lacks {sorted(missing)}"


@pytest.fixture
def aws():
    with mock_aws():
        yield


def test_reading_the_stack_and_scanning_for_leftovers_is_allowed(aws):
    """Every inventory frame (what verify and the report read) and the teardown's leftover scan, with
    one of the stack's hosted zones present: each call's IAM action is in the policy."""
    from workbook import inventory
    from workbook.steps import teardown
    ctx = make_ctx(stack_name="pol", domain_name="api.pol.example")
    ctx.client("route53").create_hosted_zone(Name="pol.example", CallerReference="pol")
    mark = ctx.calls.mark()
    inv = inventory.Inventory(ctx, "pol")
    for name in sorted(inventory.FETCHERS):
        inv.frame(name)
    teardown.scan(ctx)
    used = iam_actions.actions_for_calls(ctx.calls.calls[mark:])
    assert sorted(used - allowed()) == []
