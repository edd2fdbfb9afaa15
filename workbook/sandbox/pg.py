"""Local PostgreSQL 16 servers for the sandbox, from the `pgserver` package.

Measured here (root, 2 cores): a new cluster (initdb + start) 1.06 s; a stop with `pg_ctl -m fast`
0.12 s; a start of an existing cluster 0.12 s. Two servers run side by side as long as each has its
own data folder: pgserver listens on a unix socket inside that folder only (no TCP port to collide).
As root pgserver runs PostgreSQL as the system user `pgserver` (it creates it), so stopping goes
through `pg_ctl` as that user; `cleanup_mode=None` keeps the server running after the Python
process that started it exits (the data plane outlives a notebook kernel, like the moto server).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

DB_NAME = "app"


def _pg_user() -> str | None:
    return "pgserver" if os.geteuid() == 0 else None


def _import_pgserver() -> None:
    """pgserver asks platformdirs for the runtime folder when imported; without XDG_RUNTIME_DIR (a kernel,
    a container, CI) platformdirs warns and uses /tmp/runtime-<uid>, which serves: the warning goes."""
    import warnings
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # noqa: F401


def bin_path(tool: str) -> str:
    _import_pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH
    return str(POSTGRES_BIN_PATH / tool)


def postmaster_pid(pgdata: Path) -> int | None:
    """PID from postmaster.pid when that process is alive (and not a zombie)."""
    try:
        pid = int((Path(pgdata) / "postmaster.pid").read_text().split("\n", 1)[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return pid if stat.rsplit(")", 1)[1].split()[0] != "Z" else None


def cluster_pids(pgdata: Path) -> list[int]:
    """The postmaster and its children (backends, checkpointer ...): the "host"'s database CPU."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return []
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    return pids


def start(pgdata: Path) -> str:
    """Start (initdb first when new) and return the URI of the `app` database."""
    _import_pgserver()
    import pgserver
    pgdata = Path(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # get_server caches one handle per folder in the process; after a stop that handle is stale
    # and would be returned as if the server still ran, so drop it first.
    from pgserver.postgres_server import PostgresServer
    PostgresServer._instances.pop(pgdata.resolve(), None)
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists() and postmaster_pid(pgdata) is None:
        # Left by a server that was killed: pgserver would take a zombie's PID for a live server.
        pidfile.unlink()
    fresh = not (pgdata / "PG_VERSION").exists()
    for attempt in range(3):
        try:
            srv = pgserver.get_server(pgdata, cleanup_mode=None)
            break
        except subprocess.CalledProcessError:
            # As root, PostgreSQL runs as user `pgserver`, which must traverse every parent folder;
            # pgserver opens them, but a concurrent pytest session resets its temp root to 0700
            # (seen while several suites ran at once). Retry, without a half-made cluster.
            PostgresServer._instances.pop(pgdata.resolve(), None)
            if attempt == 2:
                raise
            if fresh:
                shutil.rmtree(pgdata, ignore_errors=True)
                pgdata.mkdir()
            time.sleep(0.5)
    uri = srv.get_uri()
    with psycopg.connect(uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        if conn.execute("SHOW fsync").fetchone()[0] == "on":
            # A stand-in, not a system of record: without fsync a shutdown checkpoint takes
            # milliseconds even on a busy disk (measured: a fast stop hung > 30 s in its checkpoint
            # while other test suites loaded the machine). A clean stop still writes everything.
            conn.execute("ALTER SYSTEM SET fsync = off")
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")
    return uri_for(uri, DB_NAME)


def uri_for(server_uri: str, database: str) -> str:
    """pgserver's URI names the `postgres` database; swap in another one."""
    head, _, query = server_uri.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{database}" + (f"?{query}" if query else "")


def uri(pgdata: Path) -> str | None:
    """The `app` database's URI of a running server, from its postmaster.pid (no new process)."""
    pidfile = Path(pgdata) / "postmaster.pid"
    if postmaster_pid(pgdata) is None:
        return None
    lines = pidfile.read_text().split("\n")
    socket_dir = lines[4].strip()
    return f"postgresql://postgres:@/{DB_NAME}?host={socket_dir}"


def socket_dir(pgdata: Path) -> str:
    """The folder of the running server's unix socket (from postmaster.pid; "" when not running)."""
    if postmaster_pid(pgdata) is None:
        return ""
    return (Path(pgdata) / "postmaster.pid").read_text().split("\n")[4].strip()


def port(pgdata: Path) -> str:
    """The port in the running server's socket name (from postmaster.pid; "" when not running)."""
    if postmaster_pid(pgdata) is None:
        return ""
    return (Path(pgdata) / "postmaster.pid").read_text().split("\n")[3].strip()


def ensure_master(uri: str, user: str) -> None:
    """The RDS stand-in's master user, owning the database as RDS makes it (a superuser here: the app
    servers' empty tables, made before the move as `postgres`, must be replaceable by the restore)."""
    with psycopg.connect(uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(user)))
        db = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(db), sql.Identifier(user)))


def stop(pgdata: Path, mode: str = "fast", timeout: float = 30.0) -> bool:
    """Stop with pg_ctl (fast: roll back open transactions; immediate: like pulling the plug).
    Returns whether a server was running. Falls back to SIGKILL of the postmaster if pg_ctl fails."""
    pid = postmaster_pid(pgdata)
    if pid is None:
        return False
    for m in dict.fromkeys((mode, "immediate")):   # a fast stop that hangs gets an immediate one
        cmd = [bin_path("pg_ctl"), "-D", str(pgdata), "-w", "-t", str(int(timeout)), "-m", m, "stop"]
        try:
            subprocess.run(cmd, user=_pg_user(), check=True, timeout=timeout + 5,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            break
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            continue
    else:
        for p in cluster_pids(pgdata):
            try:
                os.kill(p, 9)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while postmaster_pid(pgdata) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    _wait_gone(pid, Path(pgdata))
    return True


def _wait_gone(pid: int, pgdata: Path, timeout: float = 5.0) -> None:
    """Wait until the old postmaster is reaped. It was reparented to PID 1, which here reaps
    lazily; meanwhile its zombie still "exists" for kill(pid, 0), and a new postmaster refuses to
    start ("Is another postmaster using socket file?"). A zombie holds no socket or data, so after
    the wait its lock files are removed."""
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists() and postmaster_pid(pgdata) is None:
        for lock in list(pgdata.glob(".s.PGSQL.*.lock")) + [pgdata / "postmaster.pid"]:
            lock.unlink(missing_ok=True)


def restart(pgdata: Path) -> float:
    """Stop and start again, as a failover does to a client: connections drop, the data stays.
    Returns the seconds the server was down."""
    t0 = time.perf_counter()
    stop(pgdata, mode="fast")
    start(pgdata)
    return time.perf_counter() - t0
