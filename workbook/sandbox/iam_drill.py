"""Sandbox: IAM policy simulation, answered by a drill on a second, ephemeral moto server.

moto has no IAM policy simulation (SimulatePrincipalPolicy). It can enforce IAM for real, though
(moto's IAM enforcement, measured): started with INITIAL_NO_AUTH_ACTION_COUNT=N, the first N
calls go unauthenticated and every later call is signed and authorized against the server's own IAM.
That setting is global to a server, so it can never be switched on in the main sandbox (every
notebook uses the "testing" keys there). The sandbox's correction for SimulatePrincipalPolicy
(corrections.py) answers from here: a SECOND moto server on its own port on 127.0.0.1 bootstraps admin
keys in the free calls, gets a copy of the principal's policies (a group's inline and attached
policies, and the call's PolicyInputList as one more grant held elsewhere) on a drill user, and that
user's keys try one real call per IAM action in ATTEMPTS. Two controls come first: unknown keys are
refused (so enforcement is on) and the admin reads the secret (so a 403 is about the policy). The
server is stopped afterwards by its own process id, and recorded in the sandbox's state folder while
it runs (`server.track`), so `sandbox stop` stops it if this process is killed first.

What moto enforces (moto 5.2.5, moto/iam/access_control.py): actions are matched with wildcards,
Deny wins; but every request is evaluated against Resource "*" and conditions whose keys the request
lacks count as met. So an answer is given only where those two simplifications cannot change the
decision (`cannot_show`). Anything else, and every action the drill has no call for, comes back
marked with a named gap (seam.GAPS) in the result's EvalDecisionDetails: the step reports it as
NOT_EMULATED, never as a pass.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterator

import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError

from . import server
from .. import boto_models

# Calls allowed before enforcement starts: create the admin user, attach AdministratorAccess, create
# its access key. Exactly these three; a fourth free call would let anyone in.
BOOTSTRAP_CALLS = 3
START_TIMEOUT_S = 30.0
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# One attempt per call: a retried call would not change the verdict, and botocore never retries 403s.
NO_RETRY = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=60)
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                "InvalidClientTokenId", "AuthFailure")
COLUMNS = ["principal", "extra_grant", "attempt", "action", "service", "operation", "expected", "outcome",
           "http_status", "error_code", "status"]
USER = "drill-developer"
CONTROL_PREFIX = "control: "


@dataclass(frozen=True)
class Attempt:
    """One API call the drill user tries. String values in kwargs may use {secret_arn}, {group_id},
    {user_name} and {vpc_id}, filled in from what the drill set up. `expected` ("allowed" | "denied")
    gives the row a PASS/FAIL status; simulations leave it empty (the step judges the decision)."""
    label: str
    service: str
    operation: str                       # boto3 method name, e.g. "get_secret_value"
    expected: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    action: str = ""                     # the IAM action the call needs


# The calls that exercise an IAM action on the drill server (what a developer could aim at there: a
# secret shaped like RDS's, a security group). The port is the usual PostgreSQL one: IAM does not
# look at it.
_DB_PORT_RULE = {"GroupId": "{group_id}", "IpPermissions": [
    {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
ATTEMPTS: dict[str, Attempt] = {a.action.lower(): a for a in (
    Attempt("describe instances", "ec2", "describe_instances", action="ec2:DescribeInstances"),
    Attempt("describe databases", "rds", "describe_db_instances", action="rds:DescribeDBInstances"),
    Attempt("read log groups", "logs", "describe_log_groups", action="logs:DescribeLogGroups"),
    Attempt("describe load balancers", "elbv2", "describe_load_balancers",
            action="elasticloadbalancing:DescribeLoadBalancers"),
    Attempt("describe auto scaling groups", "autoscaling", "describe_auto_scaling_groups",
            action="autoscaling:DescribeAutoScalingGroups"),
    Attempt("read the DB secret", "secretsmanager", "get_secret_value", kwargs={"SecretId": "{secret_arn}"},
            action="secretsmanager:GetSecretValue"),
    Attempt("open the DB port in a security group", "ec2", "authorize_security_group_ingress",
            kwargs=_DB_PORT_RULE, action="ec2:AuthorizeSecurityGroupIngress"),
    Attempt("attach AdministratorAccess to oneself", "iam", "attach_user_policy",
            kwargs={"UserName": "{user_name}", "PolicyArn": ADMIN_POLICY}, action="iam:AttachUserPolicy"),
)}
# Services moto cannot authorize by their IAM names at all (names of gaps in seam.GAPS).
UNTRIABLE = {"cloudwatch": "iam_drill_cloudwatch", "rds-db": "iam_drill_db_auth"}


# ---- the server ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def is_running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def ephemeral_server(no_auth_calls: int = BOOTSTRAP_CALLS) -> Iterator[dict[str, Any]]:
    """A moto server with IAM enforcement on, for the duration of the block; stopped by its PID and
    recorded in the sandbox's state folder meanwhile (`info["record"]`)."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="iam-drill-", suffix=".log", delete=False)
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(no_auth_calls),
           "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",   # AdministratorAccess must exist for the admin
           "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",      # the drill launches nothing: a second less
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("MOTO_ENABLE_RECORDING", None)             # nothing of the drill lands in a journal
    env.pop("MOTO_RECORDER_FILEPATH", None)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    record = server.track(proc.pid, "iam-drill", port=port, log=log.name)
    info = {"endpoint": f"http://127.0.0.1:{port}", "pid": proc.pid, "log": log.name, "record": str(record)}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"IAM drill server did not start on port {port}; see {log.name}")
            time.sleep(0.1)
        yield info
    finally:
        # SIGKILL at once: the server keeps nothing worth a clean exit (no journal, a throwaway log), and
        # its SIGTERM shutdown takes about 2 s.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        server.mark_stopped(record)
        log.close()
        os.unlink(log.name)


