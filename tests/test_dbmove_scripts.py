"""dbmove_scripts.py: what the move sends to the instances (pure text), and the sandbox hosts' programs."""
from __future__ import annotations

import subprocess

import pytest

from workbook import dbmove_scripts as s

TARGET = s.Target(engine="mysql", major="8", host="db.example", port=3306, database="app", user="dbadmin",
                  master_secret="arn:master", app_secret="arn:app", app_user="app_user", region="eu-west-1")


def test_a_script_reaches_bash_verbatim_whatever_sh_is(tmp_path):
    script = "set -euo pipefail\necho \"$((1 + 1)) $HOME\" | cat\n"
    commands = s.wrap(script)
    run = subprocess.run(["/bin/sh", "-c", "\n".join(commands)], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/home/x"}, cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, "2 /home/x\n", "")
    failing = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap("echo oops >&2; exit 7"))], capture_output=True,
                             text=True, cwd=tmp_path)
    assert (failing.returncode, failing.stderr) == (7, "oops\n")
    with pytest.raises(ValueError):
        s.wrap(f"echo\n{s.END}\n")


def test_no_password_is_ever_in_a_script_and_the_tools_are_installed_by_it():
    restore = s.target_restore(TARGET, bucket="demo-dbmove-123456789012", key="dumps/k/app.sql", source="i-1 mysql app",
                               dev_fingerprints="items|3|abc")
    assert "secretsmanager get-secret-value" in restore and "password=" not in restore.replace("password=%s", "")
    assert "pkg_install mariadb105 default-mysql-client" in restore and "--region eu-west-1" in restore
    assert "already holds $rows rows" in restore          # refuses a database no ledger accounts for
    pg = s.target_restore(s.Target(**{**TARGET.__dict__, "engine": "postgres", "major": "16"}), bucket="demo-dbmove-123456789012",
                          key="k", source="x", dev_fingerprints="")
    assert "pkg_install postgresql16 postgresql-client-16" in pg and "'COMMIT;'" in pg   # one transaction (see _pg.py)
    assert "INSERT INTO public.workbook_move_ledger" in pg      # the ledger commits with the restore
    dump = s.dev_mysql("app", "demo-dbmove-123456789012", "dumps/k/app.sql", "eu-west-1", dump=True, freeze=True)
    assert "SET GLOBAL read_only = ON" in dump and "mysqldump --single-transaction" in dump and "pg_dump" not in dump


def test_parse_reads_only_result_lines():
    assert s.parse("noise\nFP|a|1|x\nLEDGER|moved|t|src|k\nlower|x\n") == {
        "FP": [["a", "1", "x"]], "LEDGER": [["moved", "t", "src", "k"]]}


