"""07_access: least privilege for the people who work on production.

Why (from "Architect your Dev Backend to Production on AWS", the article this workbook follows, in our
words): a private network keeps strangers away from the servers and the database, but people need
limits too: each person gets only the access their work needs, and developers in particular do not
get into the production database.

A developers group reads logs, metrics and descriptions and is explicitly denied the database (its
secret, IAM database auth, shell sessions and commands on production instances, whose role reads the
secret, and a master password or a copy of the data of their own) and network changes. An operators
role, assumed from within the account, deploys (instance refresh, launch template versions, target
registration, SSM commands) on the stack's resources only; its commands run with the servers' role,
which reads the database secret, so an operator can reach the data that way (as any deployer of the
app can): it is denied the secret itself, and its commands are recorded by CloudTrail. Both are made through workbook.engine: the
role carries the stack's tags; an IAM group cannot, so the stack's ledger records it. Their inline
policies are the step's own and converge in place. Whether IAM enforces them is asked of IAM's policy
simulation (`verify_policies`).

Names: the group and role come from names.py; their inline policies are named here with
p.name("developers-read") and p.name("operators-deploy") (names.py has no entry for policy names).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, engine, inventory, names, plan_cost, tagging
from ..checks import access as access_checks
from ..connect import Context, Resource
from ..inventory import iam as iam_inventory
from ..params import Params
from . import Step, destroy_kinds, register

STEP_ID = "07_access"
STEP = register(Step(
    STEP_ID, "Least privilege: developers read, operators deploy, nobody reads the database",
    why=("The article asks for least privilege for people as well as for networks; its example is that "
         "developers should not reach the production database. Developers get logs, metrics and descriptions; "
         "the database secret, database logins and network changes are explicitly denied."),
    short="Access", module="access", kinds=("iam_group", "iam_role"),
    permissions=(
        # the stack's ledger, where the group is recorded (it cannot carry a tag)
        "ssm:GetParameter", "ssm:PutParameter",
        # the access checks' inventory
        "iam:ListUsers", "iam:ListUserTags", "iam:ListUserPolicies", "iam:GetUserPolicy",
        "iam:ListAttachedUserPolicies", "iam:ListGroupsForUser", "iam:ListAccessKeys", "iam:ListInstanceProfiles",
        "iam:GetPolicy", "iam:GetPolicyVersion",
        # is it enforced, and the database secret the denies name
        "iam:SimulatePrincipalPolicy", "rds:DescribeDBInstances"),
))

DEVELOPERS_POLICY = "developers-read"      # p.name(...) gives the stack-specific policy name
OPERATORS_POLICY = "operators-deploy"
READ_ACTIONS = ["logs:Get*", "logs:Describe*", "logs:FilterLogEvents", "logs:StartQuery", "logs:StopQuery",
                "cloudwatch:Get*", "cloudwatch:List*", "cloudwatch:Describe*", "ec2:Describe*", "rds:Describe*",
                "elasticloadbalancing:Describe*", "autoscaling:Describe*"]
DATABASE_TAKEOVER = ["rds:ModifyDBInstance", "rds:RestoreDBInstanceFromDBSnapshot", "rds:RestoreDBInstanceToPointInTime",
                     "rds:CreateDBSnapshot", "rds:CopyDBSnapshot", "rds:ModifyDBSnapshotAttribute"]
NETWORK_CHANGES = ["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
                   "ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress", "ec2:ModifySecurityGroupRules"]


# ---- policy documents -------------------------------------------------------------------------
def _secret_resources(p: Params, account_id: str, secret_arn: str) -> list[str]:
    """The DB secret by ARN when it exists, every RDS-managed secret (a restored or replaced database
    gets a new one) and any secret named after the stack."""
    arns = [access_checks.secret_arn_pattern(p, account_id),
            f"arn:aws:secretsmanager:{p.region}:{account_id}:secret:{p.stack_name}-*"]
    return ([secret_arn] if secret_arn else []) + arns


def developers_policy(p: Params, account_id: str, secret_arn: str = "") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadLogsMetricsDescriptions", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*"},
        # Explicit denies win over any other grant a developer may hold (another group, a later policy).
        {"Sid": "NoDatabaseSecret", "Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
         "Resource": _secret_resources(p, account_id, secret_arn)},
        {"Sid": "NoDatabaseLogin", "Effect": "Deny", "Action": "rds-db:connect",
         "Resource": f"arn:aws:rds-db:{p.region}:{account_id}:dbuser:*/*"},
        # The app servers' role reads the database secret: a shell or a command on one reads it too.
        {"Sid": "NoShellOrCommandOnProduction", "Effect": "Deny", "Action": ["ssm:StartSession", "ssm:SendCommand"],
         "Resource": f"arn:aws:ec2:{p.region}:{account_id}:instance/*",
         "Condition": {"StringEquals": {f"ssm:resourceTag/{tagging.STACK}": p.stack_name}}},
        # A master password of their own, or a copy of the data restored or shared with one, opens it as well
        # (the stack's database and its snapshots carry the stack's tag).
        {"Sid": "NoDatabasePasswordOrCopy", "Effect": "Deny", "Action": DATABASE_TAKEOVER, "Resource": "*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/{tagging.STACK}": p.stack_name}}},
        {"Sid": "NoNetworkChanges", "Effect": "Deny", "Action": NETWORK_CHANGES, "Resource": "*"},
    ]}


def operators_trust(account_id: str) -> dict[str, Any]:
    """Principals of this account may assume the role if their own policy lets them (sts:AssumeRole)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"}, "Action": "sts:AssumeRole"}]}


