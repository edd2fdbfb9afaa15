"""Client-side evidence: a steady, open-loop request rate at an endpoint, with an optional fault.

Open loop means request i is due at start + i/rate whether or not earlier ones have answered, and
its latency counts from when it was due: a stalled server shows up as latency and errors instead of
silently slowing the probe down (closed-loop tools hide exactly the outage we want to see).

Why not a load tool: Locust is closed-loop (users with wait times) and monkey-patches the process
with gevent, which a Jupyter kernel does not survive well; vegeta, k6 and wrk are not Python and
give per-request data only through files. A thread pool and http.client give every request's
due time, latency, status and answering instance in ~100 lines.

The per-second aggregates go to CloudWatch (namespace Workbook/Probe, dimensions Phase and
Endpoint); the raw frame stays with the caller, and percentiles are computed from it in pandas.
"""
from __future__ import annotations

import http.client
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import pandas as pd

from .connect import Context
from .dataplane import FaultRefused
from .params import FAULTS, ParameterError

NAMESPACE = "Workbook/Probe"
COLUMNS = ["seq", "due_s", "sent_at", "latency_ms", "status", "ok", "error", "instance", "path", "phase", "endpoint"]


@dataclass
class ProbeRun:
    frame: pd.DataFrame
    url: str
    phase: str
    endpoint: str
    rate: int
    seconds: float
    started: float
    fault: str = "none"
    fault_info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return summarize(self.frame, self.seconds, self.fault_info.get("at", 0) - self.started
                         if self.fault_info.get("at") else None)


def _one(url: str, path: str, method: str, body: bytes | None, timeout: float) -> tuple[int, str, str]:
    u = urlsplit(url)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    try:
        conn = conn_cls(u.hostname, u.port, timeout=timeout)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        resp.read()
        instance = resp.getheader("X-Instance-Id", "")
        conn.close()
        return resp.status, "", instance
    except (OSError, http.client.HTTPException) as e:
        return 0, type(e).__name__, ""


def default_paths(max_item_id: int, write_ratio: float = 0.0) -> Callable[[random.Random], tuple[str, str, bytes | None]]:
    """The request mix: mostly single-item reads, some list pages, optionally writes."""
    def pick(rng: random.Random) -> tuple[str, str, bytes | None]:
        x = rng.random()
        if x < write_ratio:
            return "POST", "/items", b'{"name": "probe", "price_cents": 1}'
        if x < write_ratio + 0.1:
            return "GET", f"/items?limit=20&after_id={rng.randint(0, max_item_id)}", None
        return "GET", f"/items/{rng.randint(1, max_item_id)}", None
    return pick


def run(url: str, rate: int, seconds: float, *, phase: str = "", endpoint: str = "",
        paths: Callable[[random.Random], tuple[str, str, bytes | None]] | None = None,
        fault: Callable[[], dict[str, Any]] | None = None, fault_name: str = "none", fault_at_s: float | None = None,
        timeout: float = 2.0, max_workers: int = 64, seed: int = 1) -> ProbeRun:
    """Send rate x seconds requests, evenly spaced; call `fault` once at fault_at_s (default: a third
    of the way in). Bounded: at most rate*seconds requests, each with `timeout`."""
    if rate < 1 or seconds <= 0:
        raise ParameterError({"probe_rate": "at least 1 request per second", "probe_seconds": "more than 0"})
    paths = paths or default_paths(100)
    rng = random.Random(seed)
    total = int(rate * seconds)
    rows: list[dict[str, Any]] = [{}] * total
    fault_info: dict[str, Any] = {}
    fault_at_s = seconds / 3 if fault_at_s is None else fault_at_s

    def send(i: int, due: float, method: str, path: str, body: bytes | None) -> None:
        sent = time.perf_counter()
        status, error, instance = _one(url, path, method, body, timeout)
        done = time.perf_counter()
        rows[i] = {"seq": i, "due_s": round(due - t0, 4), "sent_at": started + (sent - t0),
                   "latency_ms": (done - due) * 1000.0, "status": status,
                   # ok: the service answered the request (4xx is the client's problem, e.g. 404)
                   "ok": 0 < status < 500, "error": error or (f"HTTP {status}" if status >= 500 else ""),
                   "instance": instance, "path": path.split("?")[0].rstrip("0123456789"), "phase": phase,
                   "endpoint": endpoint}

    def run_fault() -> None:
        at = time.time()
        try:
            fault_info.update(fault() or {})
        except Exception as e:  # the probe still reports what it saw
            fault_info["error"] = f"{type(e).__name__}: {e}"
        # The fault happened when it was injected, not when the call that injected it returned
        # (stopping a database waits for it to be gone).
        fault_info["at"], fault_info["took_s"] = at, round(time.time() - at, 3)

    started = time.time()
    t0 = time.perf_counter()
    fault_thread = None
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for i in range(total):
            due = t0 + i / rate
            if fault and fault_thread is None and due - t0 >= fault_at_s:
                fault_thread = threading.Thread(target=run_fault, daemon=True)
                fault_thread.start()
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i, due, *paths(rng))
    if fault_thread is not None:
        fault_thread.join(timeout=30)
    df = pd.DataFrame([r for r in rows if r], columns=COLUMNS)
    df["at"] = pd.to_datetime(df["sent_at"], unit="s", utc=True)
    return ProbeRun(df, url, phase, endpoint, rate, seconds, started, fault_name, fault_info)


