"""07_access: least privilege for the people who work on production.

A developers group reads logs, metrics and descriptions and is explicitly denied the database (its
secret, IAM database auth, shell sessions on production instances) and network changes. An operators
role, assumed from within the account, deploys (instance refresh, launch template versions, target
registration, SSM commands) on the stack's resources only. Verified by IAM policy simulation on AWS
and, in the sandbox, by an IAM drill on an ephemeral enforcing moto server (workbook.sandbox.iam_drill).

Names: the group and role come from names.py; their inline policies are named here with
p.name("developers-read") and p.name("operators-deploy") (names.py has no entry for policy names).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import checks, inventory, names, tagging
from ..checks import access as access_checks
from ..inventory import iam as iam_inventory
from ..connect import Context, Resource
from ..iam_cleanup import delete_iam_group, delete_iam_role
from ..params import Params
from . import Step, created, exists, frame, register, would_create

STEP = "07_access"
register(Step(
    id=STEP, title="Least privilege: developers read, operators deploy, nobody reads the database",
    why="The article: \"Users should also have least privilege when accessing any infrastructure (Eg. "
        "Developers not having direct access to production database)\". Developers get logs, metrics and "
        "descriptions; the database secret, database logins and network changes are explicitly denied.",
    permissions=(
        "iam:GetGroup", "iam:CreateGroup", "iam:GetGroupPolicy", "iam:PutGroupPolicy", "iam:ListGroupPolicies",
        "iam:DeleteGroupPolicy", "iam:ListAttachedGroupPolicies", "iam:DetachGroupPolicy",
        "iam:RemoveUserFromGroup", "iam:DeleteGroup",
        "iam:GetRole", "iam:CreateRole", "iam:TagRole", "iam:ListRoleTags", "iam:UpdateAssumeRolePolicy",
        "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:ListRolePolicies", "iam:DeleteRolePolicy",
        "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy", "iam:DeleteRole", "iam:ListInstanceProfilesForRole",
        "iam:RemoveRoleFromInstanceProfile",
        "iam:ListRoles", "iam:ListGroups", "iam:ListUsers", "iam:ListUserTags", "iam:ListUserPolicies",
        "iam:GetUserPolicy", "iam:ListAttachedUserPolicies", "iam:ListGroupsForUser", "iam:ListAccessKeys",
        "iam:ListInstanceProfiles", "iam:GetPolicy", "iam:GetPolicyVersion",
        "iam:SimulatePrincipalPolicy", "iam:SimulateCustomPolicy", "rds:DescribeDBInstances"),
))

DEVELOPERS_POLICY = "developers-read"      # p.name(...) gives the stack-specific policy name
OPERATORS_POLICY = "operators-deploy"
READ_ACTIONS = ["logs:Get*", "logs:Describe*", "logs:FilterLogEvents", "logs:StartQuery", "logs:StopQuery",
                "cloudwatch:Get*", "cloudwatch:List*", "cloudwatch:Describe*", "ec2:Describe*", "rds:Describe*",
                "elasticloadbalancing:Describe*", "autoscaling:Describe*"]
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
        {"Sid": "NoShellOnProduction", "Effect": "Deny", "Action": "ssm:StartSession",
         "Resource": f"arn:aws:ec2:{p.region}:{account_id}:instance/*",
         "Condition": {"StringEquals": {f"ssm:resourceTag/{tagging.STACK}": p.stack_name}}},
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


def _db_secret_arn(ctx: Context, p: Params) -> str:
    try:
        db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] == "DBInstanceNotFound":
            return ""
        raise
    return (db.get("MasterUserSecret") or {}).get("SecretArn", "")


# ---- ensure_* ----------------------------------------------------------------------------------
def _get(call: Any, **kw: Any) -> dict[str, Any] | None:
    try:
        return call(**kw)
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchEntity":
            return None
        raise


def ensure_developers_group(ctx: Context, p: Params) -> Resource:
    """IAM groups cannot carry tags, so the group is found by its exact name."""
    iam, name = ctx.client("iam"), names.developers_group(p)
    found = _get(iam.get_group, GroupName=name)
    if found:
        return exists(ctx, STEP, "iam_group", name, found["Group"]["Arn"])
    if p.dry_run:
        return would_create(ctx, STEP, "iam_group", name)
    try:
        arn = iam.create_group(GroupName=name)["Group"]["Arn"]
    except ClientError as e:  # a parallel run created it between get and create
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
        return exists(ctx, STEP, "iam_group", name, iam.get_group(GroupName=name)["Group"]["Arn"])
    return created(ctx, STEP, "iam_group", name, arn)


def _ensure_inline(ctx: Context, p: Params, kind: str, owner: str, policy: str,
                   doc: dict[str, Any]) -> Resource:
    """Put an inline policy unless the same document is already there (a second run changes nothing)."""
    iam = ctx.client("iam")
    key = {"group": "GroupName", "role": "RoleName"}[kind]
    get = {"group": iam.get_group_policy, "role": iam.get_role_policy}[kind]
    put = {"group": iam.put_group_policy, "role": iam.put_role_policy}[kind]
    current = _get(get, **{key: owner, "PolicyName": policy})
    if current and iam_inventory.policy_document(current["PolicyDocument"]) == doc:
        return exists(ctx, STEP, f"iam_{kind}_policy", policy, f"{owner}/{policy}")
    if p.dry_run:
        return would_create(ctx, STEP, f"iam_{kind}_policy", policy)
    put(**{key: owner, "PolicyName": policy, "PolicyDocument": json.dumps(doc)})
    return ctx.note(STEP, f"iam_{kind}_policy", policy, f"{owner}/{policy}", "updated" if current else "created")


def ensure_developers_policy(ctx: Context, p: Params) -> Resource:
    doc = developers_policy(p, ctx.account_id, _db_secret_arn(ctx, p))
    return _ensure_inline(ctx, p, "group", names.developers_group(p), p.name(DEVELOPERS_POLICY), doc)


def ensure_operators_role(ctx: Context, p: Params) -> Resource:
    iam, name = ctx.client("iam"), names.operators_role(p)
    found = _get(iam.get_role, RoleName=name)
    if found:
        tags = tagging.as_dict(found["Role"].get("Tags"))
        if tags.get(tagging.STACK) != p.stack_name:
            raise RuntimeError(f"IAM role {name} exists but is not tagged {tagging.STACK}={p.stack_name}; "
                               "the workbook will not take over a role it did not create")
        return exists(ctx, STEP, "iam_role", name, found["Role"]["Arn"])
    if p.dry_run:
        return would_create(ctx, STEP, "iam_role", name)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(operators_trust(ctx.account_id)),
                          Description=f"Deploys the {p.stack_name} stack (workbook 07_access)",
                          MaxSessionDuration=3600, Tags=tagging.tags(p, STEP, name))["Role"]["Arn"]
    return created(ctx, STEP, "iam_role", name, arn)


def ensure_operators_policy(ctx: Context, p: Params) -> Resource:
    doc = operators_policy(p, ctx.account_id, _db_secret_arn(ctx, p))
    return _ensure_inline(ctx, p, "role", names.operators_role(p), p.name(OPERATORS_POLICY), doc)


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    return apply(ctx, p.replace(dry_run=True))


def apply(ctx: Context, p: Params) -> pd.DataFrame:
    return frame([ensure_developers_group(ctx, p), ensure_developers_policy(ctx, p),
                  ensure_operators_role(ctx, p), ensure_operators_policy(ctx, p)])


def workbook_policy(step_ids: list[str] | None = None) -> dict[str, Any]:
    """The least-privilege policy for the workbook's own run: every step module registers the actions
    it calls, so import them all first."""
    from .. import steps
    for m in pkgutil.iter_modules(steps.__path__):
        importlib.import_module(f"{steps.__name__}.{m.name}")
    return steps.policy_for(step_ids)


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


def workbook_policy_summary(step_ids: list[str] | None = None) -> pd.DataFrame:
    """The workbook's own least-privilege policy by service, and which steps need each service."""
    from .. import steps
    doc = workbook_policy(step_ids)
    actions = doc["Statement"][0]["Action"]
    rows = []
    for service in sorted({a.split(":")[0] for a in actions}):
        mine = [a.split(":", 1)[1] for a in actions if a.startswith(service + ":")]
        used_by = sorted(s.id for s in steps.REGISTRY.values() if any(a.startswith(service + ":") for a in s.permissions))
        rows.append({"service": service, "actions": len(mine), "steps": ", ".join(used_by), "which": ", ".join(mine)})
    return pd.DataFrame(rows, columns=["service", "actions", "steps", "which"])


