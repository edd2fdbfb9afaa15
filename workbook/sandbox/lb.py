"""The sandbox's stand-in for the Application Load Balancer.

Why this is written here and not taken from a proxy package: moto stores the ALB, its target group
and its health-check settings but forwards nothing and checks nothing (describe_target_health says
"healthy" at once, even for made-up ids). The evidence needs a real front door that behaves like
the ALB where it matters: round-robin over healthy targets, active health checks on the target
group's path with its interval, timeout and thresholds, a target taken out after
`unhealthy_threshold` failures and back after `healthy_threshold` passes, 502 when a target fails
mid-request, fail-open to all targets when none is healthy (as the ALB does), and the counters
behind the ALB's CloudWatch metrics. It is ~150 lines of stdlib; nothing more of the ALB is copied.
"""
from __future__ import annotations

import http.client
import itertools
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FORWARD_TIMEOUT_S = 10.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "host", "content-length"}


@dataclass(frozen=True)
class HealthCheck:
    """The target group's health check (names as in describe_target_groups)."""
    path: str = "/health"
    interval_s: float = 30.0
    timeout_s: float = 5.0
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2


@dataclass
class Target:
    instance_id: str
    port: int
    host: str = "127.0.0.1"
    state: str = "initial"          # initial | healthy | unhealthy, as describe_target_health names them
    reason: str = ""                # the last failed check, in describe_target_health's words
    description: str = ""
    passes: int = 0
    fails: int = 0
    last_change: float = field(default_factory=time.time)


@dataclass
class Counters:
    """What the ALB's metrics are made of, since the last take()."""
    requests: int = 0
    target_5xx: int = 0
    elb_5xx: int = 0
    rt_count: int = 0
    rt_sum: float = 0.0
    rt_min: float = float("inf")
    rt_max: float = 0.0
    healthy_samples: list[int] = field(default_factory=list)
    unhealthy_samples: list[int] = field(default_factory=list)


class LoadBalancer:
    def __init__(self, port: int, health: HealthCheck, host: str = "127.0.0.1"):
        self.health = health
        self._targets: dict[str, Target] = {}
        self._lock = threading.Lock()
        self._rr = itertools.count()
        self._counters = Counters()
        self._stop = threading.Event()
        self.events: list[dict[str, Any]] = []   # target state changes, for status and the notebook
        lb = self

        class Proxy(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                lb._proxy(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer((host, port), Proxy)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    # ---- targets ----------------------------------------------------------------------------
    def set_targets(self, targets: dict[str, int]) -> None:
        """Register/deregister so the set equals `targets` (instance id -> port)."""
        with self._lock:
            for iid in list(self._targets):
                if iid not in targets:
                    del self._targets[iid]
            for iid, port in targets.items():
                t = self._targets.get(iid)
                if t is None or t.port != port:
                    self._targets[iid] = Target(iid, port)

    def targets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"instance_id": t.instance_id, "port": t.port, "state": t.state, "since": t.last_change,
                     **({"reason": t.reason, "description": t.description} if t.state != "healthy" else {})}
                    for t in self._targets.values()]

    def _pick(self) -> Target | None:
        with self._lock:
            pool = [t for t in self._targets.values() if t.state == "healthy"]
            if not pool:
                pool = list(self._targets.values())  # fail open, as the ALB does with no healthy target
            if not pool:
                return None
            return pool[next(self._rr) % len(pool)]

    # ---- proxying ---------------------------------------------------------------------------
    def _proxy(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if h.command in ("POST", "PUT") else None
        target = self._pick()
        if target is None:
            self._reply(h, 503, b'{"error": "no registered targets"}', elb_error=True)
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Forwarded-For"] = h.client_address[0]
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=FORWARD_TIMEOUT_S)
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        except (OSError, http.client.HTTPException):
            # The target is gone mid-request: the ALB answers 502 and counts an ELB 5XX.
            self._reply(h, 502, b'{"error": "bad gateway"}', elb_error=True)
            return
        elapsed = time.perf_counter() - t0
        with self._lock:
            c = self._counters
            c.requests += 1
            c.rt_count += 1
            c.rt_sum += elapsed
            c.rt_min = min(c.rt_min, elapsed)
            c.rt_max = max(c.rt_max, elapsed)
            if resp.status >= 500:
                c.target_5xx += 1
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_HEADERS:
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: bytes, elb_error: bool) -> None:
        with self._lock:
            self._counters.requests += 1
            if elb_error:
                self._counters.elb_5xx += 1
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    # ---- health checks ----------------------------------------------------------------------
    def _check(self, t: Target) -> bool:
        """One health check; a failure keeps its reason as the ALB names it."""
        try:
            conn = http.client.HTTPConnection(t.host, t.port, timeout=self.health.timeout_s)
            conn.request("GET", self.health.path)
            status = conn.getresponse().status
            conn.close()
        except TimeoutError:
            t.reason, t.description = "Target.Timeout", "Request timed out"
            return False
        except (OSError, http.client.HTTPException):
            t.reason, t.description = "Target.FailedHealthChecks", "Health checks failed"
            return False
        if status != 200:   # the target group's matcher
            t.reason, t.description = "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"
        return status == 200

    def check_once(self) -> None:
        with self._lock:
            targets = list(self._targets.values())
        results = {t.instance_id: self._check(t) for t in targets}
        with self._lock:
            for t in targets:
                ok = results[t.instance_id]
                t.passes, t.fails = (t.passes + 1, 0) if ok else (0, t.fails + 1)
                new = t.state
                # A new target needs one pass; a failed one needs healthy_threshold passes.
                if ok and t.state == "initial":
                    new = "healthy"
                elif ok and t.state == "unhealthy" and t.passes >= self.health.healthy_threshold:
                    new = "healthy"
                elif not ok and t.state != "unhealthy" and t.fails >= self.health.unhealthy_threshold:
                    new = "unhealthy"
                if new != t.state:
                    t.state, t.last_change = new, time.time()
                    self.events.append({"at": t.last_change, "instance_id": t.instance_id, "state": new})
            states = [t.state for t in self._targets.values()]
            self._counters.healthy_samples.append(states.count("healthy"))
            self._counters.unhealthy_samples.append(states.count("unhealthy"))  # "initial" is neither

    def _health_loop(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.check_once()
            self._stop.wait(max(0.0, self.health.interval_s - (time.monotonic() - t0)))

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> "LoadBalancer":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        threading.Thread(target=self._health_loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def take_counters(self) -> Counters:
        with self._lock:
            c, self._counters = self._counters, Counters()
        return c
