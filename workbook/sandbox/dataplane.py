"""The sandbox's local data plane: real processes where moto only keeps records.

moto answers the control plane and runs nothing. For every resource the workbook created that
should serve, this module runs a local stand-in and maps the AWS name to it:

| AWS resource (found in moto)                  | local stand-in                                          |
|-----------------------------------------------|---------------------------------------------------------|
| dev instance (tag Name=dev-backend)           | one app process + its own database (seeded): PostgreSQL,|
|                                               | or MariaDB when the host runs MySQL (databases.py)      |
| RDS instance `names.db_instance(p)`           | a separate server of the RDS engine; its endpoint maps  |
|                                               | to it (SSM Run Command reaches it: runcommand.py)       |
| ASG `names.asg(p)`: each InService instance   | booted as its user data would (boot.py): one app process each, from |
|                                               | the release it installed, on the RDS stand-in; replaced when it dies |
| ALB `names.alb(p)` + target group             | lb.py: round-robin over healthy processes, active health checks |

The processes publish AWS/EC2, AWS/ApplicationELB and AWS/RDS metrics to the sandbox's CloudWatch
(see daemon.py). Everything listens on 127.0.0.1. State (ports, pids, data folders) lives under
`<state_dir>/dataplane/`; `stop()` leaves no process behind and `resume()` brings the same layout
back (the moto server calls both, see server.py), while `start(ctx)` re-reads the control plane.
The workbook reaches these stand-ins through the data-plane interface (`plane.py`, `ctx.target.dataplane`).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pandas as pd

from ..connect import Context
from ..params import state_dir
from . import boot, databases, pg

WAIT_S = 30.0


# ---- paths and small helpers ---------------------------------------------------------------------
def _dir() -> Path:
    return state_dir() / "dataplane"


def _pg_root() -> Path:
    """Where the PostgreSQL data folders live: `<state>/dataplane/pg`. As root, PostgreSQL runs as
    the user `pgserver`, which must traverse every parent folder of its data, and a state folder
    under a private parent (a home folder, pytest's temp root that each new pytest session resets
    to 0700) locks it out mid-run (seen: "could not open file .../global/pg_control"). So as root
    the data live in /var/tmp/workbook-pg/<hash of the state folder> (world-traversable, kept
    across reboots) and `<state>/dataplane/pg` is a symlink to it; `forget()` removes both."""
    link = _dir() / "pg"
    if link.exists() or link.is_symlink():
        return link
    _dir().mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        link.mkdir()
        return link
    import hashlib
    real = Path("/var/tmp/workbook-pg") / hashlib.sha1(str(_dir().resolve()).encode()).hexdigest()[:12]
    real.mkdir(parents=True, exist_ok=True)
    link.symlink_to(real, target_is_directory=True)
    return link


def _config_path() -> Path:
    return _dir() / "config.json"


def data_dir() -> Path:
    return _dir()


def config() -> dict[str, Any]:
    """The data plane's layout as last written ({} before the first start)."""
    return _read(_config_path()) or {}


def dev_database_up() -> bool:
    cfg = config()
    return bool(cfg.get("dev")) and databases.pid(cfg["dev"]) is not None


def _daemon_path() -> Path:
    return _dir() / "daemon.json"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def _free_port(preferred: int | None = None) -> int:
    if preferred:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", preferred))
                return preferred
            except OSError:
                pass
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_alive(pid: int | None, marker: bytes = b"workbook.sandbox.daemon") -> bool:
    if not pid:
        return False
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return marker in cmd and state != "Z"


def _http(method: str, url: str, timeout: float = 5.0) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except (OSError, ValueError):
        return 0, None


def _admin(method: str, path: str, timeout: float = 10.0) -> Any:
    d = _read(_daemon_path())
    if not d or not _pid_alive(d.get("pid")):
        return None
    status, body = _http(method, f"http://127.0.0.1:{d['admin_port']}{path}", timeout)
    return body if status == 200 else None


