"""The move's preflight on the dev host (workbook/dbmove_preflight.py), run the way AWS-RunShellScript runs
it: under /bin/sh (dash), with stand-ins for the host's programs that record what they were asked."""
from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from workbook import dbmove_preflight as preflight
from workbook import dbmove_scripts as s

BUCKET, KEY = "demo-dbmove-123456789012", "dumps/preflight/i-0123"


def _bin(tmp_path: Path, **bodies: str) -> Path:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    base = {"sudo": '[ "$1" = -u ] && shift 2\nexec "$@"', "psql": "echo 0", "mysql": "echo 0",
            "aws": f'echo "$@" >> {tmp_path}/aws.log', "dnf": "exit 1"}
    for name, body in {**base, **bodies}.items():
        if body is None:
            continue
        (d / name).write_text("#!/bin/sh\n" + body + "\n")
        (d / name).chmod(stat.S_IRWXU)
    return d


def _run(script: str, tmp_path: Path, stubs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", "-c", "\n".join(s.wrap(script))], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
                          timeout=60)


def test_a_host_without_the_aws_cli_gets_it_installed_and_writes_a_probe_where_the_dump_goes(tmp_path):
    aws = f'#!/bin/sh\necho "$@" >> {tmp_path}/aws.log'
    stubs = _bin(tmp_path, aws=None, dnf=f'echo "$@" >> {tmp_path}/dnf.log\nprintf \'%s\\n\' \'{aws}\' > '
                                          f'{tmp_path}/bin/aws\nchmod +x {tmp_path}/bin/aws')
    run = _run(preflight.script("postgres", "app", BUCKET, KEY, "eu-west-1", None), tmp_path, stubs)
    assert run.returncode == 0, run.stderr
    assert "awscli-2" in (tmp_path / "dnf.log").read_text()
    uploads = [line for line in (tmp_path / "aws.log").read_text().splitlines() if line.startswith("--region eu-west-1 s3 cp")]
    assert len(uploads) == 1 and f"s3://{BUCKET}/{KEY} --sse AES256" in uploads[0]


def test_a_host_that_cannot_upload_fails_the_preflight_and_says_what_its_role_needs(tmp_path):
    stubs = _bin(tmp_path, aws='case "$*" in *" s3 cp "*) echo "upload failed: AccessDenied" >&2; exit 1;; esac')
    run = _run(preflight.script("mysql", "app", BUCKET, KEY, "eu-west-1", "/var/tmp"), tmp_path, stubs)
    assert run.returncode != 0 and "s3:PutObject" in run.stderr


@pytest.mark.parametrize("engine", ["postgres", "mysql"])
def test_a_staging_folder_without_room_for_the_dump_fails_the_preflight(tmp_path, engine):
    """The database is 200 MiB; the folder the dump is staged in has 10 MiB free: the dump would fail after
    the freeze. With 400 MiB free it passes."""
    big = "echo 209715200"
    df = 'printf "Filesystem 1024-blocks Used Available Capacity Mounted on\\n/dev/x 999999 1 %s 1%% /\\n" "$FREE"'
    stubs = _bin(tmp_path, psql=big, mysql=big, df=df)
    script = preflight.script(engine, "app", BUCKET, KEY, "eu-west-1", "/var/tmp")
    run = _run(script.replace("set -euo pipefail", "set -euo pipefail\nexport FREE=10240"), tmp_path, stubs)
    assert run.returncode != 0
    assert "/var/tmp, which has 10 MiB free" in run.stderr and "200 MiB" in run.stderr
    run = _run(script.replace("set -euo pipefail", "set -euo pipefail\nexport FREE=409600"), tmp_path, stubs)
    assert run.returncode == 0, run.stderr


def test_a_dump_streamed_to_s3_is_not_asked_for_room_on_the_host(tmp_path):
    stubs = _bin(tmp_path, psql="echo 209715200", df="echo 'no df for a streamed dump' >&2; exit 1")
    run = _run(preflight.script("postgres", "app", BUCKET, KEY, "eu-west-1", None), tmp_path, stubs)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("dump_script, staged", [
    ('tmp=$(mktemp /tmp/workbook-dump-XXXXXX)\npg_dump > "$tmp"', "/tmp"),
    ('tmp=$(mktemp "${TMPDIR:-/var/tmp}/workbook-dump-XXXXXX")', "${TMPDIR:-/var/tmp}"),
    ("tmp=$(mktemp -p /data workbook-dump-XXXXXX)", "/data"),
    ("sudo -u postgres pg_dump -Fc -d \"$DB\" | aws s3 cp - s3://b/k --sse AES256", None),
])
def test_the_folder_the_dev_script_stages_its_dump_in_is_the_one_checked(dump_script, staged):
    assert preflight.staging_dir(dump_script) == staged
