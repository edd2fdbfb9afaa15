"""The rehearsal: the sandbox behaving like real AWS (its timings, its eventual consistency, its
refusals, its throttling), so that code which would fail on a real account fails here first.

Off unless asked for: `python -m workbook sandbox start --rehearse [--time-scale N] [--throttle SHARE]`
writes the switch into the sandbox's state folder, so every process that connects afterwards (each
kernel, the CLI) rehearses; `sandbox start` without it turns it off and nothing changes (the normal
sandbox stays instant).

How it works, like `corrections.py`: botocore event handlers on the sandbox's clients.
- "after" handlers rewrite moto's answers by the resource's timeline (a DB instance is `creating` for
  its AWS minutes, a NAT `pending`, a certificate `PENDING_VALIDATION` ...);
- "before" handlers answer or refuse in moto's place, as AWS would (a role too new to assume, a subnet
  whose NAT interface lingers, a retired engine version);
- throttling answers a share of HTTP requests with the service's own throttling error
  (rehearsal_throttle.py), so botocore's retry mode really retries.
The model lives in rehearsal_facts.py (the figures and their sources), rehearsal_states.py (durations
of the states users wait on: RDS, NAT, load balancers, instances, targets), rehearsal_groups.py (Auto
Scaling launches and drained terminations), rehearsal_edge.py (Route 53, ACM, API Gateway) and
rehearsal_consistency.py (IAM propagation, EC2 NotFound, lingering interfaces, CloudWatch delivery,
SNS e-mail, RDS engine versions from rds_engine_versions.yaml).

Time: a time scale maps AWS time to sandbox time while the workbook waits (default 60: one AWS minute
waited is one sandbox second). The clock (`RehearsalClock`) sleeps AWS seconds as scaled wall time, so
the workbook's waits, waiter delays and retry budgets are measured in AWS time. Everything else (a
call, a kernel starting, the probe's traffic, a reader in the workshop) takes as long on AWS as here,
so it counts once: AWS time is wall time since an origin kept in the state folder, plus what every
sleep on the clock added beyond its wall time (the `warp`, kept in the state folder too, so every
process agrees on it). A per-cell timeout in AWS time then means what it means on AWS, and the AWS
time a build takes here is the AWS time it would take there; each API call adds the round trip of a call
to AWS (`api_call` in rehearsal_facts.py), which the local sandbox does not have. Each resource's creation, change and
deletion times are kept in a timeline file in the state folder (JSON, written under an fcntl lock).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator

from ..connect import Clock, Context
from ..params import state_dir as default_state_dir

SETTINGS_FILE, TIMELINE_FILE, LOCK_FILE = "rehearsal.json", "rehearsal-timeline.json", "rehearsal.lock"
CLOCK_FILE = "rehearsal-clock.json"   # the warp: AWS seconds the clock's sleeps added beyond wall time
DEFAULT_SCALE = 60.0      # AWS seconds per sandbox second: one AWS minute is one sandbox second
# Gaps of seam.GAPS the model shows, so checks look at the account again instead of "not emulated".
MODELLED_GAPS = ("sns_email_confirmation", "dns_cache")   # dns_cache: its clock spends the TTL


@dataclass
class Settings:
    on: bool = False
    time_scale: float = DEFAULT_SCALE   # AWS seconds per wall second
    throttle: float = 0.0               # share of HTTP requests answered with a throttling error
    origin_wall: float = 0.0            # wall time (epoch s) at which AWS time was origin_aws
    origin_aws: float = 0.0
    seed: int = 1
    # Tests: AWS time moves only when someone sleeps on the clock, so nothing ages during a call.
    frozen: bool = False
    state_dir: str = field(default="", compare=False)   # where the timeline is; not persisted

    def aws_now(self, wall: float | None = None) -> float:
        """Wall time since the origin (what takes as long on AWS as here) plus the warp of every sleep."""
        return self.origin_aws + ((time.time() if wall is None else wall) - self.origin_wall) + warp(self.folder())

    def wall_seconds(self, aws_seconds: float) -> float:
        """How long `aws_seconds` of AWS time last in the sandbox (what a per-cell timeout should be)."""
        return aws_seconds / self.time_scale

    def folder(self) -> Path:
        return Path(self.state_dir) if self.state_dir else default_state_dir()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("state_dir")
        return d


def _folder(state_dir: str | Path | None) -> Path:
    return Path(state_dir) if state_dir else default_state_dir()


_warps: dict[Path, tuple[tuple[int, int, int], float]] = {}


def warp(folder: Path) -> float:
    """AWS seconds the clock's sleeps added beyond their wall time, in every process so far (read
    again only when the file changed)."""
    path = folder / CLOCK_FILE
    try:
        st = path.stat()
    except OSError:
        return 0.0
    ident = (st.st_ino, st.st_mtime_ns, st.st_size)
    seen = _warps.get(folder)
    if seen is None or seen[0] != ident:
        try:
            value = float(json.loads(path.read_text()).get("warp", 0.0))
        except (OSError, ValueError, AttributeError):
            value = seen[1] if seen else 0.0
        _warps[folder] = seen = (ident, value)
    return seen[1]


def add_warp(folder: Path, seconds: float) -> None:
    with _locked(folder):
        _warps.pop(folder, None)
        _write_json(folder / CLOCK_FILE, {"warp": round(warp(folder) + seconds, 6)})


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)   # readers never see half a file, so they read without the lock


def _read_settings(folder: Path) -> Settings:
    try:
        raw = json.loads((folder / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return Settings(state_dir=str(folder))
    known = {f.name for f in fields(Settings)} - {"state_dir"}
    return Settings(**{k: v for k, v in raw.items() if k in known}, state_dir=str(folder))


def load(state_dir: str | Path | None = None) -> Settings | None:
    """The rehearsal settings if the rehearsal is on, else None."""
    s = _read_settings(_folder(state_dir))
    return s if s.on else None


def switch(on: bool, *, time_scale: float | None = None, throttle: float | None = None,
           state_dir: str | Path | None = None) -> Settings:
    """Turn the rehearsal on or off for every process that connects from now on. AWS time stays
    continuous across a change of scale (resources keep their progress)."""
    if time_scale is not None and not time_scale > 0:
        raise ValueError(f"time scale must be > 0 AWS seconds per sandbox second, not {time_scale}")
    if throttle is not None and not 0 <= throttle < 1:
        raise ValueError(f"throttle is a share of calls between 0 and 1 (0.1 = 10 %), not {throttle}")
    folder = _folder(state_dir)
    with _locked(folder):
        s = _read_settings(folder)
        if not s.origin_wall:   # AWS time does not depend on the scale: a new scale changes only the sleeps
            s.origin_wall, s.origin_aws = time.time(), 0.0
        s.on = on
        if time_scale is not None:
            s.time_scale = float(time_scale)
        if throttle is not None:
            s.throttle = float(throttle)
        _write_json(folder / SETTINGS_FILE, s.to_dict())
    return s


def forget(state_dir: str | Path | None = None) -> None:
    """A reset sandbox holds nothing: its timeline goes too (the switch stays as it was)."""
    folder = _folder(state_dir)
    with _locked(folder):
        (folder / TIMELINE_FILE).unlink(missing_ok=True)


def describe(state_dir: str | Path | None = None) -> dict[str, Any]:
    """For `sandbox status`: whether it rehearses, at which scale and throttle, and AWS time now."""
    s = _read_settings(_folder(state_dir))
    if not s.on:
        return {"on": False}
    return {"on": True, "time_scale": s.time_scale, "throttle": s.throttle,
            "aws_minutes_per_sandbox_second": round(s.time_scale / 60, 3), "aws_now_s": round(s.aws_now(), 1)}


def figures(state_dir: str | Path | None = None) -> dict[str, Any]:
    """What the pipeline reports: AWS time now, every phase (resource, state, start, end, why, by which
    notebook) and the AWS seconds each notebook waited on the clock."""
    folder = _folder(state_dir)
    s, data = _read_settings(folder), Timeline(folder).read()
    from .rehearsal_facts import FACTS
    return {"rehearse": describe(folder), "aws_now_s": round(s.aws_now(), 1) if s.on else None,
            "call_s": FACTS["api_call"].low, "phases": Timeline(folder).frame(),
            "waits": {k.split(":", 1)[1]: v for k, v in data.items() if k.startswith("waits:")}}


# ---- the clock -------------------------------------------------------------------------------------
class RehearsalClock(Clock):
    """AWS time, scaled while waiting: `sleep(aws_seconds)` sleeps aws_seconds / time_scale of wall time
    and moves AWS time by aws_seconds; `now()` is AWS seconds since the sandbox's origin (shared by
    every process), in which all that is not a sleep on the clock counts at its wall time."""

    def __init__(self, settings: Settings, timeline: "Timeline | None" = None) -> None:
        self.settings = settings
        self.scale = 1.0 / settings.time_scale     # wall seconds per AWS second, as Clock defines it
        self._virtual = settings.origin_aws
        self.slept = 0.0                            # AWS seconds this process waited on the clock
        self.timeline = timeline                    # where waits are added up, per notebook/step

    def sleep(self, aws_seconds: float) -> None:
        if aws_seconds <= 0:
            return
        start = self.now()
        t0 = time.monotonic()
        time.sleep(self.settings.wall_seconds(aws_seconds))
        self.slept += aws_seconds
        if self.settings.frozen:
            self._virtual += aws_seconds
        else:   # the sleep's wall time already counts once: add the rest, for every process to see
            add_warp(self.settings.folder(), aws_seconds - (time.monotonic() - t0))
        if self.timeline is not None:
            self.timeline.waited(start, aws_seconds)

    def now(self) -> float:
        return self._virtual if self.settings.frozen else self.settings.aws_now()

    def stamp(self) -> float:
        return self.now()   # AWS time since the sandbox's origin: every process shares it


# ---- the timeline ----------------------------------------------------------------------------------
class Timeline:
    """Each resource's phases in AWS time, shared by every process through one JSON file.

    An entry is {"phases": [{"state", "start", "end", "why"}], ...fields}: while a phase runs, the
    resource is in its state (moto's answer is rewritten); after the last one ends, moto's answer
    stands. Reads are cached by the file's identity; writes take the lock and replace the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / TIMELINE_FILE
        self._seen: tuple[int, int, int] | None = None
        self._data: dict[str, dict[str, Any]] = {}
        self.actor = ""     # the notebook/step whose calls start phases and whose code waits

    def read(self) -> dict[str, dict[str, Any]]:
        try:
            st = self.path.stat()
        except OSError:
            self._seen, self._data = None, {}
            return self._data
        ident = (st.st_ino, st.st_mtime_ns, st.st_size)
        if ident != self._seen:
            try:
                self._data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self._data = {}
            self._seen = ident
        return self._data

    def get(self, key: str) -> dict[str, Any]:
        return self.read().get(key, {})

    def items(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.read().items() if k.startswith(prefix)}

    @contextlib.contextmanager
    def change(self) -> Iterator[dict[str, dict[str, Any]]]:
        with _locked(self.folder):
            self._seen = None
            data = dict(self.read())
            yield data
            _write_json(self.path, data)
            self._seen, self._data = None, data

    def put(self, key: str, **values: Any) -> None:
        with self.change() as data:
            data[key] = {**data.get(key, {}), **values}

    def begin(self, key: str, state: str, start: float, seconds: float, why: str, *, reset: bool = False,
              **values: Any) -> float:
        """Start a phase of `key` (after the ones it has); returns its end. `reset`: a new resource
        under a used name (an identifier created again after a delete) starts a new history."""
        with self.change() as data:
            entry = {} if reset else dict(data.get(key, {}))
            end = start + max(0.0, seconds)
            phases = list(entry.get("phases", []))
            # exact: a start rounded up lies in the future of a check made right after it (no phase yet)
            phases.append({"state": state, "start": start, "end": end, "why": why, "by": self.actor})
            entry.update(values, phases=phases)
            data[key] = entry
            return end

    def ends(self, key: str) -> float:
        """When the last phase of `key` ends (0 if it has none)."""
        return max((ph["end"] for ph in self.get(key).get("phases", [])), default=0.0)

    def waited(self, start: float, seconds: float) -> None:
        """Add a wait on the clock to the actor's total (AWS seconds, first and last moment)."""
        with self.change() as data:
            w = dict(data.get(f"waits:{self.actor}", {"seconds": 0.0, "first": round(start, 3)}))
            w["seconds"] = round(w["seconds"] + seconds, 3)
            w["last"] = round(start + seconds, 3)
            data[f"waits:{self.actor}"] = w

    def state(self, key: str, at: float) -> str | None:
        """The state of the phase running at `at` (the latest begun), or None: moto's answer stands."""
        for ph in reversed(self.get(key).get("phases", [])):
            if ph["start"] <= at < ph["end"]:
                return ph["state"]
        return None

    def frame(self) -> list[dict[str, Any]]:
        """Every phase of every resource: what the build's AWS waits were made of (for the pipeline's
        projected AWS time and critical path)."""
        rows = []
        for key, entry in self.read().items():
            for ph in entry.get("phases", []):
                rows.append({"resource": key, **ph, "minutes": round((ph["end"] - ph["start"]) / 60, 2)})
        return sorted(rows, key=lambda r: (r["start"], r["resource"]))


# ---- behaviours and their installation ---------------------------------------------------------------
@dataclass(frozen=True)
class Behaviour:
    service: str
    operation: str
    when: str              # "after": rewrite the answer; "before": answer or refuse in moto's place
    fn: Callable[..., Any]


BEHAVIOURS: list[Behaviour] = []


def model(service: str, operation: str, *, when: str = "after") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register one behaviour: after(rh, ctx, params, parsed) or before(rh, ctx, params) -> answer
    dict | Refusal | None."""
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        BEHAVIOURS.append(Behaviour(service, operation, when, fn))
        return fn
    return wrap


@dataclass
class Refusal:
    """An error answer as the service gives it (code, message, HTTP status)."""
    code: str
    message: str
    status: int = 400


class _Http:
    """The HTTP side of an answer given in moto's place."""

    def __init__(self, status: int = 200) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}


