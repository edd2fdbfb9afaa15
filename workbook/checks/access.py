"""Least privilege: each person reaches only the infrastructure their work needs, and developers in
particular do not reach the production database (the article's access section, in our words).

These checks read the policy documents themselves (what a grant says), so they evaluate the same in
the sandbox and on AWS. Whether AWS then enforces them is shown by step 07's simulation (aws) or IAM
drill (sandbox); see workbook.steps.access.verify_policies.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Iterable

from botocore.exceptions import ClientError

from .. import names
from ..inventory import iam as iam_inventory
from ..params import Params
from . import Finding, check

GROUP = "access"


# ---- a small, documented policy evaluator ---------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for d in docs for s in _as_list(d.get("Statement", []))]


def _matches(patterns: Any, value: str, *, case: bool) -> bool:
    if not case:
        value = value.lower()
    return any(fnmatchcase(value, pat if case else pat.lower()) for pat in _as_list(patterns))


def statement_applies(st: dict[str, Any], action: str, resource: str) -> bool:
    """Action and resource matching as IAM does (wildcards * and ?; actions case-insensitive).
    Conditions are treated as met: for an Allow that over-reports a grant, for a Deny it assumes the
    condition holds; the simulation in aws mode evaluates them for real."""
    if "Action" in st:
        acts = _matches(st["Action"], action, case=False)
    else:
        acts = not _matches(st.get("NotAction", []), action, case=False)
    if "Resource" in st:
        res = _matches(st["Resource"], resource, case=True)
    else:
        res = not _matches(st.get("NotResource", []), resource, case=True)
    return acts and res


def decision(docs: Iterable[dict[str, Any]], action: str, resource: str = "*") -> str:
    """"explicit deny", "allowed" or "implicit deny" for one action on one resource."""
    sts = [s for s in _statements(docs) if statement_applies(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in sts):
        return "explicit deny"
    if any(s.get("Effect") == "Allow" for s in sts):
        return "allowed"
    return "implicit deny"


def full_admin_statements(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Allow statements granting every action on every resource (FSBP IAM.1's definition)."""
    return [s for s in _statements(docs) if s.get("Effect") == "Allow" and "Action" in s
            and any(a in ("*", "*:*") for a in _as_list(s["Action"]))
            and any(r == "*" for r in _as_list(s.get("Resource", [])))]


# ---- inputs -------------------------------------------------------------------------------------
def db_secret_arn(inv: Any, p: Params) -> str:
    """The RDS-managed master secret of the stack's database, "" when there is none (yet)."""
    if inv.has("db_instances"):
        df = inv.frame("db_instances")
        row = df[df["id"] == names.db_instance(p)] if not df.empty else df
        if not row.empty and "secret_arn" in row:
            return str(row.iloc[0]["secret_arn"] or "")
        return ""
    try:  # database inventory not there yet: ask RDS directly
        db = inv.ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] == "DBInstanceNotFound":
            return ""
        raise
    return (db.get("MasterUserSecret") or {}).get("SecretArn", "")


def secret_arn_pattern(p: Params, account_id: str) -> str:
    """Every RDS-managed secret of the account: rds!db-<uuid>-<6 chars>."""
    return f"arn:aws:secretsmanager:{p.region}:{account_id}:secret:rds!db-*"


def example_secret_arn(p: Params, account_id: str) -> str:
    """What an RDS-managed secret's ARN looks like, to evaluate policies before the database exists."""
    return f"arn:aws:secretsmanager:{p.region}:{account_id}:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf"


def _decoy_secrets(p: Params, account_id: str) -> list[str]:
    base = f"arn:aws:secretsmanager:{p.region}:{account_id}:secret:"
    return [base + "another-app-Ab12Cd", base + "rds!db-ffffffff-ffff-ffff-ffff-ffffffffffff-Zz98Yy"]


def _group_docs(inv: Any, row: Any) -> list[dict[str, Any]]:
    return list(row["inline"].values()) + list(iam_inventory.attached_documents(inv.ctx, row["attached"]).values())


def _developers(inv: Any, p: Params) -> Any:
    df = inv.frame("iam_groups")
    row = df[df["id"] == names.developers_group(p)] if not df.empty else df
    return None if row.empty else row.iloc[0]


# ---- the checks -----------------------------------------------------------------------------------
@check(id="IAM.1", title="Developers group has no full '*:*' administrative policy", severity="high",
       risk="A developer with '*' on '*' can read the production database, change security groups and "
            "delete the stack: least privilege is gone.",
       remediation="Attach only read access to logs, metrics and descriptions (step 07_access); "
                   "remove AdministratorAccess and any Allow of Action '*' on Resource '*'.",
       group=GROUP)
