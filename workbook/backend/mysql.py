"""The app on MySQL/MariaDB (PyMySQL): what differs from PostgreSQL, and nothing else.

A `mysql://user:password@host:port/db` URL (or `?unix_socket=/path` for a local server; `?ssl=1` for
TLS) selects it. The connection is wrapped so the app calls it as it calls psycopg's
(`conn.execute(sql, params)` returns a cursor). The tables are the same three, with the same columns
and the same seed rows.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

try:
    import pymysql
    DISCONNECTED: tuple[type[BaseException], ...] = (pymysql.err.OperationalError, pymysql.err.InterfaceError)
    ERRORS: tuple[type[BaseException], ...] = (pymysql.err.Error,)
except ImportError:   # a PostgreSQL-only install
    pymysql = None
    DISCONNECTED = ERRORS = ()

READ_ONLY_CODES = (1290, 1836)   # the server runs read-only (the move's write freeze: SET GLOBAL read_only)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS customers (id BIGINT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, "
    "email TEXT NOT NULL, created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS items (id BIGINT AUTO_INCREMENT PRIMARY KEY, name TEXT NOT NULL, "
    "price_cents INT NOT NULL CHECK (price_cents >= 0), created_at DATETIME(6) NOT NULL DEFAULT "
    "CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
    "CREATE TABLE IF NOT EXISTS orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id BIGINT NOT NULL, "
    "item_id BIGINT NOT NULL, quantity INT NOT NULL CHECK (quantity > 0), created_at DATETIME(6) NOT NULL "
    "DEFAULT CURRENT_TIMESTAMP(6), FOREIGN KEY (customer_id) REFERENCES customers (id), "
    "FOREIGN KEY (item_id) REFERENCES items (id)) ENGINE=InnoDB",
)


def is_mysql(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("mysql://", "mariadb://"))


class Connection:
    """A PyMySQL connection that answers like psycopg's: execute() returns the cursor."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Any = None) -> Any:
        cur = self.raw.cursor()
        cur.execute(sql, params)
        return cur

    @property
    def closed(self) -> bool:
        return not self.raw.open

    def close(self) -> None:
        if self.raw.open:
            self.raw.close()

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(url: str, connect_timeout: int = 5, autocommit: bool = True) -> Connection:
    if pymysql is None:
        raise RuntimeError("a mysql:// DATABASE_URL needs PyMySQL (pip install PyMySQL)")
    u = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    kw: dict[str, Any] = {"user": unquote(u.username or "root"), "password": unquote(u.password or ""),
                          "database": (u.path or "/app").lstrip("/") or "app", "autocommit": autocommit,
                          "connect_timeout": connect_timeout, "charset": "utf8mb4"}
    if q.get("unix_socket"):
        kw["unix_socket"] = q["unix_socket"]
    else:
        kw.update(host=u.hostname or "127.0.0.1", port=u.port or 3306)
    if q.get("ssl") in ("1", "true", "require"):
        kw["ssl"] = {"ca": q["ssl_ca"]} if q.get("ssl_ca") else {"check_hostname": False}
    conn = Connection(pymysql.connect(**kw))
    conn.execute("SET time_zone = '+00:00'")
    return conn


def read_only(e: BaseException) -> bool:
    return bool(ERRORS) and isinstance(e, ERRORS) and bool(e.args) and e.args[0] in READ_ONLY_CODES


def ensure_schema(url: str, tables: tuple[str, ...]) -> None:
    with connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                            "AND table_name IN (%s, %s, %s)", tables).fetchone()[0]
        if have < len(tables):
            for stmt in SCHEMA:
                conn.execute(stmt)


def identity(conn: Connection) -> str:
    """Which server answered (the app's /health shows it): host, port and socket tell two servers apart."""
    return str(conn.execute("SELECT CONCAT_WS(':', @@hostname, @@port, @@socket)").fetchone()[0])


def seed(url: str, n_items: int, n_customers: int, n_orders: int, tables: tuple[str, ...]) -> dict[str, int]:
    """The same rows as PostgreSQL's seed (same names, prices and times), in batches."""
    from datetime import datetime, timedelta
    t0 = datetime(2024, 1, 1)
    with connect(url, autocommit=False) as conn:
        if conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0:
            cur = conn.raw.cursor()
            for sql, rows in (
                    ("INSERT INTO items (name, price_cents, created_at) VALUES (%s, %s, %s)",
                     ((f"item-{i}", (i * 37) % 10000, t0 + timedelta(seconds=i)) for i in range(1, n_items + 1))),
                    ("INSERT INTO customers (name, email, created_at) VALUES (%s, %s, %s)",
                     ((f"customer-{i}", f"c{i}@example.com", t0 + timedelta(minutes=i))
                      for i in range(1, n_customers + 1))),
                    ("INSERT INTO orders (customer_id, item_id, quantity, created_at) VALUES (%s, %s, %s, %s)",
                     ((1 + (i * 7) % n_customers, 1 + (i * 13) % n_items, 1 + i % 5, t0 + timedelta(seconds=i))
                      for i in range(1, n_orders + 1)))):
                batch: list[Any] = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 5000:
                        cur.executemany(sql, batch)
                        batch = []
                if batch:
                    cur.executemany(sql, batch)
            conn.raw.commit()
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