# ---- lifecycle ------------------------------------------------------------------------------------
def start(ctx: Context, *, period_s: float = 60.0, publish_every_s: float = 300.0,
          health_interval_s: float | None = 1.0, replace_after_s: float = 3.0, wait_s: float = WAIT_S) -> pd.DataFrame:
    """Run (or bring in line with the control plane) the stand-ins for what exists; wait until the
    dev app answers and the load balancer's targets are healthy. Safe to call again: it follows a
    changed desired capacity or a new RDS instance. Returns the status frame."""
    p = ctx.p
    found = ctx.target.dataplane.resolve(ctx)   # the control plane, read as on a real account
    old = _read(_config_path()) or {}
    live = daemon_status()
    # What runs keeps its port (a port in use is not "free", but it is ours); the rest gets its
    # old port back when free, else a new one.
    running = {a["instance_id"] for a in live.get("apps", []) if a.get("alive")}
    old_ports = {a["instance_id"]: a["port"] for a in old.get("apps", [])}

    def port_for(iid: str) -> int:
        return old_ports[iid] if iid in running and iid in old_ports else _free_port(old_ports.get(iid))
    admin_port = old["admin_port"] if live else _free_port(old.get("admin_port"))
    lb_port = (old.get("lb") or {}).get("port") if live and old.get("lb") else None
    cfg: dict[str, Any] = {"stack": p.stack_name, "region": p.region, "endpoint": ctx.endpoint, "period_s": period_s,
                           "publish_every_s": publish_every_s, "replace_after_s": replace_after_s,
                           "admin_port": admin_port, "apps": [], "asg_name": None,
                           "lb": None, "rds": None, "dev": None, "sample_rows": p.sample_rows, "wanted": True}
    pgroot = _pg_root()
    if found["dev"]:
        iid = found["dev"]["instance_id"]
        cfg["dev"] = {"instance_id": iid, **databases.folder(pgroot, "dev", _dev_engine(ctx))}
        cfg["apps"].append({"instance_id": iid, "role": "dev", "port": port_for(iid), "database_url": "",
                            "pgdata": cfg["dev"].get("pgdata")})   # the host's database counts into its CPU
    if found["rds"]:
        r = found["rds"]
        cfg["rds"] = {**r, **databases.folder(pgroot, f"rds-{r['id']}", r.get("engine", "postgres")), "uri": ""}
    if found["asg"]:
        cfg["asg_name"] = found["asg"]["name"]
        booted = {a["instance_id"]: a.get("release") for a in old.get("apps", []) if a.get("role") == "asg"}
        for iid in found["asg"]["instance_ids"]:
            # An instance boots once; one whose boot failed boots again (the group would replace it).
            release = booted.get(iid)
            if not (release and Path(release["path"]).is_dir()):
                release = boot.boot(ctx, iid, _dir() / "instances" / iid).release
            cfg["apps"].append({"instance_id": iid, "role": "asg", "port": port_for(iid),
                                "database_url": "", "release": release})
        cfg["booted_at"] = time.time()
    if found["lb"]:
        lb = found["lb"]
        health = dict(lb["health"])
        if health_interval_s and health["interval_s"] > health_interval_s:
            ctx.say(f"load balancer health checks every {health_interval_s:g} s instead of the target "
                           f"group's {health['interval_s']:g} s (thresholds kept), so a short probe shows a failed "
                           "instance being taken out and back")
            health["interval_s"] = health_interval_s
            health["timeout_s"] = min(health["timeout_s"], health_interval_s)
        cfg["lb"] = {**lb, "health": health, "port": lb_port or _free_port((old.get("lb") or {}).get("port"))}
    _stop_replaced(old, cfg)
    _write(_config_path(), cfg)
    _run(cfg, seed_rows=p.sample_rows)
    wait_ready(wait_s)
    return status()


def _stop_replaced(old: dict[str, Any], new: dict[str, Any]) -> None:
    """A database server the old configuration ran and the new one does not (another stack's RDS
    stand-in, a dev database of another engine) stops here: once out of the configuration, nothing
    else would find it, and it would outlive `sandbox stop`. Its data folder stays for a later start."""
    for key in ("dev", "rds"):
        was, now = old.get(key), new.get(key)
        if was and (not now or databases.place(was) != databases.place(now)):
            databases.stop(was)


