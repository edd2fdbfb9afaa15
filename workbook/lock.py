"""One change at a time per stack: a lock kept in the account itself.

Two runs on one stack at once (a scheduled pipeline and a person in JupyterLab) would each look for a
resource, each find none and each create one: a second NAT gateway or database on a real account, or a
teardown deleting what a build is waiting for. So whatever changes a stack first takes the stack's
lock, kept beside what it protects as Terraform keeps a state lock beside its state: the SSM parameter
`/workbook/<stack>/lock` (the `stack_lock` kind), created by a conditional write. PutParameter without
Overwrite answers ParameterAlreadyExists when the parameter is there, so of two runs exactly one gets
it, seen alike from every machine that reaches the account. Its value says who holds it (user@host),
where (process id, the pipeline's run or the notebook's kernel), which step and since when, and a
random id. Giving it back deletes it.

Whoever meets a held lock stops before its first change and says in one line who holds it and since
when, and how to release a stale one: `python -m workbook unlock <stack>` with the --set that reach the
lock's account and region, which asks for the lock's id (printed in that line) and refuses any other. A
run that dies leaves a lock naming its run and process; on the same machine the line also says that the
process is gone.

Where it is taken (plans and read-only steps never take it):
- the pipeline (`python -m workbook run`) holds it from start to end of the run and hands its id to
  its kernels in WORKBOOK_LOCK: they check it is still theirs at their first change and never wait;
- a notebook (`guard`, from nb.start): at the first changing call of a cell (a botocore before-call
  hook on changing operations), given back when the cell ends;
- a workshop panel's action (`holding`): from its first change to its end;
- a teardown (`holding(..., eager=True)`): from its start, so that nobody builds while it looks, to its
  end, the lock being the last thing it removes; a plan of it takes none.
The lock's own calls are exempt from the hook.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
import os
import secrets
import socket
import sys
import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from . import engine, kernel
from . import kinds as K
from .connect import MUTATING, Context, mask_account
from .kinds.storage import lock_name

KIND = "stack_lock"
ENV = "WORKBOOK_LOCK"       # "<stack>/<id>": the pipeline's lock, inherited by the kernels it starts
TAG_STEP = "lock"           # the lock is no step's resource: the step bar must not count it
# What changes something, beyond connect.MUTATING's verbs (a route replaced, a command sent, a group resized).
CHANGES = MUTATING + ("Remove", "Replace", "Send", "Set", "Update", "Upload", "Complete", "Abort", "Disassociate",
                      "Disable", "Untag", "Publish", "Failover", "Promote", "Cancel", "Reset", "Execute", "Invoke")
# Data points, not the stack: two writers never conflict, and probes write them beside someone's change.
DATA_WRITES = ("PutMetricData", "PutLogEvents")

_local = threading.local()   # set while the lock's own calls run: the hook lets them through


def changes(operation: str) -> bool:
    return operation.startswith(CHANGES) and operation not in DATA_WRITES


class StackLocked(RuntimeError):
    """The stack's lock is held by someone else (or was taken from this run): nothing was changed."""

    def __init__(self, message: str, lock: "Lock | None" = None):
        super().__init__(message)
        self.lock = lock


class NoLock(LookupError):
    pass


