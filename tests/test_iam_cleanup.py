"""IAM principals go with everything IAM would refuse to delete them over."""
from __future__ import annotations

import json

import pytest

from workbook.iam_cleanup import delete_iam_group, delete_iam_role, delete_iam_user

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"Service": "ec2.amazonaws.com"}}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]})


def test_role_with_profile_and_policies_is_deleted(ctx):
    iam = ctx.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName="r", PolicyName="inline", PolicyDocument=DOC)
    arn = iam.create_policy(PolicyName="managed", PolicyDocument=DOC)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    iam.create_instance_profile(InstanceProfileName="r")
    iam.add_role_to_instance_profile(InstanceProfileName="r", RoleName="r")
    delete_iam_role(ctx, "r")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="r")
    assert iam.get_instance_profile(InstanceProfileName="r")["InstanceProfile"]["Roles"] == []


def test_group_with_member_and_user_with_key_are_deleted(ctx):
    iam = ctx.client("iam")
    iam.create_group(GroupName="g")
    iam.put_group_policy(GroupName="g", PolicyName="inline", PolicyDocument=DOC)
    iam.create_user(UserName="u")
    iam.add_user_to_group(GroupName="g", UserName="u")
    iam.create_access_key(UserName="u")
    delete_iam_group(ctx, "g")
    delete_iam_user(ctx, "u")
    assert iam.list_groups()["Groups"] == [] and iam.list_users()["Users"] == []
