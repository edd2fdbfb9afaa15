"""The workbook's own least-privilege IAM policy: what the role that runs every notebook needs.

One source: the actions are exactly those the steps and resource kinds declare
(`workbook.steps.permissions()`); nothing here adds or drops an action. This module only decides
*where* each action may act, and splits the result into customer managed policies IAM accepts.

Where an action may act comes from AWS's Service Authorization Reference (the resource types each
action takes, whether a type is required, which condition keys it evaluates), as the linter
parliament ships it (`iam_definition.json`), and from how the workbook names and tags what it makes:
- an action with no resource type at all keeps `"Resource": "*"` (AWS requires it): the lists and
  describes, CreateHostedZone, the tagging API ...;
- reads (access level Read or List) cover the region and account: the workbook finds its resources
  by reading every item's tags, and its checks read what the dev host uses, which it did not create;
- changes are scoped to the stack: by an ARN with the stack's name (`<stack>-*`, `/<stack>/*`)
  where the service puts the name in the ARN; by the condition `aws:ResourceTag/workbook:stack` where
  the ARN carries only an id (EC2); a create of an EC2 resource by `aws:RequestTag/workbook:stack`,
  the tag every create carries; the dev host (which the workbook did not create) by the parameters
  that name it. The few changes that cannot be scoped so (AWS-owned things, ids without tag
  conditions) cover the region and account and say why (`ANYWHERE`, `OVERRIDES`, shown by `scopes()`).

Size: IAM counts a managed policy's characters without whitespace and refuses more than 6,144
(`size()` counts the compact JSON's non-whitespace characters). The statements are grouped by service
into a few documents (`GROUPS`); a group that would not fit is split in parts.
"""
from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from . import kinds as K, outputs
from .params import Params

LIMIT = 6144          # characters of a customer managed policy, whitespace not counted (IAM quotas)
VERSION = "2012-10-17"

# Services to documents, by what they are for; a service not listed goes to "other".
GROUPS = {"network": ("ec2",), "compute": ("autoscaling", "elasticloadbalancing", "ssm"), "identity": ("iam",),
          "data": ("rds", "secretsmanager", "kms", "s3"), "edge": ("route53", "acm", "apigateway"),
          "observability": ("cloudwatch", "logs", "sns", "tag")}

TAG = ("StringEquals", f"aws:ResourceTag/{K.STACK}")       # an existing resource carries the stack's tag
REQ = ("StringEquals", f"aws:RequestTag/{K.STACK}")        # the create request tags it with the stack