def test_a_sandbox_host_without_an_instance_profile_has_no_credentials(monkeypatch, capsys):
    from workbook.sandbox import hostbin
    monkeypatch.setenv("WORKBOOK_SANDBOX_HOST", "i-0123456789abcdef0")
    monkeypatch.setenv("WORKBOOK_SANDBOX_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("WORKBOOK_SANDBOX_ROLE", raising=False)
    assert hostbin.aws(["s3", "cp", "/etc/hostname", "s3://b/k", "--region", "us-east-1"]) == 253
    assert "Unable to locate credentials" in capsys.readouterr().err


def test_the_sandbox_dnf_installs_only_what_amazon_linux_has(monkeypatch, tmp_path, capsys):
    from workbook.sandbox import hostbin
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hostbin.dnf(["install", "-y", "postgresql99"]) == 1
    assert "No match for argument: postgresql99" in capsys.readouterr().err


PASSWORDS = {"arn:master": "MasterPw0123456789", "arn:app": "AppPw0123456789abcdef"}


def _recording_host(tmp_path, versions: dict[str, str]):
    """A host whose tools record their argument vectors (what `ps` and /proc/*/cmdline show to every user)
    and what they read on stdin; the aws CLI answers get-secret-value with PASSWORDS."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    secrets = "".join(f"*{arn}*) echo '{{\"password\": \"{pw}\"}}';; " for arn, pw in PASSWORDS.items())
    for tool in ("sudo", "psql", "pg_dump", "pg_restore", "mysql", "mysqldump", "aws", "dnf", "apt-get"):
        version = versions.get(tool, "")
        body = (f'printf "%s " "$(basename "$0")" "$@" >> {tmp_path}/argv; echo >> {tmp_path}/argv\n'
                + (f'case "$*" in *--version*) echo "{version}"; exit 0;; esac\n' if version else "")
                + (f'case "$*" in {secrets} esac\n' if tool == "aws" else "")
                + (f'[ -t 0 ] || cat >> {tmp_path}/stdin\n' if tool in ("psql", "mysql") else "")
                + ('while [ "$1" = -u ]; do shift 2; done\nexec "$@"\n' if tool == "sudo" else ""))
        (d / tool).write_text("#!/bin/sh\n" + body)
        (d / tool).chmod(0o755)
    return d


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_no_password_is_on_a_command_line_of_the_restore(engine, tmp_path):
    """A process's arguments are world-readable (ps, /proc/*/cmdline): the master and the app user's
    passwords reach the database clients through their environment, a file of mode 600 or stdin."""
    target = s.Target(**{**TARGET.__dict__, "engine": engine, "major": "16" if engine == "postgres" else "8"})
    stubs = _recording_host(tmp_path, {"pg_restore": "pg_restore (PostgreSQL) 16.4", "psql": "psql (PostgreSQL) 16.4",
                                       "mysql": "mysql  Ver 15.1 Distrib 10.11.6-MariaDB"})
    script = s.target_restore(target, bucket="demo-dbmove-123456789012", key="dumps/k/app.dump", source="i-1",
                              dev_fingerprints="items|3|abc")
    run = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    argv = (tmp_path / "argv").read_text()
    assert "get-secret-value" in argv and {"postgres": "\npsql ", "mysql": "\nmysql "}[engine] in argv
    assert not [pw for pw in PASSWORDS.values() if pw in argv], argv
    assert PASSWORDS["arn:app"] in (tmp_path / "stdin").read_text()   # the app user still gets it


@pytest.mark.parametrize("installed", ["16", "17"])
def test_the_restore_uses_pg_restore_of_the_rds_major_not_a_newer_one(installed, tmp_path):
    """pg_restore 17 writes `SET transaction_timeout = 0`, which PostgreSQL 16 refuses (the restore stops
    at its first line): an app server with pg_restore 17 installs 16 for an RDS 16 target, and refuses
    when the install leaves it without one."""
    stubs = _recording_host(tmp_path, {"pg_restore": "pg_restore (PostgreSQL) 17.2", "psql": "psql (PostgreSQL) 17.2"})
    # dnf "installs" postgresql16 by putting pg_restore 16 first on the PATH, or leaves 17 in place
    (stubs / "dnf").write_text(f'#!/bin/sh\necho "dnf $*" >> {tmp_path}/argv\n'
                               f'sed -i "s/17\\.2/{installed}.4/" {stubs}/pg_restore {stubs}/psql\n')
    target = s.Target(**{**TARGET.__dict__, "engine": "postgres", "major": "16"})
    run = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(s.target_probe(target)))], capture_output=True, text=True,
                         cwd=tmp_path, env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)},
                         stdin=subprocess.DEVNULL, timeout=60)
    assert "dnf install -y -q postgresql16" in (tmp_path / "argv").read_text()
    if installed == "16":
        assert run.returncode == 0, run.stderr
    else:
        assert run.returncode != 0 and "pg_restore 16 is needed for RDS PostgreSQL 16 (found: 17)" in run.stderr


@pytest.mark.parametrize("server", ["mysql", "mariadb"])
def test_a_gtid_source_is_dumped_without_its_gtid_purged_where_mysqldump_knows_the_option(server, tmp_path):
    """MySQL's mysqldump of a GTID-enabled server writes SET @@GLOBAL.GTID_PURGED, which RDS refuses to a
    master without SUPER: --set-gtid-purged=OFF. MariaDB's mysqldump has no such option (it would stop)."""
    stubs = _recording_host(tmp_path, {})
    help_text = "  --set-gtid-purged[=name]\n" if server == "mysql" else "  --gtid  Used together with --master-data\n"
    (stubs / "mysqldump").write_text(f'#!/bin/sh\ncase "$*" in *--help*) printf "%s" "{help_text}"; exit 0;; esac\n'
                                     f'echo "mysqldump $*" >> {tmp_path}/argv\n')
    script = s.dev_mysql("app", "demo-dbmove-123456789012", "dumps/k/app.sql", "eu-west-1", dump=True, freeze=False)
    run = subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    dump = next(line for line in (tmp_path / "argv").read_text().splitlines() if line.startswith("mysqldump"))
    assert ("--set-gtid-purged=OFF" in dump) == (server == "mysql")
    assert "--routines" in dump and "--events" in dump
