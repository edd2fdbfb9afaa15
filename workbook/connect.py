"""boto3 clients for the sandbox or a real account, and the log of every API call made.

`connect(p)` is the one way notebooks and steps get clients. Every call is recorded through
botocore's event hooks (service, operation, key arguments with secrets masked, outcome, result id,
milliseconds), so a notebook cell can show the calls it made as a small table. In a pipeline run each
kernel also appends its calls (step, service, operation, outcome: no arguments) to
`<run folder>/calls/<notebook>.csv`, the record the workbook's own IAM policy is checked against.
"""
from __future__ import annotations

import csv
import importlib
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import pandas as pd
from botocore.config import Config

from . import boto_models
from .params import Params

# Standard mode: capped exponential backoff with a retry quota, as the AWS CLI uses; the legacy
# default would retry throttles differently in each SDK. Set explicitly so both modes agree.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)
WRITE_ATTEMPTS = RETRY_CONFIG.retries["max_attempts"] + 1   # botocore's max_attempts counts retries only
# A throttled read (what feeds a check, a diagram, a wait) is retried past that, up to READ_ATTEMPTS in all:
# it changes nothing, so waiting longer costs only time, and a run is not lost to a busy API (at 30 %
# throttling 0.3**6 of all reads, some in every run, failed after the standard budget).
READ_ATTEMPTS = 12
READ_OPERATIONS = ("Describe", "Get", "List", "Head", "Lookup", "Search")

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
    """What an ensure_* function did for one resource: created, exists, would create, deleted ...
    `item` is the resource's description as AWS gave it (not shown in tables)."""
    step: str
    type: str
    name: str
    id: str
    action: str
    item: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


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


CALL_FILE_COLUMNS = ["step", "service", "operation", "outcome"]


def run_call_file() -> Path | None:
    """Where a pipeline run keeps this kernel's calls (pipeline.py sets both variables for every
    kernel): <run folder>/calls/<notebook>.csv; None outside a pipeline run."""
    run_dir, notebook = os.environ.get("WORKBOOK_RUN_DIR"), os.environ.get("WORKBOOK_NOTEBOOK")
    return Path(run_dir) / "calls" / f"{notebook}.csv" if run_dir and notebook else None


class CallLog:
    """Every API call of a session, in order. `since(mark)` for one cell's calls. With `file`, each
    finished call is also appended there (step, service, operation, outcome), so what a kernel did
    survives the kernel."""

    def __init__(self, file: Path | None = None, step: str = "") -> None:
        self.calls: list[Call] = []
        self._cursor = 0
        self.file, self.step = file, step

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
        if self.file:
            self._append(call)

    def _append(self, call: Call) -> None:
        new = not self.file.exists()
        self.file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.file, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(CALL_FILE_COLUMNS)
            w.writerow([self.step, call.service, call.operation, call.outcome])

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


def mask_account(value: str) -> str:
    """An account id as every written output shows it: the last four digits only."""
    return "********" + value[-4:] if value else ""


# ---- where the calls go ----------------------------------------------------------------------------
class Clock:
    """Time as AWS spends it. Code that waits on AWS sleeps on the target's clock, in AWS seconds: on a
    real account that is wall time; the sandbox answers at once (or, rehearsing, scales AWS's minutes
    to its seconds), so the same code waits the right amount on both."""
    scale = 1.0  # wall seconds per AWS second

    def sleep(self, aws_seconds: float) -> None:
        if aws_seconds > 0 and self.scale > 0:
            time.sleep(aws_seconds * self.scale)

    def now(self) -> float:
        """AWS seconds since an arbitrary origin."""
        return time.monotonic() / self.scale if self.scale else time.monotonic()

    def stamp(self) -> float:
        """A moment in AWS time that another process (a rerun, the next notebook) can compare with its own
        stamp(): written down where a wait must resume from a moment, not start over (the wall clock)."""
        return time.time()