# How the stack's own resources appear in their ARNs ({r} region, {a} account, {s} stack): names.py
# gives every name as <stack>-<suffix>; log groups and SSM parameters also live under /<stack>/.
NAMED: dict[tuple[str, str], tuple[str, ...]] = {
    ("autoscaling", "autoScalingGroup"): ("arn:aws:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/{s}-*",),
    ("elasticloadbalancing", "loadbalancer/app/"): ("arn:aws:elasticloadbalancing:{r}:{a}:loadbalancer/app/{s}-*/*",),
    ("elasticloadbalancing", "listener/app"): ("arn:aws:elasticloadbalancing:{r}:{a}:listener/app/{s}-*/*/*",),
    # the reference names both listener kinds for ModifyListener and DeleteListener; the stack has no NLB
    ("elasticloadbalancing", "listener/net"): ("arn:aws:elasticloadbalancing:{r}:{a}:listener/net/{s}-*/*/*",),
    ("elasticloadbalancing", "targetgroup"): ("arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/{s}-*/*",),
    ("iam", "role"): ("arn:aws:iam::{a}:role/{s}-*",),
    ("iam", "instance-profile"): ("arn:aws:iam::{a}:instance-profile/{s}-*",),
    ("iam", "group"): ("arn:aws:iam::{a}:group/{s}-*",),
    ("iam", "user"): ("arn:aws:iam::{a}:user/{s}-*",),
    ("iam", "policy"): ("arn:aws:iam::{a}:policy/{s}-*",),
    ("rds", "db"): ("arn:aws:rds:{r}:{a}:db:{s}-*",),
    ("rds", "snapshot"): ("arn:aws:rds:{r}:{a}:snapshot:{s}-*",),
    ("rds", "subgrp"): ("arn:aws:rds:{r}:{a}:subgrp:{s}-*",),
    ("rds", "pg"): ("arn:aws:rds:{r}:{a}:pg:{s}-*",),
    ("s3", "bucket"): ("arn:aws:s3:::{s}-*",),
    ("s3", "object"): ("arn:aws:s3:::{s}-*/*",),
    ("ssm", "parameter"): ("arn:aws:ssm:{r}:{a}:parameter/workbook/{s}/*", "arn:aws:ssm:{r}:{a}:parameter/{s}/*"),
    ("ssm", "document"): ("arn:aws:ssm:{r}:*:document/AWS-RunShellScript",),   # AWS's own: no account
    ("logs", "log-group"): ("arn:aws:logs:{r}:{a}:log-group:/{s}/*", "arn:aws:logs:{r}:{a}:log-group:{s}-*"),
    ("cloudwatch", "alarm"): ("arn:aws:cloudwatch:{r}:{a}:alarm:{s}-*",),
    ("cloudwatch", "dashboard"): ("arn:aws:cloudwatch::{a}:dashboard/{s}-*",),
    ("sns", "topic"): ("arn:aws:sns:{r}:{a}:{s}-*",),
    # RDS names the master password's secret rds!db-<id> itself (ManageMasterUserPassword)
    ("secretsmanager", "Secret"): ("arn:aws:secretsmanager:{r}:{a}:secret:{s}-*",
                                   "arn:aws:secretsmanager:{r}:{a}:secret:rds!db-*"),
}
# EC2 ARNs carry ids only: the stack's resources are those with its tag.
TAGGED = {("ec2", t) for t in ("vpc", "subnet", "internet-gateway", "elastic-ip", "natgateway", "route-table",
                                "security-group", "vpc-flow-log", "network-interface", "vpc-endpoint", "instance",
                                "launch-template", "image", "snapshot", "volume")}
# Types the workbook changes that carry neither its name nor a tag AWS evaluates: region and account.
ANYWHERE: dict[tuple[str, str], str] = {
    ("acm", "certificate"): "a certificate's ARN is an id, and ACM evaluates no tag condition on these actions",
    ("route53", "hostedzone"): "Route 53 names zones by id and evaluates no tag conditions",
    ("route53", "healthcheck"): "Route 53 tags zones and health checks with one action; the workbook has no health checks",
    ("route53", "change"): "a change is AWS's record of a record change, by id",
    ("rds", "og"): "RDS uses the engine's default option group (default:<engine>-<major>), which is AWS's",
    ("kms", "key"): "the AWS managed key aws/rds has another id in every account",
    ("ec2", "security-group-rule"): "a new rule carries no tag; its group is scoped by the stack's tag",
}
# Per action: how one resource type is treated where the general rule would be wrong, and why.
OVERRIDES: dict[str, tuple[dict[str, str], str]] = {
    "ec2:CreateTags": ({"security-group-rule": "skip"}, ""),
    "ec2:RunInstances": ({"*": "any"}, "launches from AWS's public image into the subnet and groups found at run "
                         "time (the dev host's default VPC); AWS also checks it for the caller when Auto Scaling "
                         "creates the group from the launch template"),
    "ec2:StopInstances": ({"instance": "dev"}, ""),
    "ec2:CreateImage": ({"instance": "dev", "snapshot": "any"}, "the image's snapshots carry no tags in the request"),
    "ec2:DeleteSnapshot": ({"snapshot": "any"}, "an image's snapshots go with it and carry no tags of the stack"),
    "ec2:CreateSecurityGroup": ({"vpc": "any"}, "the dev host's group goes in the account's default VPC"),
    "ec2:DisassociateAddress": ({"network-interface": "any"}, "the address is on a NAT gateway's interface, which AWS owns"),
    "ssm:SendCommand": ({"instance": "dev", "managed-instance": "skip"}, ""),
    "rds:AddTagsToResource": ({"og": "skip"}, ""),
    "ssm:AddTagsToResource": ({"document": "skip"}, ""), "ssm:ListTagsForResource": ({"document": "skip"}, ""),
    "iam:SimulatePrincipalPolicy": ({"group": "own", "role": "own", "user": "skip"}, ""),
    # reads that would reveal data, not just descriptions: the stack's own only
    "s3:GetObject": ({"object": "own"}, ""), "s3:ListBucket": ({"bucket": "own"}, ""),
    "s3:ListBucketVersions": ({"bucket": "own"}, ""),
}
API_GATEWAY = ("/apis", "/apis/*", "/vpclinks", "/vpclinks/*", "/domainnames", "/domainnames/*", "/tags/*")