def operators_policy(p: Params, account_id: str, secret_arn: str = "") -> dict[str, Any]:
    own = {"StringEquals": {f"aws:ResourceTag/{tagging.STACK}": p.stack_name}}
    r, a = p.region, account_id
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Resource": "*",
         "Action": READ_ACTIONS + ["ssm:ListCommandInvocations", "ssm:GetCommandInvocation", "ssm:DescribeInstanceInformation"]},
        {"Sid": "RollOutOwnAutoScalingGroup", "Effect": "Allow", "Condition": own,
         "Action": ["autoscaling:StartInstanceRefresh", "autoscaling:CancelInstanceRefresh",
                    "autoscaling:UpdateAutoScalingGroup", "autoscaling:SetDesiredCapacity"],
         "Resource": f"arn:aws:autoscaling:{r}:{a}:autoScalingGroup:*:autoScalingGroupName/{names.asg(p)}"},
        {"Sid": "NewLaunchTemplateVersion", "Effect": "Allow", "Condition": own,
         "Action": ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
         "Resource": f"arn:aws:ec2:{r}:{a}:launch-template/*"},
        {"Sid": "PassOnlyTheAppRole", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"arn:aws:iam::{a}:role/{names.app_role(p)}",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Sid": "RegisterTargets", "Effect": "Allow",
         "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
         "Resource": f"arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/{names.target_group(p)}/*"},
        {"Sid": "RunCommandsOnOwnInstances", "Effect": "Allow", "Action": "ssm:SendCommand",
         "Resource": f"arn:aws:ec2:{r}:{a}:instance/*",
         "Condition": {"StringEquals": {f"ssm:resourceTag/{tagging.STACK}": p.stack_name}}},
        {"Sid": "WithAwsRunShellScriptOnly", "Effect": "Allow", "Action": "ssm:SendCommand",
         "Resource": f"arn:aws:ssm:{r}::document/AWS-RunShellScript"},
        {"Sid": "NoDatabaseSecret", "Effect": "Deny", "Action": "secretsmanager:GetSecretValue",
         "Resource": _secret_resources(p, account_id, secret_arn)},
    ]}


def _db_secret_arn(ctx: Context) -> str:
    try:
        db = ctx.client("rds").describe_db_instances(
            DBInstanceIdentifier=names.db_instance(ctx.p))["DBInstances"][0]
    except ClientError as e:
        if engine.code(e) == "DBInstanceNotFound":
            return ""
        raise
    return (db.get("MasterUserSecret") or {}).get("SecretArn", "")


# ---- ensure_* ----------------------------------------------------------------------------------
def _get(call: Any, **kw: Any) -> dict[str, Any] | None:
    try:
        return call(**kw)
    except ClientError as e:
        if engine.code(e) == "NoSuchEntity":
            return None
        raise


