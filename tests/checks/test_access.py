"""Access checks: what the policy documents grant, evaluated the same in the sandbox and on AWS."""
from __future__ import annotations

import json

import pytest

from workbook import checks, inventory, names, tagging
from workbook.checks import access as ca
from workbook.steps import access

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def run(ctx):
    f = checks.run(inventory.Inventory(ctx, ctx.params.stack_name), ctx.params, groups=["access"])
    return {(r.id, r.resource): r for r in f.itertuples()}


def by_id(findings, id_):
    return [r for (i, _), r in findings.items() if i == id_]


def make_db(ctx):
    db = ctx.client("rds").create_db_instance(
        DBInstanceIdentifier=names.db_instance(ctx.params), Engine="postgres", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, MasterUsername="app", ManageMasterUserPassword=True,
        Tags=tagging.tags(ctx.params, "03_database", names.db_instance(ctx.params)))["DBInstance"]
    return db["MasterUserSecret"]["SecretArn"]


def test_decision_follows_iam_rules():
    doc = access.developers_policy(access.Params(), "123456789012",
                                   "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1-AbCdEf")
    broad = {"Statement": [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"}]}
    assert ca.decision([doc], "EC2:describeInstances") == "allowed"          # actions are case-insensitive
    assert ca.decision([doc], "ec2:RunInstances") == "implicit deny"
    assert ca.decision([doc, broad], "secretsmanager:GetSecretValue",
                       "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-9-XyZ123") == "explicit deny"
    assert ca.decision([doc, broad], "secretsmanager:GetSecretValue",
                       "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ123") == "allowed"
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert ca.decision([not_action], "iam:CreateUser") == "implicit deny"
    assert ca.decision([not_action], "s3:GetObject") == "allowed"


def test_step_07_policies_pass_every_access_check(ctx):
    secret = make_db(ctx)
    iam = ctx.client("iam")
    iam.create_role(RoleName=names.app_role(ctx.params), AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName=names.app_role(ctx.params), PolicyName="db", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}]}))
    access.apply(ctx)
    f = run(ctx)
    statuses = {i: r.status for (i, _), r in f.items()}
    assert statuses == {"IAM.1": "PASS", "ARTICLE.DEV_NO_DB_SECRET": "PASS", "ARTICLE.NO_USER_INLINE_ADMIN": "PASS",
                        "ARTICLE.APP_ROLE_SECRET_SCOPED": "PASS"}
    assert secret.rsplit(":", 1)[-1] in by_id(f, "ARTICLE.DEV_NO_DB_SECRET")[0].detail


def test_admin_developers_and_inline_admin_users_fail(ctx):
    iam, p = ctx.client("iam"), ctx.params
    iam.create_group(GroupName=names.developers_group(p))
    iam.put_group_policy(GroupName=names.developers_group(p), PolicyName="all", PolicyDocument=json.dumps(ADMIN))
    iam.create_user(UserName="legacy-admin")
    iam.put_user_policy(UserName="legacy-admin", PolicyName="everything", PolicyDocument=json.dumps(ADMIN))
    iam.create_user(UserName="reader")
    f = run(ctx)
    assert by_id(f, "IAM.1")[0].status == "FAIL"
    assert by_id(f, "ARTICLE.DEV_NO_DB_SECRET")[0].status == "FAIL"        # allowed, not explicitly denied
    users = {r.resource: r.status for r in by_id(f, "ARTICLE.NO_USER_INLINE_ADMIN")}
    assert users == {"legacy-admin": "FAIL", "reader": "PASS"}


def test_admin_through_an_attached_managed_policy_is_seen(ctx):
    iam, p = ctx.client("iam"), ctx.params
    arn = iam.create_policy(PolicyName="full", PolicyDocument=json.dumps(ADMIN))["Policy"]["Arn"]
    iam.create_group(GroupName=names.developers_group(p))
    iam.attach_group_policy(GroupName=names.developers_group(p), PolicyArn=arn)
    assert by_id(run(ctx), "IAM.1")[0].status == "FAIL"


OWN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:demo-app-db-user-Qw12Er"   # 08's app user


@pytest.mark.parametrize("resource, status", [("*", "FAIL"), ("arn:aws:secretsmanager:us-east-1:123456789012:secret:*", "FAIL"),
                                              ("EXACT", "PASS"), ("EXACT-PREFIX*", "PASS"), (OWN, "PASS"),
                                              (OWN.replace("demo-", "other-"), "FAIL")])
def test_app_role_secret_scope(ctx, resource, status):
    """The role may read the database's master secret, or the app's own database user's (08 makes it and
    the servers then log in with it); no other secret."""
    secret = make_db(ctx)
    resource = resource.replace("EXACT-PREFIX", secret.rsplit("-", 1)[0] + "-").replace("EXACT", secret)
    iam = ctx.client("iam")
    iam.create_role(RoleName=names.app_role(ctx.params), AssumeRolePolicyDocument=TRUST,
                    Tags=tagging.tags(ctx.params, "04_compute", names.app_role(ctx.params)))
    iam.put_role_policy(RoleName=names.app_role(ctx.params), PolicyName="db", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": resource}]}))
    assert by_id(run(ctx), "ARTICLE.APP_ROLE_SECRET_SCOPED")[0].status == status


def test_nothing_built_yet(ctx):
    f = run(ctx)
    assert by_id(f, "IAM.1")[0].status == "NOT_APPLICABLE"
    assert by_id(f, "ARTICLE.DEV_NO_DB_SECRET")[0].status == "FAIL"
    assert by_id(f, "ARTICLE.APP_ROLE_SECRET_SCOPED")[0].status == "NOT_APPLICABLE"
