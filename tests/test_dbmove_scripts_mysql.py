"""The dev host's dump (dbmove_scripts.dev_mysql) as the move makes it, from a real MariaDB, loaded into
another as RDS's master user loads it: all privileges on the database, no SUPER (RDS gives none)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pymysql
import pytest

from workbook import dbmove_scripts as s
from workbook.sandbox import mysql

SCHEMA = [
    "CREATE TABLE orders (id INT PRIMARY KEY, total INT NOT NULL, audited INT NOT NULL DEFAULT 0)",
    "INSERT INTO orders (id, total) VALUES (1, 10), (2, 20)",
    "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT NOT NULL)",
    "INSERT INTO notes VALUES (1, 'a row may say DEFINER=`root`@`localhost`\\nover two lines')",
    "CREATE DEFINER=`root`@`localhost` TRIGGER orders_audit BEFORE INSERT ON orders FOR EACH ROW SET NEW.audited = 1",
    "CREATE DEFINER=`root`@`localhost` VIEW big_orders AS SELECT id FROM orders WHERE total > 15",
    "CREATE DEFINER=`root`@`localhost` PROCEDURE close_day() BEGIN DELETE FROM orders WHERE total = 0; END",
    "CREATE DEFINER=`root`@`localhost` FUNCTION doubled(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
    "CREATE DEFINER=`root`@`localhost` EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO CALL close_day()",
]


@pytest.fixture(scope="module")
def servers():
    root = Path(tempfile.mkdtemp(prefix="wb-mysqldump-", dir="/var/tmp"))
    dev, rds = root / "dev", root / "rds"
    mysql.start(dev)
    mysql.start(rds)
    conn = pymysql.connect(unix_socket=str(mysql.socket_path(dev)), user="root", database="app", autocommit=True)
    for statement in SCHEMA:
        conn.cursor().execute(statement)
    conn.close()
    conn = pymysql.connect(unix_socket=str(mysql.socket_path(rds)), user="root", autocommit=True)
    conn.cursor().execute("CREATE USER master@localhost IDENTIFIED BY 'pw'")
    conn.cursor().execute("GRANT ALL PRIVILEGES ON `app`.* TO master@localhost")   # RDS's master: no SUPER
    conn.close()
    yield dev, rds, root
    mysql.stop(dev)
    mysql.stop(rds)
    shutil.rmtree(root, ignore_errors=True)


def _dev_host(tmp_path: Path, dev: Path) -> dict[str, str]:
    """root's socket login (its ~/.my.cnf, as on the sandbox's dev host); aws keeps what it is sent."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "sudo").write_text('#!/bin/sh\nexec "$@"\n')
    (d / "aws").write_text(f'#!/bin/sh\nif [ "$5" = - ]; then cat > {tmp_path}/dump.sql; else cp "$5" {tmp_path}/dump.sql; fi\n')
    for tool in ("sudo", "aws"):
        (d / tool).chmod(0o755)
    (tmp_path / ".my.cnf").write_text(f"[client]\nuser=root\nsocket={mysql.socket_path(dev)}\n")
    return {"PATH": f"{d}:/usr/bin:/bin", "HOME": str(tmp_path)}


def test_a_mysql_dump_carries_routines_events_and_triggers_and_loads_without_super(servers, tmp_path):
    dev, rds, _ = servers
    script = s.dev_mysql("app", "demo-dbmove-123456789012", "dumps/k/app.sql", "us-east-1", dump=True, freeze=False)
    run = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                         env=_dev_host(tmp_path, dev), stdin=subprocess.DEVNULL, timeout=120)
    assert run.returncode == 0, run.stderr
    load = subprocess.run(["mysql", "--no-defaults", f"--socket={mysql.socket_path(rds)}", "-u", "master", "-ppw", "app"],
                          stdin=(tmp_path / "dump.sql").open(), capture_output=True, text=True, timeout=120)
    assert load.returncode == 0, load.stderr     # e.g. ERROR 1227: DEFINER=`root`@`localhost` needs SUPER
    conn = pymysql.connect(unix_socket=str(mysql.socket_path(rds)), user="root", database="app", autocommit=True)
    cur = conn.cursor()
    cur.execute("SELECT routine_type, routine_name FROM information_schema.routines WHERE routine_schema = 'app' "
                "ORDER BY 2")
    assert cur.fetchall() == (("PROCEDURE", "close_day"), ("FUNCTION", "doubled"))
    cur.execute("SELECT event_name FROM information_schema.events WHERE event_schema = 'app'")
    assert cur.fetchall() == (("nightly",),)
    cur.execute("SELECT doubled(total) FROM big_orders JOIN orders USING (id)")
    assert cur.fetchall() == ((40,),)
    cur.execute("INSERT INTO orders (id, total) VALUES (3, 30)")
    cur.execute("SELECT audited FROM orders WHERE id = 3")
    assert cur.fetchall() == ((1,),)               # the trigger came along and fires
    cur.execute("SELECT body FROM notes")
    assert cur.fetchall() == (("a row may say DEFINER=`root`@`localhost`\nover two lines",),)   # rows as they were
    conn.close()