@dataclass(frozen=True)
class Grant:
    """Where one action may act: resources, an optional condition, and how it is scoped."""
    action: str
    resources: tuple[str, ...]
    condition: tuple[tuple[str, str, tuple[str, ...]], ...] = ()   # (operator, key, values)
    scope: str = "*"      # "*" (AWS requires it) | "name" | "tag" | "created with tag" | "dev host" | "account"
    #                       | "condition" (a condition on what it may be used for, e.g. which service's role)
    reason: str = ""


# ---- the Service Authorization Reference, as parliament ships it -------------------------------------
@lru_cache(maxsize=1)
def reference() -> dict[str, dict[str, Any]]:
    """prefix -> {"privileges": {name: privilege}, "resources": {type: arn format}} (services that share
    a prefix, e.g. API Gateway's two, merged). Read from the file, without importing the linter."""
    spec = importlib.util.find_spec("parliament")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the IAM reference comes with the package parliament: pip install -r requirements.txt")
    data = json.loads((Path(spec.submodule_search_locations[0]) / "iam_definition.json").read_text())
    out: dict[str, dict[str, Any]] = {}
    for svc in data:
        ref = out.setdefault(svc["prefix"], {"privileges": {}, "resources": {}})
        for priv in svc["privileges"]:
            ref["privileges"].setdefault(priv["privilege"], priv)
        for res in svc["resources"]:
            ref["resources"].setdefault(res["resource"], res["arn"])
    return out


def _privilege(action: str) -> dict[str, Any]:
    prefix, name = action.split(":", 1)
    priv = reference().get(prefix, {}).get("privileges", {}).get(name)
    if priv is None:
        raise KeyError(f"{action} is not an IAM action in the Service Authorization Reference: fix the declaration")
    return priv


def _anywhere_arn(prefix: str, rtype: str, region: str, account: str) -> str:
    arn = reference()[prefix]["resources"][rtype]
    arn = arn.replace("${Partition}", "aws").replace("${Region}", region).replace("${Account}", account)
    return re.sub(r"\$\{[^}]+\}", "*", arn)


# ---- where each declared action may act ---------------------------------------------------------------
def declared(step_ids: list[str] | None = None) -> tuple[str, ...]:
    """The one source: every action the steps and their kinds declare."""
    from . import steps
    return steps.permissions(step_ids)


def _ec2_create_actions() -> list[str]:
    """EC2 creates that tag what they make (TagSpecifications): ec2:CreateTags is allowed only for these."""
    from . import iam_actions
    return sorted({a for k in K.all_kinds() if k.service == "ec2" and k.create and k.create_tags.startswith("spec:")
                   for a in iam_actions.actions_for("ec2", k.create)} | {"ec2:RunInstances"})


