"""HTTP API + PostgreSQL (or MySQL/MariaDB, backend/mysql.py): /health, /items (list, create, read), /stats.

Why ThreadingHTTPServer: the app must run from user data on a bare instance with nothing but
Python and psycopg, and its load here is tens of requests a second; a thread per request with a
small connection pool is enough and keeps the dependency list at stdlib + psycopg.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.conninfo import make_conninfo

from .login import Connector, SecretLogin

from . import mysql

# Three tables so the move and its per-table checksums have more than one thing to get right.
TABLES = ("customers", "items", "orders")

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS items (
    id bigserial PRIMARY KEY, name text NOT NULL, price_cents integer NOT NULL CHECK (price_cents >= 0),
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id),
    item_id bigint NOT NULL REFERENCES items(id), quantity integer NOT NULL CHECK (quantity > 0),
    created_at timestamptz NOT NULL DEFAULT now());
"""

MAX_LIMIT = 500
HEALTH_TIMEOUT_MS = 1000
# What a dropped connection raises, and any database error, on either engine.
DISCONNECTED = (psycopg.OperationalError, psycopg.InterfaceError) + mysql.DISCONNECTED
DB_ERRORS = (psycopg.Error,) + mysql.ERRORS


def connect(url: str, connect_timeout: int = 5) -> Any:
    """A connection (autocommit) to a PostgreSQL or MySQL URL."""
    return _connect(url, connect_timeout)


Database = "str | Connector"   # a libpq URI / conninfo, or a Connector (login from a secret)


def _connect(db: Database, timeout: int = 5) -> Any:
    if isinstance(db, Connector):
        return db(timeout)
    if mysql.is_mysql(db):
        return mysql.connect(db, timeout)
    return psycopg.connect(db, autocommit=True, connect_timeout=timeout)


def release() -> str:
    """The version of the release this code came from ("" when it runs from a checkout, not from the
    installed wheel): /health reports it, so one can see which release each server runs."""
    from importlib import metadata
    try:
        dist = metadata.distribution("workbook-backend")
    except metadata.PackageNotFoundError:
        return ""
    installed = os.path.realpath(str(dist.locate_file("workbook/backend/app.py")))
    return dist.version if installed == os.path.realpath(__file__) else ""


def ensure_schema(url: Database) -> None:
    """Create the tables when missing. No DDL when they exist: a database under the move's write
    freeze is read-only, and even CREATE TABLE IF NOT EXISTS is refused there."""
    if mysql.is_mysql(url):
        return mysql.ensure_schema(url, TABLES)
    with _connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = ANY(%s)",
                            (list(TABLES),)).fetchone()[0]
        if have < len(TABLES):
            conn.execute(SCHEMA)


