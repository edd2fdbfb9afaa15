"""The workbook's own least-privilege policy, as a user attaches it to the role that runs the workbook.

A user creates the documents as customer managed policies (IAM refuses one over 6,144 characters,
whitespace not counted) and runs every notebook with them: every call the workbook makes must be
allowed, nothing beyond the declared actions, changes only to the stack's own resources, and the
linter parliament has nothing to say that is not written down with its reason.
"""
from __future__ import annotations

import json

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import iam_actions, policy, steps
from workbook.params import REGIONS, Params

LIMIT = 6144  # a customer managed policy, whitespace not counted (IAM quotas)
SHORT = Params.from_mapping({"stack_name": "pol", "domain_name": "api.pol.example"})
# the longest names the parameters accept make the longest documents
LONGEST = Params.from_mapping({"stack_name": "a" * 20, "region": max(REGIONS, key=len),
                               "domain_name": ".".join(["d" * 60] * 4)[:240] + ".example",
                               "dev_tag": "Name=" + "x" * 100})
CASES = [SHORT, LONGEST, SHORT.replace(dev_instance_id="i-0123456789abcdef0")]


def iam_size(doc: dict) -> int:
    return sum(1 for ch in json.dumps(doc, separators=(",", ":")) if not ch.isspace())


def allowed(p: Params = SHORT) -> set[str]:
    return {a for d in policy.documents(p).values() for st in d["Statement"] if st["Effect"] == "Allow"
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


@pytest.mark.parametrize("p", CASES, ids=["short", "longest", "dev-instance-id"])
def test_every_document_fits_a_customer_managed_policy(p):
    docs = policy.documents(p)
    too_big = {name: iam_size(doc) for name, doc in docs.items() if iam_size(doc) > LIMIT}
    assert not too_big, f"IAM refuses a managed policy over {LIMIT} characters: {too_big}"
    assert all(policy.size(d) == iam_size(d) for d in docs.values())
    assert len(docs) <= 10  # a role takes 10 managed policies by default
    assert all(len(name) <= 128 and name.startswith(f"{p.stack_name}-workbook-") for name in docs)


@pytest.mark.parametrize("p", CASES, ids=["short", "longest", "dev-instance-id"])
def test_the_documents_allow_exactly_the_declared_actions(p):
    assert allowed(p) == set(steps.permissions())
    assert all(st["Effect"] == "Allow" for d in policy.documents(p).values() for st in d["Statement"])


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


@pytest.mark.parametrize("p", CASES, ids=["short", "longest", "dev-instance-id"])
def test_parliament_finds_nothing_but_the_written_down_exceptions(p):
    findings = policy.lint(policy.documents(p))
    assert findings.empty, findings.to_string()
    assert all(reason.strip() for issue in policy.LINT_EXCEPTIONS.values() for reason in issue.values())


def test_the_linter_is_not_silent():
    """A control: what the workbook's documents avoid, parliament reports."""
    bad = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DeleteVpc", "apigateway:TagResource"], "Resource": "*"},
        {"Effect": "Allow", "Action": "rds:DeleteDBInstance", "Resource": "arn:aws:s3:::x"}]}
    issues = set(policy.lint({"bad": bad}).issue)
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues
    star = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:DeleteVpc", "Resource": "*"}]}
    assert set(policy.lint({"star": star}).issue) == {"RESOURCE_STAR"}


def test_resource_star_only_where_aws_requires_it():
    """Resource "*" only for actions that name no resource type in AWS's Service Authorization Reference."""
    for doc in policy.documents(SHORT).values():
        for st in doc["Statement"]:
            if st["Resource"] == "*":
                typed = [a for a in st["Action"] if any(t["resource_type"] for t in policy._privilege(a)["resource_types"])]
                assert typed == [], f"{typed} can be scoped"


