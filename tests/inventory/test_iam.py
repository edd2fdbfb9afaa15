"""IAM frames: a stack's principals by name prefix, never another stack's (demo vs demo-2)."""
from __future__ import annotations

import json

from workbook import inventory, tagging
from workbook.inventory import iam as inv_iam

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}


def _setup(ctx):
    p, iam = ctx.params, ctx.client("iam")
    iam.create_role(RoleName="demo-app-role", AssumeRolePolicyDocument=TRUST, Tags=tagging.tags(p, "04_compute", "demo-app-role"))
    iam.put_role_policy(RoleName="demo-app-role", PolicyName="read", PolicyDocument=json.dumps(READ))
    arn = iam.create_policy(PolicyName="demo-extra", PolicyDocument=json.dumps(READ))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="demo-app-role", PolicyArn=arn)
    iam.create_role(RoleName="demo-2-app-role", AssumeRolePolicyDocument=TRUST, Tags=tagging.tags(p, "04_compute", "x", stack="demo-2"))
    iam.create_role(RoleName="someone-elses", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="demo-app-role")
    iam.add_role_to_instance_profile(InstanceProfileName="demo-app-role", RoleName="demo-app-role")
    iam.create_group(GroupName="demo-developers")
    iam.put_group_policy(GroupName="demo-developers", PolicyName="demo-developers-read", PolicyDocument=json.dumps(READ))
    iam.create_user(UserName="demo-alice")
    iam.add_user_to_group(GroupName="demo-developers", UserName="demo-alice")
    iam.create_access_key(UserName="demo-alice")
    iam.create_user(UserName="bob")


def test_frames_hold_the_stacks_principals_with_the_contract_columns(ctx):
    _setup(ctx)
    inv = inventory.Inventory(ctx, "demo")
    roles = inv.iam_roles
    assert list(roles.id) == ["demo-app-role"]
    r = roles.iloc[0]
    assert set(r.policies) == {"read", "demo-extra"} and r.inline["read"] == READ
    assert r.arn.endswith(":role/demo-app-role") and r.stack == "demo" and r.step == "04_compute"
    assert r.trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    groups = inv.iam_groups
    assert list(groups.id) == ["demo-developers"] and groups.iloc[0].members == ["demo-alice"]
    users = inv.iam_users
    assert list(users.id) == ["demo-alice"]
    assert users.iloc[0].groups == ["demo-developers"] and users.iloc[0].access_keys == 1
    assert "SecretAccessKey" not in json.dumps(users.drop(columns=["tags"]).to_dict("records"), default=str)
    profiles = inv.instance_profiles
    assert list(profiles.id) == ["demo-app-role"] and profiles.iloc[0].roles == ["demo-app-role"]
    for name in ("iam_roles", "iam_groups", "iam_users", "instance_profiles"):
        assert {"id", "name", "stack", "step", "tags", "policies", "arn"} <= set(inv.frame(name).columns)


def test_no_stack_lists_the_whole_account(ctx):
    _setup(ctx)
    assert {"demo-app-role", "demo-2-app-role", "someone-elses"} <= set(inv_iam.fetch_roles(ctx, None).id)
    assert {"demo-alice", "bob"} == set(inv_iam.fetch_users(ctx, None).id)


def test_empty_account_gives_empty_frames_with_columns(ctx):
    inv = inventory.Inventory(ctx, "demo")
    assert inv.iam_roles.empty and "policies" in inv.iam_roles.columns
    assert inv.iam_groups.empty and "arn" in inv.iam_groups.columns
