"""The shell scripts the database move runs on the instances, one engine at a time (pure text).

Each script is bash; `wrap` turns it into the `commands` of AWS-RunShellScript, which the SSM agent
hands to /bin/sh (dash on Debian and Ubuntu, where `set -o pipefail` is an error): the script is written
to a temporary file by a quoted here-document, which every POSIX shell reads verbatim, and run with
bash explicitly. Scripts print their results as `KIND|field|field` lines on stdout, progress and errors
on stderr (the notebook shows the stderr of a failed command).

Passwords never appear in a script: the instance reads them from Secrets Manager with its own role at
run time. The client tools are installed by the script itself when the host lacks them (dnf on Amazon
Linux, apt-get on Debian/Ubuntu).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from . import quoting

LEDGER_TABLE = "workbook_move_ledger"
END = "WORKBOOK_SCRIPT_END"

# Per table: row count and a checksum over every row's text, independent of row order and of the
# primary key's name. PostgreSQL: md5 over the sorted md5 of each row. MySQL/MariaDB (no ordered
# aggregate over millions of rows without a length limit): the sum and the xor of 60-bit slices of each
# row's md5. A changed value, a missing row or an extra row changes either.
PG_FINGERPRINT_SQL = (
    "SELECT format('SELECT %L, count(*), md5(coalesce(string_agg(md5(t::text), '''' ORDER BY md5(t::text)), '''')) "
    "FROM %I.%I t', CASE WHEN table_schema = 'public' THEN table_name ELSE table_schema || '.' || table_name END, "
    "table_schema, table_name) FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
    f"AND table_name <> '{LEDGER_TABLE}' ORDER BY 1")
MYSQL_FINGERPRINT_SQL = (
    "SET SESSION group_concat_max_len = 1048576; SET time_zone = '+00:00'; "
    "SELECT CONCAT('SET time_zone = ''+00:00''; SELECT ', QUOTE(c.table_name), ', COUNT(*), COALESCE(MD5(CONCAT("
    "SUM(CAST(CONV(SUBSTRING(h, 1, 15), 16, 10) AS UNSIGNED)), '':'', "
    "BIT_XOR(CAST(CONV(SUBSTRING(h, 17, 15), 16, 10) AS UNSIGNED)))), '''') FROM (SELECT MD5(CONCAT_WS(''|'', ', "
    "GROUP_CONCAT(CONCAT('IFNULL(`', REPLACE(c.column_name, '`', '``'), '`, ''<null>'')') ORDER BY c.ordinal_position "
    "SEPARATOR ', '), ')) AS h FROM `', REPLACE(c.table_name, '`', '``'), '`) AS x;') "
    "FROM information_schema.columns c JOIN information_schema.tables t ON t.table_schema = c.table_schema "
    "AND t.table_name = c.table_name WHERE c.table_schema = DATABASE() AND t.table_type = 'BASE TABLE' "
    f"AND c.table_name <> '{LEDGER_TABLE}' GROUP BY c.table_name ORDER BY c.table_name")

# DEFINER=`user`@`host` of triggers, views, routines and events: RDS's master may not name another user
# (ERROR 1227, no SUPER), so the objects are created as the master instead, as AWS advises for imports.
# Only where mysqldump writes it, a versioned comment (/*!50017 DEFINER=...*/) or a line's CREATE: a row's
# value starts no line (newlines in values are escaped) and is left alone.
_DEFINER = "DEFINER=`([^`]|``)*`(@`([^`]|``)*`)?"
STRIP_DEFINER = rf"s#(/\*![0-9]{{5}} ){_DEFINER}#\1#g; s#^CREATE {_DEFINER} #CREATE #"

PG_LEDGER_DDL = (f"CREATE TABLE IF NOT EXISTS public.{LEDGER_TABLE} (id serial PRIMARY KEY, state text NOT NULL, "
                 "moved_at timestamptz NOT NULL DEFAULT now(), source text NOT NULL, dump_key text NOT NULL, "
                 "fingerprints text NOT NULL DEFAULT '')")
MYSQL_LEDGER_DDL = (f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (id INT AUTO_INCREMENT PRIMARY KEY, state VARCHAR(20) "
                    "NOT NULL, moved_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, source VARCHAR(255) NOT NULL, "
                    "dump_key VARCHAR(1024) NOT NULL, fingerprints MEDIUMTEXT NOT NULL)")


@dataclass(frozen=True)
class Target:
    """Where the restore goes: the RDS endpoint, the master user and the secrets to read there."""
    engine: str           # postgres | mysql
    major: str            # the RDS engine's major version (PostgreSQL: the client tools' major too)
    host: str
    port: int
    database: str
    user: str
    master_secret: str
    app_secret: str
    app_user: str
    region: str


def sql_literal(text: str, engine: str = "postgres") -> str:
    """A string literal for a script's SQL (no driver binds there): quoting.py's, per engine."""
    return quoting.mysql_literal(text) if engine == "mysql" else quoting.pg_literal(text)


def wrap(script: str) -> list[str]:
    """AWS-RunShellScript `commands` that run `script` under bash, whatever /bin/sh is."""
    if END in script:
        raise ValueError(f"a script must not contain {END}")
    return ["f=$(mktemp /tmp/workbook-XXXXXX)", f"cat > \"$f\" <<'{END}'", *script.rstrip("\n").split("\n"), END,
            "bash \"$f\"; rc=$?; rm -f \"$f\"; exit $rc"]


PRELUDE = r"""set -euo pipefail
umask 077
export LC_ALL=C
fail() { echo "workbook: $*" >&2; exit 1; }
pkg_install() {  # $1: the dnf package, $2: the apt package
  if command -v dnf >/dev/null 2>&1; then dnf install -y -q "$1" >&2
  elif command -v yum >/dev/null 2>&1; then yum install -y -q "$1" >&2
  elif command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >&2; }
  else fail "no dnf, yum or apt-get on $(hostname): install $1 (or $2) by hand"; fi
}
need_aws() { command -v aws >/dev/null 2>&1 || pkg_install awscli-2 awscli; command -v aws >/dev/null 2>&1 || fail "no aws CLI"; }
"""


def _aws(region: str) -> str:
    return f"aws --region {shlex.quote(region)}"


# ---- on the dev host: freeze, fingerprint, dump, upload ---------------------------------------------
def dev_pg(database: str, bucket: str, key: str, region: str, *, dump: bool, freeze: bool, rds_major: str = "") -> str:
    """PostgreSQL on the dev host, reached as the OS user postgres over its local socket (peer auth).
    With rds_major: refuses, before anything is frozen, a dev server of a newer major (its dump cannot be
    restored there); reports the dev server's major as `SERVER|postgres|N`."""
    # sudo resets the environment (env_reset): the session's options go through `env` on its far side.
    # Every session is in UTC, as the restore's on RDS are, so a timestamptz reads the same on both.
    lines = [PRELUDE, f"DB={shlex.quote(database)}",
             "dev_psql() { sudo -u postgres env PGOPTIONS=\"-c TimeZone=UTC ${PG_EXTRA:-}\" psql -X -q "
             "-v ON_ERROR_STOP=1 -d \"$DB\" \"$@\"; }",
             "command -v psql >/dev/null 2>&1 || fail 'no psql on this host: is PostgreSQL installed here?'",
             f"FP_SQL={shlex.quote(PG_FINGERPRINT_SQL)}"]
    if rds_major:
        lines += [
            "v=$(dev_psql -At -c 'SHOW server_version_num')",
            'case "$v" in ""|*[!0-9]*) fail "could not read the dev server\'s version (got: $v)";; esac',
            'dev_major=$((v / 10000)); echo "SERVER|postgres|$dev_major"',
            f'[ "$dev_major" -le {int(rds_major)} ] || fail "the dev database runs PostgreSQL $dev_major, newer than the '
            f"RDS instance's {int(rds_major)}: its dump cannot be restored there, so nothing was frozen or moved. "
            'Recreate the RDS instance with db_engine_version=$dev_major (03_database)"']
    if dump:
        lines += ["need_aws"]   # before the freeze: what can fail first leaves the dev database as it was
    if freeze:
        lines += [
            # New sessions start read-only; the app's open sessions are ended so it reconnects read-only.
            # This session is not read-only itself, so a rerun finds an earlier attempt's freeze and sets it again.
            "PG_EXTRA='-c default_transaction_read_only=off' dev_psql "
            "-c \"ALTER DATABASE \\\"$DB\\\" SET default_transaction_read_only = on\"",
            "dev_psql -At -c \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'\" >/dev/null"]
    lines += ['echo "FREEZE|new sessions read-only: $(dev_psql -At -c \'SHOW default_transaction_read_only\')"']
    lines += ['dev_psql -At -c "$FP_SQL" | while IFS= read -r q; do dev_psql -At -F "|" -c "$q"; done | sed "s/^/FP|/"']
    if dump:
        lines += _upload("sudo -u postgres pg_dump -Fc --no-owner --no-acl -d \"$DB\"",
                         "dev_psql -At -c 'SELECT pg_database_size(current_database())'", bucket, key, region)
    return "\n".join(lines) + "\n"


