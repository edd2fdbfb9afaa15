"""Lifecycle of the sandbox: the moto server (and with it the local data plane): start, status, stop, reset.

State survives a stop and a start through moto's recorder journal: the first call ever made is
`POST /moto-api/seed`, so replaying the journal on the next start recreates every resource with the
same ID (measured). Address, PID and seed live in the state folder, ignored by git.

Every other process the sandbox starts on its own (the IAM drill's ephemeral moto server) is recorded
in the state folder too (`track`), so `stop` finds and stops it even when whatever started it was
killed before it could stop it.

`start(rehearse=True)` also switches the rehearsal of real AWS on (rehearsal.py) for every process
that connects afterwards; `start(rehearse=False)` switches it off; `start()` leaves it as it is (what
connecting does). The switch lives in the same state folder: the model runs on the clients, so the
server itself is the same either way.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

from ..params import state_dir
from . import rehearsal

SEED = 4242
START_TIMEOUT_S = 30.0


def _paths() -> dict[str, Path]:
    d = state_dir()
    return {"dir": d, "state": d / "moto.json", "journal": d / "journal.jsonl", "log": d / "moto.log",
            "lock": d / "moto.lock", "procs": d / "processes", "flavour": d / "journal.flavour"}


def _set_aside_foreign_journal(paths: dict[str, Path]) -> Path | None:
    """A journal recreates the same IDs only on the server that recorded it (motoserver.FLAVOUR): one
    another server recorded (before an upgrade) would replay into a broken state, so it is set aside."""
    from .motoserver import FLAVOUR
    journal, flavour = paths["journal"], paths["flavour"]
    recorded = flavour.read_text().strip() if flavour.exists() else "moto.server"
    if not (journal.exists() and journal.stat().st_size > 0) or recorded == FLAVOUR:
        return None
    aside = journal.with_name(f"journal-{time.strftime('%Y%m%d-%H%M%S')}-{recorded}.jsonl.old")
    journal.rename(aside)
    return aside


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One start/stop at a time, across processes (a kernel and the CLI may race)."""
    paths = _paths()
    paths["dir"].mkdir(parents=True, exist_ok=True)
    with open(paths["lock"], "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _read_state() -> dict[str, Any] | None:
    try:
        return json.loads(_paths()["state"].read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """True if pid is a live moto server (not a recycled PID of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"moto" not in cmdline:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _answers(endpoint: str, timeout: float = 1.0) -> bool:
    """A TCP connect, not an HTTP call: any HTTP call would be journaled while recording is on, and
    /moto-api/data.json takes seconds once EC2 has loaded its AMIs."""
    host, port = endpoint.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


# ---- other processes the sandbox starts ---------------------------------------------------------------
def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot): with the pid, it names one process for good,
    so a recycled pid is never taken for the recorded one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def track(pid: int, what: str, **info: Any) -> Path:
    """Record a process the sandbox started in a session of its own; `mark_stopped(record)` once it has
    been stopped. Until then `stop` stops it."""
    d = _paths()["procs"]
    d.mkdir(parents=True, exist_ok=True)
    record = d / f"{what}-{pid}.json"
    record.write_text(json.dumps({"pid": pid, "what": what, "start_ticks": _start_ticks(pid),
                                  "started": time.time(), "stopped": None, **info}))
    return record


def mark_stopped(record: Path) -> None:
    """Mark a tracked process as stopped by whoever started it (the record stays for `tracked` until
    the next `stop`)."""
    with contextlib.suppress(OSError, ValueError):
        rec = json.loads(record.read_text())
        record.write_text(json.dumps({**rec, "stopped": time.time()}))


def tracked() -> list[dict[str, Any]]:
    """Every recorded process since the last `stop`, with `running` read from /proc now."""
    out = []
    for f in sorted(_paths()["procs"].glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            rec = json.loads(f.read_text())
            ticks = rec.get("start_ticks")
            out.append({**rec, "running": ticks is not None and _start_ticks(rec["pid"]) == ticks})
    return out


def _stop_tracked() -> list[int]:
    """Stop every recorded process still running (its process group, as it was started), then forget
    the records; returns the pids stopped here."""
    done = []
    for f in sorted(_paths()["procs"].glob("*.json")):
        try:
            rec = json.loads(f.read_text())
        except (OSError, ValueError):
            f.unlink(missing_ok=True)
            continue
        pid, ticks = rec["pid"], rec.get("start_ticks")
        if ticks is not None and _start_ticks(pid) == ticks:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            for _ in range(50):
                if _start_ticks(pid) != ticks:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            done.append(pid)
        if rec.get("log"):
            Path(rec["log"]).unlink(missing_ok=True)
        f.unlink(missing_ok=True)
    return done


def _post(endpoint: str, path: str, timeout: float = 600.0) -> None:
    req = urllib.request.Request(f"{endpoint}{path}", data=b"", method="POST",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        r.read()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds; TIME_WAIT is fine
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status() -> dict[str, Any]:
    """running, endpoint, pid, journal size, rehearsal; a stale state file reads as not running."""
    st = _read_state()
    journal = _paths()["journal"]
    calls = sum(1 for _ in journal.open()) if journal.exists() else 0
    rehearse = rehearsal.describe()
    if st and _alive(st["pid"]) and _answers(st["endpoint"]):
        return {"running": True, **st, "journal_calls": calls, "rehearse": rehearse}
    return {"running": False, "stale_state": bool(st), "journal_calls": calls, "state_dir": str(state_dir()),
            "rehearse": rehearse}


def start(rehearse: bool | None = None, *, time_scale: float | None = None,
          throttle: float | None = None) -> dict[str, Any]:
    """Start the server unless it runs; replay the journal so earlier resources come back.
    `rehearse` True/False switches the rehearsal on/off (with its time scale and throttle share);
    None leaves the switch as it is."""
    if rehearse is not None:
        rehearsal.switch(rehearse, time_scale=time_scale, throttle=throttle)
    info = _start()
    return {**info, "rehearse": rehearsal.describe()}


def _start() -> dict[str, Any]:
    with _locked():
        st = _read_state()
        if st and _alive(st["pid"]) and _answers(st["endpoint"]):
            return {**st, "already_running": True}
        paths = _paths()
        paths["state"].unlink(missing_ok=True)  # stale: the process is gone
        # Reuse the last port when free: endpoints shown earlier in notebooks stay true.
        port = st["port"] if st and _port_free(st["port"]) else _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ,
               "MOTO_ACM_VALIDATION_WAIT": "0",
               "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
               # Recording is switched on over the API once the server is up: readiness probes and
               # the replay itself must not land in the journal.
               "MOTO_RECORDER_FILEPATH": str(paths["journal"]),
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}
        journal = paths["journal"]
        aside = _set_aside_foreign_journal(paths)
        replay = journal.exists() and journal.stat().st_size > 0
        log = open(paths["log"], "ab")
        # A session of its own: the server outlives the kernel or CLI that started it.
        # moto's server with the placement of group instances AWS has (motoserver.py)
        proc = subprocess.Popen([sys.executable, "-m", "workbook.sandbox.motoserver", "-H", "127.0.0.1", "-p", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(endpoint, 0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start on {endpoint}; see {paths['log']}")
            time.sleep(0.1)
        t0 = time.perf_counter()
        replayed = 0
        if replay:
            replayed = sum(1 for _ in journal.open())
            _post(endpoint, "/moto-api/recorder/replay-recording")
            _post(endpoint, "/moto-api/recorder/start-recording")
        else:
            from .motoserver import FLAVOUR
            paths["flavour"].write_text(FLAVOUR)
            _post(endpoint, "/moto-api/recorder/start-recording")
            _post(endpoint, f"/moto-api/seed?a={SEED}")  # the first recorded call: IDs replay identically
        st = {"pid": proc.pid, "port": port, "endpoint": endpoint, "started": time.time(),
              "journal": str(journal)}
        paths["state"].write_text(json.dumps(st))
    # The local processes standing in for instances, databases and the load balancer come back too
    # (outside the lock: the data plane asks for the server's status).
    from . import dataplane
    if aside is not None:   # the data plane and the rehearsal's timeline stood for those resources
        dataplane.forget()
        rehearsal.forget()
        return {**st, "already_running": False, "replayed_calls": 0, "journal_set_aside": str(aside),
                "note": "the sandbox's server changed since its state was recorded, and that state would not "
                        "come back whole: the sandbox starts empty (run the notebooks again); the old journal "
                        f"is kept at {aside}"}
    plane = dataplane.resume()
    return {**st, "already_running": False, "replayed_calls": replayed,
            "replay_seconds": round(time.perf_counter() - t0, 2), "dataplane": plane}


def stop() -> dict[str, Any]:
    """Stop the data plane, every other process the sandbox recorded (an IAM drill's server), then the
    server by its own PID; the journal stays, so the next start restores the state (the data plane's
    databases keep their data too)."""
    from . import dataplane
    plane = dataplane.stop()  # first: its last metrics still reach the server
    others = _stop_tracked()
    with _locked():
        st = _read_state()
        stopped = False
        if st and _alive(st["pid"]):
            try:
                os.killpg(st["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
            for _ in range(50):
                if not _alive(st["pid"]):
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(st["pid"], signal.SIGKILL)
            stopped = True
        _paths()["state"].unlink(missing_ok=True)
        return {"stopped": stopped, "dataplane": plane, "other_processes": others}


def reset() -> dict[str, Any]:
    """Forget everything: stop, drop the journal (and the rehearsal's timeline), start empty if it was
    running."""
    from . import dataplane
    was_running = status()["running"]
    dataplane.forget()
    stop()
    _paths()["journal"].unlink(missing_ok=True)
    rehearsal.forget()
    return start() if was_running else {"running": False, "journal": "removed"}


def ensure_running() -> str:
    """The endpoint of a running sandbox, starting it if needed."""
    return start()["endpoint"]
