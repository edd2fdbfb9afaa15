"""What an instance may do with its instance profile's role, as a stand-in host asks it (sandbox).

On AWS an instance gets credentials from its instance profile and IAM decides each call. moto runs no
instance, so the sandbox's stand-in hosts (runcommand.py, hostbin.py) ask here: the instance's profile
association, the profile's role, and the role's policies (inline and attached) evaluated for one action
on one resource: allowed when a statement allows it and none denies it. Conditions are not evaluated
(a conditional statement counts as matching), which can only allow more than AWS would.
"""
from __future__ import annotations

import fnmatch
import json
from typing import Any
from urllib.parse import unquote


def role_of(ec2: Any, iam: Any, instance_id: str) -> str | None:
    """The role name of the instance's associated profile (None: no profile, so no credentials)."""
    assoc = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    assoc = [a for a in assoc if a.get("State") in ("associating", "associated")]
    if not assoc:
        return None
    name = assoc[0]["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1]
    try:
        roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return roles[0]["RoleName"] if roles else None


def _doc(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(unquote(raw))
    return raw or {}


def policies(iam: Any, role: str) -> list[dict[str, Any]]:
    docs = [_doc(iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"])
            for n in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    for a in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=a["PolicyArn"])["Policy"]
        docs.append(_doc(iam.get_policy_version(PolicyArn=a["PolicyArn"],
                                                VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]))
    return docs


def _list(v: Any) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = _list(statement.get("Action"))
    resources = _list(statement.get("Resource")) or ["*"]
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and \
        any(fnmatch.fnmatchcase(resource, r) for r in resources)


def allowed(iam: Any, role: str, action: str, resource: str) -> bool:
    statements = [s for d in policies(iam, role) for s in
                  (d.get("Statement") if isinstance(d.get("Statement"), list) else [d.get("Statement") or {}])]
    if any(s.get("Effect") == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _matches(s, action, resource) for s in statements)