def seed(url: Database, rows: int) -> dict[str, int]:
    """Deterministic sample data (same rows -> same checksums): half items, a quarter customers,
    the rest orders. Runs only into empty tables, so a second call adds nothing."""
    ensure_schema(url)
    n_items, n_customers = max(1, rows // 2), max(1, rows // 4)
    n_orders = max(1, rows - n_items - n_customers)
    if mysql.is_mysql(url):
        return mysql.seed(url, n_items, n_customers, n_orders, TABLES)
    with _connect(url) as conn, conn.transaction():
        if conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0:
            conn.execute(
                "INSERT INTO items (name, price_cents, created_at) SELECT 'item-' || i, (i * 37) %% 10000, "
                "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' FROM generate_series(1, %s) i",
                (n_items,))
            conn.execute(
                "INSERT INTO customers (name, email, created_at) SELECT 'customer-' || i, 'c' || i || "
                "'@example.com', timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute' "
                "FROM generate_series(1, %s) i", (n_customers,))
            conn.execute(
                "INSERT INTO orders (customer_id, item_id, quantity, created_at) SELECT 1 + (i * 7) %% %s, "
                "1 + (i * 13) %% %s, 1 + i %% 5, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' "
                "FROM generate_series(1, %s) i", (n_customers, n_items, n_orders))
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    return counts


class PoolTimeout(RuntimeError):
    pass


class Pool:
    """A few reusable connections (psycopg_pool is one more dependency for ~30 lines).

    A connection that raised a connection-level error is dropped, so after a database restart
    (a failover) the next request reconnects instead of failing forever."""

    def __init__(self, url: Database, size: int = 8, connect_timeout: int = 2):
        self.url, self.size, self.connect_timeout = url, size, connect_timeout
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextlib.contextmanager
    def connection(self, wait_s: float = 5.0) -> Iterator[psycopg.Connection]:
        if not self._slots.acquire(timeout=wait_s):
            raise PoolTimeout("no database connection free")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = _connect(self.url, self.connect_timeout)
            yield conn
        except DISCONNECTED:
            if conn is not None:
                conn.close()
            conn = None
            raise
        finally:
            if conn is not None and not conn.closed:
                self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


class Backend:
    """The application: routes to SQL. One per process."""

    def __init__(self, url: Database, instance_id: str):
        self.pool = Pool(url)
        self.instance_id = instance_id
        self.release = release()
        self._db_id: str | None = None

    def read(self, fn: Callable[[psycopg.Connection], Any], wait_s: float = 5.0) -> Any:
        """Run a read; once more on a fresh connection if a pooled one had gone stale (the server
        restarted or failed over since it was opened). Writes are not retried: they may have landed."""
        try:
            with self.pool.connection(wait_s) as conn:
                return fn(conn)
        except DISCONNECTED:
            with self.pool.connection(wait_s) as conn:
                return fn(conn)

    def _ping(self, conn: Any) -> str:
        if mysql.is_mysql(self.pool.url):
            return mysql.identity(conn)
        conn.execute(f"SET statement_timeout = {HEALTH_TIMEOUT_MS}")
        conn.execute("SELECT 1").fetchone()
        # The cluster's system identifier tells which database server answered: tests and the
        # cutover use it to prove a request reached the RDS stand-in, not the dev database.
        return str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            self._db_id = self.read(self._ping, wait_s=1.0)
            return 200, {"status": "ok", "instance": self.instance_id, "database": self._db_id,
                         "release": self.release}
        except Exception as e:  # any failure is "unhealthy"; the type is enough, the text may hold a DSN
            return 503, {"status": "unhealthy", "instance": self.instance_id, "error": type(e).__name__,
                         "release": self.release}

    def list_items(self, limit: int, after_id: int) -> tuple[int, dict[str, Any]]:
        rows = self.read(lambda conn: conn.execute(
            "SELECT id, name, price_cents FROM items WHERE id > %s ORDER BY id LIMIT %s", (after_id, limit)).fetchall())
        return 200, {"items": [{"id": r[0], "name": r[1], "price_cents": r[2]} for r in rows],
                     "instance": self.instance_id}

    def get_item(self, item_id: int) -> tuple[int, dict[str, Any]]:
        r = self.read(lambda conn: conn.execute(
            "SELECT id, name, price_cents FROM items WHERE id = %s", (item_id,)).fetchone())
        if r is None:
            return 404, {"error": f"no item {item_id}"}
        return 200, {"id": r[0], "name": r[1], "price_cents": r[2], "instance": self.instance_id}

    def create_item(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name, price = body.get("name"), body.get("price_cents")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            return 400, {"error": "name: a non-empty text of at most 200 characters"}
        if not isinstance(price, int) or isinstance(price, bool) or price < 0:
            return 400, {"error": "price_cents: a whole number >= 0"}
        def insert(conn: Any) -> Any:
            if mysql.is_mysql(self.pool.url):   # MySQL has no RETURNING
                return (conn.execute("INSERT INTO items (name, price_cents) VALUES (%s, %s)",
                                     (name.strip(), price)).lastrowid,)
            return conn.execute("INSERT INTO items (name, price_cents) VALUES (%s, %s) RETURNING id",
                                (name.strip(), price)).fetchone()
        try:
            try:
                with self.pool.connection() as conn:
                    r = insert(conn)
            except psycopg.errors.AdminShutdown:
                # The pooled session had been ended by the server (a restart, or the write freeze
                # resetting sessions): the statement never ran, so one retry cannot write twice.
                with self.pool.connection() as conn:
                    r = insert(conn)
        except DB_ERRORS as e:
            # The write freeze of the database move (dbmove): refuse, do not lose the write.
            if isinstance(e, psycopg.errors.ReadOnlySqlTransaction) or mysql.read_only(e):
                return 503, {"error": "writes are frozen while the database moves; retry later"}
            raise
        return 201, {"id": r[0], "name": name.strip(), "price_cents": price, "instance": self.instance_id}

    def stats(self) -> tuple[int, dict[str, Any]]:
        counts = self.read(lambda conn: {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES})
        return 200, {"rows": counts, "instance": self.instance_id}


class Handler(BaseHTTPRequestHandler):
    server: "AppServer"
    server_version = "workbook-backend/1"

    def log_message(self, format: str, *args: Any) -> None:
        if os.environ.get("LOG_REQUESTS") == "1":
            super().log_message(format, *args)

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Instance-Id", self.server.backend.instance_id)
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> tuple[int, dict[str, Any]]:
        app = self.server.backend
        url = urlsplit(self.path)
        parts = [s for s in url.path.split("/") if s]
        if method == "GET" and url.path == self.server.health_path:
            return app.health()
        if parts[:1] == ["items"]:
            if len(parts) == 1 and method == "GET":
                q = parse_qs(url.query)
                try:
                    limit = min(MAX_LIMIT, max(1, int(q.get("limit", ["50"])[0])))
                    after = int(q.get("after_id", ["0"])[0])
                except ValueError:
                    return 400, {"error": "limit and after_id must be whole numbers"}
                return app.list_items(limit, after)
            if len(parts) == 1 and method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                if length > 64_000:
                    return 413, {"error": "body too large"}
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return 400, {"error": "body must be JSON"}
                return app.create_item(body if isinstance(body, dict) else {})
            if len(parts) == 2 and method == "GET":
                if not parts[1].isdigit():
                    return 400, {"error": "item id must be a whole number"}
                return app.get_item(int(parts[1]))
            return 405, {"error": f"{method} not allowed on {url.path}"}
        if method == "GET" and url.path == "/stats":
            return app.stats()
        return 404, {"error": f"no route {url.path}"}

    def _handle(self, method: str) -> None:
        try:
            status, payload = self._route(method)
        except (*DB_ERRORS, PoolTimeout) as e:
            status, payload = 503, {"error": f"database unavailable ({type(e).__name__})"}
        except Exception as e:  # a bug must answer 500, not drop the connection
            status, payload = 500, {"error": type(e).__name__}
        self._send(status, payload)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


class AppServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a replaced instance takes its port back at once
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], backend: Backend, health_path: str = "/health"):
        self.backend = backend
        self.health_path = health_path
        super().__init__(addr, Handler)


