"""Before the dev database is frozen: what can make the move's dump fail on the dev host is tried first,
through SSM Run Command, so such a failure stops the move with the dev database still writable.

- the AWS CLI: present, or installed as the dump would install it (dnf, yum or apt-get);
- the upload: a small probe object written where the dump goes (under dumps/, with the host's own role,
  encrypted as the dump is), removed again by the workbook;
- free space where the dump is staged, when it is staged on the host at all (`staging_dir`): the
  database's size and a quarter more. A dump streamed to S3 stages nothing, and nothing is checked.
"""
from __future__ import annotations

import re
import shlex

from botocore.exceptions import ClientError

from . import dbmove_scripts as scripts
from . import quoting
from .connect import Context
from .dbmove_hosts import CommandFailed, NotReady, run_command

COMMENT = "workbook: preflight on the dev host, before the freeze"
# mktemp [-p DIR] [DIR/]workbook-dump-XXXXXX: the folder the dev script stages its dump in
_STAGED = re.compile(r"mktemp\s+(?:-p\s+(\S+)\s+)?[\"']?(?:([^\s\"']*)/)?workbook-dump-")


def staging_dir(dev_script: str) -> str | None:
    """Where the dev host's dump script stages the dump (as the script names it, shell words and all), or
    None when it stages nothing (the dump streams to S3)."""
    m = _STAGED.search(dev_script)
    if m is None:
        return None
    return m.group(1) or m.group(2) or "${TMPDIR:-/tmp}"


def probe_key(instance_id: str) -> str:
    return f"dumps/preflight/{instance_id}"


def script(engine: str, database: str, bucket: str, key: str, region: str, staging: str | None) -> str:
    """The preflight, in bash (dbmove_scripts.wrap runs it); prints `PREFLIGHT|what|detail` lines and fails
    with a message that says what to fix."""
    aws, uri = f"aws --region {shlex.quote(region)}", shlex.quote(quoting.s3_uri(bucket, key))
    lines = [scripts.PRELUDE, f"DB={shlex.quote(database)}", "need_aws",
             'echo "PREFLIGHT|aws|$(command -v aws)"',
             'probe=$(mktemp /tmp/workbook-probe-XXXXXX); trap \'rm -f "$probe"\' EXIT',
             'echo "workbook preflight from $(hostname)" > "$probe"',
             f'{aws} s3 cp "$probe" {uri} --sse AES256 --only-show-errors || fail "the dev host cannot upload the dump '
             f'to {quoting.s3_uri(bucket, "dumps/")} (its instance role needs s3:PutObject there)"',
             f'echo "PREFLIGHT|upload|written to {quoting.s3_uri(bucket, key)}"']
    if staging is None:
        return "\n".join(lines + ['echo "PREFLIGHT|space|nothing staged on the host"']) + "\n"
    if engine == "postgres":
        lines += ["command -v psql >/dev/null 2>&1 || fail 'no psql on this host: is PostgreSQL installed here?'",
                  'size=$(sudo -u postgres psql -X -At -d "$DB" -c "SELECT pg_database_size(current_database())")']
    else:
        lines += ["command -v mysql >/dev/null 2>&1 || fail 'no mysql client on this host: is MySQL/MariaDB installed here?'",
                  'size=$(sudo mysql --batch --skip-column-names "$DB" -e "SELECT COALESCE(SUM(data_length), 0) '
                  'FROM information_schema.tables WHERE table_schema = DATABASE()")']
    lines += [
        f'dir="{staging}"',   # the script's own words: the shell expands them as the dump's script would
        'size=${size:-0}',
        # a dump is about the data's size (pg_dump -Fc compresses, mysqldump's text runs a little over)
        "need=$(( size / 1024 * 5 / 4 + 1 ))",
        "free=$(df -Pk \"$dir\" | awk 'NR == 2 {print $4}')",
        '[ "${free:-0}" -ge "$need" ] || fail "the dump is staged in $dir, which has $((${free:-0} / 1024)) MiB free; '
        'the database is $((size / 1048576)) MiB, and its dump needs about $((need / 1024)) MiB: free space there"',
        'echo "PREFLIGHT|space|$dir: ${free} KiB free, ${need} KiB needed"']
    return "\n".join(lines) + "\n"


def run(ctx: Context, dev: str, engine: str, bucket: str, dev_script: str) -> dict[str, str]:
    """The preflight on the dev host; NotReady (nothing frozen, nothing moved) when it fails. Returns what
    each check found."""
    key = probe_key(dev)
    try:
        out = scripts.parse(run_command(ctx, dev, script(engine, ctx.p.dev_db_name, bucket, key, ctx.p.region,
                                                         staging_dir(dev_script)), COMMENT, output_bucket=bucket))
    except CommandFailed as e:
        raise NotReady(f"the move's preflight on the dev host failed, so nothing was frozen and nothing moved: the "
                       f"dev database takes writes as before. {e}") from None
    finally:
        try:
            ctx.client("s3").delete_object(Bucket=bucket, Key=key)
        except ClientError:
            pass   # a probe left behind is a few bytes in the stack's bucket, which the teardown empties
    return {r[0]: "|".join(r[1:]) for r in out.get("PREFLIGHT", []) if r}