def _dev_engine(ctx: Context) -> str:
    """What the dev host runs, read as 01_assess reads it (its tag, else its database ports)."""
    from ..dbengine import detect
    engine = detect(ctx)[0]
    if not engine:
        ctx.say(f"which database the dev host runs cannot be told: its stand-in runs {ctx.p.dev_db_engine} "
                "(dev_db_engine), and the move refuses to guess")
    return engine or ctx.p.dev_db_engine


def _run(cfg: dict[str, Any], seed_rows: int | None = None) -> None:
    """Start the databases, fill in their URIs, then start or reload the daemon."""
    if cfg.get("dev"):
        cfg["dev"].setdefault("engine", "postgres")
        if "pgdata" not in cfg["dev"] and "datadir" not in cfg["dev"]:
            cfg["dev"]["pgdata"] = str(_pg_root() / "dev")
        uri = databases.start_dev(cfg["dev"], seed_rows)   # seeds only empty tables: a restart keeps the data
        for a in cfg["apps"]:
            if a["role"] == "dev":
                a["database_url"] = uri
    rds_uri = ""
    if cfg.get("rds"):
        rds_uri = cfg["rds"]["uri"] = databases.start_rds(cfg["rds"], cfg.get("endpoint") or "", cfg.get("region", ""))
    for a in cfg["apps"]:
        if a["role"] == "asg":
            # The app tier points at the RDS endpoint; here that name maps to the stand-in. With no
            # RDS instance yet there is nothing to reach, and /health says so (503).
            a["database_url"] = rds_uri or f"postgresql://postgres:@/{pg.DB_NAME}?host={_dir() / 'no-database'}"
    _write(_config_path(), cfg)
    d = _read(_daemon_path())
    if d and _pid_alive(d.get("pid")) and d.get("admin_port") == cfg["admin_port"]:
        _admin("POST", "/reload")
        return
    if d and _pid_alive(d.get("pid")):
        _stop_daemon(d["pid"])
    log = open(_dir() / "daemon.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "workbook.sandbox.daemon", str(_config_path())],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]))
    log.close()
    _write(_daemon_path(), {"pid": proc.pid, "admin_port": cfg["admin_port"], "started": time.time()})
    deadline = time.monotonic() + WAIT_S
    while _admin("GET", "/status", timeout=1) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the data plane daemon did not start; see {_dir() / 'daemon.log'}")
        time.sleep(0.1)


def wait_ready(timeout: float = WAIT_S) -> bool:
    """Until the dev app answers /health and every load balancer target is healthy, or settled as
    unhealthy for good because its instance did not boot (or timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = _admin("GET", "/status", timeout=2)
        if st:
            unbooted = {a["instance_id"] for a in (_read(_config_path()) or {}).get("apps", [])
                        if a["role"] == "asg" and not a.get("release")}
            dev_ok = all(_http("GET", f"http://127.0.0.1:{a['port']}/health", 2)[0] == 200
                         for a in st["apps"] if a["role"] == "dev")
            tg_ok = all(t["state"] == "healthy" or (t["instance_id"] in unbooted and t["state"] == "unhealthy")
                        for t in st["targets"])
            if dev_ok and tg_ok:
                return True
        time.sleep(0.2)
    return False


def resume(wait_s: float = WAIT_S) -> dict[str, Any]:
    """Bring back the last layout after a restart of the sandbox (no AWS call): databases with their
    data, app processes, load balancer, on the same ports when free. server.start() calls this."""
    cfg = _read(_config_path())
    if not cfg or not cfg.get("wanted"):
        return {"resumed": False}
    from . import server
    st = server.status()
    if st.get("running"):
        cfg["endpoint"] = st["endpoint"]
    cfg["admin_port"] = _free_port(cfg.get("admin_port"))
    for a in cfg["apps"]:
        a["port"] = _free_port(a["port"])
    if cfg.get("lb"):
        cfg["lb"]["port"] = _free_port(cfg["lb"]["port"])
    _run(cfg)
    return {"resumed": True, "ready": wait_ready(wait_s)}


def _stop_daemon(pid: int, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)  # the daemon stops its apps and publishes what it buffered
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop(keep_for_resume: bool = True) -> dict[str, Any]:
    """Stop every data plane process (apps, load balancer, databases). Data folders stay, so
    `resume()` or `start()` restores them; keep_for_resume=False also stops `resume()` from doing so."""
    cfg = _read(_config_path()) or {}
    d = _read(_daemon_path()) or {}
    app_pids = [a["pid"] for a in ((_admin("GET", "/status", timeout=2) or {}).get("apps", [])) if a.get("pid")]
    stopped = {"daemon": False, "databases": []}
    if _pid_alive(d.get("pid")):
        _stop_daemon(d["pid"])
        stopped["daemon"] = True
    for pid in app_pids:  # belt and braces: an app the daemon could not stop
        if _pid_alive(pid, b"workbook.backend"):
            os.kill(pid, signal.SIGKILL)
    for key in ("dev", "rds"):
        if cfg.get(key) and databases.stop(cfg[key]):
            stopped["databases"].append(key)
    _daemon_path().unlink(missing_ok=True)
    if cfg and not keep_for_resume:
        cfg["wanted"] = False
        _write(_config_path(), cfg)
    return stopped


def forget() -> None:
    """Stop and delete the data plane's state (databases included): for a sandbox reset."""
    import shutil
    stop(keep_for_resume=False)
    link = _dir() / "pg"
    if link.is_symlink():
        shutil.rmtree(link.resolve(), ignore_errors=True)
        link.unlink()
    shutil.rmtree(_dir(), ignore_errors=True)


def rds_deleted(identifier: str, endpoint: str | None) -> bool:
    """The RDS instance `identifier` was deleted on the server at `endpoint`: its stand-in stops and its
    data goes (AWS deletes an instance's storage; a new instance under the same name starts empty). True
    when there was one. A delete made elsewhere (moto in process, another sandbox's server) is not this
    data plane's: the same name there is another instance."""
    import shutil
    cfg = _read(_config_path()) or {}
    entry = cfg.get("rds")
    if not entry or entry.get("id") != identifier or not endpoint or cfg.get("endpoint") != endpoint:
        return False
    databases.stop(entry)
    shutil.rmtree(entry.get("pgdata") or entry.get("datadir") or _dir() / "none", ignore_errors=True)
    cfg["rds"] = None
    _write(_config_path(), cfg)
    return True


# ---- what runs -------------------------------------------------------------------------------------
def status() -> pd.DataFrame:
    """One row per stand-in: what it stands in for, where it listens, whether it is up."""
    cfg = _read(_config_path()) or {}
    st = _admin("GET", "/status", timeout=3) or {}
    apps = {a["instance_id"]: a for a in st.get("apps", [])}
    targets = {t["instance_id"]: t["state"] for t in st.get("targets", [])}
    rows = []
    for a in cfg.get("apps", []):
        live = apps.get(a["instance_id"], {})
        rows.append({"stands_in_for": "dev instance" if a["role"] == "dev" else "ASG instance",
                     "aws_id": a["instance_id"], "local": f"http://127.0.0.1:{a['port']}",
                     "pid": live.get("pid"), "up": bool(live.get("alive")),
                     "detail": f"target {targets.get(a['instance_id'], '-')}, restarts {live.get('restarts', 0)}"
                     if a["role"] == "asg" else "own database on the same host"})
    for key, what in (("dev", "dev database"), ("rds", "RDS instance")):
        if cfg.get(key):
            pid = databases.pid(cfg[key])
            rows.append({"stands_in_for": what, "aws_id": cfg[key].get("id", cfg[key].get("instance_id")),
                         "local": databases.uri(cfg[key], key) or databases.place(cfg[key]), "pid": pid,
                         "up": pid is not None,
                         "detail": (f"endpoint {cfg[key]['endpoint']}, " if key == "rds" else "")
                         + databases.label(cfg[key])})
    if cfg.get("lb"):
        healthy = sum(1 for s in targets.values() if s == "healthy")
        rows.append({"stands_in_for": "load balancer", "aws_id": cfg["lb"]["lb_dimension"],
                     "local": f"http://127.0.0.1:{cfg['lb']['port']}", "pid": st.get("pid"), "up": bool(st),
                     "detail": f"{healthy}/{len(targets)} targets healthy; checks {cfg['lb']['health']['path']} "
                               f"every {cfg['lb']['health']['interval_s']:g} s"})
    return pd.DataFrame(rows, columns=["stands_in_for", "aws_id", "local", "pid", "up", "detail"])


def daemon_status() -> dict[str, Any]:
    """The daemon's own view: apps, targets with states, events, metrics published."""
    return _admin("GET", "/status") or {}


def flush() -> dict[str, int]:
    """Publish the metrics gathered so far now (one put_metric_data per namespace)."""
    return _admin("POST", "/flush", timeout=30) or {"calls": 0, "datums": 0}


def endpoint(kind: str) -> str:
    """http://127.0.0.1:port of the dev app ("dev") or the load balancer ("lb")."""
    cfg = _read(_config_path()) or {}
    if kind == "lb" and cfg.get("lb"):
        return f"http://127.0.0.1:{cfg['lb']['port']}"
    if kind == "dev":
        for a in cfg.get("apps", []):
            if a["role"] == "dev":
                return f"http://127.0.0.1:{a['port']}"
    raise LookupError(f"the data plane runs no {kind!r} endpoint; start it after the resource exists")


def database_uri(kind: str) -> str:
    """The local URI of the dev database ("dev") or the RDS stand-in ("rds")."""
    cfg = _read(_config_path()) or {}
    if not cfg.get(kind):
        raise LookupError(f"the data plane runs no {kind!r} database")
    u = databases.uri(cfg[kind], kind)
    if u is None:
        raise LookupError(f"the {kind} database is not running")
    return u


def rds_identifier() -> str | None:
    return ((_read(_config_path()) or {}).get("rds") or {}).get("id")


# ---- faults ----------------------------------------------------------------------------------------
def stop_dev() -> dict[str, Any]:
    """The dev instance stops: its app process and its database go down at once (no clean shutdown)."""
    cfg = _read(_config_path()) or {}
    st = daemon_status()
    killed = []
    for a in st.get("apps", []):
        if a["role"] == "dev" and a.get("pid"):
            os.kill(a["pid"], signal.SIGKILL)
            killed.append(a["instance_id"])
    db = bool(cfg.get("dev")) and databases.stop(cfg["dev"], mode="immediate")
    return {"killed": killed, "database_stopped": db, "at": time.time()}


def start_dev(wait_s: float = WAIT_S) -> bool:
    """Bring the dev instance back (database, then app)."""
    cfg = _read(_config_path())
    if not cfg or not cfg.get("dev"):
        return False
    _run(cfg)
    return wait_ready(wait_s)


def kill_app_instance(instance_id: str | None = None) -> dict[str, Any]:
    """One instance behind the load balancer dies (SIGKILL of its process); the group replaces it."""
    apps = [a for a in daemon_status().get("apps", []) if a["role"] == "asg" and a.get("pid")]
    if instance_id:
        apps = [a for a in apps if a["instance_id"] == instance_id]
    if not apps:
        raise LookupError("no running app instance behind the load balancer to kill")
    victim = apps[0]
    os.kill(victim["pid"], signal.SIGKILL)
    return {"killed": victim["instance_id"], "pid": victim["pid"], "at": time.time(),
            "how": "crash: its process killed (SIGKILL), no drain; the group replaces it"}


def db_failover() -> dict[str, Any]:
    """The RDS stand-in restarts (what a Multi-AZ failover looks like to a client: connections drop,
    the endpoint answers again with the same data). Returns the seconds it was down."""
    cfg = _read(_config_path()) or {}
    if not cfg.get("rds"):
        raise LookupError("no RDS stand-in runs")
    down = databases.restart(cfg["rds"])
    return {"restarted": cfg["rds"]["id"], "down_s": round(down, 3), "at": time.time()}
