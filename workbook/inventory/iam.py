"""IAM principals of a stack as frames: roles, groups, users, instance profiles.

IAM is global and has no tag filter on its list calls (and groups cannot be tagged at all), so a
stack's principals are found by name: every name the workbook gives starts with `<stack>-`
(names.py). A principal whose `workbook:stack` tag names another stack (e.g. stack `demo` and
`demo-2`) is left out. stack=None lists everything in the account.

Columns beyond the base ones: `arn`, `policies` (list of policy names, inline and attached),
`inline` (dict name -> policy document), `attached` (list of managed policy ARNs); roles add
`trust` (the assume-role policy document); instance profiles add `roles` (list of role names);
users add `groups` (list of group names) and `access_keys` (how many; never the keys).
"""
from __future__ import annotations

import json
import urllib.parse
from typing import Any, Callable

import pandas as pd
from botocore.exceptions import ClientError

from ..connect import Context
from . import fetcher, tag_columns

COMMON = ["id", "name", "stack", "step", "tags", "arn", "policies", "inline", "attached"]


def policy_document(document: Any) -> dict[str, Any]:
    """IAM returns policy documents URL-encoded in some SDK paths and as dicts in boto3."""
    if isinstance(document, str):
        return json.loads(urllib.parse.unquote(document))
    return document


def _ours(name: str, tags: dict[str, str], stack: str | None) -> bool:
    if stack is None:
        return True
    if not name.startswith(f"{stack}-"):
        return False
    owner = tags.get("workbook:stack")
    return owner in (None, stack)


def _base(name: str, arn: str, tags: dict[str, str]) -> dict[str, Any]:
    # IAM names are unique per kind, so the frame's id is the name (CONTRACT); a principal without a
    # Name tag is still shown by its IAM name.
    cols = tag_columns(tags)
    cols["name"] = cols["name"] or name
    return {"id": name, **cols, "arn": arn}


def _policies(list_inline: Callable[..., Any], get_inline: Callable[..., Any],
              list_attached: Callable[..., Any], key: str, name: str) -> dict[str, Any]:
    inline: dict[str, Any] = {}
    for page in list_inline.paginate(**{key: name}):
        for pol in page["PolicyNames"]:
            inline[pol] = policy_document(get_inline(**{key: name, "PolicyName": pol})["PolicyDocument"])
    attached: list[str] = []
    names: list[str] = list(inline)
    for page in list_attached.paginate(**{key: name}):
        for pol in page["AttachedPolicies"]:
            attached.append(pol["PolicyArn"])
            names.append(pol["PolicyName"])
    return {"policies": names, "inline": inline, "attached": attached}


def attached_documents(ctx: Context, arns: list[str]) -> dict[str, dict[str, Any]]:
    """Default-version documents of managed policies, by ARN (for checks that read what a grant says)."""
    iam = ctx.client("iam")
    out: dict[str, dict[str, Any]] = {}
    for arn in arns:
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            out[arn] = policy_document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
        except ClientError as e:
            if e.response["Error"]["Code"] != "NoSuchEntity":
                raise
    return out


def _tags(pages: Any, **kw: Any) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in pages.paginate(**kw):
        tags.update({t["Key"]: t["Value"] for t in page["Tags"]})
    return tags


@fetcher("iam_roles")
def fetch_roles(ctx: Context, stack: str | None) -> pd.DataFrame:
    iam = ctx.client("iam")
    rows = []
    for page in iam.get_paginator("list_roles").paginate():
        for r in page["Roles"]:
            name = r["RoleName"]
            if stack is not None and not name.startswith(f"{stack}-"):
                continue  # skip the tag call for roles that cannot be ours
            tags = _tags(iam.get_paginator("list_role_tags"), RoleName=name)
            if not _ours(name, tags, stack):
                continue
            rows.append({**_base(name, r["Arn"], tags),
                         **_policies(iam.get_paginator("list_role_policies"), iam.get_role_policy,
                                     iam.get_paginator("list_attached_role_policies"), "RoleName", name),
                         "trust": policy_document(r.get("AssumeRolePolicyDocument") or {})})
    return pd.DataFrame(rows, columns=COMMON + ["trust"])


@fetcher("iam_groups")
def fetch_groups(ctx: Context, stack: str | None) -> pd.DataFrame:
    iam = ctx.client("iam")
    rows = []
    for page in iam.get_paginator("list_groups").paginate():
        for g in page["Groups"]:
            name = g["GroupName"]
            if not _ours(name, {}, stack):  # groups cannot carry tags: the name is all there is
                continue
            members = [u["UserName"] for pg in iam.get_paginator("get_group").paginate(GroupName=name)
                       for u in pg["Users"]]
            rows.append({**_base(name, g["Arn"], {"workbook:stack": stack} if stack else {}),
                         **_policies(iam.get_paginator("list_group_policies"), iam.get_group_policy,
                                     iam.get_paginator("list_attached_group_policies"), "GroupName", name),
                         "members": members})
    return pd.DataFrame(rows, columns=COMMON + ["members"])


@fetcher("iam_users")
def fetch_users(ctx: Context, stack: str | None) -> pd.DataFrame:
    iam = ctx.client("iam")
    rows = []
    for page in iam.get_paginator("list_users").paginate():
        for u in page["Users"]:
            name = u["UserName"]
            if stack is not None and not name.startswith(f"{stack}-"):
                continue
            tags = _tags(iam.get_paginator("list_user_tags"), UserName=name)
            if not _ours(name, tags, stack):
                continue
            groups = [g["GroupName"] for pg in iam.get_paginator("list_groups_for_user").paginate(UserName=name)
                      for g in pg["Groups"]]
            keys = sum(len(pg["AccessKeyMetadata"]) for pg in
                       iam.get_paginator("list_access_keys").paginate(UserName=name))
            rows.append({**_base(name, u["Arn"], tags),
                         **_policies(iam.get_paginator("list_user_policies"), iam.get_user_policy,
                                     iam.get_paginator("list_attached_user_policies"), "UserName", name),
                         "groups": groups, "access_keys": keys})
    return pd.DataFrame(rows, columns=COMMON + ["groups", "access_keys"])


@fetcher("instance_profiles")
def fetch_instance_profiles(ctx: Context, stack: str | None) -> pd.DataFrame:
    iam = ctx.client("iam")
    rows = []
    for page in iam.get_paginator("list_instance_profiles").paginate():
        for ip in page["InstanceProfiles"]:
            name = ip["InstanceProfileName"]
            if stack is not None and not name.startswith(f"{stack}-"):
                continue
            tags = {t["Key"]: t["Value"] for t in ip.get("Tags", [])}
            if not _ours(name, tags, stack):
                continue
            roles = [r["RoleName"] for r in ip.get("Roles", [])]
            # An instance profile has no policies of its own: it carries its role's.
            rows.append({**_base(name, ip["Arn"], tags), "policies": roles and [f"role:{r}" for r in roles],
                         "inline": {}, "attached": [], "roles": roles})
    return pd.DataFrame(rows, columns=COMMON + ["roles"])