def dev_mysql(database: str, bucket: str, key: str, region: str, *, dump: bool, freeze: bool) -> str:
    """MySQL/MariaDB on the dev host, reached as root over its local socket (`sudo mysql`)."""
    lines = [PRELUDE, f"DB={shlex.quote(database)}", 'MYSQL="sudo mysql --batch --skip-column-names"',
             "command -v mysql >/dev/null 2>&1 || fail 'no mysql client on this host: is MySQL/MariaDB installed here?'",
             f"FP_SQL={shlex.quote(MYSQL_FINGERPRINT_SQL)}"]
    if dump:
        lines += ["need_aws"]   # before the freeze: what can fail first leaves the dev database as it was
    if freeze:
        # read_only does not bind admin logins, and a one-box dev app often logs in as root: MySQL's
        # super_read_only binds them too (and implies read_only). MariaDB has none: its read_only binds
        # every login without READ_ONLY ADMIN.
        lines += ['$MYSQL -e "SET GLOBAL super_read_only = ON" 2>/dev/null || $MYSQL -e "SET GLOBAL read_only = ON"']
    lines += ['echo "FREEZE|read_only: $($MYSQL -e "SELECT IF(@@global.read_only, \'on\', \'off\')")"']
    lines += ['$MYSQL "$DB" -e "$FP_SQL" | $MYSQL "$DB" | tr "\\t" "|" | sed "s/^/FP|/"']
    if dump:
        # MySQL's mysqldump of a GTID source writes SET @@GLOBAL.GTID_PURGED, which RDS refuses; MariaDB's
        # has no such option and would stop at it.
        lines += ['case "$(mysqldump --help 2>/dev/null || true)" in *--set-gtid-purged*) GTID=--set-gtid-purged=OFF;; '
                  "*) GTID=;; esac"]
        lines += _upload("sudo mysqldump --single-transaction --routines --events --triggers --hex-blob --no-tablespaces "
                         f"--default-character-set=utf8mb4 $GTID \"$DB\" | sed -E {shlex.quote(STRIP_DEFINER)}",
                         '$MYSQL "$DB" -e "SELECT COALESCE(SUM(data_length + index_length), 0) FROM '
                         'information_schema.tables WHERE table_schema = DATABASE()"', bucket, key, region)
    return "\n".join(lines) + "\n"