def _extra_conditions(action: str, p: Params) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if action == "ec2:CreateTags":   # tags on create only, never on what exists
        return (("StringEquals", "ec2:CreateAction", tuple(a.split(":")[1] for a in _ec2_create_actions())),)
    if action == "route53:ChangeResourceRecordSets" and p.domain_name:   # the stack's names only
        return (("ForAllValues:StringLike", "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                 (p.domain_name.lower(), f"*.{p.domain_name.lower()}")),)
    return ()


def _star_condition(action: str, p: Params) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    if action == "acm:RequestCertificate":
        return ((*REQ, (p.stack_name,)),)
    if action == "cloudwatch:PutMetricData":   # the probe's namespace only, never AWS's
        from .probe import NAMESPACE
        return (("StringEquals", "cloudwatch:namespace", (NAMESPACE,)),)
    return ()


def _tag(prefix: str) -> tuple[str, str]:
    """The stack's tag as a condition; Systems Manager reads an instance's tags through its own key."""
    return ("StringEquals", f"ssm:resourceTag/{K.STACK}") if prefix == "ssm" else TAG


def _dev_host(action: str, p: Params, account: str, extra: tuple[Any, ...]) -> Grant:
    """The dev host, as the parameters name it: dev_instance_id, else the tag dev_tag (Key=Value)."""
    prefix = action.split(":", 1)[0]
    if p.dev_instance_id:
        return Grant(action, (f"arn:aws:ec2:{p.region}:{account}:instance/{p.dev_instance_id}",), extra, "dev host",
                     "the dev host (dev_instance_id), which the workbook did not create")
    key, value = p.dev_tag.split("=", 1)
    op, k = _tag(prefix)
    return Grant(action, (f"arn:aws:ec2:{p.region}:{account}:instance/*",), ((op, k.replace(K.STACK, key), (value,)),)
                 + extra, "dev host", f"the dev host (tagged {p.dev_tag}), which the workbook did not create")


def grants(action: str, p: Params, account: str = "*") -> list[Grant]:
    """Where one declared action may act, for stack p.stack_name in p.region."""
    prefix = action.split(":", 1)[0]
    r, a, s = p.region, account, p.stack_name
    fill = lambda t: t.format(r=r, a=a, s=s)  # noqa: E731
    if prefix == "apigateway":
        return [Grant(action, tuple(f"arn:aws:apigateway:{r}::{x}" for x in API_GATEWAY), scope="account",
                      reason="API Gateway names APIs, VPC links and domains by id")]
    if action == "iam:CreateServiceLinkedRole":
        return [Grant(action, (f"arn:aws:iam::{a}:role/aws-service-role/*",), condition=(
            ("StringEquals", "iam:AWSServiceName", ("autoscaling.amazonaws.com", "elasticloadbalancing.amazonaws.com",
                                                    "ops.apigateway.amazonaws.com", "rds.amazonaws.com")),),
            scope="condition", reason="the services' own roles, made once per account by the services this stack uses")]
    if action == "ssm:GetParameter":   # the stack's parameters and AWS's public ones (the AL2023 image id)
        return [Grant(action, tuple(map(fill, NAMED[("ssm", "parameter")])), scope="name"),
                Grant(action, (f"arn:aws:ssm:{r}:*:parameter/aws/service/*",), scope="account",
                      reason="AWS's public parameters (the current Amazon Linux image)")]
    if action == "s3:TagResource":   # CreateBucket with tags; the reference parliament ships predates bucket tags
        return [Grant(action, tuple(map(fill, NAMED[("s3", "bucket")])), scope="name",
                      reason="tags a new bucket in its CreateBucket call (CreateBucketConfiguration.Tags)")]
    priv = _privilege(action)
    types = [(t["resource_type"].rstrip("*"), t["resource_type"].endswith("*"), t["condition_keys"])
             for t in priv["resource_types"] if t["resource_type"]]
    extra = _extra_conditions(action, p)
    if not types:
        return [Grant(action, ("*",), _star_condition(action, p) + extra, "*", "AWS requires Resource \"*\"")]
    modes, why = OVERRIDES.get(action, ({}, ""))
    read = priv["access_level"] in ("Read", "List")
    out: list[Grant] = []
    for rtype, required, keys in types:
        key = (prefix, rtype)
        known = key in NAMED or key in TAGGED or key in ANYWHERE or rtype in modes
        if not (required or known):
            continue                                  # an optional type the workbook never involves
        mode = modes.get(rtype, modes.get("*", "any" if read else
                                          "new" if "aws:RequestTag/${TagKey}" in keys else "own"))
        if mode == "skip":
            continue
        anywhere = (_anywhere_arn(prefix, rtype, r, a),)
        if mode == "dev":   # the stack's instances, and the dev host it was given (which it may not have made)
            out += [Grant(action, anywhere, ((*_tag(prefix), (s,)),) + extra, "tag"), _dev_host(action, p, a, extra)]
        elif mode == "any":
            reason = why or ANYWHERE.get(key, "") or ("reads cover the account: the workbook finds its own by their "
                                                      "tags, and its checks read what the dev host uses")
            out.append(Grant(action, anywhere, extra, "account", reason))
        elif key in NAMED:
            out.append(Grant(action, tuple(map(fill, NAMED[key])), extra, "name"))
        elif key in TAGGED:
            cond = REQ if mode == "new" else TAG
            out.append(Grant(action, anywhere, ((*cond, (s,)),) + extra,
                             "created with tag" if mode == "new" else "tag"))
        elif key in ANYWHERE:
            out.append(Grant(action, anywhere, extra, "account", ANYWHERE[key]))
        else:
            raise _unknown(action, prefix, rtype)
    if not out:   # only optional types, none the workbook knows
        if not read:
            raise _unknown(action, prefix, "/".join(t for t, _, _ in types))
        out.append(Grant(action, ("*",), extra, "*", "no resource type is required"))
    return out


def _unknown(action: str, prefix: str, rtype: str) -> KeyError:
    return KeyError(f"{action} changes a {prefix} {rtype} and policy.py does not know how the stack's own are "
                    f"named or tagged: add ({prefix!r}, {rtype!r}) to NAMED, TAGGED or ANYWHERE")


def scopes(p: Params, step_ids: list[str] | None = None, account: str = "*") -> pd.DataFrame:
    """One row per action and resource: how it is scoped and, where it is not the stack's, why."""
    rows = [{"action": g.action, "access": _access(action), "scope": g.scope, "resources": ", ".join(g.resources),
             "condition": "; ".join(f"{k} {op} {', '.join(v)}" for op, k, v in g.condition), "why": g.reason}
            for action in declared(step_ids) for g in grants(action, p, account)]
    return pd.DataFrame(rows, columns=["action", "access", "scope", "resources", "condition", "why"])


def _access(action: str) -> str:
    """The reference's access level (Read, List, Write, Tagging, Permissions management); API Gateway's
    GET reads."""
    return "Read" if action == "apigateway:GET" else _privilege(action)["access_level"]


# ---- documents ----------------------------------------------------------------------------------------
def group_of(action: str) -> str:
    prefix = action.split(":", 1)[0]
    return next((g for g, prefixes in GROUPS.items() if prefix in prefixes), "other")


def _condition(cond: tuple[tuple[str, str, tuple[str, ...]], ...]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for op, key, values in cond:
        out.setdefault(op, {})[key] = values[0] if len(values) == 1 else list(values)
    return out


def statements(gs: list[Grant]) -> list[dict[str, Any]]:
    """One action's grants under the same condition are one resource list (IAM authorizes each resource
    of a request on its own, so an action whose resources need different conditions, a new subnet and
    the stack's VPC, has one statement each). Actions with the same resources and condition then share
    a statement; different resource lists are never merged: that would let one action reach another's."""
    per_action: dict[tuple[str, Any], list[str]] = {}
    for g in gs:
        res = per_action.setdefault((g.action, g.condition), [])
        res += [r for r in g.resources if r not in res]
    by_key: dict[tuple[Any, ...], list[str]] = {}
    merged: dict[tuple[Any, ...], list[str]] = {}
    for (action, cond), res in per_action.items():
        if len(cond) == 1 and cond[0][:2] == TAG:
            # Under the stack's tag alone, one statement holds them all: an action only ever matches ARNs
            # of its own resource types, and each is the stack's by its tag, whatever the statement lists.
            merged.setdefault(cond, []).extend(r for r in res if r not in merged[cond])
            by_key.setdefault((cond, None), []).append(action)
        else:
            by_key.setdefault((cond, tuple(sorted(res))), []).append(action)
    by_key = {(c, r if r is not None else tuple(sorted(merged[c]))): a for (c, r), a in by_key.items()}
    out = []
    for (cond, resources), acts in sorted(by_key.items(), key=lambda kv: (sorted(kv[1])[0], kv[0][1], str(kv[0][0]))):
        st: dict[str, Any] = {"Effect": "Allow", "Action": sorted(acts),
                              "Resource": resources[0] if len(resources) == 1 else list(resources)}
        if cond:
            st["Condition"] = _condition(cond)
        out.append(st)
    return out


def size(doc: dict[str, Any]) -> int:
    """Characters as IAM counts them for its size quotas: the JSON without any whitespace."""
    return sum(1 for ch in json.dumps(doc, separators=(",", ":")) if not ch.isspace())


def _document(sts: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": [{"Sid": f"{sid}{i + 1}", **st} for i, st in enumerate(sts)]}


def documents(p: Params, step_ids: list[str] | None = None, account: str = "*") -> dict[str, dict[str, Any]]:
    """The policy as managed-policy documents, {name: document}, each at most LIMIT characters: one per
    group of services, in parts where a group would not fit. `account` "*" keeps the account id out of
    what is shown and written (the policy acts in the account it is created in)."""
    by_group: dict[str, list[Grant]] = {}
    for action in declared(step_ids):
        by_group.setdefault(group_of(action), []).extend(grants(action, p, account))
    docs: dict[str, dict[str, Any]] = {}
    for group in [g for g in (*GROUPS, "other") if g in by_group]:
        sid = group.capitalize()
        parts: list[list[dict[str, Any]]] = [[]]
        for st in statements(by_group[group]):
            if parts[-1] and size(_document(parts[-1] + [st], sid)) > LIMIT:
                parts.append([])
            parts[-1].append(st)
        for i, sts in enumerate(parts):
            doc = _document(sts, sid)
            if size(doc) > LIMIT:
                raise ValueError(f"one statement of {group} is over {LIMIT} characters: split its actions")
            docs[f"{p.stack_name}-workbook-{group}" + (f"-{i + 1}" if len(parts) > 1 else "")] = doc
    return docs


def actions(docs: dict[str, dict[str, Any]]) -> set[str]:
    """Every action the documents allow."""
    return {a for d in docs.values() for st in d["Statement"] if st["Effect"] == "Allow"
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}


def summary(docs: dict[str, dict[str, Any]], step_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per document: its size against the limit, and what it covers (services, steps)."""
    from . import steps
    rows = []
    for name, doc in docs.items():
        acts = actions({name: doc})
        users = [s.id for s in steps.ordered() if (step_ids is None or s.id in step_ids)
                 and acts & set(s.all_permissions())]
        rows.append({"policy": name, "characters": size(doc), "limit": LIMIT, "statements": len(doc["Statement"]),
                     "actions": len(acts), "services": ", ".join(sorted({a.split(":")[0] for a in acts})),
                     "steps": ", ".join(u.split("_")[0] for u in users)})
    return pd.DataFrame(rows, columns=["policy", "characters", "limit", "statements", "actions", "services", "steps"])


def _folder(folder: Path | str | None) -> Path:
    """The folder named, else build/policy (under outputs.home)."""
    return Path(folder) if folder is not None else outputs.build_dir() / "policy"


def write(docs: dict[str, dict[str, Any]], folder: Path | str | None = None) -> list[Path]:
    """Each document as <folder>/<name>.json (indented: IAM does not count whitespace); build/policy unless
    a folder is named."""
    folder = _folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in docs.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(doc, indent=2) + "\n")
        paths.append(path)
    return paths


def shown(path: Path) -> Path:
    """A written document's path as a person types it: relative to the folder that holds build/."""
    home = outputs.home()
    return path.relative_to(home) if path.is_absolute() and path.is_relative_to(home) else path


def cli(docs: dict[str, dict[str, Any]], role: str = "<the role that runs the workbook>",
        folder: Path | str | None = None) -> str:
    """The AWS CLI commands that create the documents as managed policies and attach them to a role."""
    lines = []
    for name in docs:
        path = shown(_folder(folder) / f"{name}.json")
        lines += [f"aws iam create-policy --policy-name {name} --policy-document file://{path}",
                  f"aws iam attach-role-policy --role-name {role} "
                  f"--policy-arn arn:aws:iam::<account id>:policy/{name}"]
    return "\n".join(lines)


# ---- linting ------------------------------------------------------------------------------------------
# What the linter (parliament, its community auditors included) reports that is accepted, with why.
_OWN_IAM = ("the stack's own IAM (the app and flow-log roles, the app's instance profile, 07's developers "
            "group and operators role, their inline policies), named <stack>-*, made and removed by the workbook")
LINT_EXCEPTIONS: dict[str, dict[str, str]] = {
    "PERMISSIONS_MANAGEMENT_ACTIONS": {
        **{f"iam:{a}": _OWN_IAM for a in (
            "CreateRole", "DeleteRole", "PutRolePolicy", "DeleteRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
            "CreateInstanceProfile", "DeleteInstanceProfile", "AddRoleToInstanceProfile",
            "RemoveRoleFromInstanceProfile", "CreateGroup", "DeleteGroup", "PutGroupPolicy", "DeleteGroupPolicy",
            "DetachGroupPolicy", "RemoveUserFromGroup", "CreatePolicy", "DeletePolicy", "DeletePolicyVersion",
            "CreateUser", "DeleteUser", "DeleteUserPolicy", "DetachUserPolicy", "DeleteAccessKey")},
        "iam:PassRole": "hands the stack's own roles (<stack>-*) to EC2 (the app servers) and to VPC flow logs",
        "iam:CreateServiceLinkedRole": "the services' own roles (RDS, Auto Scaling, ELB, API Gateway), by condition",
        "s3:PutBucketPolicy": "the dump bucket's TLS-only policy, on <stack>-* buckets only",
        "s3:PutBucketPublicAccessBlock": "blocks public access to the dump bucket, on <stack>-* buckets only",
        "sns:CreateTopic": "the alarm topic, <stack>-* only", "sns:SetTopicAttributes": "the alarm topic's policy "
        "that lets CloudWatch publish to it, <stack>-* only",
        "logs:PutResourcePolicy": "lets API Gateway deliver access logs to CloudWatch Logs (AWS requires Resource *)",
    },
    "PRIVILEGE_ESCALATION": {
        "iam:PutGroupPolicy": "07 writes the developers group's policy (reads and explicit denies) on <stack>-* "
                              "groups; the policy grants no iam:AddUserToGroup, so the runner cannot join one",
    },
}


def _covered(docs: dict[str, dict[str, Any]], action: str, required: str) -> bool:
    """parliament checks each statement alone; an action whose resources need different conditions has
    one statement per condition: it is whole when some statement of the set grants the required type."""
    import parliament
    for doc in docs.values():
        for st in doc["Statement"]:
            acts = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            res = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
            if st["Effect"] == "Allow" and action in acts and any(
                    parliament.is_arn_strictly_valid("", required, r) for r in res):
                return True
    return False


def lint(docs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """parliament's findings on every document (its community auditors included), less the accepted
    ones: LINT_EXCEPTIONS, and a resource type an action gets in another statement of the set."""
    import parliament
    rows = []
    for name, doc in docs.items():
        for f in parliament.analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings:
            if f.issue == "RESOURCE_MISMATCH":
                left = [d for d in f.detail if not _covered(docs, d["action"], d["required_format"])]
                if not left:
                    continue
                detail: Any = left
            else:
                named = [a.lower() for a in (f.location or {}).get("actions", [])]
                accepted = {a.lower() for a in LINT_EXCEPTIONS.get(f.issue, {})}
                if named and set(named) <= accepted:
                    continue
                detail = f.detail or sorted(set(named) - accepted)
            rows.append({"policy": name, "issue": f.issue, "severity": getattr(f, "severity", ""), "detail": detail})
    return pd.DataFrame(rows, columns=["policy", "issue", "severity", "detail"])
