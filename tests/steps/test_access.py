"""07_access on moto: the group and role, idempotence, the policies' content, destroy, the permissions it
declares, and how enforcement is verified (IAM policy simulation; the sandbox's answer is tested with
the drill in tests/sandbox/test_iam_drill.py)."""
from __future__ import annotations

import json

import pytest

from conftest import make_ctx
from workbook import engine, iam_actions, names, tagging
from workbook.checks import access as ca
from workbook.steps import access


def test_apply_creates_group_role_and_policies_then_nothing_on_a_second_run(ctx):
    p = ctx.p
    first = access.apply(ctx)
    assert list(zip(first.type, first.action)) == [("iam_group", "created"), ("iam_group_policy", "created"),
                                                   ("iam_role", "created"), ("iam_role_policy", "created")]
    second = access.apply(ctx)
    assert list(second.action) == ["exists"] * 4
    iam = ctx.client("iam")
    assert iam.get_group(GroupName=names.developers_group(p))["Group"]["GroupName"] == "demo-developers"
    role = iam.get_role(RoleName=names.operators_role(p))["Role"]
    assert tagging.as_dict(role["Tags"])[tagging.STACK] == "demo"
    assert tagging.as_dict(role["Tags"])[tagging.STEP] == access.STEP_ID
    trust = role["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ctx.account_id}:root"}
    # the group cannot carry a tag: the stack's ledger says it is ours
    assert engine.ledger(ctx)["iam_group"] == {"demo-developers": {"step": access.STEP_ID}}


def test_plan_creates_nothing(ctx):
    out = access.plan(ctx)
    assert set(out.action) == {"would create"}
    assert ctx.client("iam").list_groups()["Groups"] == []
    assert all(not r["RoleName"].startswith("demo-") for r in ctx.client("iam").list_roles()["Roles"])


def test_policy_names_the_db_secret_once_the_database_exists_and_is_updated_in_place(ctx):
    p = ctx.p
    access.apply(ctx)
    secret = ctx.client("rds").create_db_instance(
        DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
        MasterUsername="app", ManageMasterUserPassword=True)["DBInstance"]["MasterUserSecret"]["SecretArn"]
    assert dict(zip(access.plan(ctx).type, access.plan(ctx).action))["iam_group_policy"] == "would update"
    again = access.apply(ctx)
    assert dict(zip(again.type, again.action))["iam_group_policy"] == "updated"
    doc = access.policy_documents(ctx)[p.name(access.DEVELOPERS_POLICY)]
    deny = next(s for s in doc["Statement"] if s["Sid"] == "NoDatabaseSecret")
    assert secret in deny["Resource"]
    assert ca.decision([doc], "secretsmanager:GetSecretValue", secret) == "explicit deny"
    assert ca.decision([doc], "logs:FilterLogEvents") == "allowed"
    assert ca.decision([doc], "ec2:AuthorizeSecurityGroupIngress") == "explicit deny"