def summarize(df: pd.DataFrame, seconds: float, fault_at_s: float | None = None) -> dict[str, Any]:
    """Latency percentiles (served requests, from their due time), error rate, availability, throughput.
    Availability is the share of seconds in which at least 95% of requests succeeded; `after_fault`
    figures cover the requests due after the fault."""
    if df.empty:
        return {"requests": 0}
    # Latency of the requests that were served; failures are counted as errors, not as (often very
    # short: connection refused) latencies.
    lat = df.loc[df["ok"], "latency_ms"] if df["ok"].any() else df["latency_ms"]
    per_s = df.assign(sec=df["due_s"].astype(int)).groupby("sec")["ok"].mean()
    out = {"requests": len(df), "ok": int(df["ok"].sum()), "errors": int((~df["ok"]).sum()),
           "error_rate": float((~df["ok"]).mean()), "availability": float((per_s >= 0.95).mean()),
           "p50_ms": float(lat.quantile(0.50)), "p95_ms": float(lat.quantile(0.95)),
           "p99_ms": float(lat.quantile(0.99)), "throughput_rps": float(df["ok"].sum() / seconds)}
    if fault_at_s is not None:
        after = df[df["due_s"] >= fault_at_s]
        out["error_rate_after_fault"] = float((~after["ok"]).mean()) if len(after) else float("nan")
        # How long the service failed requests after the fault: from the fault to the last failure.
        bad = after[~after["ok"]]
        out["disruption_s"] = float(bad["due_s"].max() - fault_at_s) if len(bad) else 0.0
        tail = df[df["due_s"] >= seconds - 1.0]
        out["ok_in_last_second"] = float(tail["ok"].mean()) if len(tail) else float("nan")
    return out


def per_second(df: pd.DataFrame) -> pd.DataFrame:
    """One row per second: requests, errors, latency stats (what is published to CloudWatch)."""
    g = df.assign(second=df["at"].dt.floor("s")).groupby("second")
    return pd.DataFrame({"requests": g.size(), "errors": g["ok"].apply(lambda s: int((~s).sum())),
                         "latency_count": g["latency_ms"].count(), "latency_sum": g["latency_ms"].sum(),
                         "latency_min": g["latency_ms"].min(), "latency_max": g["latency_ms"].max()}).reset_index()