def developers_not_admin(inv: Any, p: Params) -> list[Finding]:
    row = _developers(inv, p)
    if row is None:
        return [Finding(names.developers_group(p), "NOT_APPLICABLE", "no developers group yet (step 07_access)")]
    bad = full_admin_statements(_group_docs(inv, row))
    if bad:
        return [Finding(row["id"], "FAIL", f"{len(bad)} statement(s) allow '*' on '*'")]
    return [Finding(row["id"], "PASS", f"policies: {', '.join(row['policies']) or 'none'}; none allows '*' on '*'")]


@check(id="ARTICLE.DEV_NO_DB_SECRET", title="Developers are explicitly denied the production database secret",
       severity="high",
       risk="With the DB master secret a developer connects to the production database directly, which the "
            "article rules out.",
       remediation="Add an explicit Deny of secretsmanager:GetSecretValue on the rds!db-* secret (and "
                   "rds-db:connect) to the developers group (step 07_access).",
       group=GROUP)
def developers_denied_db_secret(inv: Any, p: Params) -> list[Finding]:
    row = _developers(inv, p)
    if row is None:
        return [Finding(names.developers_group(p), "FAIL", "no developers group: developers' access to the "
                                                             "database is not restricted")]
    arn = db_secret_arn(inv, p) or example_secret_arn(p, inv.ctx.account_id)
    docs = _group_docs(inv, row)
    secret = decision(docs, "secretsmanager:GetSecretValue", arn)
    connect = decision(docs, "rds-db:connect", f"arn:aws:rds-db:{p.region}:{inv.ctx.account_id}:dbuser:db-ANY/postgres")
    detail = f"GetSecretValue on {arn.rsplit(':', 1)[-1]}: {secret}; rds-db:connect: {connect}"
    ok = secret == "explicit deny" and connect == "explicit deny"
    return [Finding(row["id"], "PASS" if ok else "FAIL", detail)]


@check(id="ARTICLE.NO_USER_INLINE_ADMIN", title="No IAM user has an inline administrator policy",
       severity="critical",
       risk="An inline '*:*' policy on a user is invisible in the managed-policy view and survives group "
            "changes: a forgotten admin key pair.",
       remediation="Delete the inline policy; grant access through groups (developers) or roles (operators).",
       group=GROUP)
def no_user_inline_admin(inv: Any, p: Params) -> list[Finding]:
    # Account-wide on purpose: an admin user outside the stack still reaches the stack's database.
    users = iam_inventory.fetch_users(inv.ctx, None)
    if users.empty:
        return [Finding(f"account {inv.ctx.masked_account()}", "PASS", "no IAM users")]
    out = []
    for _, u in users.iterrows():
        bad = [name for name, doc in u["inline"].items() if full_admin_statements([doc])]
        out.append(Finding(u["id"], "FAIL" if bad else "PASS",
                           f"inline admin policy: {', '.join(bad)}" if bad else f"{len(u['inline'])} inline policies, none admin"))
    return out


@check(id="ARTICLE.APP_ROLE_SECRET_SCOPED", title="The instance role reads only the database secret",
       severity="high",
       risk="A role allowed secretsmanager:GetSecretValue on '*' lets any code on an app server read every "
            "secret of the account.",
       remediation="Scope the app role's GetSecretValue to the DB secret's ARN (step 04_compute).",
       group=GROUP)
def app_role_secret_scoped(inv: Any, p: Params) -> list[Finding]:
    df = inv.frame("iam_roles")
    row = df[df["id"] == names.app_role(p)] if not df.empty else df
    if row.empty:
        return [Finding(names.app_role(p), "NOT_APPLICABLE", "no app role yet (step 04_compute)")]
    r = row.iloc[0]
    docs = _group_docs(inv, r)
    arn = db_secret_arn(inv, p)
    decoys = _decoy_secrets(p, inv.ctx.account_id)
    grants = [s for s in _statements(docs) if s.get("Effect") == "Allow"
              and _matches(s.get("Action", []), "secretsmanager:GetSecretValue", case=False)]
    if not grants:
        return [Finding(r["id"], "PASS", "grants no secretsmanager:GetSecretValue")]
    # The app's own database user's secret (08 makes it; the servers then log in with it): its name and
    # the six characters Secrets Manager appends.
    own = f"arn:aws:secretsmanager:{p.region}:{inv.ctx.account_id}:secret:{names.app_db_secret(p)}-??????"
    resources = [res for s in grants for res in _as_list(s.get("Resource", "*"))]
    too_broad = [res for res in resources if any(fnmatchcase(d, res) for d in decoys)
                 or (arn and not fnmatchcase(arn, res) and not fnmatchcase(res, own))]
    if too_broad:
        return [Finding(r["id"], "FAIL", f"GetSecretValue on {', '.join(sorted(set(too_broad)))}")]
    scoped_to = ", ".join(sorted({res.rsplit(":", 1)[-1] for res in resources})) if arn else \
        "a named secret (no database yet to compare)"
    return [Finding(r["id"], "PASS", f"GetSecretValue only on {scoped_to}")]
