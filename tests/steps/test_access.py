"""07_access on moto: the group and role, idempotence, the policies' content, and how enforcement is
verified (IAM simulation on AWS, the drill or NOT_EMULATED in the sandbox)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import make_ctx
from workbook import names, tagging
from workbook.checks import access as ca
from workbook.steps import access


def test_apply_creates_group_role_and_policies_then_nothing_on_a_second_run(ctx):
    p = ctx.params
    first = access.apply(ctx, p)
    assert list(first.action) == ["created"] * 4
    second = access.apply(ctx, p)
    assert list(second.action) == ["exists"] * 4
    iam = ctx.client("iam")
    assert iam.get_group(GroupName=names.developers_group(p))["Group"]["GroupName"] == "demo-developers"
    role = iam.get_role(RoleName=names.operators_role(p))["Role"]
    assert tagging.as_dict(role["Tags"])[tagging.STACK] == "demo"
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ctx.account_id}:root"}


def test_dry_run_creates_nothing(ctx):
    out = access.apply(ctx, ctx.params.replace(dry_run=True))
    assert set(out.action) == {"would create"}
    assert ctx.client("iam").list_groups()["Groups"] == []
    assert all(not r["RoleName"].startswith("demo-") for r in ctx.client("iam").list_roles()["Roles"])


def test_policy_names_the_db_secret_once_the_database_exists_and_is_updated_in_place(ctx):
    p = ctx.params
    access.apply(ctx, p)
    secret = ctx.client("rds").create_db_instance(
        DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="app", ManageMasterUserPassword=True)["DBInstance"]["MasterUserSecret"]["SecretArn"]
    again = access.apply(ctx, p)
    assert dict(zip(again.type, again.action))["iam_group_policy"] == "updated"
    doc = access.policy_documents(ctx, p)[p.name(access.DEVELOPERS_POLICY)]
    deny = next(s for s in doc["Statement"] if s["Sid"] == "NoDatabaseSecret")
    assert secret in deny["Resource"]
    assert ca.decision([doc], "secretsmanager:GetSecretValue", secret) == "explicit deny"
    assert ca.decision([doc], "logs:FilterLogEvents") == "allowed"
    assert ca.decision([doc], "ec2:AuthorizeSecurityGroupIngress") == "explicit deny"


def test_refuses_to_take_over_an_untagged_role_of_the_same_name(ctx):
    ctx.client("iam").create_role(RoleName=names.operators_role(ctx.params), AssumeRolePolicyDocument="{}")
    with pytest.raises(RuntimeError, match="not tagged"):
        access.ensure_operators_role(ctx, ctx.params)


def test_destroy_removes_group_with_members_and_role_and_is_safe_twice(ctx):
    p = ctx.params
    access.apply(ctx, p)
    iam = ctx.client("iam")
    iam.create_user(UserName="carol")
    iam.add_user_to_group(GroupName=names.developers_group(p), UserName="carol")
    assert set(access.destroy(ctx, p).action) == {"deleted"}
    assert access.destroy(ctx, p).empty
    assert iam.list_groups()["Groups"] == []
    assert iam.get_user(UserName="carol")  # people are not the stack's to delete


def test_sandbox_without_drill_says_not_emulated_never_pass(ctx):
    access.apply(ctx, ctx.params)
    v = access.verify_policies(ctx, ctx.params, drill=False)
    assert set(v.status) == {"NOT_EMULATED"}
    assert v.how.str.len().gt(0).all()


def fake_simulator(ctx, p, case, source_arn, docs):
    """IAM's simulator stand-in for the aws path (moto has none): the documents' own decision."""
    extra = [{"Statement": [{"Effect": "Allow", "Action": list(case.extra_allow), "Resource": "*"}]}] if case.extra_allow else []
    if source_arn and not extra:  # as deployed
        if case.principal == "developer":
            docs = list(access.policy_documents(ctx, p).values())
        else:
            iam = ctx.client("iam")
            docs = [iam.get_role_policy(RoleName=names.operators_role(p), PolicyName=n)["PolicyDocument"]
                    for n in iam.list_role_policies(RoleName=names.operators_role(p))["PolicyNames"]]
    return {"allowed": "allowed", "explicit deny": "explicitDeny", "implicit deny": "implicitDeny"}[
        ca.decision(docs + extra, case.action, case.resource)]


@pytest.fixture
def aws_ctx():
    from moto import mock_aws
    with mock_aws():
        yield make_ctx(target="aws", aws_account_id="123456789012")


def test_aws_mode_simulates_every_case_and_passes_with_the_step_policies(aws_ctx, monkeypatch):
    monkeypatch.setattr(access, "_simulate", fake_simulator)
    access.apply(aws_ctx, aws_ctx.params)
    v = access.verify_policies(aws_ctx, aws_ctx.params)
    assert "NOT_EMULATED" not in set(v.status)
    assert set(v.status) == {"PASS"}, v[v.status != "PASS"]


def test_aws_mode_fails_when_developers_hold_admin(aws_ctx, monkeypatch):
    monkeypatch.setattr(access, "_simulate", fake_simulator)
    p = aws_ctx.params
    access.apply(aws_ctx, p)
    aws_ctx.client("iam").put_group_policy(GroupName=names.developers_group(p), PolicyName=p.name(access.DEVELOPERS_POLICY),
                                           PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                               {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    v = access.verify_policies(aws_ctx, p)
    failed = set(v[v.status == "FAIL"].attempt)
    assert {"read the DB secret", "open the DB port in a security group", "attach AdministratorAccess to oneself"} <= failed


def test_workbook_policy_covers_every_registered_step():
    doc = access.workbook_policy()
    actions = set(doc["Statement"][0]["Action"])
    assert {"iam:PutGroupPolicy", "iam:SimulatePrincipalPolicy", "ec2:DeleteVpc", "rds:DeleteDBInstance"} <= actions
    assert all(":" in a and "*" not in a for a in actions)  # no wildcards: least privilege
    summary = access.workbook_policy_summary()
    assert summary.actions.sum() == len(actions)
    assert "09_teardown" in summary.set_index("service").loc["ec2", "steps"]