def _upload(dump_cmd: str, size_cmd: str, bucket: str, key: str, region: str) -> list[str]:
    """The dump streamed to S3, never kept on the host: /tmp is a tmpfs of half the RAM on Amazon Linux
    2023, and a dump there failed past its size after the freeze. dd counts the bytes on the way. The CLI
    cuts a stream into at most 10,000 parts, of 8 MiB unless --expected-size says more is coming: four
    times the database's size on disk (a dump's text seldom exceeds that) and 1 GiB."""
    return [f"db_bytes=$({size_cmd}); case \"$db_bytes\" in \"\"|*[!0-9]*) db_bytes=0;; esac",
            "n=$(mktemp /tmp/workbook-count-XXXXXX); trap 'rm -f \"$n\"' EXIT",
            f"{dump_cmd} | dd bs=65536 2>\"$n\" | {_aws(region)} s3 cp - {shlex.quote(quoting.s3_uri(bucket, key))} "
            "--expected-size $((4 * db_bytes + 1073741824)) --sse AES256 --only-show-errors",
            'echo "DUMP|$(sed -n "s/^\\([0-9][0-9]*\\) bytes.*/\\1/p" "$n")"']


def unfreeze(engine: str, database: str) -> str:
    """Lift the write freeze on the dev host (the rollback of the move's freeze)."""
    if engine == "mysql":
        return PRELUDE + 'sudo mysql -e "SET GLOBAL read_only = OFF"\necho "FREEZE|off"\n'
    # The name reaches bash as a quoted word in $DB, never as script text: a `$` in it (params allow one)
    # would be expanded. The frozen database starts every session read-only, this one too: the session's
    # own option (the connection's, which outranks the database's default) lets it lift the freeze.
    return PRELUDE + "\n".join([
        f"DB={shlex.quote(database)}",
        "sudo -u postgres env PGOPTIONS='-c default_transaction_read_only=off' psql -X -q -v ON_ERROR_STOP=1 "
        "-d \"$DB\" -c \"ALTER DATABASE \\\"$DB\\\" SET default_transaction_read_only = off\"",
        'echo "FREEZE|new sessions read-only: $(sudo -u postgres psql -X -At -d "$DB" '
        "-c 'SHOW default_transaction_read_only')\""]) + "\n"