class Rehearsal:
    """What a rehearsing SandboxTarget carries: settings, the clock, the timeline, a seeded RNG."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeline = Timeline(settings.folder())
        self.clock = RehearsalClock(settings, self.timeline)
        self.rng = random.Random(f"{settings.seed}:{os.getpid()}")
        self.pending: dict[Any, Any] = {}   # what a "before" handler saw, for its "after" handler
        self.cache: dict[Any, Any] = {}     # per-process lookups (a target group's interval ...)

    def now(self) -> float:
        return self.clock.now()


def note(ctx: Context, text: str) -> None:
    """Said once per session, labelled sandbox-only: what the rehearsal did in AWS's place."""
    ctx.say(f"rehearsing AWS: {text}")


def jsonable(obj: Any) -> Any:
    """A description as the timeline can keep it (timestamps dropped: they would come back as text)."""
    import datetime as _dt
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()
                if k != "ResponseMetadata" and not isinstance(v, (_dt.datetime, _dt.date))}
    if isinstance(obj, list):
        return [jsonable(v) for v in obj]
    return obj


def active(phase_or_gone: dict[str, Any] | None, at: float) -> bool:
    return bool(phase_or_gone) and phase_or_gone["start"] <= at < phase_or_gone["end"]


def _load_model() -> None:
    # Importing them registers their behaviours (once).
    from . import rehearsal_consistency, rehearsal_edge, rehearsal_groups, rehearsal_states  # noqa: F401


