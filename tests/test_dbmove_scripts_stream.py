"""The dump travels between the database and S3 as a stream, never through the hosts' /tmp: on Amazon
Linux 2023 /tmp is a tmpfs of half the RAM, so a dump larger than that failed (ENOSPC) after the dev
database was frozen, and took the database host's memory meanwhile. Here /tmp is a folder whose use is
measured while the dump is uploaded and restored."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workbook import dbmove_scripts as s

SIZE = 3_000_000   # the dump's bytes
TARGET = s.Target(engine="postgres", major="16", host="db.example", port=5432, database="app", user="dbadmin",
                  master_secret="arn:master", app_secret="arn:app", app_user="app_user", region="eu-west-1")


def _host(tmp_path: Path) -> dict[str, str]:
    """Tools that report what /tmp held (bytes) when they ran, and what the dump's consumers received."""
    d, tmp = tmp_path / "bin", tmp_path / "tmpfs"
    d.mkdir()
    tmp.mkdir()
    used = f'echo "$(basename "$0") $(du -sb {tmp} | cut -f1)" >> {tmp_path}/used'
    last = 'for a; do last=$a; done; if [ -f "$last" ]; then src=$last; else src=/dev/stdin; fi'
    bodies = {
        "mktemp": f'exec /usr/bin/mktemp --tmpdir={tmp} "$(basename "$1")"',   # "/tmp" is the measured folder
        "sudo": 'while [ "$1" = -u ]; do shift 2; done\nexec "$@"',
        "psql": 'case "$*" in *server_version_num*) echo 160004;; *pg_database_size*) echo 2500000;; '
                '*--version*) echo "psql (PostgreSQL) 16.4";; *) cat >/dev/null;; esac',
        "pg_dump": f"head -c {SIZE} /dev/zero",
        "mysqldump": f'case "$*" in *--help*) exit 0;; esac\nhead -c {SIZE} /dev/zero',
        "pg_restore": f'case "$*" in *--version*) echo "pg_restore (PostgreSQL) 16.4"; exit 0;; esac\n{used}\n'
                      f'{last}\necho "pg_restore $(wc -c < "$src")" >> {tmp_path}/received',
        "mysql": f'case "$*" in *--version*) echo "mysql  Ver 15.1 Distrib 10.11.6-MariaDB"; exit 0;; esac\n{used}\n'
                 f'echo "mysql $(wc -c)" >> {tmp_path}/received',
        "aws": f'{used}\ncase "$*" in\n'
               '  *get-secret-value*) echo \'{"password": "Secret123"}\';;\n'
               f'  *head-object*) echo {SIZE};;\n'
               f'  *" cp s3://"*) for a; do case "$a" in s3://*) dst=next;; *) [ "${{dst:-}}" = next ] && dst=$a;; esac; done\n'
               f'    if [ "$dst" = - ]; then head -c {SIZE} /dev/zero; else head -c {SIZE} /dev/zero > "$dst"; fi;;\n'
               f'  *" cp "*" s3://"*) {last.replace("last=$a", "case $a in s3://*) break;; esac; last=$a")}\n'
               f'    echo "aws $(wc -c < "$src") $*" >> {tmp_path}/received;;\n'
               "esac",
    }
    for name, body in bodies.items():
        (d / name).write_text("#!/bin/sh\n" + body + "\n")
        (d / name).chmod(0o755)
    return {"PATH": f"{d}:/usr/bin:/bin", "HOME": str(tmp_path)}


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = _host(tmp_path)
    return subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                          env=env, stdin=subprocess.DEVNULL, timeout=60)


def _most_held(tmp_path: Path) -> int:
    return max(int(line.split()[1]) for line in (tmp_path / "used").read_text().splitlines())


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_the_dump_goes_to_s3_as_it_is_made_not_through_tmp(engine, tmp_path):
    fn = s.dev_pg if engine == "postgres" else s.dev_mysql
    run = _run(fn("app", "demo-dbmove-123456789012", "dumps/k/app.dump", "eu-west-1", dump=True, freeze=True), tmp_path)
    assert run.returncode == 0, run.stderr
    upload = next(line.split() for line in (tmp_path / "received").read_text().splitlines() if line.startswith("aws"))
    assert upload[1] == str(SIZE) and "s3://demo-dbmove-123456789012/dumps/k/app.dump" in upload
    assert f"DUMP|{SIZE}" in run.stdout.splitlines()        # the size is still reported
    assert _most_held(tmp_path) < SIZE // 10, (tmp_path / "used").read_text()


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_the_restore_reads_the_dump_from_s3_as_it_goes_not_through_tmp(engine, tmp_path):
    target = s.Target(**{**TARGET.__dict__, "engine": engine})
    run = _run(s.target_restore(target, bucket="demo-dbmove-123456789012", key="dumps/k/app.dump", source="i-1",
                                dev_fingerprints="items|3|abc"), tmp_path)
    assert run.returncode == 0, run.stderr
    consumer = "pg_restore" if engine == "postgres" else "mysql"
    assert f"{consumer} {SIZE}" in (tmp_path / "received").read_text()
    assert f"RESTORED|{SIZE}" in run.stdout.splitlines()
    assert _most_held(tmp_path) < SIZE // 10, (tmp_path / "used").read_text()
