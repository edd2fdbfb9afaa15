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


def test_a_restore_whose_dump_stream_breaks_leaves_the_database_as_it_was(server, tmp_path):
    """The dump streams from S3 into pg_restore and psql: a stream cut short (the connection to S3 lost)
    must not commit the part that arrived, or the database holds rows no ledger accounts for."""
    with psycopg.connect(pg.uri_for(server["uri"], "postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE source")
        conn.execute("CREATE DATABASE target")
    with psycopg.connect(pg.uri_for(server["uri"], "source"), autocommit=True) as conn:
        conn.execute("CREATE TABLE items AS SELECT g AS id, md5(g::text) AS name FROM generate_series(1, 50000) g")
    dump = subprocess.run([pg.bin_path("pg_dump"), "-Fc", "-Z0", "-d", pg.uri_for(server["uri"], "source")],
                          capture_output=True, check=True).stdout
    (tmp_path / "cut.dump").write_bytes(dump[: len(dump) * 2 // 3])
    d = tmp_path / "bin"
    d.mkdir()
    (d / "aws").write_text('#!/bin/sh\ncase "$*" in *get-secret-value*) echo \'{"password": "Pw1"}\';; '
                           f'*head-object*) echo {len(dump)};; *" cp s3://"*) cat {tmp_path}/cut.dump;; esac\n')
    (d / "aws").chmod(0o755)
    for tool in ("psql", "pg_restore"):   # this server has no TLS (the sandbox's app servers say the same)
        (d / tool).write_text(f'#!/bin/sh\nPGSSLMODE=disable exec {pg.bin_path(tool)} "$@"\n')
        (d / tool).chmod(0o755)
    target = s.Target(engine="postgres", major="16", host=server["sock"], port=int(server["port"]), database="target",
                      user="postgres", master_secret="arn:m", app_secret="arn:a", app_user="app_user", region="r")
    script = s.target_restore(target, bucket="demo-dbmove-123456789012", key="dumps/k/app.dump", source="i-1",
                              dev_fingerprints="items|50000|x")
    run = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": f"{d}:{Path(pg.bin_path('psql')).parent}:/usr/bin:/bin", "HOME": str(tmp_path)},
                         stdin=subprocess.DEVNULL, timeout=60)
    assert run.returncode != 0 and "pg_restore: error" in run.stderr, run.stderr
    with psycopg.connect(pg.uri_for(server["uri"], "target")) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()
    assert tables == [], run.stderr