class Target:
    """A real account, through the standard credential chain. The sandbox (workbook.sandbox.seam)
    plugs in below by subclassing this and registering itself: corrections of the emulator's gaps,
    the local data plane and the rehearsal model live there, never in steps, checks or inventory."""
    name = "aws"
    endpoint: str | None = None
    # What this target cannot show, by name (checks report NOT_EMULATED for these): a real account
    # shows everything.
    gaps: dict[str, str] = {}

    def __init__(self) -> None:
        self.clock = Clock()

    def session(self, p: Params) -> boto3.Session:
        return boto_models.session(profile_name=p.aws_profile or None, region_name=p.region)

    def install(self, client: Any, ctx: "Context") -> None:
        """Hook a new client (the sandbox corrects moto's gaps here)."""

    def account(self, ctx: "Context") -> str:
        """The account the calls act on; refuses any but p.aws_account_id."""
        p = ctx.p
        seen = ctx.client("sts").get_caller_identity()["Account"]
        if seen != p.aws_account_id:
            raise AccountMismatch(
                f"aws_account_id is {mask_account(p.aws_account_id)} but the credentials (profile "
                f"{p.aws_profile or 'default'}) belong to account {mask_account(seen)}; nothing was done. Set "
                f"aws_account_id to that account's id if it is the one to change.")
        return seen

    def where(self, ctx: "Context") -> str:
        return f"AWS account {ctx.masked_account()}"

    def gap(self, name: str) -> str:
        """Why this target cannot show `name` ("" when it can)."""
        return self.gaps.get(name, "")

    def rehearsal_figures(self) -> dict[str, Any] | None:
        """What a rehearsal of AWS recorded (phases, waits: the run's projected AWS time and critical
        path); None here, where AWS itself answered and its time is the wall clock's."""
        return None

    def drill_log(self) -> pd.DataFrame | None:
        """The calls a stand-in made to answer what the target itself cannot (the sandbox's IAM drill
        answering policy simulation); None on a real account, where IAM answers."""
        return None

    @property
    def dataplane(self) -> Any:
        """What serves (instances, databases, the load balancer), behind one interface on every target
        (workbook.dataplane). Each target names its own (workbook.aws, workbook.sandbox): this module
        sits below both and names neither."""
        raise NotImplementedError(f"{type(self).__name__} names no data plane")


# Filled by the targets themselves when target_for loads them (workbook.aws, workbook.sandbox).
TARGETS: dict[str, Callable[[Params], Target]] = {}


def register_target(name: str, factory: Callable[[Params], Target]) -> None:
    TARGETS[name] = factory


def target_for(p: Params) -> Target:
    if p.target not in TARGETS:
        # Each target is a module above this one (workbook.aws, workbook.sandbox); loading it registers it.
        importlib.import_module(f"{__package__}.{p.target}")
    return TARGETS[p.target](p)


