"""Waiting on AWS with progress: botocore waiters, one attempt at a time, so a bar can move.

`wait_for` runs a documented botocore waiter (its acceptors decide success and failure) with
MaxAttempts=1 per round and the waiter's own delay between rounds, updating a tqdm bar (a widget in
JupyterLab, a text line headless) with the elapsed time and what it waits for. Listeners (the
workshop's step panel) hear every update too.

Budgets: every wait is also bounded by the time left in the cell that runs it, in AWS time on the
target's clock (`cell_budget`, set by `nb.start` before each cell from the pipeline's per-cell
timeout). A wait that would outlast its cell ends cleanly with `StillWaiting` before the cell's
timeout kills it: what it waits for goes on in AWS, and the next wait on it (a later cell, notebook
or a rerun, which finds the resource by its tag) picks it up from the state AWS reports. Nothing is
started over or created again. Without a cell budget (a unit test, a script) only the waiter's own
attempts bound a wait.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client
from tqdm.auto import tqdm as auto_tqdm

Listener = Callable[[str, int, int, float], None]  # what, attempt, max_attempts, elapsed seconds
_listeners: list[Listener] = []
# Headless runs (papermill, CI logs, the report) get one line per wait instead of a bar: a saved
# widget bar would show its first state forever. nb.start switches bars on for the workshop.
_bars = False


def use_bars(on: bool) -> None:
    global _bars
    _bars = on


class _Line:
    """Stands in for a bar headless: silent while waiting, one line when it had to wait (what was
    ready at the first look needs no line)."""

    def __init__(self, total: int, desc: str, clock: Any = None, **_: object) -> None:
        self.total, self.desc, self.n, self.t0 = total, desc, 0, time.monotonic()
        self.waited = 0
        self.clock = clock if clock is not None and getattr(clock, "scale", 0) else None
        self.c0 = self.clock.now() if self.clock else 0.0

    def _took(self) -> str:
        """AWS time on a clock that keeps it (a rehearsal, a real account), else wall time."""
        if self.clock is not None:
            s = self.clock.now() - self.c0
            return f"{s / 60:.1f} min" if s >= 120 else f"{s:.1f} s"
        return f"{time.monotonic() - self.t0:.1f} s"

    def update(self, k: int) -> None:
        if self.n + k < self.total:
            self.waited += k   # a look that found it not ready yet
        self.n += k

    def __enter__(self) -> "_Line":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and not issubclass(exc[0], StillWaiting):   # that one says it itself
            print(f"{self.desc}: gave up after {self.waited + 1} looks, {self._took()}")
        elif exc[0] is None and self.waited:
            print(f"{self.desc}: ready after {self._took()} ({self.waited + 1} looks)")


class _LazyBar(_Line):
    """The workshop's bar: nothing while the first look finds it ready (the sandbox), a bar from the
    first look that finds it not ready, ending in the same words as headless ("ready after 12 s")."""

    def __init__(self, total: int, desc: str, clock: Any = None, **_: object) -> None:
        super().__init__(total, desc, clock)
        self.bar = None

    def update(self, k: int) -> None:
        super().update(k)
        if self.waited and self.bar is None:
            self.bar = auto_tqdm(total=self.total, desc=self.desc, bar_format="{desc}: {elapsed} so far")
        if self.bar is not None:
            self.bar.update(min(k, self.total - self.bar.n))

    def __exit__(self, *exc: object) -> None:
        if self.bar is None:
            return
        what = self.desc.removeprefix("waiting for ")
        if exc[0] is not None and issubclass(exc[0], StillWaiting):
            self.bar.set_description_str(f"{what}: still on its way after {self._took()}")
        else:
            self.bar.set_description_str(f"{what}: gave up after {self._took()}" if exc[0] is not None else
                                         f"{what}: ready after {self._took()}")
        self.bar.bar_format = "{desc}"
        self.bar.close()


def _bar(total: int, desc: str, clock: Any = None):
    return _LazyBar(total, desc, clock) if _bars else _Line(total, desc, clock)


def add_listener(fn: Listener) -> None:
    _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def _tell(what: str, attempt: int, total: int, elapsed: float) -> None:
    for fn in list(_listeners):
        fn(what, attempt, total, elapsed)


def _pause(sleep: Callable[[float], None], pause: float, clock: Any, what: str, attempt: int, total: int,
           w0: float) -> None:
    """Sleep a wait's pause. A listener with a `due` (AWS seconds on the clock) is called when due, not only
    when this wait looks: what goes on beside a wait that looks every few minutes (03's restore drill
    beside 05's certificate) keeps its own cadence. Where the clock keeps no AWS time, one sleep."""
    while pause > 0:
        dues = [fn.due for fn in _listeners if getattr(fn, "due", None) is not None]
        if not dues or clock is None or not getattr(clock, "scale", 0):
            sleep(pause)
            return
        step = min(pause, max(min(dues) - clock.now(), 1.0))
        sleep(step)
        pause -= step
        now = clock.now()
        for fn in [fn for fn in _listeners if getattr(fn, "due", None) is not None and fn.due <= now]:
            fn(what, attempt, total, time.monotonic() - w0)


def pause(clock: Any, aws_seconds: float, what: str) -> None:
    """A wait's pause outside wait_for and poll (CloudWatch's delivery): listeners stay on their cadence."""
    _pause(clock.sleep, aws_seconds, clock, what, 0, 0, time.monotonic())


# ---- budgets: the time a wait may take, in AWS time ---------------------------------------------------
# What the waits usually take on AWS (AWS documentation and botocore waiters, gathered 2026-11), said when a wait ends before them.
TYPICAL: dict[str, str] = {
    "db_instance_available": "5-10 min single-AZ, 15-20 min Multi-AZ, 10-20 min restored from a snapshot",
    "db_instance_deleted": "5-10 min with a final snapshot",
    "db_snapshot_available": "2-5 min for a small database",
    "nat_gateway_available": "1.5-2 min, up to 10",
    "nat_gateway_deleted": "about 1 min",
    "load_balancer_available": "2-3 min, up to 30",
    "certificate_validated": "2-30 min after its validation record exists, sometimes over an hour",
    "instance_running": "about 30 s",
    "target_in_service": "one passing health check (30 s apart by default)",
    "resource_record_sets_changed": "within 60 s",
}
CELL_MARGIN = 0.1   # share of a cell's timeout kept for the work after its waits


class StillWaiting(TimeoutError):
    """A wait used up its cell's budget while what it waits for is still on its way. Not a failure of
    the resource: it goes on in AWS, and the next wait on it resumes from the state AWS reports."""

    def __init__(self, what: str, waited_s: float, typical: str = "", then: str = "") -> None:
        self.what, self.waited_s, self.typical = what, waited_s, typical
        self.then = then or "the next cell that needs it waits for it again, or a rerun of this notebook does"
        super().__init__(self.text())

    def text(self) -> str:
        usual = f" (on AWS it takes {self.typical})" if self.typical else ""
        return (f"{self.what}: still not ready after {self.waited_s / 60:.1f} min of waiting in this cell{usual}; "
                f"it goes on in AWS: {self.then}")


class _Budget:
    clock: Any = None
    ends: float | None = None    # AWS time on `clock` when the current cell's waits must have ended
    seconds: float | None = None


_budget = _Budget()


def cell_budget(clock: Any, timeout_s: float | None) -> None:
    """A cell starts now and may last `timeout_s` AWS seconds (None: no bound); its waits end
    CELL_MARGIN of that before, so the cell finishes on its own."""
    _budget.clock = clock
    _budget.seconds = timeout_s
    _budget.ends = None if not timeout_s else clock.now() + timeout_s * (1 - CELL_MARGIN)


@contextmanager
def budget(clock: Any, seconds: float | None) -> Iterator[None]:
    """Waits inside have at most `seconds` of AWS time on `clock` (nested budgets: the tighter wins)."""
    saved = (_budget.clock, _budget.ends, _budget.seconds)
    ends = None if seconds is None else clock.now() + seconds
    if saved[1] is not None and saved[0] is clock and (ends is None or saved[1] < ends):
        ends = saved[1]
    _budget.clock, _budget.ends, _budget.seconds = clock, ends, seconds
    try:
        yield
    finally:
        _budget.clock, _budget.ends, _budget.seconds = saved


def remaining() -> float | None:
    """AWS seconds left for waiting in this cell (None: no bound)."""
    if _budget.ends is None or _budget.clock is None:
        return None
    return _budget.ends - _budget.clock.now()


def _clock_of(sleep: Callable[[float], None], clock: Any) -> Any:
    """The clock a wait measures its AWS time on: the one given, the one whose sleep it uses, or the
    cell budget's."""
    owner = getattr(sleep, "__self__", None)
    return clock or (owner if callable(getattr(owner, "now", None)) and owner is not time else None) or _budget.clock


def _elapsed(clock: Any, t0: float, w0: float) -> float:
    """AWS seconds since (t0 on the clock, w0 wall): a clock that does not keep AWS time (the plain
    sandbox answers at once) measures wall time."""
    if clock is not None and getattr(clock, "scale", 0):
        return clock.now() - t0
    return time.monotonic() - w0


def _check_budget(what: str, delay: float, clock: Any, t0: float, w0: float, typical: str, then: str) -> None:
    left = remaining()
    if left is not None and left < delay:
        raise StillWaiting(what, _elapsed(clock, t0, w0), typical, then)


def started(what: str, typical: str, where: str) -> None:
    """Said when a long create is sent and not waited for: how long it takes on AWS, and who waits."""
    print(f"{what} started: on AWS it takes {typical}. Go on: nothing waits for it until {where}.")


def ended_early(fn: Callable[[], Any], then: str = "") -> bool:
    """Run a wait; True when it ended with what it waited for. When it runs out of its cell's budget,
    print why and what happens next and return False instead of failing the cell (a wait unit's
    result is read again where it is needed)."""
    try:
        fn()
        return True
    except StillWaiting as e:
        if then:
            e.then = then
        print(e.text())
        return False


def _waiter(client: Any, waiter_name: str, acceptors: Iterable[dict[str, Any]]) -> Any:
    """botocore's waiter, with `acceptors` tried before its own (same format as botocore's waiter models)."""
    waiter = client.get_waiter(waiter_name)
    if not acceptors:
        return waiter
    c = waiter.config
    own = [{"state": a.state, "matcher": a.matcher, "expected": a.expected,
            **({"argument": a.argument} if a.argument is not None else {})} for a in c.acceptors]
    config = {"operation": c.operation, "delay": c.delay, "maxAttempts": c.max_attempts,
              "acceptors": [*acceptors, *own]}
    return create_waiter_with_client(waiter.name, WaiterModel({"version": 2, "waiters": {waiter.name: config}}),
                                     client)


def wait_for(client: Any, waiter_name: str, what: str, *, delay: int | None = None,
             max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep, clock: Any = None,
             then: str = "", acceptors: Iterable[dict[str, Any]] = (), **kwargs: Any) -> float:
    """Wait until the waiter succeeds; returns seconds waited. Raises WaiterError on failure/timeout,
    StillWaiting when the cell's budget ends first. `sleep` takes the waiter's delay in AWS seconds
    (the target's clock: the sandbox barely sleeps); `then` says who picks the wait up; `acceptors` go
    before the waiter's own (states it does not know)."""
    waiter = _waiter(client, waiter_name, tuple(acceptors))
    delay = waiter.config.delay if delay is None else delay
    total = waiter.config.max_attempts if max_attempts is None else max_attempts
    # The first looks come sooner (2 s, doubling up to the waiter's delay): a resource just created is
    # often ready, or NotFound for a couple of seconds only (EC2's eventual consistency).
    early = [d for d in (2, 4, 8) if d < delay]
    clock = _clock_of(sleep, clock)
    sleep = clock.sleep if clock is not None and sleep is time.sleep else sleep
    t0, w0 = (clock.now() if clock is not None else 0.0), time.monotonic()
    with _bar(total, f"waiting for {what}", clock) as bar:
        for attempt in range(1, total + 1):
            try:
                waiter.wait(WaiterConfig={"Delay": delay, "MaxAttempts": 1}, **kwargs)
            except WaiterError as e:
                # One attempt used up without success: a terminal failure state is re-raised at once.
                if "terminal failure state" in str(e) or attempt == total:
                    _tell(what, total, total, time.monotonic() - w0)
                    raise
                bar.update(1)
                _tell(what, attempt, total, time.monotonic() - w0)
                # after the early looks, every `delay` from the wait's start (the waiter's own cadence), where
                # the clock keeps AWS time; the plain sandbox keeps none (its wall clock is no AWS time)
                pause = early[attempt - 1] if attempt <= len(early) else delay if (
                    delay <= 0 or (clock is not None and not getattr(clock, "scale", 0))) else \
                    (delay - _elapsed(clock, t0, w0) % delay) or delay
                _check_budget(what, pause, clock, t0, w0, TYPICAL.get(waiter_name, ""), then)
                _pause(sleep, pause, clock, what, attempt, total, w0)
                continue
            bar.update(total - bar.n)
            _tell(what, total, total, time.monotonic() - w0)
            return _elapsed(clock, t0, w0)
    raise AssertionError("unreachable")


def poll(check: Callable[[], bool], what: str, *, delay: float, max_attempts: int,
         sleep: Callable[[float], None] = time.sleep, clock: Any = None, typical: str = "",
         then: str = "") -> float:
    """For waits botocore has no waiter for (ASG InService, VPC link): the same bar, our own loop,
    bounded by the cell's budget like wait_for."""
    clock = _clock_of(sleep, clock)
    sleep = clock.sleep if clock is not None and sleep is time.sleep else sleep
    t0, w0 = (clock.now() if clock is not None else 0.0), time.monotonic()
    with _bar(max_attempts, f"waiting for {what}", clock) as bar:
        for attempt in range(1, max_attempts + 1):
            if check():
                bar.update(max_attempts - bar.n)
                _tell(what, max_attempts, max_attempts, time.monotonic() - w0)
                return _elapsed(clock, t0, w0)
            bar.update(1)
            _tell(what, attempt, max_attempts, time.monotonic() - w0)
            if attempt < max_attempts:
                _check_budget(what, delay, clock, t0, w0, typical, then)
                _pause(sleep, delay, clock, what, attempt, max_attempts, w0)
    raise TimeoutError(f"{what}: not ready after {max_attempts} checks {delay} s apart")