def test_changes_are_scoped_to_the_stack_or_say_why():
    """A change (not a read) acts on the stack's resources: by its name in the ARN, by its tag, or by a
    create that tags it; the rest names why (the dev host, AWS's own things, ids without tag conditions)."""
    scopes = policy.scopes(SHORT)
    changes = scopes[~scopes.access.isin(["Read", "List"])]
    named = changes[changes.scope == "name"]
    assert (named.resources.str.contains("pol") | named.resources.str.endswith(":document/AWS-RunShellScript")).all()
    tagged = changes[changes.scope.isin(["tag", "created with tag"])]
    assert tagged.condition.str.contains("workbook:stack StringEquals pol").all()
    broad = changes[changes.scope.isin(["account", "condition", "dev host", "*"])]
    assert (broad.why.str.len() > 10).all(), broad[broad.why.str.len() <= 10].to_string()
    # what the dev host is given: only the dev host, by the parameters that name it
    dev = scopes[scopes.scope == "dev host"]
    assert set(dev.action) == {"ec2:StopInstances", "ec2:CreateImage", "ssm:SendCommand"}
    assert dev.condition.str.contains("Name StringEquals dev-backend").all()
    by_id = policy.scopes(CASES[2])
    assert by_id[by_id.scope == "dev host"].resources.str.endswith("instance/i-0123456789abcdef0").all()
    # shell commands run on the stack's instances and the dev host only, never on any instance
    send = scopes[(scopes.action == "ssm:SendCommand") & scopes.resources.str.contains(":instance/")]
    assert (send.condition != "").all()


def test_every_written_down_scope_names_a_real_resource_type():
    ref = policy.reference()
    for prefix, rtype in [*policy.NAMED, *policy.TAGGED, *policy.ANYWHERE]:
        assert rtype in ref[prefix]["resources"], (prefix, rtype)
    for action in policy.OVERRIDES:
        policy._privilege(action)


def test_an_undeclared_kind_of_change_is_refused_not_widened(monkeypatch):
    """A new declared action that changes a resource type policy.py has no scope for stops the
    generation with a message saying what to add, instead of silently getting the whole account."""
    monkeypatch.setattr(steps, "permissions", lambda step_ids=None: ("ec2:DeleteVpc", "ec2:DeleteKeyPair"))
    with pytest.raises(KeyError, match="key-pair"):
        policy.documents(SHORT)


def test_written_files_and_commands(tmp_path):
    docs = policy.documents(SHORT)
    paths = policy.write(docs, tmp_path)
    assert [p.stem for p in paths] == list(docs)
    assert all(json.loads(p.read_text()) == docs[p.stem] for p in paths)
    commands = policy.cli(docs, role="ci-runner", folder=tmp_path)
    for name in docs:
        assert f"aws iam create-policy --policy-name {name} --policy-document file://{tmp_path}/{name}.json" in commands
        assert f"--role-name ci-runner --policy-arn arn:aws:iam::<account id>:policy/{name}" in commands
    summary = policy.summary(docs)
    assert list(summary.policy) == list(docs) and (summary.characters <= LIMIT).all()
    assert summary.actions.sum() >= len(steps.permissions())  # an action may appear in two documents
    assert "123456789012" not in json.dumps(docs)  # no account id in what is shown and written


# Tagging a resource in its create call is authorized as two actions: the create and the service's tag
# action (each service's API reference: CreateTopic, CreateLogGroup, CreateSecret, PutParameter, ...).
TAG_ON_CREATE = {"sns": "sns:TagResource", "logs": "logs:TagResource", "secretsmanager": "secretsmanager:TagResource",
                 "ssm": "ssm:AddTagsToResource", "rds": "rds:AddTagsToResource", "elbv2": "elasticloadbalancing:AddTags",
                 "acm": "acm:AddTagsToCertificate", "ec2": "ec2:CreateTags", "autoscaling": "autoscaling:CreateOrUpdateTags",
                 "cloudwatch": "cloudwatch:TagResource"}
IAM_TAG = {"iam_role": "iam:TagRole", "instance_profile": "iam:TagInstanceProfile", "iam_user": "iam:TagUser",
           "iam_policy": "iam:TagPolicy"}


def test_a_resource_tagged_in_its_create_call_may_be_tagged():
    """Under the workbook's own policy, 06's CreateTopic with the stack's tags was refused (no sns:TagResource)."""
    from workbook import kinds
    allowed = policy.actions(policy.documents(Params()))
    used = {k for s in steps.ordered() if s.id != "09_teardown" for k in s.kinds}   # what the steps create
    missing = {}
    for k in kinds.all_kinds():
        if k.name in used and k.create and k.create_tags:
            need = IAM_TAG.get(k.name) if k.service == "iam" else TAG_ON_CREATE.get(k.service)
            if need and need not in allowed:
                missing[k.name] = need
    assert missing == {}