class Context:
    """A session against one target: the validated parameters, clients, the call log, what the steps
    did. Validation happened at the boundary (Params); nothing here validates again."""

    def __init__(self, params: Params, target: Target, account_id: str = "", *, step: str = ""):
        self.params = params
        self.target = target
        self.session = target.session(params)
        self.endpoint = target.endpoint
        self.account_id = account_id
        self.step = step                      # the notebook / step this context works for
        self.calls = CallLog(run_call_file(), step)
        self.resources: list[Resource] = []
        self.notes: list[str] = []            # sandbox-only notes, said once each
        self.tell: Callable[[str], None] | None = None   # where notes go instead of print (the workshop's list)
        self._clients: dict[str, Any] = {}
        self._call_hooks: list[Callable[..., Any]] = []
        self.lock: Any = None                 # the stack's lock as this session holds it (workbook.lock)

    # parameters are the context's own
    @property
    def p(self) -> Params:
        return self.params

    @property
    def dry_run(self) -> bool:
        return self.params.dry_run

    @property
    def clock(self) -> Clock:
        return self.target.clock

    def replace(self, **changes: Any) -> "Context":
        """The same session with other parameters (e.g. dry_run=True for a plan): clients, call log
        and the record of resources are shared."""
        other = object.__new__(Context)
        other.__dict__.update(self.__dict__)
        other.params = self.params.replace(**changes)
        if other.params.az_count != self.params.az_count:
            from . import boundary
            boundary.check(other)   # the region's AZs, read again before anything uses the new count
        return other

    def client(self, service: str) -> Any:
        if service not in self._clients:
            c = self.session.client(service, endpoint_url=self.endpoint, config=RETRY_CONFIG)
            self.calls.attach(c)
            self.target.install(c, self)
            _retry_reads_longer(c, self)
            for fn in self._call_hooks:
                c.meta.events.register("before-call", fn)
            self._clients[service] = c
        return self._clients[service]

    def on_call(self, fn: Callable[..., Any]) -> None:
        """Run fn before every call of every client, present and future (tests simulate a kill)."""
        self._call_hooks.append(fn)
        for c in self._clients.values():
            c.meta.events.register("before-call", fn)

    def say(self, message: str) -> None:
        """A sandbox-only note, printed once per session and labelled so (the seam calls this)."""
        if message not in self.notes:
            self.notes.append(message)
            if self.tell is not None:
                self.tell(message)
            else:
                print(f"[sandbox] {message}")

    def note(self, step: str, type_: str, name: str, id_: str, action: str,
             item: dict[str, Any] | None = None) -> Resource:
        r = Resource(step, type_, name, id_, action, item or {})
        self.resources.append(r)
        return r

    def resources_frame(self, since: int = 0) -> pd.DataFrame:
        return pd.DataFrame([{k: getattr(r, k) for k in RESOURCE_COLUMNS} for r in self.resources[since:]],
                            columns=RESOURCE_COLUMNS)

    def masked_account(self) -> str:
        return mask_account(self.account_id)

    def gap(self, name: str) -> str:
        return self.target.gap(name)


RESOURCE_COLUMNS = ["step", "type", "name", "id", "action"]


def _retry_reads_longer(client: Any, ctx: "Context") -> None:
    """After botocore's standard handler has given up on a throttled read (attempt WRITE_ATTEMPTS), retry it
    with capped exponential backoff slept on the target's clock, up to READ_ATTEMPTS. Writes keep the
    standard budget."""
    from botocore.retries import standard
    sid = client.meta.service_model.service_id.hyphenize()
    throttled = standard.ThrottlingErrorDetector(standard.RetryEventAdapter()).is_throttling_error
    total = (client.meta.config.retries or {}).get("total_max_attempts", WRITE_ATTEMPTS)

    def needs_retry(attempts: int, operation: Any, **kwargs: Any) -> float | None:
        # below `total` the standard handler decides (it returns the delay): acting too would sleep twice
        if not (total <= attempts < READ_ATTEMPTS) or not operation.name.startswith(READ_OPERATIONS):
            return None
        if not throttled(attempts=attempts, operation=operation, **kwargs):
            return None
        ctx.clock.sleep(min(20.0, random.random() * 2 ** attempts))   # botocore's cap, AWS seconds
        return 0.0   # retry now: the wait was slept on the clock
    client.meta.events.register(f"needs-retry.{sid}", needs_retry, unique_id=f"workbook-read-retries-{sid}")


def connect(p: Params, step: str = "") -> Context:
    """Clients for p.target (p is validated: Params refuses bad values when it is built). In aws mode,
    refuses to act on any account but p.aws_account_id."""
    target = target_for(p)
    ctx = Context(p, target, step=step)
    ctx.account_id = target.account(ctx)
    from . import boundary
    boundary.check(ctx)   # what only the account can say (its AZs), read before any write
    return ctx
