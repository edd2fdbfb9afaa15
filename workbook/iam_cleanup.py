"""Deleting IAM principals: IAM refuses to delete a role, group or user that still has policies,
members, instance profiles or keys, so each deleter removes those first. One place for the steps'
destroy() and the teardown sweep."""
from __future__ import annotations

from .connect import Context


def delete_iam_role(ctx: Context, name: str) -> None:
    """Instance profiles, inline and attached policies first: IAM refuses to delete a role that has any."""
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name):
        for ip in page["InstanceProfiles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=ip["InstanceProfileName"], RoleName=name)
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for pol in page["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=pol)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for pol in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=pol["PolicyArn"])
    iam.delete_role(RoleName=name)


def delete_iam_group(ctx: Context, name: str) -> None:
    """Members, inline and attached policies first: IAM refuses to delete a group that has any."""
    iam = ctx.client("iam")
    for page in iam.get_paginator("get_group").paginate(GroupName=name):
        for u in page["Users"]:
            iam.remove_user_from_group(GroupName=name, UserName=u["UserName"])
    for page in iam.get_paginator("list_group_policies").paginate(GroupName=name):
        for pol in page["PolicyNames"]:
            iam.delete_group_policy(GroupName=name, PolicyName=pol)
    for page in iam.get_paginator("list_attached_group_policies").paginate(GroupName=name):
        for pol in page["AttachedPolicies"]:
            iam.detach_group_policy(GroupName=name, PolicyArn=pol["PolicyArn"])
    iam.delete_group(GroupName=name)


def delete_iam_user(ctx: Context, name: str) -> None:
    """Keys, group memberships, inline and attached policies first, as IAM requires."""
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_access_keys").paginate(UserName=name):
        for k in page["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    for page in iam.get_paginator("list_groups_for_user").paginate(UserName=name):
        for g in page["Groups"]:
            iam.remove_user_from_group(GroupName=g["GroupName"], UserName=name)
    for page in iam.get_paginator("list_user_policies").paginate(UserName=name):
        for pol in page["PolicyNames"]:
            iam.delete_user_policy(UserName=name, PolicyName=pol)
    for page in iam.get_paginator("list_attached_user_policies").paginate(UserName=name):
        for pol in page["AttachedPolicies"]:
            iam.detach_user_policy(UserName=name, PolicyArn=pol["PolicyArn"])
    iam.delete_user(UserName=name)
