"""The dev host's scripts (dbmove_scripts.dev_pg, unfreeze) run as the move runs them, against a real
PostgreSQL server: through a `sudo` that resets the environment as the real one does (env_reset), which
leaves the postgres user only what it has by default (its local socket)."""
from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from workbook import dbmove_scripts as s
from workbook.sandbox import pg

DB = "app$x"   # dev_db_name allows `$` (params.DB_NAME_RE)


@pytest.fixture(scope="module")
def server():
    # Not under pytest's temp root: as root PostgreSQL runs as user pgserver (see test_dbmove.py).
    root = Path(tempfile.mkdtemp(prefix="wb-devscripts-", dir="/var/tmp"))
    root.chmod(0o755)
    uri = pg.start(root / "data")
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DB}"')
        # a dev host whose server is not on UTC (the target's fingerprints are taken in UTC)
        conn.execute(f"ALTER DATABASE \"{DB}\" SET timezone = 'Pacific/Auckland'")
    with psycopg.connect(pg.uri_for(uri, DB), autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, created_at timestamptz NOT NULL)")
        conn.execute("INSERT INTO orders VALUES (1, '2026-01-02 03:04:05+00'), (2, '2026-06-30 23:59:59+00')")
    yield {"uri": pg.uri_for(uri, DB), "sock": pg.socket_dir(root / "data"), "port": pg.port(root / "data"),
           "root": root}
    pg.stop(root / "data")
    shutil.rmtree(root, ignore_errors=True)


def _sudo(tmp_path: Path, server: dict) -> Path:
    """sudo -u postgres CMD: CMD runs with a fresh environment, as sudo's env_reset leaves it."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    (d / "sudo").write_text('#!/bin/sh\nwhile [ "$1" = -u ]; do shift 2; done\n'
                            f'exec env -i PATH="$PATH" PGHOST={server["sock"]} PGPORT={server["port"]} '
                            'PGUSER=postgres "$@"\n')
    (d / "sudo").chmod(stat.S_IRWXU)
    return d


def _run(script: str, tmp_path: Path, server: dict) -> subprocess.CompletedProcess:
    path = f"{_sudo(tmp_path, server)}:{Path(pg.bin_path('psql')).parent}:/usr/bin:/bin"
    return subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": path, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL, timeout=60)


def _writable(uri: str) -> bool:
    with psycopg.connect(uri) as conn:
        return conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"


def test_a_dev_database_with_a_dollar_in_its_name_is_unfrozen_again(server, tmp_path):
    frozen = _run(s.dev_pg(DB, "b", "k", "us-east-1", dump=False, freeze=True), tmp_path, server)
    assert frozen.returncode == 0, frozen.stderr
    assert not _writable(server["uri"])
    lifted = _run(s.unfreeze("postgres", DB), tmp_path, server)
    assert lifted.returncode == 0, lifted.stderr
    assert "FREEZE|new sessions read-only: off" in lifted.stdout
    assert _writable(server["uri"])


def _fingerprints_in_utc(uri: str) -> list[str]:
    """What the restore's side computes on RDS (its sessions in UTC): `table|rows|md5` per table."""
    with psycopg.connect(uri, options="-c TimeZone=UTC") as conn:
        queries = [r[0] for r in conn.execute(s.PG_FINGERPRINT_SQL).fetchall()]
        return ["|".join(str(v) for v in conn.execute(q).fetchone()) for q in queries]


def test_the_dev_fingerprints_are_taken_in_utc_whatever_the_dev_servers_time_zone(server, tmp_path):
    run = _run(s.dev_pg(DB, "b", "k", "us-east-1", dump=False, freeze=False), tmp_path, server)
    assert run.returncode == 0, run.stderr
    dev = [line[3:] for line in run.stdout.splitlines() if line.startswith("FP|")]
    assert dev == _fingerprints_in_utc(server["uri"]) and dev[0].startswith("orders|2|")