def install(client: Any, ctx: Context, rh: Rehearsal) -> None:
    """Hook one client of a rehearsing sandbox: the behaviours of its service, throttling, and
    botocore's retry backoff slept on the rehearsal clock (it is AWS time too)."""
    from . import rehearsal_throttle
    _load_model()
    service = client.meta.service_model.service_name
    sid = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events
    rh.timeline.actor = rh.timeline.actor or ctx.step or ""

    def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["rehearsal_params"] = dict(params)
    events.register(f"before-parameter-build.{sid}", stash)

    if not rh.settings.frozen:   # each call takes as long as one to AWS (the sandbox answers in milliseconds)
        from .rehearsal_facts import FACTS
        call_s, folder = FACTS["api_call"].low, rh.settings.folder()

        def took(**_: Any) -> None:
            add_warp(folder, call_s)
        events.register(f"after-call.{sid}", took)
        events.register(f"after-call-error.{sid}", took)

    for b in (b for b in BEHAVIOURS if b.service == service):
        if b.when == "after":
            def after(parsed: Any, context: dict[str, Any], http_response: Any = None, _b: Behaviour = b,
                      **_: Any) -> None:
                if http_response is not None and http_response.status_code >= 300:
                    return
                _b.fn(rh, ctx, context.get("rehearsal_params", {}), parsed)
            events.register(f"after-call.{sid}.{b.operation}", after)
        else:
            def before(context: dict[str, Any], _b: Behaviour = b, **_: Any) -> Any:
                answer = _b.fn(rh, ctx, context.get("rehearsal_params", {}))
                if answer is None:
                    return None
                if isinstance(answer, Refusal):
                    return _Http(answer.status), {"Error": {"Code": answer.code, "Message": answer.message},
                                                  "ResponseMetadata": {"HTTPStatusCode": answer.status}}
                return _Http(), answer
            events.register(f"before-call.{sid}.{b.operation}", before)
    rehearsal_throttle.install(client, ctx, rh)
