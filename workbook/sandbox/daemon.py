"""The data plane's one long-lived process: app processes, the load balancer, CloudWatch publishing.

`python -m workbook.sandbox.daemon <config.json>` is started by `dataplane.start()` in a session of
its own, so it outlives the notebook kernel (as the moto server does). It
- runs one app process (`python -m workbook.backend serve`) per instance in the config: the dev
  instance and each InService instance of the Auto Scaling group;
- replaces an Auto Scaling instance whose process died after `replace_after_s` (the group would
  launch a new instance; the sandbox restarts the process under the same instance id, since moto's
  instance is still "running");
- runs the load balancer (lb.py) over the group's instances;
- publishes what AWS would publish, with AWS's namespaces, names and dimensions, aggregated into
  `period_s` buckets and sent every `publish_every_s` in one put_metric_data per namespace (the
  moto journal records every call, so fewer, larger calls keep a restart's replay short);
- answers a small admin API on 127.0.0.1 (GET /status, POST /flush, POST /reload).
SIGTERM stops the apps and the load balancer, publishes what is buffered, and exits.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import pg
from .lb import HealthCheck, LoadBalancer

CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_BUFFERED = 20_000     # datums kept while the sandbox endpoint is down; older ones are dropped
PUT_BATCH = 1000          # PutMetricData: at most 1,000 metrics per call
CPU_SAMPLE_S = 2.0        # how often process CPU is read from /proc


def proc_cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process from /proc/<pid>/stat (clock ticks)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class App:
    instance_id: str
    role: str                      # "dev" | "asg"
    port: int
    database_url: str
    pgdata: str | None = None      # the dev instance's own database counts into its CPU
    release: dict[str, str] | None = None   # a group instance: the release its boot unpacked (boot.py)
    proc: subprocess.Popen | None = None
    died_at: float | None = None
    restarts: int = 0
    retired: bool = False
    cpu_prev: dict[int, int] = field(default_factory=dict)
    cpu_acc: int = 0               # ticks used since the bucket started
    cpu_t0: float = 0.0            # when the bucket started for this app

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        pids = [self.proc.pid] if self.alive else []
        return pids + (pg.cluster_pids(Path(self.pgdata)) if self.pgdata else [])

    def sample_cpu(self) -> None:
        """Add the ticks used since the last sample. Sampled every few seconds, so a process that
        dies loses at most that much; a process that appeared in between counts with all its ticks."""
        ticks = {p: t for p in self.pids() if (t := proc_cpu_ticks(p)) is not None}
        self.cpu_acc += sum(max(0, t - self.cpu_prev.get(p, 0)) for p, t in ticks.items())
        self.cpu_prev = ticks
        if not self.cpu_t0:
            self.cpu_t0 = time.monotonic()

    def cpu_percent(self) -> float | None:
        """CPU of the "host" over the bucket, as a percentage of all cores (as EC2 reports
        CPUUtilization over the instance's vCPUs); None before the first sample."""
        if not self.cpu_t0:
            return None
        self.sample_cpu()
        now = time.monotonic()
        value = 100.0 * self.cpu_acc / CLK_TCK / max(now - self.cpu_t0, 1e-3) / (os.cpu_count() or 1)
        self.cpu_acc, self.cpu_t0 = 0, now
        return round(value, 3)


class Daemon:
    def __init__(self, config_path: Path):
        self.config_path = config_path
        self.cfg: dict[str, Any] = {}
        self.apps: dict[str, App] = {}
        self.lb: LoadBalancer | None = None
        self.events: list[dict[str, Any]] = []
        self.buffer: dict[str, list[dict[str, Any]]] = {}
        self.published = {"calls": 0, "datums": 0, "errors": 0}
        self.bucket_start = time.time()
        self.last_publish = time.monotonic()
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.log_dir = config_path.parent / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._cw = None

    # ---- configuration ------------------------------------------------------------------------
    def reload(self) -> None:
        with self.lock:
            self.cfg = json.loads(self.config_path.read_text())
            wanted = {a["instance_id"]: a for a in self.cfg.get("apps", [])}
            for iid, app in list(self.apps.items()):
                spec = wanted.get(iid)
                if spec is None or spec["database_url"] != app.database_url or spec["port"] != app.port \
                        or spec.get("release") != app.release:
                    self._stop_app(app)
                    del self.apps[iid]
            for iid, spec in wanted.items():
                app = self.apps.get(iid)
                if app is None:
                    app = self.apps[iid] = App(iid, spec["role"], spec["port"], spec["database_url"], spec.get("pgdata"),
                                               spec.get("release"))
                if not app.alive:
                    self._start_app(app)
            lb_cfg = self.cfg.get("lb")
            if lb_cfg and self.lb is None:
                self.lb = LoadBalancer(lb_cfg["port"], HealthCheck(**lb_cfg["health"])).start()
            if self.lb is not None:
                self.lb.set_targets({a.instance_id: a.port for a in self.apps.values() if a.role == "asg"})

    def _start_app(self, app: App) -> None:
        """The dev instance runs the app as it is (this checkout: the dev host is what runs today). A group
        instance runs only the release its boot installed; with none (the boot failed) nothing starts,
        and the load balancer's checks find nothing listening, as on AWS."""
        if app.role == "asg" and not app.release:
            return
        env = {**os.environ, "DATABASE_URL": app.database_url, "PORT": str(app.port),
               "INSTANCE_ID": app.instance_id, "BIND_HOST": "127.0.0.1",
               "HEALTH_PATH": (self.cfg.get("lb") or {}).get("health", {}).get("path", "/health")}
        cmd, cwd = [sys.executable, "-m", "workbook.backend", "serve"], None
        if app.release:
            # The unpacked wheel first, then the venv's packages for its dependencies (psycopg); -S: no
            # site, so the .pth that puts this checkout on the path is not read.
            import sysconfig
            env["PYTHONPATH"] = os.pathsep.join([app.release["path"], sysconfig.get_paths()["purelib"]])
            cmd, cwd = [sys.executable, "-S", "-m", "workbook.backend", "serve"], app.release["path"]
        log = open(self.log_dir / f"{app.instance_id}.log", "ab")
        app.proc = subprocess.Popen(cmd, env=env, cwd=cwd,
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        app.died_at = None
        app.sample_cpu()  # the baseline: the first bucket then reports CPU since the start

    def _stop_app(self, app: App) -> None:
        app.retired = True
        if app.alive:
            app.proc.terminate()
            try:
                app.proc.wait(5)
            except subprocess.TimeoutExpired:
                app.proc.kill()
                app.proc.wait(5)

    # ---- supervision --------------------------------------------------------------------------
    def supervise_once(self) -> None:
        now = time.time()
        with self.lock:
            if now - getattr(self, "_cpu_sampled", 0.0) >= CPU_SAMPLE_S:
                self._cpu_sampled = now
                for app in self.apps.values():
                    app.sample_cpu()
            for app in self.apps.values():
                if app.alive or app.retired or (app.role == "asg" and not app.release):
                    continue
                if app.died_at is None:
                    app.died_at = now
                    self.events.append({"at": now, "instance_id": app.instance_id, "event": "process exited",
                                        "code": app.proc.returncode if app.proc else None})
                elif app.role == "asg" and now - app.died_at >= float(self.cfg.get("replace_after_s", 3.0)):
                    self._start_app(app)
                    app.restarts += 1
                    self.events.append({"at": time.time(), "instance_id": app.instance_id, "event": "replaced"})

    # ---- metrics ------------------------------------------------------------------------------
    def close_bucket(self) -> None:
        """Turn what happened since the last bucket into datums, as AWS would publish them."""
        with self.lock:
            ts = datetime.fromtimestamp(self.bucket_start, tz=timezone.utc)
            self.bucket_start = time.time()
            asg_cpu = []
            for app in self.apps.values():
                cpu = app.cpu_percent()
                if cpu is None:
                    continue
                self._add("AWS/EC2", "CPUUtilization", [("InstanceId", app.instance_id)], ts, cpu, "Percent")
                if app.role == "asg":
                    asg_cpu.append(cpu)
            if asg_cpu and self.cfg.get("asg_name"):
                self._add("AWS/EC2", "CPUUtilization", [("AutoScalingGroupName", self.cfg["asg_name"])], ts,
                          sum(asg_cpu) / len(asg_cpu), "Percent")
            lb_cfg = self.cfg.get("lb")
            if self.lb is not None and lb_cfg:
                c = self.lb.take_counters()
                lb_dim = [("LoadBalancer", lb_cfg["lb_dimension"])]
                # ELB reports request metrics only while requests flow, host counts always.
                if c.requests:
                    self._add("AWS/ApplicationELB", "RequestCount", lb_dim, ts, c.requests, "Count")
                if c.rt_count:
                    self._add("AWS/ApplicationELB", "TargetResponseTime", lb_dim, ts, None, "Seconds",
                              stats={"SampleCount": c.rt_count, "Sum": c.rt_sum, "Minimum": c.rt_min,
                                     "Maximum": c.rt_max})
                if c.target_5xx:
                    self._add("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb_dim, ts, c.target_5xx, "Count")
                if c.elb_5xx:
                    self._add("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb_dim, ts, c.elb_5xx, "Count")
                tg_dim = [("TargetGroup", lb_cfg["tg_dimension"])] + lb_dim
                for name, samples in (("HealthyHostCount", c.healthy_samples),
                                      ("UnHealthyHostCount", c.unhealthy_samples)):
                    if samples:
                        self._add("AWS/ApplicationELB", name, tg_dim, ts, None, "Count",
                                  stats={"SampleCount": len(samples), "Sum": float(sum(samples)),
                                         "Minimum": float(min(samples)), "Maximum": float(max(samples))})
            rds = self.cfg.get("rds")
            if rds:
                n = self._db_connections(rds["uri"])
                if n is not None:
                    self._add("AWS/RDS", "DatabaseConnections", [("DBInstanceIdentifier", rds["id"])], ts, n, "Count")

    @staticmethod
    def _db_connections(uri: str) -> int | None:
        import psycopg
        if uri.startswith("mysql://"):
            from ..backend import mysql
            try:
                with mysql.connect(uri, 2) as conn:
                    return conn.execute("SELECT count(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() "
                                        "AND command <> 'Daemon'").fetchone()[0]
            except mysql.ERRORS:
                return None
        try:
            with psycopg.connect(uri, connect_timeout=2) as conn:
                return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                    "AND pid <> pg_backend_pid()").fetchone()[0]
        except psycopg.Error:
            return None  # the database is down: RDS publishes nothing either

    def _add(self, ns: str, name: str, dims: list[tuple[str, str]], ts: datetime, value: float | None,
             unit: str, stats: dict[str, float] | None = None) -> None:
        d: dict[str, Any] = {"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                             "Timestamp": ts, "Unit": unit}
        if stats is not None:
            d["StatisticValues"] = stats
        else:
            d["Value"] = float(value)
        buf = self.buffer.setdefault(ns, [])
        buf.append(d)
        del buf[:-MAX_BUFFERED]

    def cloudwatch(self) -> Any:
        if self._cw is None:
            import boto3
            self._cw = boto3.client("cloudwatch", endpoint_url=self.cfg["endpoint"], region_name=self.cfg["region"],
                                    aws_access_key_id="testing", aws_secret_access_key="testing")
            self._rehearse(self._cw)
        return self._cw

    def _rehearse(self, client: Any) -> None:
        """Rehearsing AWS: what the stand-ins publish reaches get_metric_data a minute late, as what AWS
        itself publishes does (the rehearsal's model on this client too)."""
        from . import rehearsal
        settings = rehearsal.load()
        if settings is None:
            return
        from ..connect import Context
        from ..params import Params
        from .seam import ACCOUNT, SandboxTarget
        target = SandboxTarget(self.cfg["endpoint"], settings)
        ctx = Context(Params.from_mapping({"region": self.cfg["region"]}), target, ACCOUNT, step="dataplane")
        target.install(client, ctx)

    def publish(self) -> dict[str, int]:
        """Send the buffer: one put_metric_data per namespace and 1,000 datums."""
        sent = {"calls": 0, "datums": 0}
        with self.lock:
            buffer, self.buffer = self.buffer, {}
        if not self.cfg.get("endpoint"):
            return sent
        for ns, datums in buffer.items():
            for i in range(0, len(datums), PUT_BATCH):
                chunk = datums[i:i + PUT_BATCH]
                try:
                    self.cloudwatch().put_metric_data(Namespace=ns, MetricData=chunk)
                    sent["calls"] += 1
                    sent["datums"] += len(chunk)
                except Exception:  # endpoint down: keep the datums for the next try
                    self.published["errors"] += 1
                    with self.lock:
                        self.buffer.setdefault(ns, []).extend(datums[i:])
                    break
        self.published["calls"] += sent["calls"]
        self.published["datums"] += sent["datums"]
        self.last_publish = time.monotonic()
        return sent

    def flush(self) -> dict[str, int]:
        self.close_bucket()
        return self.publish()

    # ---- admin API ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self.lock:
            apps = [{"instance_id": a.instance_id, "role": a.role, "port": a.port, "alive": a.alive,
                     "pid": a.proc.pid if a.alive else None, "restarts": a.restarts} for a in self.apps.values()]
            return {"pid": os.getpid(), "apps": apps, "targets": self.lb.targets() if self.lb else [],
                    "target_events": list(self.lb.events) if self.lb else [], "events": list(self.events),
                    "published": dict(self.published),
                    "buffered": sum(len(v) for v in self.buffer.values())}

    def serve_admin(self, port: int) -> ThreadingHTTPServer:
        daemon = self

        class Admin(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, payload: Any, status: int = 200) -> None:
                body = json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._json(daemon.status()) if self.path == "/status" else self._json({"error": "no route"}, 404)

            def do_POST(self) -> None:
                if self.path == "/flush":
                    self._json(daemon.flush())
                elif self.path == "/reload":
                    daemon.reload()
                    self._json(daemon.status())
                else:
                    self._json({"error": "no route"}, 404)

        srv = ThreadingHTTPServer(("127.0.0.1", port), Admin)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        return srv

    # ---- main loop ----------------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        self.reload()
        admin = self.serve_admin(int(self.cfg["admin_port"]))
        period = float(self.cfg.get("period_s", 60))
        every = float(self.cfg.get("publish_every_s", 300))
        try:
            while not self.stopping.wait(0.2):
                self.supervise_once()
                if time.time() - self.bucket_start >= period:
                    self.close_bucket()
                if time.monotonic() - self.last_publish >= every:
                    self.publish()
        finally:
            admin.shutdown()
            with self.lock:
                for app in self.apps.values():
                    self._stop_app(app)
            if self.lb is not None:
                self.close_bucket()
                self.lb.stop()
            else:
                self.close_bucket()
            self.publish()


if __name__ == "__main__":
    Daemon(Path(sys.argv[1])).run()
