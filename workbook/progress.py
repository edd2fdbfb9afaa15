"""Waiting on AWS with progress: botocore waiters, one attempt at a time, so a bar can move.

`wait_for` runs a documented botocore waiter (its acceptors decide success and failure) with
MaxAttempts=1 per round and the waiter's own delay between rounds, updating a tqdm bar (a widget in
JupyterLab, a text line headless) with the elapsed time and what it waits for. Listeners (the
workshop's step panel) hear every update too.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from botocore.exceptions import WaiterError
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

    def __init__(self, total: int, desc: str, **_: object) -> None:
        self.total, self.desc, self.n, self.t0 = total, desc, 0, time.monotonic()
        self.waited = 0

    def update(self, k: int) -> None:
        if self.n + k < self.total:
            self.waited += k   # a look that found it not ready yet
        self.n += k

    def __enter__(self) -> "_Line":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            print(f"{self.desc}: gave up after {self.waited + 1} looks, {time.monotonic() - self.t0:.1f} s")
        elif self.waited:
            print(f"{self.desc}: ready after {time.monotonic() - self.t0:.1f} s ({self.waited + 1} looks)")


class _LazyBar(_Line):
    """The workshop's bar: nothing while the first look finds it ready (the sandbox), a bar from the
    first look that finds it not ready, ending in the same words as headless ("ready after 12 s")."""

    def __init__(self, total: int, desc: str, **_: object) -> None:
        super().__init__(total, desc)
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
        took = time.monotonic() - self.t0
        what = self.desc.removeprefix("waiting for ")
        self.bar.set_description_str(f"{what}: gave up after {took:.0f} s" if exc[0] is not None else
                                     f"{what}: ready after {took:.0f} s")
        self.bar.bar_format = "{desc}"
        self.bar.close()


def _bar(total: int, desc: str):
    return _LazyBar(total, desc) if _bars else _Line(total, desc)


def add_listener(fn: Listener) -> None:
    _listeners.append(fn)


def remove_listener(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


def _tell(what: str, attempt: int, total: int, elapsed: float) -> None:
    for fn in list(_listeners):
        fn(what, attempt, total, elapsed)


def wait_for(client: Any, waiter_name: str, what: str, *, delay: int | None = None,
             max_attempts: int | None = None, sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> float:
    """Wait until the waiter succeeds; returns seconds waited. Raises WaiterError on failure/timeout.
    `sleep` takes the waiter's delay in AWS seconds (the target's clock: the sandbox barely sleeps)."""
    waiter = client.get_waiter(waiter_name)
    delay = waiter.config.delay if delay is None else delay
    total = waiter.config.max_attempts if max_attempts is None else max_attempts
    t0 = time.monotonic()
    with _bar(total, f"waiting for {what}") as bar:
        for attempt in range(1, total + 1):
            try:
                waiter.wait(WaiterConfig={"Delay": delay, "MaxAttempts": 1}, **kwargs)
            except WaiterError as e:
                # One attempt used up without success: a terminal failure state is re-raised at once.
                if "terminal failure state" in str(e) or attempt == total:
                    _tell(what, total, total, time.monotonic() - t0)
                    raise
                bar.update(1)
                _tell(what, attempt, total, time.monotonic() - t0)
                sleep(delay)
                continue
            bar.update(total - bar.n)
            _tell(what, total, total, time.monotonic() - t0)
            return time.monotonic() - t0
    raise AssertionError("unreachable")


def poll(check: Callable[[], bool], what: str, *, delay: float, max_attempts: int,
         sleep: Callable[[float], None] = time.sleep) -> float:
    """For waits botocore has no waiter for (ASG InService, VPC link): the same bar, our own loop."""
    t0 = time.monotonic()
    with _bar(max_attempts, f"waiting for {what}") as bar:
        for attempt in range(1, max_attempts + 1):
            if check():
                bar.update(max_attempts - bar.n)
                _tell(what, max_attempts, max_attempts, time.monotonic() - t0)
                return time.monotonic() - t0
            bar.update(1)
            _tell(what, attempt, max_attempts, time.monotonic() - t0)
            sleep(delay)
    raise TimeoutError(f"{what}: not ready after {max_attempts} checks {delay} s apart")
