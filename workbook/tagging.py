"""The account is the state: every resource carries workbook:stack, workbook:step and Name.

Steps find what exists by these tags before creating anything, and derive client tokens from
stack + resource name so a retried create cannot make a twin.
"""
from __future__ import annotations

import hashlib
from typing import Any

from .params import Params

STACK = "workbook:stack"
STEP = "workbook:step"
DEV_STACK = "dev"  # the "before" environment is tagged as a stack of its own


def tags(p: Params, step: str, name: str, stack: str | None = None) -> list[dict[str, str]]:
    return [{"Key": STACK, "Value": stack or p.stack_name}, {"Key": STEP, "Value": step},
            {"Key": "Name", "Value": name}]


def tag_dict(p: Params, step: str, name: str, stack: str | None = None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags(p, step, name, stack)}


def tag_spec(resource_type: str, p: Params, step: str, name: str, stack: str | None = None) -> list[dict[str, Any]]:
    """EC2-style TagSpecifications for one resource type."""
    return [{"ResourceType": resource_type, "Tags": tags(p, step, name, stack)}]


def ec2_filters(p: Params, step: str | None = None, name: str | None = None,
                stack: str | None = None) -> list[dict[str, Any]]:
    f = [{"Name": f"tag:{STACK}", "Values": [stack or p.stack_name]}]
    if step:
        f.append({"Name": f"tag:{STEP}", "Values": [step]})
    if name:
        f.append({"Name": "tag:Name", "Values": [name]})
    return f


def client_token(p: Params, name: str, stack: str | None = None) -> str:
    """Idempotency token: the same stack + resource name always gives the same token (max 64 chars)."""
    return hashlib.sha256(f"{stack or p.stack_name}/{name}".encode()).hexdigest()[:32]


def as_dict(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}