def _client(endpoint: str, service: str, key_id: str, secret: str, region: str) -> Any:
    """A client with these keys (on the process's shared loader: no service model is parsed twice)."""
    return boto_models.session().client(service, endpoint_url=endpoint, config=NO_RETRY, region_name=region,
                           aws_access_key_id=key_id, aws_secret_access_key=secret)


def _try(client: Any, operation: str, kwargs: dict[str, Any]) -> tuple[str, int, str]:
    """(outcome, http status, error code) of one call; the response body is never kept."""
    try:
        resp = getattr(client, operation)(**kwargs)
        return "allowed", resp["ResponseMetadata"]["HTTPStatusCode"], ""
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        denied = status == 403 or code in DENIED_CODES
        return ("denied" if denied else "error"), status, code


def _fill(value: Any, setup: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**setup)
    if isinstance(value, dict):
        return {k: _fill(v, setup) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, setup) for v in value]
    return value


def run(group_name: str, policies: dict[str, dict[str, Any]], attempts: list[Attempt], *,
        user_name: str = USER, region: str = "us-east-1", extra: list[dict[str, Any]] | None = None
        ) -> pd.DataFrame:
    """Recreate the group with `policies` (name -> document) on an ephemeral enforcing server, give a
    member `extra` documents of its own (grants held elsewhere), and try every attempt with the member's
    keys. Two control rows come first: unknown keys are rejected (so enforcement is on) and the admin
    can read the secret (so a developer's 403 is about the policy)."""
    rows: list[dict[str, Any]] = []
    grant = ", ".join(_actions_of(extra or []))
    with ephemeral_server() as srv:
        ep = srv["endpoint"]
        boot = _client(ep, "iam", "testing", "testing", region)
        boot.create_user(UserName="drill-admin")
        boot.attach_user_policy(UserName="drill-admin", PolicyArn=ADMIN_POLICY)
        k = boot.create_access_key(UserName="drill-admin")["AccessKey"]
        admin = {"key_id": k["AccessKeyId"], "secret": k["SecretAccessKey"]}
        del k

        def as_admin(service: str) -> Any:
            return _client(ep, service, admin["key_id"], admin["secret"], region)

        def row(principal: str, a: Attempt, result: tuple[str, int, str]) -> dict[str, Any]:
            return {"principal": principal, "extra_grant": grant if principal == user_name else "",
                    "attempt": a.label, "action": a.action, "service": a.service, "operation": a.operation,
                    "expected": a.expected, "outcome": result[0], "http_status": result[1], "error_code": result[2]}

        unknown = Attempt(CONTROL_PREFIX + "call with keys the server does not know", "iam", "list_users",
                          "denied", action="iam:ListUsers")
        rows.append(row("unknown keys", unknown, _try(_client(ep, "iam", "testing", "testing", region),
                                                      unknown.operation, {})))

        iam = as_admin("iam")
        iam.create_group(GroupName=group_name)
        for name, doc in policies.items():
            iam.put_group_policy(GroupName=group_name, PolicyName=name, PolicyDocument=json.dumps(doc))
        iam.create_user(UserName=user_name)
        iam.add_user_to_group(GroupName=group_name, UserName=user_name)
        for i, doc in enumerate(extra or []):
            iam.put_user_policy(UserName=user_name, PolicyName=f"extra-grant-{i + 1}", PolicyDocument=json.dumps(doc))
        dk = iam.create_access_key(UserName=user_name)["AccessKey"]
        dev = {"key_id": dk["AccessKeyId"], "secret": dk["SecretAccessKey"]}
        del dk
        # What a developer could aim at: an RDS-style secret with a random value and a security group.
        secret_arn = as_admin("secretsmanager").create_secret(
            Name=f"rds!db-{secrets.token_hex(4)}-drill", SecretString=secrets.token_urlsafe(24))["ARN"]
        ec2 = as_admin("ec2")
        vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
        group_id = ec2.create_security_group(GroupName="drill-db-sg", Description="IAM drill target",
                                             VpcId=vpc_id)["GroupId"]
        setup = {"secret_arn": secret_arn, "group_id": group_id, "user_name": user_name, "vpc_id": vpc_id}

        admin_reads = Attempt(CONTROL_PREFIX + "the admin reads the same secret", "secretsmanager",
                              "get_secret_value", "allowed", action="secretsmanager:GetSecretValue")
        rows.append(row("admin", admin_reads, _try(as_admin("secretsmanager"), "get_secret_value",
                                                   {"SecretId": secret_arn})))

        for a in attempts:
            client = _client(ep, a.service, dev["key_id"], dev["secret"], region)
            rows.append(row(user_name, a, _try(client, a.operation, _fill(a.kwargs, setup))))
        admin.clear()
        dev.clear()
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["status"] = ["" if not e else "PASS" if o == e else "FAIL" for o, e in zip(df.outcome, df.expected)]
    return df