def test_developers_granted_ssm_and_rds_elsewhere_still_cannot_reach_the_database_through_the_servers(ctx):
    """The app servers' role may read the database secret, so a command sent to one through Run Command
    reads it for whoever sends it; a new master password (ModifyDBInstance) or a restore of the database's
    snapshot with one of their own opens the data too. With ssm:* and rds:* granted by another group, the
    developers' explicit denies must still refuse all of that on the stack's resources."""
    p, a = ctx.p, "123456789012"
    secret = f"arn:aws:secretsmanager:{p.region}:{a}:secret:rds!db-0000-AbCdEf"
    docs = [access.developers_policy(p, a, secret),
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ssm:*", "rds:*"], "Resource": "*"}]}]
    instance = f"arn:aws:ec2:{p.region}:{a}:instance/i-0123456789abcdef0"
    db = f"arn:aws:rds:{p.region}:{a}:db:{names.db_instance(p)}"
    snapshot = f"arn:aws:rds:{p.region}:{a}:snapshot:{names.db_snapshot(p, 'final')}"
    for action, resource in [("ssm:SendCommand", instance), ("ssm:StartSession", instance),
                             ("rds:ModifyDBInstance", db), ("rds:RestoreDBInstanceFromDBSnapshot", snapshot),
                             ("rds:RestoreDBInstanceToPointInTime", db), ("rds:ModifyDBSnapshotAttribute", snapshot),
                             ("rds:CopyDBSnapshot", snapshot)]:
        assert ca.decision(docs, action, resource) == "explicit deny", action
    assert ca.decision(docs, "rds:DescribeDBInstances", db) == "allowed"   # reading about it stays
    labels = {c.label for c in access.cases(ctx) if c.principal == "developer" and c.expected == "denied"}
    assert {"run a command on a production instance", "set a new master password on the database"} <= labels


def test_refuses_to_take_over_an_untagged_role_of_the_same_name(ctx):
    ctx.client("iam").create_role(RoleName=names.operators_role(ctx.p), AssumeRolePolicyDocument="{}")
    with pytest.raises(engine.ForeignResource, match="not this stack's"):
        access.ensure_operators_role(ctx)


def test_refuses_a_group_of_the_same_name_the_stack_did_not_create(ctx):
    ctx.client("iam").create_group(GroupName=names.developers_group(ctx.p))
    with pytest.raises(engine.ForeignResource, match="not this stack's"):
        access.ensure_developers_group(ctx)
    assert access.destroy(ctx).empty  # and its destroy leaves it alone
    assert ctx.client("iam").get_group(GroupName=names.developers_group(ctx.p))


def test_destroy_removes_group_with_members_and_role_and_is_safe_twice(ctx):
    p = ctx.p
    access.apply(ctx)
    iam = ctx.client("iam")
    iam.create_user(UserName="carol")
    iam.add_user_to_group(GroupName=names.developers_group(p), UserName="carol")
    assert access.destroy(ctx.replace(dry_run=True)).action.tolist() == ["would delete"] * 2
    done = access.destroy(ctx)
    assert sorted(zip(done.type, done.action)) == [("iam_group", "deleted"), ("iam_role", "deleted")]
    assert access.destroy(ctx).empty
    assert iam.list_groups()["Groups"] == []
    assert engine.ledger(ctx).get("iam_group") == {}
    assert iam.get_user(UserName="carol")  # people are not the stack's to delete


def test_destroy_leaves_another_stacks_group_and_role_alone(ctx):
    other = make_ctx(stack_name="demo-2")
    access.apply(other)
    access.apply(ctx)
    access.destroy(ctx)
    iam = ctx.client("iam")
    assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["demo-2-developers"]
    assert iam.get_role(RoleName="demo-2-operators")


def test_before_apply_there_is_nothing_to_simulate(ctx):
    v = access.verify_policies(ctx)
    assert set(v.status) == {"NOT_APPLICABLE"}
    assert v.how.str.contains("run apply").all()


# ---- the real-account path: IAM's simulator, stood in for by the policies' own decision ------------------
_DECISION = {"allowed": "allowed", "explicit deny": "explicitDeny", "implicit deny": "implicitDeny"}


def fake_iam_simulator(ctx):
    """moto has no SimulatePrincipalPolicy: answer it from the principal's deployed policies (and the
    call's PolicyInputList) with checks.access.decision, in AWS's shape. Conditions count as met."""
    iam = ctx.client("iam")
    seen: dict = {}

    def keep(params, **_):
        seen.clear()
        seen.update(params)

    def answer(**_):
        docs = _deployed_documents(ctx, seen["PolicySourceArn"]) + [json.loads(d) for d in seen.get("PolicyInputList", [])]
        results = [{"EvalActionName": a, "EvalResourceName": r, "EvalDecision": _DECISION[ca.decision(docs, a, r)]}
                   for a in seen["ActionNames"] for r in seen.get("ResourceArns", ["*"])]

        class Ok:
            status_code = 200
            headers: dict = {}
        return Ok(), {"EvaluationResults": results, "IsTruncated": False}

    iam.meta.events.register("before-parameter-build.iam.SimulatePrincipalPolicy", keep)
    iam.meta.events.register("before-call.iam.SimulatePrincipalPolicy", answer)


def _deployed_documents(ctx, arn: str) -> list[dict]:
    import boto3
    iam = boto3.client("iam", region_name="us-east-1")  # outside ctx: not the step's calls
    kind, name = arn.split(":")[-1].split("/", 1)
    if kind == "group":
        return [iam.get_group_policy(GroupName=name, PolicyName=n)["PolicyDocument"]
                for n in iam.list_group_policies(GroupName=name)["PolicyNames"]]
    return [iam.get_role_policy(RoleName=name, PolicyName=n)["PolicyDocument"]
            for n in iam.list_role_policies(RoleName=name)["PolicyNames"]]


@pytest.fixture
def aws_ctx():
    from moto import mock_aws
    with mock_aws():
        c = make_ctx(target="aws", aws_account_id="123456789012")
        fake_iam_simulator(c)
        yield c


def test_aws_mode_simulates_every_case_and_passes_with_the_step_policies(aws_ctx):
    access.apply(aws_ctx)
    v = access.verify_policies(aws_ctx)
    assert set(v.status) == {"PASS"}, v[v.status != "PASS"]
    assert set(v.principal) == {"developer", "operator"} and len(v) == len(access.cases(aws_ctx))
    calls = [c.operation for c in aws_ctx.calls.calls]
    assert calls.count("SimulatePrincipalPolicy") == len(v)
    row = v.set_index("attempt").loc["read the DB secret while another group grants secretsmanager:*"]
    assert row.decision == "explicitDeny" and "extra grant secretsmanager:*" in row.how


def test_aws_mode_fails_when_developers_hold_admin(aws_ctx):
    p = aws_ctx.p
    access.apply(aws_ctx)
    aws_ctx.client("iam").put_group_policy(GroupName=names.developers_group(p), PolicyName=p.name(access.DEVELOPERS_POLICY),
                                           PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                               {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    v = access.verify_policies(aws_ctx)
    failed = set(v[v.status == "FAIL"].attempt)
    assert {"read the DB secret", "open the DB port in a security group", "attach AdministratorAccess to oneself"} <= failed


def test_declared_permissions_cover_every_call_the_step_makes(aws_ctx):
    """apply, plan, verify (checks and simulation), destroy: each call's IAM action is declared."""
    access.plan(aws_ctx)
    access.apply(aws_ctx)
    access.verify(aws_ctx)
    access.verify_policies(aws_ctx)
    access.destroy(aws_ctx)
    used = iam_actions.actions_for_calls(aws_ctx.calls.calls)
    assert sorted(used - set(access.STEP.all_permissions())) == []


def test_workbook_policy_covers_every_registered_step():
    from workbook import policy
    from workbook.params import Params
    docs = policy.documents(Params())
    actions = policy.actions(docs)
    assert {"iam:PutGroupPolicy", "iam:SimulatePrincipalPolicy", "ec2:DeleteVpc", "rds:DeleteDBInstance"} <= actions
    assert all(":" in a and "*" not in a for a in actions)  # no wildcards: least privilege
    summary = policy.summary(docs)
    assert summary[summary.services == "ec2"].steps.str.contains("09").all()  # the teardown deletes the network
    assert (summary.characters <= policy.LIMIT).all()
