"""workbook/quoting.py: every value reads back exactly where it goes, and hostile ones stay data."""
from __future__ import annotations

import subprocess

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from workbook import quoting as q
from workbook.sandbox import pg

HOSTILE = [
    "plain", "", "a b", "it's", 'say "hi"', "$(touch /tmp/PWNED-q)", "`touch /tmp/PWNED-q`", "a\nb", "tab\there",
    "back\\slash", "semi;colon", "pipe|x", "glob*?[x]", "~root", "-n", "--help", "'; DROP TABLE items; --",
    "host=evil.example", "x' host='evil.example", "\u00e9\u00e8 \u4e2d\u6587 \U0001F600", "%s %(x)s", ":'x' :\"y\"",
    "\\'", "a\rb", "EOF\nUNIT\nPY\nSQL",
]


def bash(script: str, *args: str) -> str:
    # bytes, not text=True: universal newlines would read a \r back as \n
    return subprocess.run(["bash", "-c", script, "_", *args], capture_output=True, check=True).stdout.decode()


@pytest.mark.parametrize("value", HOSTILE)
def test_a_shell_word_reads_back_exactly(value, tmp_path):
    assert bash(f"cd {q.shell(str(tmp_path))} && printf '%s' {q.shell(value)}") == value
    assert bash(f"{q.decoded(value)}") == value
    assert not list(tmp_path.glob("PWNED*"))


def test_an_env_file_reads_back_exactly(tmp_path):
    f = tmp_path / "env"
    values = {f"V{i}": v for i, v in enumerate(HOSTILE)}
    f.write_text(q.env_file(values))
    out = bash('set -a; . "$1"; shift; for k in "$@"; do printf "%s\\0" "${!k}"; done', str(f), *values)
    assert out.split("\0")[:-1] == list(values.values())


def test_a_nul_byte_is_refused_everywhere():
    for fn in (q.shell, q.pg_literal, q.pg_identifier, q.mysql_literal, q.mysql_identifier, q.decoded):
        with pytest.raises(q.UnsafeValue):
            fn("a\0b")
    with pytest.raises(q.UnsafeValue):
        q.conninfo(user="a\0b")


@pytest.mark.parametrize("value", HOSTILE)
def test_a_conninfo_value_cannot_add_an_option(value):
    text = q.conninfo(host="db.example.com", port=5432, dbname="app", user=value or "u", sslmode="require")
    d = conninfo_to_dict(text)
    assert (d["host"], d["port"], d["dbname"], d["user"], d["sslmode"]) == (
        "db.example.com", "5432", "app", value or "u", "require")


def test_a_pasted_conninfo_value_would_have_moved_the_host():
    """What the quoting prevents: a user name pasted in as it stands sends the password elsewhere."""
    user = "postgres host=evil.example"
    assert conninfo_to_dict(f"host=db.example.com user={user}")["host"] == "evil.example"
    assert conninfo_to_dict(q.conninfo(host="db.example.com", user=user))["host"] == "db.example.com"


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    root = tmp_path_factory.mktemp("pg")
    root.chmod(0o755)
    uri = pg.start(root / "data")
    yield uri
    pg.stop(root / "data")


def test_sql_literals_and_identifiers_read_back_in_postgres(postgres):
    with psycopg.connect(postgres, autocommit=True) as conn:
        for value in HOSTILE:
            if "\r" in value or value == "":
                continue
            got = conn.execute(f"SELECT {q.pg_literal(value)}::text AS {q.pg_identifier(value or 'x')}")
            assert got.fetchone()[0] == value
            assert got.description[0].name == value
        # still there: none of the values ended the statement and ran its own
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_psql_variables_carry_hostile_values_as_data(postgres, tmp_path):
    """The form a script on an instance uses (psql from pgserver stands in for the instance's)."""
    sql = ("CREATE TABLE IF NOT EXISTS notes (body text);\n"
           "INSERT INTO notes VALUES (:'body');\n"
           "SELECT body FROM notes WHERE body = :'body';\n")
    for value in HOSTILE[:10] + ["'; DROP TABLE notes; --", "$(touch PWNED)"]:
        cmd = q.psql_command(sql, database=postgres, variables={"body": value}, psql=pg.bin_path("psql"))
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stdout.rstrip("\n").split("\n")[-1] == value.split("\n")[-1]
    with psycopg.connect(postgres) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 12
    assert not list(tmp_path.glob("PWNED*"))


def test_mysql_literals_escape_what_the_server_would_read():
    assert q.mysql_literal("it's \\ fine\n") == "'it\\'s \\\\ fine\\n'"
    assert q.mysql_identifier("a`b") == "`a``b`"


@pytest.mark.parametrize("bad", ["evil.example/x", "a b", "host:80", "user@host", "a..b", "-a.com", "",
                                 "x" * 64 + ".com", "\u0430pi.com", "a.com\n", "[::1]x"])
def test_a_url_host_that_is_not_one_is_refused(bad):
    with pytest.raises(q.UnsafeValue):
        q.url("https", bad)


def test_urls_are_built_from_checked_and_quoted_parts():
    assert q.url("https", "API.Example.com") == "https://api.example.com"
    assert q.url("http", "203.0.113.7", 8080, "/health") == "http://203.0.113.7:8080/health"
    assert q.url("http", "::1", 80, "/") == "http://[::1]:80/"
    assert q.url("http", "a.com", None, "/a b/%20/%zz#x?y") == "http://a.com/a%20b/%20/%25zz%23x?y"
    assert q.url("http", "a.com", None, "/p", {"q": "a&b=c"}) == "http://a.com/p?q=a%26b%3Dc"
    assert q.join_url("http://10.0.0.1:8080", "/health?full=1") == "http://10.0.0.1:8080/health?full=1"
    assert q.url_path("/api/v1/health?full=1&db=yes") == "/api/v1/health?full=1&db=yes"
    assert q.url_path("/x?a=1?b #c") == "/x?a=1?b%20%23c"
    with pytest.raises(q.UnsafeValue):
        q.join_url("http://a.com/already/a/path", "/x")
    with pytest.raises(q.UnsafeValue):
        q.url("file", "a.com")


def test_s3_uris_follow_s3s_rules():
    assert q.s3_uri("demo-dbmove-123456789012", "dumps/2026/app.dump") == "s3://demo-dbmove-123456789012/dumps/2026/app.dump"
    for bucket in ("Demo", "a", "a..b", "-a", "192.168.0.1", "x;rm"):
        with pytest.raises(q.UnsafeValue):
            q.s3_uri(bucket, "k")
    with pytest.raises(q.UnsafeValue):
        q.s3_uri("bucket", "a\nb")


@pytest.mark.parametrize("path", ["/", "/health", "/api/v1/health?full=1&db=yes", "/status;v=1", "/a%20b",
                                  "/~user/it's-(ok)*+,=:@$!", "/" + "a" * 1023])
def test_every_health_check_path_params_accepts_is_a_url_path_as_it_stands(path):
    from workbook.params import Params
    assert q.url_path(Params(health_check_path=path).health_check_path) == path