def ensure_developers_group(ctx: Context) -> Resource:
    """The developers group. IAM groups cannot carry tags: the stack's ledger records it, and a group
    of that name the ledger does not know is someone else's (refused, never adopted)."""
    name = names.developers_group(ctx.p)
    return engine.ensure(ctx, "iam_group", name, step=STEP_ID, create={"GroupName": name})


def _ensure_inline(ctx: Context, owner_kind: str, owner: str, policy: str, doc: dict[str, Any]) -> Resource:
    """Put an inline policy unless the same document is already there (a second run changes nothing; a
    changed document, e.g. once the database's secret exists, is updated in place)."""
    iam = ctx.client("iam")
    key = {"group": "GroupName", "role": "RoleName"}[owner_kind]
    get = {"group": iam.get_group_policy, "role": iam.get_role_policy}[owner_kind]
    put = {"group": iam.put_group_policy, "role": iam.put_role_policy}[owner_kind]
    type_ = f"iam_{owner_kind}_policy"
    current = _get(get, **{key: owner, "PolicyName": policy})
    if current and iam_inventory.policy_document(current["PolicyDocument"]) == doc:
        return ctx.note(STEP_ID, type_, policy, f"{owner}/{policy}", "exists")
    if ctx.dry_run:
        return ctx.note(STEP_ID, type_, policy, f"{owner}/{policy}" if current else engine.placeholder(type_, policy),
                        "would update" if current else "would create")
    put(**{key: owner, "PolicyName": policy, "PolicyDocument": json.dumps(doc)})
    return ctx.note(STEP_ID, type_, policy, f"{owner}/{policy}", "updated" if current else "created")


def ensure_developers_policy(ctx: Context) -> Resource:
    p = ctx.p
    doc = developers_policy(p, ctx.account_id, _db_secret_arn(ctx))
    return _ensure_inline(ctx, "group", names.developers_group(p), p.name(DEVELOPERS_POLICY), doc)


def ensure_operators_role(ctx: Context) -> Resource:
    """The operators role, assumable from within the account; a same-named role without the stack's tag
    is refused (engine.ForeignResource)."""
    p, name = ctx.p, names.operators_role(ctx.p)
    return engine.ensure(ctx, "iam_role", name, step=STEP_ID, create=lambda: {
        "RoleName": name, "AssumeRolePolicyDocument": json.dumps(operators_trust(ctx.account_id)),
        "Description": f"Deploys the {p.stack_name} stack (workbook 07_access)", "MaxSessionDuration": 3600})


def ensure_operators_policy(ctx: Context) -> Resource:
    p = ctx.p
    doc = operators_policy(p, ctx.account_id, _db_secret_arn(ctx))
    return _ensure_inline(ctx, "role", names.operators_role(p), p.name(OPERATORS_POLICY), doc)


def plan(ctx: Context) -> pd.DataFrame:
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def apply(ctx: Context) -> pd.DataFrame:
    mark = len(ctx.resources)
    ensure_developers_group(ctx)
    ensure_developers_policy(ctx)
    ensure_operators_role(ctx)
    ensure_operators_policy(ctx)
    return ctx.resources_frame(mark)


def policy_summary(doc: dict[str, Any]) -> pd.DataFrame:
    """One row per statement, for reading a policy in a notebook."""
    rows = []
    for st in doc.get("Statement", []):
        acts = st.get("Action", st.get("NotAction", []))
        res = st.get("Resource", st.get("NotResource", []))
        rows.append({"sid": st.get("Sid", ""), "effect": st["Effect"],
                     "actions": ", ".join(acts if isinstance(acts, list) else [acts]),
                     "resources": ", ".join(res if isinstance(res, list) else [res]),
                     "condition": json.dumps(st["Condition"]) if st.get("Condition") else ""})
    return pd.DataFrame(rows, columns=["sid", "effect", "actions", "resources", "condition"])


def policy_documents(ctx: Context) -> dict[str, dict[str, Any]]:
    """The developers group's inline policies as deployed; the planned one when there is no group yet."""
    p = ctx.p
    iam, group = ctx.client("iam"), names.developers_group(p)
    docs: dict[str, dict[str, Any]] = {}
    if _get(iam.get_group, GroupName=group):
        for page in iam.get_paginator("list_group_policies").paginate(GroupName=group):
            for pol in page["PolicyNames"]:
                docs[pol] = iam_inventory.policy_document(
                    iam.get_group_policy(GroupName=group, PolicyName=pol)["PolicyDocument"])
    return docs or {p.name(DEVELOPERS_POLICY): developers_policy(p, ctx.account_id, _db_secret_arn(ctx))}