def controls_held(log: pd.DataFrame) -> bool:
    controls = log[log.attempt.str.startswith(CONTROL_PREFIX)]
    return len(controls) == 2 and bool((controls.status == "PASS").all())


# ---- what the drill can show --------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions_of(docs: list[dict[str, Any]]) -> list[str]:
    return [a for d in docs for s in _as_list(d.get("Statement", [])) for a in _as_list(s.get("Action", []))]


def _concerns(st: dict[str, Any], action: str) -> bool:
    """The statement names the action (IAM matches actions case-insensitively, with wildcards)."""
    if "Action" in st:
        return any(fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(st["Action"]))
    return not any(fnmatchcase(action.lower(), str(a).lower()) for a in _as_list(st.get("NotAction", [])))


def _everywhere(st: dict[str, Any]) -> bool:
    """Resource "*" (what moto evaluates every request against), and no condition: moto and AWS apply
    such a statement alike."""
    return ("Resource" in st and any(str(r).strip("*") == "" for r in _as_list(st["Resource"]))
            and not st.get("Condition"))


def cannot_show(docs: list[dict[str, Any]], action: str) -> str:
    """The name of the gap that keeps the drill from showing AWS's decision on `action` under these
    policies, or "" when its answer is AWS's. Statements moto and AWS apply alike decide when they can;
    the others (a Resource other than "*", a Condition) could go either way on AWS, so they must not be
    able to change the outcome."""
    service = action.split(":", 1)[0].lower()
    if service in UNTRIABLE:
        return UNTRIABLE[service]
    sts = [s for d in docs for s in _as_list(d.get("Statement", [])) if _concerns(s, action)]
    alike = [s for s in sts if _everywhere(s)]
    unsure = [s for s in sts if not _everywhere(s)]
    if any(s.get("Effect") == "Deny" for s in alike):
        flips = []                                   # an unconditional Deny on "*" wins whatever else holds
    elif any(s.get("Effect") == "Allow" for s in alike):
        flips = [s for s in unsure if s.get("Effect") == "Deny"]
    else:
        flips = [s for s in unsure if s.get("Effect") == "Allow"]
    if flips:
        return "iam_drill_conditions" if any(s.get("Condition") for s in flips) else "iam_drill_resources"
    return "" if action.lower() in ATTEMPTS else "iam_drill_no_call"


