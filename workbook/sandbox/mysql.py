"""Local MySQL-compatible servers for the sandbox: MariaDB from Debian's packages (`mariadb-server`),
standing in for a dev host that runs MySQL and for an RDS for MySQL instance.

Started like pgserver's PostgreSQL: each server has its own data folder under the sandbox's state and
listens on a unix socket only (no TCP port to collide); it keeps running after the Python process that
started it exits (the data plane outlives a notebook kernel). The socket lives under /tmp/workbook-mysql
because a unix socket's path may not exceed 107 bytes. Measured here (root, 2 cores): a new server
(install + start) about 3 s, 26 MB with the small InnoDB files set below; a restart under a second.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

DB_NAME = "app"
INSTALL_HINT = ("MariaDB is not installed (no mariadbd): the sandbox's MySQL stand-ins need it. Install it with:\n"
                "    sudo apt-get install -y mariadb-server        (or: make mariadb)")
SMALL = ["--innodb-log-file-size=8M", "--innodb-data-file-path=ibdata1:12M:autoextend",
         "--innodb-buffer-pool-size=32M"]


def _bin(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not path:
        raise RuntimeError(INSTALL_HINT)
    return path


def installed() -> bool:
    return bool(shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin"))


def socket_path(datadir: Path) -> Path:
    digest = hashlib.sha1(str(Path(datadir).resolve()).encode()).hexdigest()[:12]
    return Path("/tmp/workbook-mysql") / digest / "mysqld.sock"


def _user() -> list[str]:
    return ["--user=root"] if os.geteuid() == 0 else []


def pid(datadir: Path) -> int | None:
    try:
        n = int((Path(datadir) / "mysqld.pid").read_text().strip())
        stat = Path(f"/proc/{n}/stat").read_text()
        cmd = Path(f"/proc/{n}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return n if stat.rsplit(")", 1)[1].split()[0] != "Z" and b"mariadbd" in cmd else None


def uri(datadir: Path, user: str = "root", database: str = DB_NAME) -> str | None:
    if pid(datadir) is None:
        return None
    return f"mysql://{user}@localhost/{database}?unix_socket={socket_path(datadir)}"


def _connect(datadir: Path, timeout: float = 5.0):
    import pymysql
    return pymysql.connect(unix_socket=str(socket_path(datadir)), user="root", autocommit=True,
                           connect_timeout=int(timeout))


def start(datadir: Path, database: str = DB_NAME) -> str:
    """Start (installing the system tables first when new) and return root's URI of `database`."""
    datadir = Path(datadir)
    if pid(datadir) is None:
        datadir.parent.mkdir(parents=True, exist_ok=True)
        if not (datadir / "mysql").is_dir():
            shutil.rmtree(datadir, ignore_errors=True)
            subprocess.run([_bin("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", *_user(),
                            "--auth-root-authentication-method=normal", "--skip-test-db", *SMALL],
                           check=True, capture_output=True, timeout=120)
        sock = socket_path(datadir)
        sock.parent.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        (datadir / "mysqld.pid").unlink(missing_ok=True)
        subprocess.Popen([_bin("mariadbd"), "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
                          "--skip-networking", f"--pid-file={datadir / 'mysqld.pid'}", *_user(), *SMALL,
                          f"--log-error={datadir / 'error.log'}", "--skip-name-resolve", "--max-connections=300"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                _connect(datadir, 2).close()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"MariaDB did not start in {datadir}; see {datadir / 'error.log'}") from None
                time.sleep(0.1)
    conn = _connect(datadir)
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    finally:
        conn.close()
    return uri(datadir, "root", database) or ""


def ensure_user(datadir: Path, user: str, password: str = "", *, admin: bool = False, database: str = DB_NAME) -> str:
    """A login on the local socket: an admin (all privileges, as RDS's master user) or one with all
    privileges on `database` only (so the server's read_only binds it, as the dev app's user). Returns its URI."""
    conn = _connect(datadir)
    try:
        cur = conn.cursor()
        cur.execute("CREATE USER IF NOT EXISTS %s@'localhost' IDENTIFIED BY %s", (user, password))
        cur.execute("ALTER USER %s@'localhost' IDENTIFIED BY %s", (user, password))
        if admin:
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'localhost' WITH GRANT OPTION", (user,))
        else:
            cur.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO %s@'localhost'", (user,))
    finally:
        conn.close()
    from urllib.parse import quote
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"mysql://{auth}@localhost/{database}?unix_socket={socket_path(datadir)}"


def stop(datadir: Path, mode: str = "fast", timeout: float = 30.0) -> bool:
    """fast: a clean shutdown (SIGTERM); immediate: like pulling the plug (SIGKILL). Returns whether a
    server was running."""
    n = pid(datadir)
    if n is None:
        return False
    os.kill(n, signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{n}").exists() and pid(datadir) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid(datadir) is not None:
        os.kill(n, signal.SIGKILL)
        time.sleep(0.2)
    return True


def restart(datadir: Path) -> float:
    t0 = time.perf_counter()
    stop(datadir)
    start(datadir)
    return time.perf_counter() - t0
