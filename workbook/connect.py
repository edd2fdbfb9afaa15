"""boto3 clients for the sandbox or a real account, and the log of every API call made.

`connect(p)` is the one way notebooks and steps get clients. Every call is recorded through
botocore's event hooks (service, operation, key arguments with secrets masked, outcome, result id,
milliseconds), so a notebook cell can show the calls it made as a small table.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import pandas as pd
from botocore.config import Config

from .params import Params

SANDBOX_ACCOUNT = "123456789012"
# Standard mode: capped exponential backoff with a retry quota, as the AWS CLI uses; the legacy
# default would retry throttles differently in each SDK. Set explicitly so both modes agree.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)

_SECRET_KEY = re.compile(r"password|secret(?!.*(arn|id)$)|(?<!client)token|userdata|credential|privatekey|"
                         r"accesskey|sessiontoken|authorization", re.I)


class AccountMismatch(RuntimeError):
    pass


@dataclass
class Call:
    service: str
    operation: str
    args: str
    outcome: str = "pending"
    result: str = ""
    ms: float = 0.0
    at: float = field(default_factory=time.time)


@dataclass
class Resource:
    """What an ensure_* function did for one resource: created, exists, would create, deleted ..."""
    step: str
    type: str
    name: str
    id: str
    action: str


def mask(value: Any, key: str = "") -> Any:
    """Replace anything that could be a secret by ***; keeps structure so the call stays readable."""
    if key and _SECRET_KEY.search(key):
        return "***"
    if isinstance(value, dict):
        return {k: mask(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v, key) for v in value]
    return value


def _brief(args: dict[str, Any], limit: int = 160) -> str:
    """Key arguments only: drop tag specifications and client tokens, which say nothing to a reader."""
    shown = {k: v for k, v in mask(args).items() if k not in ("TagSpecifications", "Tags", "ClientToken",
                                                                 "ClientRequestToken", "CallerReference")}
    text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_NOT_RESULT = ("RequestId", "OwnerId", "AvailabilityZoneId", "ZoneId", "KmsKeyId", "ImageId", "OwnerAlias")
_VERBS = re.compile(r"^(Create|Run|Allocate|Request|Put|Register|Restore|Copy|Describe|Get|List|Modify|Delete)")


def _result_id(parsed: Any, operation: str = "") -> str:
    """The id a reader wants under the call: VpcId for CreateVpc, else the first id-like value."""
    if not isinstance(parsed, dict):
        return ""
    noun = _VERBS.sub("", operation).rstrip("s")
    found: list[tuple[int, str]] = []

    def walk(obj: Any, depth: int) -> None:
        if depth > 3 or not isinstance(obj, dict):
            return
        for k, v in obj.items():
            if k == "ResponseMetadata":
                continue
            if isinstance(v, str) and k.endswith(("Id", "Arn", "Identifier")) and k not in _NOT_RESULT:
                rank = 0 if noun and k.startswith(noun) else 1 + depth
                found.append((rank, v))
            elif isinstance(v, dict):
                walk(v, depth + 1)
            elif isinstance(v, list) and len(v) == 1:
                walk(v[0], depth + 1)

    walk(parsed, 0)
    return min(found, key=lambda x: x[0])[1] if found else ""


class CallLog:
    """Every API call of a session, in order. `since(mark)` for one cell's calls."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._cursor = 0

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register("before-parameter-build", lambda params, model, context, **_: self._start(
            service, model.name, params, context))
        events.register("after-call", lambda parsed, context, http_response=None, **_: self._end(
            context, "ok" if (http_response is None or http_response.status_code < 400)
            else parsed.get("Error", {}).get("Code", str(http_response.status_code)), parsed))
        # Called for errors that never got a response (connection refused, timeouts).
        events.register("after-call-error", lambda exception, context, **_: self._end(
            context, type(exception).__name__, None))

    def _start(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        call = Call(service, op, _brief(params))
        context["workbook_call"] = (call, time.perf_counter())
        self.calls.append(call)

    def _end(self, context: dict[str, Any], outcome: str, parsed: Any) -> None:
        call, t0 = context.get("workbook_call", (None, 0.0))
        if call is None:
            return
        call.ms = round((time.perf_counter() - t0) * 1000, 1)
        call.outcome = outcome
        call.result = _result_id(parsed, call.operation) if outcome == "ok" else ""

    def mark(self) -> int:
        return len(self.calls)

    def frame(self, since: int = 0) -> pd.DataFrame:
        rows = [c.__dict__ for c in self.calls[since:]]
        df = pd.DataFrame(rows, columns=["service", "operation", "args", "outcome", "result", "ms", "at"])
        df["at"] = pd.to_datetime(df["at"], unit="s").dt.strftime("%H:%M:%S")
        return df

    def new(self) -> pd.DataFrame:
        """The calls made since the last time this was asked: what a notebook cell shows."""
        df = self.frame(self._cursor)
        self._cursor = len(self.calls)
        return df.reset_index(drop=True)

    def count(self, since: int = 0, prefix: tuple[str, ...] = ()) -> int:
        return sum(1 for c in self.calls[since:] if not prefix or c.operation.startswith(prefix))


MUTATING = ("Create", "Run", "Allocate", "Put", "Register", "Attach", "Associate", "Modify", "Authorize",
            "Request", "Restore", "Start", "Copy", "Import", "Add", "Enable", "Subscribe", "Tag",
            "Change", "Delete", "Terminate", "Revoke", "Release", "Detach", "Deregister", "Stop", "Reboot")


class Context:
    """A session against one target: clients, the call log, what the steps did."""

    def __init__(self, params: Params, session: boto3.Session, endpoint: str | None, account_id: str):
        self.params = params
        self.session = session
        self.endpoint = endpoint
        self.account_id = account_id
        self.calls = CallLog()
        self.resources: list[Resource] = []
        self._clients: dict[str, Any] = {}

    @property
    def sandbox(self) -> bool:
        """The one switch behind which every sandbox-only workaround sits."""
        return self.params.target == "sandbox"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            c = self.session.client(service, endpoint_url=self.endpoint, config=RETRY_CONFIG)
            self.calls.attach(c)
            self._clients[service] = c
        return self._clients[service]

    def workaround(self, message: str) -> None:
        """Say, in the output, that a sandbox-only workaround ran (never in aws mode)."""
        assert self.sandbox, "sandbox workaround reached in aws mode"
        print(f"[sandbox workaround] {message}")

    def note(self, step: str, type_: str, name: str, id_: str, action: str) -> Resource:
        r = Resource(step, type_, name, id_, action)
        self.resources.append(r)
        return r

    def resources_frame(self, since: int = 0) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.resources[since:]],
                            columns=["step", "type", "name", "id", "action"])

    def masked_account(self) -> str:
        return "********" + self.account_id[-4:] if self.account_id else ""


def session_for(p: Params) -> tuple[boto3.Session, str | None]:
    if p.target == "sandbox":
        from .sandbox import server
        endpoint = server.ensure_running()
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                             region_name=p.region), endpoint
    return boto3.Session(profile_name=p.aws_profile or None, region_name=p.region), None


def connect(p: Params) -> Context:
    """Clients for p.target. In aws mode, refuses to act on any account but p.aws_account_id."""
    p.validate()
    session, endpoint = session_for(p)
    if p.target == "sandbox":
        return Context(p, session, endpoint, SANDBOX_ACCOUNT)
    ctx = Context(p, session, endpoint, "")
    seen = ctx.client("sts").get_caller_identity()["Account"]
    if seen != p.aws_account_id:
        raise AccountMismatch(
            f"aws_account_id is {p.aws_account_id} but the credentials (profile {p.aws_profile or 'default'}) "
            f"belong to account {seen}; nothing was done. Set aws_account_id={seen} if that is the account to change.")
    ctx.account_id = seen
    return ctx