# ---- verification ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One thing a principal should or should not be able to do."""
    principal: str                       # "developer" | "operator"
    label: str
    action: str
    resource: str
    expected: str                        # "allowed" | "denied"
    context: dict[str, str] = field(default_factory=dict)
    extra_allow: tuple[str, ...] = ()    # a broader grant the principal may hold elsewhere


def cases(ctx: Context) -> list[Case]:
    p = ctx.p
    a, r = ctx.account_id, p.region
    secret = _db_secret_arn(ctx) or access_checks.example_secret_arn(p, a)
    instance = f"arn:aws:ec2:{r}:{a}:instance/i-0123456789abcdef0"
    own = {f"ssm:resourceTag/{tagging.STACK}": p.stack_name}
    own_rt = {f"aws:ResourceTag/{tagging.STACK}": p.stack_name}
    dev, op = "developer", "operator"
    return [
        Case(dev, "describe instances", "ec2:DescribeInstances", "*", "allowed"),
        Case(dev, "describe databases", "rds:DescribeDBInstances", "*", "allowed"),
        Case(dev, "read log groups", "logs:DescribeLogGroups", "*", "allowed"),
        Case(dev, "read metrics", "cloudwatch:GetMetricData", "*", "allowed"),
        Case(dev, "describe load balancers", "elasticloadbalancing:DescribeLoadBalancers", "*", "allowed"),
        Case(dev, "describe auto scaling groups", "autoscaling:DescribeAutoScalingGroups", "*", "allowed"),
        Case(dev, "read the DB secret", "secretsmanager:GetSecretValue", secret, "denied"),
        Case(dev, "read the DB secret while another group grants secretsmanager:*",
             "secretsmanager:GetSecretValue", secret, "denied", extra_allow=("secretsmanager:*",)),
        Case(dev, "log in to the DB with IAM database auth", "rds-db:connect",
             f"arn:aws:rds-db:{r}:{a}:dbuser:db-ABCDEFGHIJKL/postgres", "denied", extra_allow=("rds-db:*",)),
        Case(dev, "open a shell on a production instance", "ssm:StartSession", instance, "denied",
             context=own, extra_allow=("ssm:*",)),
        Case(dev, "run a command on a production instance", "ssm:SendCommand", instance, "denied",
             context=own, extra_allow=("ssm:*",)),
        Case(dev, "set a new master password on the database", "rds:ModifyDBInstance",
             f"arn:aws:rds:{r}:{a}:db:{names.db_instance(p)}", "denied", context=own_rt, extra_allow=("rds:*",)),
        Case(dev, "open the DB port in a security group", "ec2:AuthorizeSecurityGroupIngress", "*", "denied",
             extra_allow=("ec2:*",)),
        Case(dev, "attach AdministratorAccess to oneself", "iam:AttachUserPolicy", f"arn:aws:iam::{a}:user/x",
             "denied"),
        Case(op, "start an instance refresh of the stack's group", "autoscaling:StartInstanceRefresh",
             f"arn:aws:autoscaling:{r}:{a}:autoScalingGroup:00000000-0000-0000-0000-000000000000:"
             f"autoScalingGroupName/{names.asg(p)}", "allowed", context=own_rt),
        Case(op, "run a command on a production instance", "ssm:SendCommand", instance, "allowed", context=own),
        Case(op, "read the DB secret", "secretsmanager:GetSecretValue", secret, "denied"),
        Case(op, "create an IAM user", "iam:CreateUser", f"arn:aws:iam::{a}:user/x", "denied"),
    ]


VERIFY_COLUMNS = ["principal", "attempt", "action", "expected", "decision", "status", "how"]