def publish(ctx: Context, run_: ProbeRun) -> int:
    """Per-second aggregates to CloudWatch, high resolution, in as few put_metric_data calls as
    the 1,000-datum limit allows. Returns the number of calls."""
    dims = [{"Name": "Phase", "Value": run_.phase or "-"}, {"Name": "Endpoint", "Value": run_.endpoint or "-"}]
    datums: list[dict[str, Any]] = []
    for r in per_second(run_.frame).itertuples():
        ts = r.second.to_pydatetime().astimezone(timezone.utc)
        base = {"Dimensions": dims, "Timestamp": ts, "StorageResolution": 1}
        datums += [{**base, "MetricName": "Requests", "Value": float(r.requests), "Unit": "Count"},
                   {**base, "MetricName": "Errors", "Value": float(r.errors), "Unit": "Count"},
                   {**base, "MetricName": "Latency", "Unit": "Milliseconds",
                    "StatisticValues": {"SampleCount": float(r.latency_count), "Sum": float(r.latency_sum),
                                        "Minimum": float(r.latency_min), "Maximum": float(r.latency_max)}}]
    cw = ctx.client("cloudwatch")
    calls = 0
    for i in range(0, len(datums), 1000):
        cw.put_metric_data(Namespace=NAMESPACE, MetricData=datums[i:i + 1000])
        calls += 1
    return calls


# ---- faults and endpoints: the target's data plane ------------------------------------------------------
def fault_action(ctx: Context, fault: str) -> Callable[[], dict[str, Any]] | None:
    """What injecting `fault` does, from the target's data plane (`ctx.target.dataplane.fault`): on a real
    account the documented API that causes it (stop the instance, terminate one group instance and let
    the group replace it, reboot the database with failover); in the sandbox, the same to the stand-ins."""
    if fault not in FAULTS:
        raise ParameterError({"fault": f"{fault!r} is not one of {', '.join(FAULTS)}"})
    return ctx.target.dataplane.fault(ctx, fault)


def endpoint_url(ctx: Context, kind: str) -> str:
    """The URL to probe: "dev" (the dev instance's app) or "lb" (the load balancer)."""
    return ctx.target.dataplane.endpoint_url(ctx, kind)


TAIL_S = 3.0   # seconds of the probe after the fault has played out: the service as it settled


def probe_seconds(ctx: Context, fault: str) -> int:
    """How long a probe with `fault` runs: probe_seconds, or longer when the fault takes longer to play out
    (the data plane's `fault_settle_s`): the fault comes a third of the way in, and what follows it must
    cover its settling and TAIL_S more, so the last second shows the service after the fault, not during."""
    return _sized(ctx, fault)[0]


def _sized(ctx: Context, fault: str) -> tuple[int, float]:
    """(the probe's seconds, the fault's settling seconds)."""
    p = ctx.p
    if fault == "none":
        return p.probe_seconds, 0.0
    settle = ctx.target.dataplane.fault_settle_s(ctx, fault)
    return max(p.probe_seconds, math.ceil(1.5 * (settle + TAIL_S))), settle


def probe(ctx: Context, kind: str, phase: str, fault: str | None = None,
          max_item_id: int | None = None) -> ProbeRun:
    """The notebook's call: probe the dev app or the load balancer at p.probe_rate for p.probe_seconds,
    inject `fault` (default p.fault) a third of the way in, publish per-second aggregates."""
    p = ctx.p
    fault = p.fault if fault is None else fault
    url = endpoint_url(ctx, kind)
    items = max_item_id or max(1, p.sample_rows // 2)
    seconds, settle = _sized(ctx, fault)
    if seconds > p.probe_seconds:
        print(f"probe: {seconds} s instead of probe_seconds={p.probe_seconds}: {fault} takes about "
              f"{settle:.0f} s to play out, and the probe covers it")
    try:
        action, refused = fault_action(ctx, fault), ""
    except FaultRefused as e:   # the probe runs without it, and says why
        action, refused = None, str(e)
        print(f"fault {fault}: not injected: {e}")
    done: dict[str, Any] = {}

    def inject() -> dict[str, Any]:
        done.update(action() or {})
        return done
    restored = ""
    try:
        r = run(url, p.probe_rate, seconds, phase=phase, endpoint=kind, paths=default_paths(items),
                fault=inject if action else None, fault_name=fault)
    finally:
        if action is not None:   # what the fault stopped is started again, even when the probe failed
            restored = ctx.target.dataplane.restore(ctx, fault, done)
    r.fault_info.update({k: v for k, v in (("refused", refused), ("restored", restored)) if v})
    if action is not None:   # what the figure covers: the seconds after the fault against its expected settling
        r.fault_info.update(settle_s=round(settle, 1), covers_s=round(seconds - seconds / 3, 1))
    publish(ctx, r)
    return r