def make_server(url: Database, port: int, instance_id: str, host: str = "127.0.0.1",
                health_path: str = "/health") -> AppServer:
    return AppServer((host, port), Backend(url, instance_id), health_path)


def _imds_instance_id() -> str:
    """The EC2 instance id over IMDSv2 (a token first); "" when not on EC2."""
    import urllib.request
    try:
        token_req = urllib.request.Request("http://169.254.169.254/latest/api/token", method="PUT",
                                           headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        token = urllib.request.urlopen(token_req, timeout=0.5).read().decode()
        req = urllib.request.Request("http://169.254.169.254/latest/meta-data/instance-id",
                                     headers={"X-aws-ec2-metadata-token": token})
        return urllib.request.urlopen(req, timeout=0.5).read().decode()
    except OSError:
        return ""


def database_from_env(env: dict[str, str]) -> Database:
    """DATABASE_URL, or (on an instance, as 04_compute's user data sets it) DB_HOST, DB_PORT, DB_NAME
    and DB_SECRET_ARN: the login from that secret (login.py), read again when the database refuses it."""
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    if env.get("DB_HOST"):
        conninfo = make_conninfo(host=env["DB_HOST"], port=env.get("DB_PORT") or "5432",
                                 dbname=env.get("DB_NAME") or "app", sslmode=env.get("DB_SSLMODE", "require"),
                                 **({"user": env["DB_USER"]} if env.get("DB_USER") else {}))
        if env.get("DB_SECRET_ARN"):
            if env.get("DB_ENGINE") == "mysql":   # RDS for MySQL requires TLS (require_secure_transport)
                from urllib.parse import quote
                user, password = SecretLogin(env["DB_SECRET_ARN"], env.get("AWS_REGION", "")).current()
                return (f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@{env['DB_HOST']}:"
                        f"{env.get('DB_PORT') or 3306}/{env.get('DB_NAME') or 'app'}?ssl=1")
            return Connector(conninfo, SecretLogin(env["DB_SECRET_ARN"], env.get("AWS_REGION", "")))
        return make_conninfo(conninfo, user=env.get("DB_USER") or "postgres")
    raise SystemExit("DATABASE_URL is not set: give the libpq URI of the database, e.g. "
                     "postgresql://app@db.example.internal:5432/app (or DB_HOST, DB_PORT, DB_SECRET_ARN)")


def config_from_env(env: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if env is None else env)
    url = database_from_env(env)
    port = env.get("PORT") or env.get("APP_PORT") or "8080"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise SystemExit(f"PORT={port!r}: a TCP port number 1-65535")
    instance_id = env.get("INSTANCE_ID") or (_imds_instance_id() if env.get("DB_SECRET_ARN") else "") \
        or socket.gethostname()
    return {"url": url, "port": int(port), "instance_id": instance_id,
            "host": env.get("BIND_HOST", "127.0.0.1"),
            "health_path": env.get("HEALTH_PATH") or env.get("HEALTH_CHECK_PATH") or "/health"}


def serve_forever(cfg: dict[str, Any]) -> None:
    # The schema is created when missing so a fresh RDS database serves at once; a failure here
    # is not fatal (the DB may come up later): /health reports 503 until it does.
    for _ in range(3):
        try:
            ensure_schema(cfg["url"])
            break
        except DB_ERRORS:
            time.sleep(1)
    srv = make_server(cfg["url"], cfg["port"], cfg["instance_id"], cfg["host"], cfg["health_path"])
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        srv.backend.pool.close()