def _simulate(ctx: Context, c: Case, source_arn: str) -> dict[str, Any]:
    """IAM's own evaluation of the principal's policies as deployed; a broader grant held elsewhere goes
    along as one more identity policy (PolicyInputList), to show that the explicit Deny wins."""
    kw: dict[str, Any] = {"PolicySourceArn": source_arn, "ActionNames": [c.action], "ResourceArns": [c.resource]}
    if c.context:
        kw["ContextEntries"] = [{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
                                for k, v in c.context.items()]
    if c.extra_allow:
        kw["PolicyInputList"] = [json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": list(c.extra_allow), "Resource": "*"}]})]
    results = ctx.client("iam").simulate_principal_policy(**kw)["EvaluationResults"]
    return results[0] if results else {"EvalDecision": "implicitDeny"}


def _not_shown(ctx: Context, result: dict[str, Any]) -> str:
    """Why the target could not show this decision: a detail that names one of its gaps ("" on a real
    account, whose simulator shows every decision)."""
    for detail in (result.get("EvalDecisionDetails") or {}).values():
        if ctx.gap(str(detail)):
            return ctx.gap(str(detail))
    return ""


def verify_policies(ctx: Context) -> pd.DataFrame:
    """Each case as IAM's policy simulation decides it for the deployed group and role. A decision the
    target cannot show is NOT_EMULATED with the reason, never a PASS; a principal not created yet (a dry
    run, or before apply) has nothing to simulate."""
    p = ctx.p
    group = engine.find_one(ctx, "iam_group", names.developers_group(p))
    role = engine.find_one(ctx, "iam_role", names.operators_role(p))
    sources = {"developer": (group.raw.get("Arn", "") if group else "", f"IAM group {names.developers_group(p)}"),
               "operator": (role.raw.get("Arn", "") if role else "", f"IAM role {names.operators_role(p)}")}
    rows = []
    for c in cases(ctx):
        arn, what = sources[c.principal]
        row = {"principal": c.principal, "attempt": c.label, "action": c.action, "expected": c.expected}
        if not arn:
            rows.append({**row, "decision": "", "status": "NOT_APPLICABLE",
                         "how": f"no {what} yet: nothing to simulate (run apply)"})
            continue
        result = _simulate(ctx, c, arn)
        gap = _not_shown(ctx, result)
        how = "iam simulation" + (f" + extra grant {', '.join(c.extra_allow)}" if c.extra_allow else "")
        if gap:
            rows.append({**row, "decision": "", "status": "NOT_EMULATED", "how": gap})
            continue
        got = result["EvalDecision"]
        ok = (got == "allowed") == (c.expected == "allowed")
        rows.append({**row, "decision": got, "status": "PASS" if ok else "FAIL", "how": how})
    return pd.DataFrame(rows, columns=VERIFY_COLUMNS)


def verify(ctx: Context) -> pd.DataFrame:
    """Findings of the access checks on the stack."""
    return checks.run(after_inventory(ctx), ctx.p, groups=["access"])


# ---- before and after --------------------------------------------------------------------------
def before_inventory(ctx: Context) -> inventory.Inventory:
    """The dev environment as step 01 sees it (workbook.inventory.ec2.discover_dev); an empty
    inventory when there is no dev server any more (e.g. after a teardown with teardown_dev)."""
    from ..inventory import ec2 as inv_ec2
    try:
        return inv_ec2.discover_dev(ctx, ctx.p)
    except inv_ec2.DevNotFound as e:
        print(f"before: {e}")
        return inv_ec2.DevInventory(ctx, {}, {"instance_ids": set(), "vpc_ids": set(), "public_ips": set()})


def after_inventory(ctx: Context) -> inventory.Inventory:
    """The production stack without the dev environment (which shares the stack tag in the sandbox)."""
    from ..inventory import ec2 as inv_ec2
    return inv_ec2.ProductionInventory(ctx, ctx.p.stack_name)


def compare_before_after(ctx: Context) -> "compare.BeforeAfter":
    """The dev environment's checks on it, every step's checks on the new stack: the two findings
    frames, one score each and the table by practice, all from those two frames (checks/compare.py)."""
    from ..checks import compare
    return compare.before_after(before_inventory(ctx), after_inventory(ctx), ctx.p)


# ---- destroy -----------------------------------------------------------------------------------
def destroy(ctx: Context) -> pd.DataFrame:
    """The developers group (its members removed from it, its policies with it) and the operators role
    this step created; people are never deleted. Safe to run twice."""
    return destroy_kinds(ctx, STEP)
