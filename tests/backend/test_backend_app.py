"""The backend against a real PostgreSQL (pgserver): endpoints, health, write freeze, restart."""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from workbook.backend import app
from workbook.sandbox import pg


@pytest.fixture(scope="module")
def db():
    # Not under pytest's temp root: as root PostgreSQL runs as user pgserver, and a concurrent pytest
    # session resets that root to 0700 (see dataplane._pg_root).
    root = Path(tempfile.mkdtemp(prefix="wb-backend-", dir="/var/tmp"))
    pgdata = root / "pg"
    uri = pg.start(pgdata)
    app.seed(uri, 200)
    yield pgdata, uri
    pg.stop(pgdata)
    shutil.rmtree(root, ignore_errors=True)


def _serve(uri: str, instance_id: str = "i-test"):
    srv = app.make_server(uri, 0, instance_id)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


@pytest.fixture
def api(db):
    srv, url = _serve(db[1])
    yield url
    srv.shutdown()
    srv.server_close()
    srv.backend.pool.close()


def call(url: str, path: str, body: dict | None = None) -> tuple[int, dict, dict]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_seed_is_deterministic_and_runs_once(db):
    assert app.seed(db[1], 200) == {"customers": 50, "items": 100, "orders": 50}


def test_health_names_instance_and_database(api, db):
    status, body, headers = call(api, "/health")
    with psycopg.connect(db[1]) as conn:
        sysid = str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])
    assert (status, body["status"], body["database"]) == (200, "ok", sysid)
    assert headers["X-Instance-Id"] == "i-test"


def test_health_is_503_when_the_database_is_unreachable(tmp_path):
    srv, url = _serve(f"postgresql://postgres:@/app?host={tmp_path}")
    try:
        status, body, _ = call(url, "/health")
        assert status == 503 and body["status"] == "unhealthy"
        assert "host=" not in json.dumps(body)  # no connection string in the answer
        assert call(url, "/items/1")[0] == 503
    finally:
        srv.shutdown()
        srv.server_close()


def test_create_read_and_list_items(api):
    status, created, _ = call(api, "/items", {"name": "widget", "price_cents": 1250})
    assert status == 201
    status, got, _ = call(api, f"/items/{created['id']}")
    assert (status, got["name"], got["price_cents"]) == (200, "widget", 1250)
    status, page, _ = call(api, "/items?limit=3&after_id=10")
    assert status == 200 and [i["id"] for i in page["items"]] == [11, 12, 13]
    assert call(api, "/items/999999")[0] == 404


@pytest.mark.parametrize("body", [{"name": "", "price_cents": 1}, {"name": "x", "price_cents": -1},
                                  {"name": "x", "price_cents": "12"}, {"price_cents": 1}])
def test_bad_items_are_refused_with_the_field_named(api, body):
    status, answer, _ = call(api, "/items", body)
    assert status == 400 and ("name" in answer["error"] or "price_cents" in answer["error"])


def test_writes_are_refused_during_a_write_freeze(db):
    with psycopg.connect(db[1], autocommit=True) as conn:
        conn.execute("ALTER DATABASE app SET default_transaction_read_only = on")
    srv, url = _serve(db[1])  # new connections see the freeze
    try:
        status, body, _ = call(url, "/items", {"name": "late", "price_cents": 1})
        assert status == 503 and "frozen" in body["error"]
        assert call(url, "/items/1")[0] == 200
    finally:
        with psycopg.connect(db[1], autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("ALTER DATABASE app SET default_transaction_read_only = off")
        srv.shutdown()
        srv.server_close()
        srv.backend.pool.close()


def test_reads_survive_a_database_restart(api, db):
    assert call(api, "/items/1")[0] == 200
    pg.restart(db[0])
    assert call(api, "/items/1")[0] == 200   # the stale pooled connection is replaced, not reported
    assert call(api, "/health")[0] == 200


def test_missing_database_url_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit, match="DATABASE_URL"):
        app.config_from_env()


def test_instance_settings_from_04_compute_user_data_build_the_url():
    cfg = app.config_from_env({"DB_HOST": "demo-db.x.us-east-1.rds.amazonaws.com", "DB_PORT": "5432",
                               "APP_PORT": "8081", "HEALTH_CHECK_PATH": "/healthz", "INSTANCE_ID": "i-1"})
    assert conninfo_to_dict(cfg["url"]) == {"host": "demo-db.x.us-east-1.rds.amazonaws.com", "port": "5432",
                                            "dbname": "app", "sslmode": "require", "user": "postgres"}
    assert (cfg["port"], cfg["health_path"], cfg["instance_id"]) == (8081, "/healthz", "i-1")


def test_schema_and_seed_leave_a_frozen_database_alone(db):
    with psycopg.connect(db[1], autocommit=True) as conn:
        conn.execute("ALTER DATABASE app SET default_transaction_read_only = on")
    try:
        app.ensure_schema(db[1])
        assert app.seed(db[1], 200)["items"] >= 100
    finally:
        with psycopg.connect(db[1], autocommit=True) as conn:
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("ALTER DATABASE app SET default_transaction_read_only = off")