def policy_documents(ctx: Context, p: Params) -> dict[str, dict[str, Any]]:
    """The developers group's inline policies as deployed; the planned one when there is no group yet."""
    iam, group = ctx.client("iam"), names.developers_group(p)
    docs: dict[str, dict[str, Any]] = {}
    if _get(iam.get_group, GroupName=group):
        for page in iam.get_paginator("list_group_policies").paginate(GroupName=group):
            for pol in page["PolicyNames"]:
                docs[pol] = iam_inventory.policy_document(
                    iam.get_group_policy(GroupName=group, PolicyName=pol)["PolicyDocument"])
    return docs or {p.name(DEVELOPERS_POLICY): developers_policy(p, ctx.account_id, _db_secret_arn(ctx, p))}


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
    extra_allow: tuple[str, ...] = ()    # simulate a broader grant held elsewhere (aws mode)
    drill: Any = None                    # iam_drill.Attempt, or None when moto cannot show it
    not_emulated: str = ""               # why the sandbox cannot show it


def cases(ctx: Context, p: Params) -> list[Case]:
    from ..sandbox.iam_drill import Attempt
    a, r = ctx.account_id, p.region
    secret = _db_secret_arn(ctx, p) or access_checks.example_secret_arn(p, a)
    instance = f"arn:aws:ec2:{r}:{a}:instance/i-0123456789abcdef0"
    own = {f"ssm:resourceTag/{tagging.STACK}": p.stack_name}
    own_rt = {f"aws:ResourceTag/{tagging.STACK}": p.stack_name}
    moto_resource = "moto evaluates every request against Resource '*' only"
    moto_cond = "moto does not evaluate policy conditions (resource tags)"
    dev = "developer"
    sg_rule = {"GroupId": "{group_id}", "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": p.db_port, "ToPort": p.db_port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
    return [
        Case(dev, "describe instances", "ec2:DescribeInstances", "*", "allowed",
             drill=Attempt("describe instances", "ec2", "describe_instances", "allowed")),
        Case(dev, "describe databases", "rds:DescribeDBInstances", "*", "allowed",
             drill=Attempt("describe databases", "rds", "describe_db_instances", "allowed")),
        Case(dev, "read log groups", "logs:DescribeLogGroups", "*", "allowed",
             drill=Attempt("read log groups", "logs", "describe_log_groups", "allowed")),
        Case(dev, "read metrics", "cloudwatch:GetMetricData", "*", "allowed",
             not_emulated="moto names CloudWatch actions after the signing name (monitoring:*), not cloudwatch:*"),
        Case(dev, "describe load balancers", "elasticloadbalancing:DescribeLoadBalancers", "*", "allowed",
             drill=Attempt("describe load balancers", "elbv2", "describe_load_balancers", "allowed")),
        Case(dev, "describe auto scaling groups", "autoscaling:DescribeAutoScalingGroups", "*", "allowed",
             drill=Attempt("describe auto scaling groups", "autoscaling", "describe_auto_scaling_groups", "allowed")),
        Case(dev, "read the DB secret", "secretsmanager:GetSecretValue", secret, "denied",
             drill=Attempt("read the DB secret", "secretsmanager", "get_secret_value", "denied",
                           {"SecretId": "{secret_arn}"})),
        Case(dev, "read the DB secret while another group grants secretsmanager:*",
             "secretsmanager:GetSecretValue", secret, "denied", extra_allow=("secretsmanager:*",),
             not_emulated=f"{moto_resource}, so a Deny on the secret's ARN never fires there"),
        Case(dev, "log in to the DB with IAM database auth", "rds-db:connect",
             f"arn:aws:rds-db:{r}:{a}:dbuser:db-ABCDEFGHIJKL/postgres", "denied", extra_allow=("rds-db:*",),
             not_emulated="moto has no IAM database authentication"),
        Case(dev, "open a shell on a production instance", "ssm:StartSession", instance, "denied",
             context=own, extra_allow=("ssm:*",), not_emulated=moto_cond),
        Case(dev, "open the DB port in a security group", "ec2:AuthorizeSecurityGroupIngress", "*", "denied",
             extra_allow=("ec2:*",),
             drill=Attempt("open the DB port in a security group", "ec2", "authorize_security_group_ingress",
                           "denied", sg_rule)),
        Case(dev, "attach AdministratorAccess to oneself", "iam:AttachUserPolicy", f"arn:aws:iam::{a}:user/x",
             "denied", drill=Attempt("attach AdministratorAccess to oneself", "iam", "attach_user_policy", "denied",
                                     {"UserName": "{user_name}",
                                      "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})),
        Case("operator", "start an instance refresh of the stack's group", "autoscaling:StartInstanceRefresh",
             f"arn:aws:autoscaling:{r}:{a}:autoScalingGroup:00000000-0000-0000-0000-000000000000:"
             f"autoScalingGroupName/{names.asg(p)}", "allowed", context=own_rt, not_emulated=moto_cond),
        Case("operator", "run a command on a production instance", "ssm:SendCommand", instance, "allowed",
             context=own, not_emulated=moto_cond),
        Case("operator", "read the DB secret", "secretsmanager:GetSecretValue", secret, "denied",
             not_emulated=f"{moto_resource}; the role is not drilled"),
        Case("operator", "create an IAM user", "iam:CreateUser", f"arn:aws:iam::{a}:user/x", "denied",
             not_emulated="the role is not drilled in the sandbox"),
    ]


VERIFY_COLUMNS = ["principal", "attempt", "action", "expected", "decision", "status", "how"]


def _simulate(ctx: Context, p: Params, c: Case, source_arn: str, docs: list[dict[str, Any]]) -> str:
    """IAM's own evaluation: the principal's policies as deployed (simulate_principal_policy) or the
    planned documents (simulate_custom_policy) when the principal does not exist yet."""
    iam = ctx.client("iam")
    ctx_entries = [{"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "string"}
                   for k, v in c.context.items()]
    kw: dict[str, Any] = {"ActionNames": [c.action], "ResourceArns": [c.resource], "ContextEntries": ctx_entries}
    extra = [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(c.extra_allow), "Resource": "*"}]})] if c.extra_allow else []
    if source_arn and not extra:
        pages = iam.get_paginator("simulate_principal_policy").paginate(PolicySourceArn=source_arn, **kw)
    else:
        # A broader grant held elsewhere is modelled as one more identity policy beside the real ones.
        pages = iam.get_paginator("simulate_custom_policy").paginate(
            PolicyInputList=[json.dumps(d) for d in docs] + extra, **kw)
    results = [r for page in pages for r in page["EvaluationResults"]]
    return results[0]["EvalDecision"] if results else "implicitDeny"


def verify_policies(ctx: Context, p: Params, drill: bool = True) -> pd.DataFrame:
    """Each case's decision: simulated by IAM on AWS; in the sandbox, enforced by moto on an ephemeral
    server where moto can show it (drill), else NOT_EMULATED."""
    all_cases = cases(ctx, p)
    rows = []
    if not ctx.sandbox:
        iam = ctx.client("iam")
        group = _get(iam.get_group, GroupName=names.developers_group(p))
        role = _get(iam.get_role, RoleName=names.operators_role(p))
        dev_docs = list(policy_documents(ctx, p).values())
        op_docs = [operators_policy(p, ctx.account_id, _db_secret_arn(ctx, p))]
        for c in all_cases:
            is_dev = c.principal == "developer"
            src = (group["Group"]["Arn"] if group else "") if is_dev else (role["Role"]["Arn"] if role else "")
            got = _simulate(ctx, p, c, src, dev_docs if is_dev else op_docs)
            ok = (got == "allowed") == (c.expected == "allowed")
            rows.append({"principal": c.principal, "attempt": c.label, "action": c.action, "expected": c.expected,
                         "decision": got, "status": "PASS" if ok else "FAIL",
                         "how": "iam simulation" + (f" + extra grant {', '.join(c.extra_allow)}" if c.extra_allow else "")})
        return pd.DataFrame(rows, columns=VERIFY_COLUMNS)

    drilled: dict[str, Any] = {}
    controls_ok = False
    attempts = [c.drill for c in all_cases if c.drill is not None]
    if drill and attempts:
        from ..sandbox import iam_drill
        ctx.workaround("moto has no IAM policy simulation: a second, ephemeral moto server with IAM enforcement "
                       "on gets a copy of the developers group with the same policy documents and a developer "
                       "user whose keys try each action; the server is stopped afterwards")
        result = iam_drill.run(names.developers_group(p), policy_documents(ctx, p), attempts,
                               user_name=p.name("drill-developer"), region=p.region)
        ctx.drill_log = result  # type: ignore[attr-defined]  # the notebook shows it, controls included
        drilled = {row.attempt: row for row in result.itertuples() if row.principal == p.name("drill-developer")}
        controls_ok = bool((result[result.principal != p.name("drill-developer")].status == "PASS").all())
    for c in all_cases:
        row = drilled.get(c.drill.label) if c.drill is not None else None
        if row is not None:
            rows.append({"principal": c.principal, "attempt": c.label, "action": c.action, "expected": c.expected,
                         "decision": f"{row.outcome} ({row.http_status}"
                                     f"{' ' + row.error_code if row.error_code not in ('', str(row.http_status)) else ''})",
                         "status": row.status if controls_ok else "FAIL",
                         "how": "sandbox IAM drill (moto enforcement)" if controls_ok else
                                "sandbox IAM drill, but its controls failed (enforcement was not on)"})
        else:
            rows.append({"principal": c.principal, "attempt": c.label, "action": c.action, "expected": c.expected,
                         "decision": "", "status": "NOT_EMULATED",
                         "how": c.not_emulated or "drill not run"})
    return pd.DataFrame(rows, columns=VERIFY_COLUMNS)


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    """Findings of the access checks on the stack."""
    return checks.run(after_inventory(ctx, p), p, groups=["access"])


# ---- before and after --------------------------------------------------------------------------
def before_inventory(ctx: Context, p: Params) -> inventory.Inventory:
    """The dev environment as step 01 sees it (workbook.inventory.ec2.discover_dev); an empty
    inventory when there is no dev server any more (e.g. after a teardown with teardown_dev)."""
    from ..inventory import ec2 as inv_ec2
    try:
        return inv_ec2.discover_dev(ctx, p)
    except inv_ec2.DevNotFound as e:
        print(f"before: {e}")
        return inv_ec2.DevInventory(ctx, {}, {"instance_ids": set(), "vpc_ids": set(), "public_ips": set()})


def after_inventory(ctx: Context, p: Params) -> inventory.Inventory:
    """The production stack without the dev environment (which shares the stack tag in the sandbox)."""
    from ..inventory import ec2 as inv_ec2
    return inv_ec2.ProductionInventory(ctx, p.stack_name)


def _rollup(findings: pd.DataFrame) -> pd.DataFrame:
    """One status per check: FAIL if any resource fails, then NOT_EMULATED, PASS, NOT_APPLICABLE."""
    if findings.empty:
        return pd.DataFrame(columns=["id", "title", "severity", "status", "detail"])
    rank = {"FAIL": 0, "NOT_EMULATED": 1, "PASS": 2, "NOT_APPLICABLE": 3}
    f = findings.assign(_r=findings.status.map(rank)).sort_values("_r")
    return f.groupby("id", sort=False).agg(title=("title", "first"), severity=("severity", "first"),
                                           status=("status", "first"), detail=("detail", "first")).reset_index()


def compare_before_after(ctx: Context, p: Params, groups: tuple[str, ...] = ("dev",)
                         ) -> tuple[pd.DataFrame, dict[str, float]]:
    """The same checks on the dev environment and on the new stack, side by side, with a score each."""
    before = checks.run(before_inventory(ctx, p), p, groups=list(groups))
    after = checks.run(after_inventory(ctx, p), p, groups=list(groups))
    b, a = _rollup(before), _rollup(after)
    table = b.merge(a, on=["id", "title", "severity"], how="outer", suffixes=("_before", "_after"))
    table = table[["id", "title", "severity", "status_before", "status_after", "detail_before", "detail_after"]]
    table = table.rename(columns={"status_before": "before", "status_after": "after"}).fillna("")
    return table.sort_values("id").reset_index(drop=True), {"before": checks.score(before), "after": checks.score(after)}


# ---- destroy -----------------------------------------------------------------------------------
def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """Remove the developers group (members, policies) and the operators role; safe to run twice."""
    iam = ctx.client("iam")
    done: list[Resource] = []
    group = names.developers_group(p)
    if _get(iam.get_group, GroupName=group):
        if p.dry_run:
            done.append(ctx.note(STEP, "iam_group", group, group, "would delete"))
        else:
            delete_iam_group(ctx, group)
            done.append(ctx.note(STEP, "iam_group", group, group, "deleted"))
    role = names.operators_role(p)
    found = _get(iam.get_role, RoleName=role)
    if found and tagging.as_dict(found["Role"].get("Tags")).get(tagging.STACK) == p.stack_name:
        if p.dry_run:
            done.append(ctx.note(STEP, "iam_role", role, role, "would delete"))
        else:
            delete_iam_role(ctx, role)
            done.append(ctx.note(STEP, "iam_role", role, role, "deleted"))
    return frame(done)