# ---- on an app server: the ledger, the restore, the app's own user -----------------------------------
def _target_setup(t: Target) -> list[str]:
    """Client tools (PostgreSQL: of the RDS major), the connection settings, the master password."""
    # The role's read permission was just granted (dbmove_hosts.app_access): IAM may take seconds to apply it.
    secret = (f"secret_field() {{ for i in 1 2 3 4 5 6; do v=$({_aws(t.region)} secretsmanager get-secret-value "
              "--secret-id \"$1\" --query SecretString --output text) && break; [ $i = 6 ] && fail \"could not read "
              "the secret $1\"; sleep 5; done; printf '%s' \"$v\" | python3 -c 'import json, sys; "
              "print(json.load(sys.stdin)[sys.argv[1]])' \"$2\"; }")
    lines = [PRELUDE, "need_aws", secret, f"DB={shlex.quote(t.database)}", f"FP_LEDGER={LEDGER_TABLE}"]
    if t.engine == "postgres":
        major = t.major
        lines += [
            "pg_major() { { pg_restore --version 2>/dev/null || true; } | grep -oE '[0-9]+' | head -n1; }",
            # The client of the RDS major exactly: a newer pg_restore writes settings an older server refuses
            # (17's SET transaction_timeout stops a restore into 16). Debian and PGDG keep each major's
            # tools in a folder of their own, in front of which /usr/bin may hold another major's.
            f"major_first() {{ for d in /usr/lib/postgresql/{major}/bin /usr/pgsql-{major}/bin; do "
            'if [ -x "$d/pg_restore" ]; then PATH="$d:$PATH"; fi; done; }',
            "major_first",
            f'[ "$(pg_major)" = {major} ] || pkg_install postgresql{major} postgresql-client-{major} || true',
            "major_first",
            f'[ "$(pg_major)" = {major} ] || fail "pg_restore {major} is needed for RDS PostgreSQL {major} (found: '
            f'$(pg_major)): install postgresql{major} (postgresql-client-{major} on Debian/Ubuntu) on the app server"',
            f"export PGHOST={shlex.quote(t.host)} PGPORT={t.port} PGUSER={shlex.quote(t.user)} PGDATABASE=\"$DB\" "
            "PGSSLMODE=require PGOPTIONS='-c TimeZone=UTC' PGCONNECT_TIMEOUT=10",
            f"export PGPASSWORD=\"$(secret_field {shlex.quote(t.master_secret)} password)\"",
            'PSQL="psql -X -q -v ON_ERROR_STOP=1"',
            f"FP_SQL={shlex.quote(PG_FINGERPRINT_SQL)}",
            'fingerprint() { $PSQL -At -c "$FP_SQL" | while IFS= read -r q; do $PSQL -At -F "|" -c "$q"; done; }',
            "ledger() { $PSQL -At -F '|' -c \"SELECT state, moved_at, source, dump_key FROM public.$FP_LEDGER "
            "ORDER BY id DESC LIMIT 1\" 2>/dev/null || true; }",
            "moved_fp() { $PSQL -At -c \"SELECT fingerprints FROM public.$FP_LEDGER WHERE state = 'moved' "
            "ORDER BY id DESC LIMIT 1\" 2>/dev/null || true; }"]
    else:
        lines += [
            "command -v mysql >/dev/null 2>&1 || pkg_install mariadb105 default-mysql-client",
            "command -v mysql >/dev/null 2>&1 || fail 'no mysql client'",
            # MariaDB's client takes --ssl, MySQL's --ssl-mode; both read the option file given first.
            'if mysql --version | grep -qi mariadb; then SSL="ssl=1"; else SSL="ssl-mode=REQUIRED"; fi',
            'cnf=$(mktemp /tmp/workbook-my-XXXXXX); trap \'rm -f "$cnf"\' EXIT',
            f"printf '[client]\\nhost=%s\\nport=%s\\nuser=%s\\npassword=%s\\n%s\\n' {shlex.quote(t.host)} {t.port} "
            f"{shlex.quote(t.user)} \"$(secret_field {shlex.quote(t.master_secret)} password)\" \"$SSL\" > \"$cnf\"",
            'MYSQL="mysql --defaults-extra-file=$cnf --batch --skip-column-names --connect-timeout=10"',
            f"FP_SQL={shlex.quote(MYSQL_FINGERPRINT_SQL)}",
            'fingerprint() { $MYSQL "$DB" -e "$FP_SQL" | $MYSQL "$DB" | tr "\\t" "|"; }',
            "ledger() { $MYSQL \"$DB\" -e \"SELECT state, moved_at, source, dump_key FROM $FP_LEDGER "
            "ORDER BY id DESC LIMIT 1\" 2>/dev/null | tr '\\t' '|' || true; }",
            "moved_fp() { $MYSQL --raw \"$DB\" -e \"SELECT fingerprints FROM $FP_LEDGER WHERE state = 'moved' "
            "ORDER BY id DESC LIMIT 1\" 2>/dev/null || true; }"]
    return lines


