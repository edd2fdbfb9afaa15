"""Sandbox workaround: prove a developer's IAM policy is enforced, on a second, ephemeral moto server.

moto has no IAM policy simulation. It can enforce IAM for real, though (EMULATOR.md, "IAM
enforcement (measured)"): started with INITIAL_NO_AUTH_ACTION_COUNT=N, the first N calls go
unauthenticated and every later call is signed and authorized against the server's own IAM. That
setting is global to a server, so it can never be switched on in the main sandbox (every notebook
uses the "testing" keys there). This module starts a SECOND moto server on its own port on
127.0.0.1, bootstraps admin keys in the free calls, recreates the developers group with the same
policy documents, adds a developer user, and tries each attempt with the developer's keys. The
server is stopped afterwards by its own process id; nothing is left running.

What moto enforces (moto 5.2.5, moto/iam/access_control.py): actions are matched with wildcards,
Deny wins; but every request is evaluated against Resource "*" and conditions whose keys the request
lacks count as met. So a denial seen here proves "no grant" or a Deny on "*"; an explicit Deny on one
ARN, and anything depending on conditions, cannot be shown here (the caller reports NOT_EMULATED).
"""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import boto3
import pandas as pd
from botocore.config import Config
from botocore.exceptions import ClientError

# Calls allowed before enforcement starts: create the admin user, attach AdministratorAccess, create
# its access key. Exactly these three; a fourth free call would let anyone in.
BOOTSTRAP_CALLS = 3
START_TIMEOUT_S = 30.0
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# One attempt per call: a retried call would not change the verdict, and botocore never retries 403s.
NO_RETRY = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=60)
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError",
                "InvalidClientTokenId", "AuthFailure")
COLUMNS = ["principal", "attempt", "service", "operation", "expected", "outcome", "http_status", "error_code", "status"]


@dataclass(frozen=True)
class Attempt:
    """One API call the developer tries. String values in kwargs may use {secret_arn}, {group_id},
    {user_name} and {vpc_id}, filled in from what the drill set up."""
    label: str
    service: str
    operation: str                       # boto3 method name, e.g. "get_secret_value"
    expected: str                        # "allowed" | "denied"
    kwargs: dict[str, Any] = field(default_factory=dict)


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
    """A moto server with IAM enforcement on, for the duration of the block; stopped by its PID."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="iam-drill-", suffix=".log", delete=False)
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(no_auth_calls),
           "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",   # AdministratorAccess must exist for the admin
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("MOTO_ENABLE_RECORDING", None)             # nothing of the drill lands in a journal
    env.pop("MOTO_RECORDER_FILEPATH", None)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    info = {"endpoint": f"http://127.0.0.1:{port}", "pid": proc.pid, "log": log.name}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"IAM drill server did not start on port {port}; see {log.name}")
            time.sleep(0.1)
        yield info
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        os.unlink(log.name)


def _client(endpoint: str, service: str, key_id: str, secret: str, region: str) -> Any:
    return boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region).client(
        service, endpoint_url=endpoint, config=NO_RETRY)


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
        user_name: str = "drill-developer", region: str = "us-east-1") -> pd.DataFrame:
    """Recreate the group with `policies` (name -> document) on an ephemeral enforcing server and try
    every attempt with a member's keys. Two control rows come first: unknown keys are rejected (so
    enforcement is on) and the admin can read the secret (so a developer's 403 is about the policy)."""
    import json
    rows: list[dict[str, Any]] = []
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

        outcome, status, code = _try(_client(ep, "iam", "testing", "testing", region), "list_users", {})
        rows.append({"principal": "unknown keys", "attempt": "control: call with keys the server does not know",
                     "service": "iam", "operation": "list_users", "expected": "denied", "outcome": outcome,
                     "http_status": status, "error_code": code})

        iam = as_admin("iam")
        iam.create_group(GroupName=group_name)
        for name, doc in policies.items():
            iam.put_group_policy(GroupName=group_name, PolicyName=name, PolicyDocument=json.dumps(doc))
        iam.create_user(UserName=user_name)
        iam.add_user_to_group(GroupName=group_name, UserName=user_name)
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

        outcome, status, code = _try(as_admin("secretsmanager"), "get_secret_value", {"SecretId": secret_arn})
        rows.append({"principal": "admin", "attempt": "control: the admin reads the same secret",
                     "service": "secretsmanager", "operation": "get_secret_value", "expected": "allowed",
                     "outcome": outcome, "http_status": status, "error_code": code})

        for a in attempts:
            client = _client(ep, a.service, dev["key_id"], dev["secret"], region)
            outcome, status, code = _try(client, a.operation, _fill(a.kwargs, setup))
            rows.append({"principal": user_name, "attempt": a.label, "service": a.service,
                         "operation": a.operation, "expected": a.expected, "outcome": outcome,
                         "http_status": status, "error_code": code})
        admin.clear()
        dev.clear()
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["status"] = ["PASS" if o == e else "FAIL" for o, e in zip(df.outcome, df.expected)]
    return df