class WrongLockId(ValueError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _boot_id() -> str:
    """This machine's boot (Linux): a process id means something only within one boot of one host."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):   # a container user with no passwd entry
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


@dataclass(frozen=True)
class Lock:
    id: str
    stack: str
    who: str            # user@host
    host: str
    boot: str           # boot id of the holder's machine ("" where unknown)
    pid: int
    run: str            # the pipeline's run; "" for a notebook's kernel or a script
    via: str            # pipeline | notebook | panel | python
    step: str           # what it was doing when last said
    since: str          # ISO 8601, UTC

    @property
    def name(self) -> str:
        return lock_name(self.stack)

    def where(self) -> str:
        bits = [f"{'kernel ' if self.via in ('notebook', 'panel') else ''}pid {self.pid}"]
        if self.run:
            bits.append(f"run {self.run}")
        if self.via == "panel":
            bits.append("workshop panel")
        if self.step:
            bits.append(f"step {self.step}")
        return ", ".join(bits)

    def since_text(self) -> str:
        try:
            t = dt.datetime.fromisoformat(self.since)
        except ValueError:
            return self.since or "an unknown time"
        minutes = max(0, int((_now() - t).total_seconds() // 60))
        ago = f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
        return f"{t.strftime('%Y-%m-%d %H:%M:%S')} UTC ({ago})"

    def gone(self) -> str:
        """Why the holder is certainly gone ("" when it may still run, or this machine cannot tell)."""
        if not self.boot or self.host != socket.gethostname() or self.boot != _boot_id():
            return ""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return f"process {self.pid} is no longer running on this host"
        except PermissionError:
            pass   # alive, someone else's
        return ""

    def holder(self) -> str:
        stale = self.gone()
        return (f"{self.who} ({self.where()}) since {self.since_text()}"
                + (f"; {stale}: the lock is stale" if stale else ""))

    def refusal(self, ctx: Context) -> str:
        """The one line a refused run says (ctx: where the lock was read, which the unlock command must reach)."""
        return (f"stack {self.stack!r} is locked by {self.holder()}; nothing was changed. If it is no longer running, "
                f"release its lock: {unlock_command(ctx, self.stack)} (lock id {self.id}{account_note(ctx)})")


# What says where the unlock command looks; left out when it is Params' default (the sandbox, us-east-1).
PLACE = ("target", "region", "aws_profile")


def unlock_command(ctx: Context, stack: str) -> str:
    """`python -m workbook unlock` with the --set that reach ctx's account and region: without them it would
    look in the sandbox's us-east-1, find no lock and say there is nothing to release."""
    defaults = {f.name: f.default for f in fields(ctx.p)}
    sets = [f"--set {k}={getattr(ctx.p, k)}" for k in PLACE if getattr(ctx.p, k) != defaults[k]]
    if ctx.p.aws_account_id:   # written outputs mask account ids: the user fills it in (account_note)
        sets.append("--set aws_account_id=ACCOUNT_ID")
    return " ".join([f"python -m workbook unlock {stack}", *sets])


def account_note(ctx: Context) -> str:
    return f"; ACCOUNT_ID: the id of account {mask_account(ctx.p.aws_account_id)}" if ctx.p.aws_account_id else ""


def looked_in(ctx: Context) -> str:
    """Where a lock was looked for (the account masked)."""
    return f"{ctx.target.where(ctx)}, region {ctx.p.region}"


def _dump(lock: Lock) -> str:
    return json.dumps(asdict(lock), sort_keys=True, separators=(",", ":"))


def _parse(stack: str, value: str) -> Lock:
    """A lock's value; one not written by the workbook still reads as held (by someone unknown)."""
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    text = {f.name: str(data.get(f.name) or "") for f in fields(Lock) if f.name != "pid"}
    pid = data.get("pid")
    return Lock(**{**text, "stack": stack, "id": text["id"] or "?", "who": text["who"] or "someone unknown",
                   "pid": pid if isinstance(pid, int) else 0})


@contextlib.contextmanager
def _own_calls() -> Iterator[None]:
    before = getattr(_local, "busy", False)
    _local.busy = True
    try:
        yield
    finally:
        _local.busy = before


# ---- the lock in the account ------------------------------------------------------------------------
def read(ctx: Context, stack: str | None = None) -> Lock | None:
    """The stack's lock as the account holds it now (None: nobody holds it)."""
    return _read(ctx, stack)[0]


def _read(ctx: Context, stack: str | None = None) -> tuple[Lock | None, int]:
    """The lock and its parameter's version (each write adds one; a deleted one starts again at 1)."""
    stack = stack or ctx.p.stack_name
    try:
        param = ctx.client("ssm").get_parameter(Name=lock_name(stack))["Parameter"]
    except ClientError as e:
        if engine.missing(e):
            return None, 0
        raise
    return _parse(stack, param["Value"]), int(param.get("Version") or 0)


def acquire(ctx: Context, step: str, *, run: str = "", via: str = "python") -> Lock:
    """Take the stack's lock, or raise StackLocked naming its holder. One conditional write."""
    stack, host = ctx.p.stack_name, socket.gethostname()
    me = Lock(id=secrets.token_hex(4), stack=stack, who=f"{_user()}@{host}", host=host, boot=_boot_id(),
              pid=os.getpid(), run=run, via=via, step=step, since=_now().isoformat(timespec="seconds"))
    kind = K.get(KIND)
    with _own_calls():
        for _ in range(3):   # the holder may give it back between our write and our read
            try:
                ctx.client("ssm").put_parameter(
                    Name=me.name, Value=_dump(me), Type="String", **engine.tag_args(kind, ctx.p, TAG_STEP, me.name),
                    Description=f"Held while the workbook changes stack {stack}; python -m workbook unlock {stack} "
                                f"releases a stale one")
                return me
            except ClientError as e:
                if engine.code(e) != "ParameterAlreadyExists":
                    raise
            other = read(ctx)
            if other is not None and other.id == me.id:
                # our own write: carried out, its answer lost, resent by botocore's retries
                return me
            if other is not None:
                raise StackLocked(other.refusal(ctx), other)
    raise StackLocked(f"stack {stack!r}: its lock was taken and given back three times while this run tried to "
                      f"take it; nothing was changed. Try again.")


def release(ctx: Context, held: Lock) -> bool:
    """Give the lock back (delete it) if it is still the one taken; False when it no longer was."""
    with _own_calls():
        now = read(ctx)
        if now is None or now.id != held.id:
            return False
        # SSM deletes unconditionally: a lock released and taken by another run in the milliseconds between
        # this read and the delete would go; that run learns it at its next check (note, _still_mine).
        return _delete(ctx, held.name)


def _delete(ctx: Context, name: str) -> bool:
    try:
        ctx.client("ssm").delete_parameter(Name=name)
    except ClientError as e:
        if engine.missing(e):
            return False
        raise
    return True


def note(ctx: Context, held: Lock, **changed: str) -> Lock:
    """Say what the holder does now (the pipeline: which run, which notebook). Raises StackLocked when the
    lock is no longer this holder's (someone released it with unlock)."""
    new = replace(held, **changed)
    stack = ctx.p.stack_name
    with _own_calls():
        seen = _still_mine(ctx, held.id)
        written = int(ctx.client("ssm").put_parameter(
            Name=held.name, Value=_dump(new), Type="String", Overwrite=True).get("Version") or 0)
        # SSM has no compare-and-swap; the versions show what happened in the milliseconds between the read
        # and this write, so that it is detected rather than silent. Still unseen: a release and another
        # run's take in that gap when the read was version 1 (the first note after the take); that run
        # learns it at its next check.
        if written == 1:   # it had been deleted: this write recreated it, without the stack's tags
            _delete(ctx, held.name)
            raise StackLocked(f"stack {stack!r}: this run's lock (id {held.id}) was released (python -m workbook "
                              f"unlock?) while this run noted its step. Stopping before any further change.")
        if written != seen + 1:
            raise StackLocked(f"stack {stack!r}: someone else wrote its lock while this run (lock id {held.id}) "
                              f"noted its step (version {written}, not {seen + 1}); another run may hold it now. "
                              f"Stopping before any further change.")
    return new


def _still_mine(ctx: Context, lock_id: str) -> int:
    """The lock's version, when it is still lock_id's; else StackLocked."""
    now, version = _read(ctx)
    if now is None:
        raise StackLocked(f"stack {ctx.p.stack_name!r}: this run's lock (id {lock_id}) is gone; someone released it "
                          f"(python -m workbook unlock?). Stopping before any further change.")
    if now.id != lock_id:
        raise StackLocked(now.refusal(ctx), now)
    return version


def unlock(ctx: Context, lock_id: str) -> Lock:
    """Release a stale lock, given its id (the one the refusal printed); any other id is refused."""
    now = read(ctx)
    if now is None:
        raise NoLock(f"stack {ctx.p.stack_name!r} holds no lock in {looked_in(ctx)}: nothing to release")
    if lock_id.strip() != now.id:
        raise WrongLockId(f"{lock_id.strip()!r} is not the id of the lock on stack {ctx.p.stack_name!r} (held by "
                          f"{now.holder()}); nothing was released. Give the lock id printed in the message that "
                          f"stopped you.")
    with _own_calls():
        # the read above comes after the command asked for the id; the delete is unconditional, as in
        # release: a lock given back and taken anew in the milliseconds since that read would go too
        _delete(ctx, now.name)
    return now


def census(ctx: Context, stack: str | None = None) -> tuple[str, str]:
    """(status, detail) of a stack's lock in a census: held by this very session, or left by someone."""
    now = read(ctx, stack)
    if now is None:
        return "leftover", ""
    h = ctx.lock
    if h is not None and now.id in (h.inherited, h.held.id if h.held else ""):
        return "held by this run", now.holder()
    return "leftover", f"held by {now.holder()}; {unlock_command(ctx, now.stack)}{account_note(ctx)}"


# ---- holding it around a change ---------------------------------------------------------------------
class Holder:
    """The lock as one session holds it: taken at the first changing call (a before-call hook on every
    client of the context), given back at the end of the change."""

    def __init__(self, ctx: Context, via: str):
        self.ctx = ctx
        self.via = via
        self.auto = False          # a notebook: every changing call takes it (end() at each cell's end)
        self.scopes: list[tuple[str, str]] = []   # open holding() blocks: (step, via)
        self.held: Lock | None = None
        self.inherited = ""        # the pipeline's lock id, checked once per change
        self._checked = False
        self._mutex = threading.RLock()
        ctx.on_call(self._before_call)

    def _before_call(self, model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        if getattr(_local, "busy", False) or not changes(model.name) or not (self.auto or self.scopes):
            return
        step, via = self.scopes[-1] if self.scopes else (self.ctx.step, self.via)
        call = (context or {}).get("workbook_call", (None,))[0]   # this call's line in the call log
        mark = self.ctx.calls.mark()
        try:
            self.take(step, via)
        except StackLocked:
            if call is not None:   # the call log shows the refused call as refused, not pending
                call.outcome = "StackLocked"
            raise
        finally:
            log = self.ctx.calls.calls
            if call is not None and len(log) > mark:
                # logged when its parameters were built, but it comes after the lock's calls: list it so
                at = next((i for i, c in enumerate(log) if c is call), None)
                if at is not None:
                    log.append(log.pop(at))

    def take(self, step: str, via: str | None = None) -> None:
        with self._mutex:
            if self.held is not None:
                return
            if self.inherited:
                if not self._checked:
                    with _own_calls():
                        _still_mine(self.ctx, self.inherited)
                    self._checked = True
                return
            self.held = acquire(self.ctx, step or "python", via=via or self.via)

    def give_back(self) -> Lock | None:
        """End the change now unless an outer block still holds it (a teardown gives it back last of all)."""
        return self.end() if len(self.scopes) <= 1 else None

    def end(self) -> Lock | None:
        """The change is over: give back what this session took (never the pipeline's lock)."""
        with self._mutex:
            held, self.held, self._checked = self.held, None, False
        if held is None:
            return None
        try:
            return held if release(self.ctx, held) else None
        except (ClientError, BotoCoreError) as e:
            print(f"warning: could not give back the lock on stack {held.stack!r} (id {held.id}): {e}. It will look "
                  f"held; once this run is over: {unlock_command(self.ctx, held.stack)}{account_note(self.ctx)}",
                  file=sys.stderr)
            return None


def _holder(ctx: Context, via: str) -> Holder:
    if ctx.lock is None:
        ctx.lock = Holder(ctx, via)
    return ctx.lock


def guard(ctx: Context, via: str = "notebook") -> Holder:
    """A notebook's session: every cell that changes something holds the lock from its first change to
    its end; under the pipeline (WORKBOOK_LOCK names this stack) the run's lock is used instead."""
    h = _holder(ctx, via)
    h.auto = True
    stack, _, lock_id = os.environ.get(ENV, "").partition("/")
    if lock_id and stack == ctx.p.stack_name:
        h.inherited = lock_id
    _end_with_each_cell(h)
    return h


_cell_end: Any = None


def _end_with_each_cell(h: Holder) -> None:
    global _cell_end
    ip = kernel.shell()
    if ip is None:
        return
    if _cell_end is not None:
        with contextlib.suppress(ValueError):
            ip.events.unregister("post_run_cell", _cell_end)

    def cell_ended(*_: Any) -> None:
        h.end()
    _cell_end = cell_ended
    ip.events.register("post_run_cell", cell_ended)


@contextlib.contextmanager
def holding(ctx: Context, step: str, via: str = "", *, eager: bool = False) -> Iterator[Holder]:
    """The lock for one change (a panel's action, a teardown): taken at its first changing call, so a plan
    takes none, or at once when `eager` (a teardown: nobody builds while it looks); given back when the
    outermost block ends (`give_back()` inside it to do it earlier). `via` says who acts (default: the
    enclosing block's, else the session's: a notebook, or "python")."""
    h = _holder(ctx, via or "python")
    via = via or (h.scopes[-1][1] if h.scopes else h.via)
    h.scopes.append((step, via))
    try:
        if eager and not ctx.dry_run:
            h.take(step, via)
        yield h
    finally:
        h.scopes.pop()
        if not h.scopes:
            h.end()