def target_probe(t: Target) -> str:
    """What the RDS database holds: the ledger's last entry, the fingerprints recorded at the move, and
    every table's fingerprint now. Changes nothing."""
    return "\n".join(_target_setup(t) + [
        'l=$(ledger); [ -n "$l" ] && echo "LEDGER|$l"',
        'moved_fp | sed "/^$/d; s/^/MOVED|/"',
        'fingerprint | sed "s/^/FP|/"']) + "\n"


def target_restore(t: Target, *, bucket: str, key: str, source: str, dev_fingerprints: str) -> str:
    """Download the dump, refuse when the database holds rows no move ledger accounts for, restore, write
    the ledger, create or update the app's own user, fingerprint. PostgreSQL: the restore and its ledger
    entry commit in one transaction. MySQL (DDL commits by itself): a `started` entry first, `moved`
    last; a rerun may only redo a move whose entry says `started`."""
    fp, src, dump_key = (sql_literal(v, t.engine) for v in (dev_fingerprints, source, key))
    lines = _target_setup(t) + [
        'state=$(ledger | cut -d"|" -f1)',
        'if [ "$state" = moved ]; then echo "LEDGER|$(ledger)"; fingerprint | sed "s/^/FP|/"; exit 0; fi',
        'rows=$(fingerprint | awk -F"|" \'{s += $2} END {print s + 0}\')',
        'if [ "$rows" -gt 0 ] && [ "$state" != started ]; then fail "the RDS database $DB already holds $rows rows '
        'and no move ledger ($FP_LEDGER) says a move put them there: it is not overwritten"; fi',
        # The instance role's permission to read the dump may take seconds to reach S3 (IAM propagation): it
        # is waited for before the dump streams from S3 into the restore (never kept on the host: /tmp is
        # a tmpfs of half the RAM on Amazon Linux 2023).
        f"for i in 1 2 3 4 5 6; do size=$({_aws(t.region)} s3api head-object --bucket {shlex.quote(bucket)} --key "
        f"{shlex.quote(key)} --query ContentLength --output text) && break; [ $i = 6 ] && fail 'could not read the "
        "dump from S3'; sleep 5; done",
        f"dump_stream() {{ {_aws(t.region)} s3 cp {shlex.quote(quoting.s3_uri(bucket, key))} - --only-show-errors; }}",
        f"APP_PW=\"$(secret_field {shlex.quote(t.app_secret)} password)\"",
        'case "$APP_PW" in *[!A-Za-z0-9]*|"") fail "the app user secret must hold an alphanumeric password";; esac']
    app = shlex.quote(t.app_user)
    if t.engine == "postgres":
        ledger = (f"{PG_LEDGER_DDL}; INSERT INTO public.{LEDGER_TABLE} (state, source, dump_key, fingerprints) "
                  f"VALUES ('moved', {src}, {dump_key}, {fp});")
        lines += [
            # pg_restore --clean only drops tables the check above found empty (an app server's first start
            # creates them); the ledger entry is part of the restore's one transaction. COMMIT is written
            # only after the whole dump (not --single-transaction, which commits at the end of the input): a
            # stream cut short ends without it, and the server rolls the restore back. pg_restore reads
            # the custom format from a pipe in order (no --jobs).
            "{ echo 'BEGIN;'; dump_stream | pg_restore --clean --if-exists --no-owner --no-acl -f -; "
            f"printf '%s\\n' {shlex.quote(ledger)} 'COMMIT;'; }} | $PSQL >/dev/null",
            # The password goes in on stdin from printf, a bash builtin: a process's arguments are
            # world-readable (ps). psql's \getenv would need psql 15, and an RDS 14 gets psql 14.
            "{ printf '\\\\set app_pw %s\\n' \"$APP_PW\"; cat <<'SQL'",
            "SELECT format('CREATE ROLE %I LOGIN', :'app_user') WHERE NOT EXISTS "
            "(SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \\gexec",
            "ALTER ROLE :\"app_user\" WITH LOGIN PASSWORD :'app_pw';",
            "GRANT CONNECT ON DATABASE :\"db\" TO :\"app_user\";",
            "GRANT USAGE ON SCHEMA public TO :\"app_user\";",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :\"app_user\";",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :\"app_user\";",
            "SQL",
            f"}} | $PSQL -v app_user={app} -v db=\"$DB\" >/dev/null"]
    else:
        started = (f"{MYSQL_LEDGER_DDL}; INSERT INTO {LEDGER_TABLE} (state, source, dump_key, fingerprints) "
                   f"VALUES ('started', {src}, {dump_key}, '')")
        moved = f"UPDATE {LEDGER_TABLE} SET state = 'moved', fingerprints = {fp} WHERE dump_key = {dump_key}"
        lines += [
            f"$MYSQL \"$DB\" -e {shlex.quote(started)}",
            'dump_stream | $MYSQL "$DB"',
            f"$MYSQL \"$DB\" -e {shlex.quote(moved)}",
            f"$MYSQL \"$DB\" <<SQL",
            f"CREATE USER IF NOT EXISTS '{t.app_user}'@'%' IDENTIFIED BY '$APP_PW';",
            f"ALTER USER '{t.app_user}'@'%' IDENTIFIED BY '$APP_PW';",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON \\`{t.database}\\`.* TO '{t.app_user}'@'%';",
            "SQL"]
    lines += ['echo "LEDGER|$(ledger)"', 'fingerprint | sed "s/^/FP|/"', 'echo "RESTORED|$size"']
    return "\n".join(lines) + "\n"


def parse(text: str) -> dict[str, list[list[str]]]:
    """`KIND|a|b` lines -> {KIND: [[a, b], ...]}; other lines are ignored."""
    out: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        kind, sep, rest = line.partition("|")
        if sep and kind.isupper():
            out.setdefault(kind, []).append(rest.split("|"))
    return out