def _moto_denies(docs: list[dict[str, Any]], action: str) -> bool:
    """A Deny moto applies to the action: on "*" (or no Resource at all), its condition counted as met."""
    return any(s.get("Effect") == "Deny" and _concerns(s, action)
               and ("Resource" not in s or any(str(r).strip("*") == "" for r in _as_list(s["Resource"])))
               for d in docs for s in _as_list(d.get("Statement", [])))


# ---- the answer to SimulatePrincipalPolicy --------------------------------------------------------------
def _document(doc: Any) -> dict[str, Any]:
    return json.loads(urllib.parse.unquote(doc)) if isinstance(doc, str) else doc


def group_policies(iam: Any, group: str) -> dict[str, dict[str, Any]]:
    """A group's inline and attached policy documents, by name (NoSuchEntity when there is no group)."""
    docs = {}
    for page in iam.get_paginator("list_group_policies").paginate(GroupName=group):
        for name in page["PolicyNames"]:
            docs[name] = _document(iam.get_group_policy(GroupName=group, PolicyName=name)["PolicyDocument"])
    for page in iam.get_paginator("list_attached_group_policies").paginate(GroupName=group):
        for att in page["AttachedPolicies"]:
            version = iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]["DefaultVersionId"]
            docs[att["PolicyName"]] = _document(iam.get_policy_version(
                PolicyArn=att["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"])
    return docs


class Drills:
    """The IAM drills of one sandbox session: one drill per set of policies (it tries every attempt in
    ATTEMPTS, so the calls of one verification start a server per policy set, not one per call), and
    their logs, which the notebook shows (`SandboxTarget.drill_log`)."""

    def __init__(self) -> None:
        self.runs: dict[str, pd.DataFrame] = {}

    def log(self) -> pd.DataFrame | None:
        return pd.concat(self.runs.values(), ignore_index=True) if self.runs else None

    def _drill(self, group: str, docs: dict[str, dict[str, Any]], extra: list[dict[str, Any]],
               region: str) -> pd.DataFrame:
        key = json.dumps([group, docs, extra, region], sort_keys=True)
        if key not in self.runs:
            self.runs[key] = run(group, docs, list(ATTEMPTS.values()), extra=extra, region=region)
        return self.runs[key]

    def simulate(self, iam: Any, params: dict[str, Any], region: str) -> dict[str, Any]:
        """SimulatePrincipalPolicy's answer in AWS's shape: one EvaluationResult per action and resource,
        EvalDecision from what the drill user's call really got; a named gap in EvalDecisionDetails
        where the drill cannot show the decision (EvalDecision is then IAM's default, implicitDeny)."""
        kind, _, path = params["PolicySourceArn"].split(":", 5)[-1].partition("/")
        name = path.rsplit("/", 1)[-1]
        extra = [_document(d) for d in params.get("PolicyInputList", [])]
        docs = group_policies(iam, name) if kind == "group" else {}
        every = list(docs.values()) + extra
        results = []
        for action in params.get("ActionNames", []):
            gap = cannot_show(every, action) if kind == "group" else "iam_drill_principal"
            decision = "implicitDeny"
            if not gap:
                log = self._drill(name, docs, extra, region)
                row = log[(log.principal == USER) & (log.action.str.lower() == action.lower())].iloc[0]
                if not controls_held(log):
                    gap = "iam_drill_controls"
                elif row.outcome == "denied":
                    decision = "explicitDeny" if _moto_denies(every, action) else "implicitDeny"
                else:  # authorization came before any other error the call met: it was allowed
                    decision = "allowed"
            for resource in params.get("ResourceArns") or ["*"]:
                results.append({"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision,
                                "MatchedStatements": [], "MissingContextValues": [],
                                **({"EvalDecisionDetails": {"sandbox": gap}} if gap else {})})
        return {"EvaluationResults": results, "IsTruncated": False}
