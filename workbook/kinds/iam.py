"""IAM kinds: roles, instance profiles, groups, users, customer managed policies. IAM has no tag
filter on its lists, so each candidate's tags are read; groups cannot carry tags at all, so a group
is the stack's by the exact name the stack gives it (names.py) and the stack's ledger."""
from __future__ import annotations

from typing import Any

from ..iam_cleanup import delete_iam_group, delete_iam_role, delete_iam_user
from . import Kind, declare, hook

declare(
    Kind("iam_role", "iam", "list_roles", "Roles", "RoleName", title="IAM role", name_key="RoleName",
         arn_key="Arn", narrow="name-prefix", create="create_role", create_tags="list:Tags", created_key="Role",
         waiter="role_exists", waiter_arg="RoleName", delete="delete_role",
         after=("instance_profile", "flow_log", "instance", "iam_policy"),
         extra_permissions=("iam:GetRole", "iam:TagRole", "iam:PassRole", "iam:PutRolePolicy", "iam:GetRolePolicy",
                            "iam:AttachRolePolicy", "iam:ListRoleTags",
                            # deleting: IAM refuses a role that still has profiles or policies
                            "iam:ListInstanceProfilesForRole", "iam:RemoveRoleFromInstanceProfile",
                            "iam:ListRolePolicies", "iam:DeleteRolePolicy", "iam:ListAttachedRolePolicies",
                            "iam:DetachRolePolicy")),
    Kind("instance_profile", "iam", "list_instance_profiles", "InstanceProfiles", "InstanceProfileName",
         title="instance profile", name_key="InstanceProfileName", arn_key="Arn", narrow="name-prefix",
         create="create_instance_profile", create_tags="list:Tags", created_key="InstanceProfile",
         waiter="instance_profile_exists", waiter_arg="InstanceProfileName", delete="delete_instance_profile",
         after=("instance", "auto_scaling_group", "launch_template"),
         extra_permissions=("iam:GetInstanceProfile", "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
                            "iam:RemoveRoleFromInstanceProfile",
                            # an instance still holding it loses it before the delete
                            "ec2:DescribeIamInstanceProfileAssociations", "ec2:DisassociateIamInstanceProfile")),
    Kind("iam_group", "iam", "list_groups", "Groups", "GroupName", title="IAM group", name_key="GroupName",
         arn_key="Arn", create="create_group", delete="delete_group", taggable=False,
         extra_permissions=("iam:GetGroup", "iam:PutGroupPolicy", "iam:GetGroupPolicy", "iam:RemoveUserFromGroup",
                            "iam:ListGroupPolicies", "iam:DeleteGroupPolicy", "iam:ListAttachedGroupPolicies",
                            "iam:DetachGroupPolicy")),
    Kind("iam_user", "iam", "list_users", "Users", "UserName", title="IAM user", name_key="UserName", arn_key="Arn",
         narrow="name-prefix",
         create="create_user", create_tags="list:Tags", created_key="User", delete="delete_user",
         after=("iam_group",),
         extra_permissions=("iam:ListUserTags", "iam:ListAccessKeys", "iam:DeleteAccessKey", "iam:ListGroupsForUser",
                            "iam:RemoveUserFromGroup", "iam:ListUserPolicies", "iam:DeleteUserPolicy",
                            "iam:ListAttachedUserPolicies", "iam:DetachUserPolicy")),
    Kind("iam_policy", "iam", "list_policies", "Policies", "Arn", title="IAM policy", name_key="PolicyName",
         arn_key="Arn", narrow="name-prefix", describe_args={"Scope": "Local"}, create="create_policy", create_tags="list:Tags",
         created_key="Policy", delete="delete_policy", after=("iam_group", "iam_user"),
         extra_permissions=("iam:ListPolicyTags", "iam:ListEntitiesForPolicy", "iam:ListPolicyVersions",
                            "iam:DeletePolicyVersion")),
)


def _paged_tags(ctx: Any, op: str, **kw: Any) -> list[dict[str, str]]:
    iam = ctx.client("iam")
    return [t for page in iam.get_paginator(op).paginate(**kw) for t in page["Tags"]]


@hook("iam_role", "tags")
def _role_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _paged_tags(ctx, "list_role_tags", RoleName=raw["RoleName"])


@hook("iam_user", "tags")
def _user_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _paged_tags(ctx, "list_user_tags", UserName=raw["UserName"])


@hook("iam_policy", "tags")
def _policy_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return _paged_tags(ctx, "list_policy_tags", PolicyArn=raw["Arn"])


@hook("instance_profile", "tags")
def _profile_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    # GetInstanceProfile returns the tags (moto lacks ListInstanceProfileTags)
    return ctx.client("iam").get_instance_profile(InstanceProfileName=raw["InstanceProfileName"])[
        "InstanceProfile"].get("Tags", [])


@hook("iam_role", "delete")
def _delete_role(ctx: Any, kind: Kind, it: Any) -> None:
    delete_iam_role(ctx, it.id)


@hook("iam_group", "delete")
def _delete_group(ctx: Any, kind: Kind, it: Any) -> None:
    delete_iam_group(ctx, it.id)


@hook("iam_user", "delete")
def _delete_user(ctx: Any, kind: Kind, it: Any) -> None:
    delete_iam_user(ctx, it.id)


@hook("instance_profile", "delete")
def _delete_profile(ctx: Any, kind: Kind, it: Any) -> None:
    """An instance still associated with the profile (the user's dev host, given the move's profile by 08
    and left so while a command ran) loses it first: deleting it under a running instance leaves the
    instance associated with a profile that no longer exists (IAM DeleteInstanceProfile)."""
    from ..calls import _pages
    ec2, iam = ctx.client("ec2"), ctx.client("iam")
    for a in _pages(ctx, "ec2", "describe_iam_instance_profile_associations", "IamInstanceProfileAssociations",
                    Filters=[{"Name": "state", "Values": ["associating", "associated"]}]):
        if a.get("IamInstanceProfile", {}).get("Arn") == it.raw.get("Arn"):
            ec2.disassociate_iam_instance_profile(AssociationId=a["AssociationId"])
    for r in it.raw.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=it.id, RoleName=r["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=it.id)


@hook("iam_policy", "delete")
def _delete_policy(ctx: Any, kind: Kind, it: Any) -> None:
    iam, arn = ctx.client("iam"), it.id
    for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
        for g in page.get("PolicyGroups", []):
            iam.detach_group_policy(GroupName=g["GroupName"], PolicyArn=arn)
        for u in page.get("PolicyUsers", []):
            iam.detach_user_policy(UserName=u["UserName"], PolicyArn=arn)
        for r in page.get("PolicyRoles", []):
            iam.detach_role_policy(RoleName=r["RoleName"], PolicyArn=arn)
    for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn):
        for v in page["Versions"]:
            if not v["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=arn, VersionId=v["VersionId"])
    iam.delete_policy(PolicyArn=arn)
