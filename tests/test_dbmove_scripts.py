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
    assert "pkg_install postgresql16 postgresql-client-16" in pg and "--single-transaction" in pg
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
