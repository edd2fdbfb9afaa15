"""The data plane's database servers, whichever engine: PostgreSQL (pg.py, pgserver) or MySQL-compatible
(mysql.py, MariaDB). One entry of the data plane's config (`cfg["dev"]` or `cfg["rds"]`) says which:
`engine` plus `pgdata` (PostgreSQL) or `datadir` (MariaDB).

- the dev host's database: seeded with the sample rows; its app connects as a user without admin rights
  on MySQL (so the write freeze, the server's read_only, binds it, as on a real host);
- the RDS stand-in: its master user exists with the RDS-managed secret's password (MySQL checks it; the
  PostgreSQL stand-in trusts local connections), as RDS creates it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import mysql, pg


def folder(root: Path, name: str, engine: str) -> dict[str, str]:
    """The config keys of a new server `name` under the data plane's database root."""
    return {"engine": engine, "datadir" if engine == "mysql" else "pgdata":
            str(root / (f"{name}-mysql" if engine == "mysql" else name))}


def _mysql(entry: dict[str, Any]) -> bool:
    return entry.get("engine") == "mysql"


def start_dev(entry: dict[str, Any], seed_rows: int | None) -> str:
    """Start the dev host's database (seeded into empty tables only); returns the URL its app uses."""
    from ..backend import app as backend
    if _mysql(entry):
        root = mysql.start(Path(entry["datadir"]))
        if seed_rows:
            backend.seed(root, seed_rows)
        return mysql.ensure_user(Path(entry["datadir"]), "app")
    uri = pg.start(Path(entry["pgdata"]))
    if seed_rows:
        backend.seed(uri, seed_rows)
    return uri


def start_rds(entry: dict[str, Any], endpoint: str, region: str) -> str:
    """Start the RDS stand-in with its master user; returns the URI the app servers use."""
    db = entry.get("db_name") or pg.DB_NAME
    if _mysql(entry):
        uri = mysql.start(Path(entry["datadir"]), db)
        if entry.get("master_user"):
            mysql.ensure_user(Path(entry["datadir"]), entry["master_user"], _master_password(entry, endpoint, region),
                              admin=True, database=db)
        return uri
    uri = pg.uri_for(pg.start(Path(entry["pgdata"])), db)
    if entry.get("master_user"):
        pg.ensure_master(uri, entry["master_user"])
    return uri


def _master_password(entry: dict[str, Any], endpoint: str, region: str) -> str:
    """The RDS-managed secret's password, read from the sandbox's Secrets Manager ("" when unreadable)."""
    if not entry.get("master_secret") or not endpoint:
        return ""
    import json

    import boto3
    try:
        sm = boto3.client("secretsmanager", region_name=region or "us-east-1", endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        return json.loads(sm.get_secret_value(SecretId=entry["master_secret"])["SecretString"])["password"]
    except Exception:  # noqa: BLE001 - a replayed sandbox may have given the secret a new ARN; start() re-reads it
        return ""


def uri(entry: dict[str, Any], kind: str) -> str | None:
    """The local URI of a running server ("rds": of the RDS database)."""
    if _mysql(entry):
        return mysql.uri(Path(entry["datadir"]), "root", entry.get("db_name") or mysql.DB_NAME)
    u = pg.uri(Path(entry["pgdata"]))
    return pg.uri_for(u, entry.get("db_name", pg.DB_NAME)) if u and kind == "rds" else u


def pid(entry: dict[str, Any]) -> int | None:
    return mysql.pid(Path(entry["datadir"])) if _mysql(entry) else pg.postmaster_pid(Path(entry["pgdata"]))


def stop(entry: dict[str, Any], mode: str = "fast") -> bool:
    return mysql.stop(Path(entry["datadir"]), mode) if _mysql(entry) else pg.stop(Path(entry["pgdata"]), mode=mode)


def restart(entry: dict[str, Any]) -> float:
    return mysql.restart(Path(entry["datadir"])) if _mysql(entry) else pg.restart(Path(entry["pgdata"]))


def label(entry: dict[str, Any]) -> str:
    return "MariaDB (Debian's mariadb-server)" if _mysql(entry) else "PostgreSQL 16 (pgserver)"


def place(entry: dict[str, Any]) -> str:
    return entry.get("datadir") or entry.get("pgdata", "")


def identity(entry: dict[str, Any], kind: str) -> str:
    """Which server it is, as the app's /health reports the server it reads."""
    u = uri(entry, kind)
    if u is None:
        raise LookupError(f"the {kind} database is not running")
    if _mysql(entry):
        from ..backend import mysql as backend_mysql
        with backend_mysql.connect(u) as conn:
            return backend_mysql.identity(conn)
    import psycopg
    with psycopg.connect(u) as conn:
        return str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
