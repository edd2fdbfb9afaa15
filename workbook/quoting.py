"""Quoting a value for where it goes: a shell command (user data, SSM Run Command), a libpq connection
string, a SQL statement, a URL. Each function takes any text and gives what the destination reads back as
exactly that text, or refuses what the destination cannot hold (a NUL byte in a shell word); no value is
ever pasted into a command, a statement or a URL as it stands.

Rules of thumb for code that builds scripts and statements:
- shell: `shell(value)` for one word, `command(*argv)` for a command line; a whole text (a SQL script, a
  config file) travels as `decoded(text)`, a base64 block in single quotes that nothing can end early.
- PostgreSQL from Python: the driver's parameters (`conn.execute(sql, (value,))`) and
  `psycopg.sql.Identifier`; in a script on an instance, `psql_command(sql, variables=...)`: psql quotes
  each variable itself (`:'name'` as a literal, `:"name"` as an identifier).
- libpq connection strings: `conninfo(...)` (psycopg's own quoting: a value with a space or a quote
  cannot add an option such as another host).
- MySQL in a script: `mysql_literal` / `mysql_identifier` (the mysql client has no variables to bind).
- URLs: `url(scheme, host, port, path)`; a path keeps its valid %XX escapes and quotes everything else.
"""
from __future__ import annotations

import base64
import ipaddress
import re
import shlex
import urllib.parse
from typing import Any, Mapping

from psycopg import conninfo as _conninfo


class UnsafeValue(ValueError):
    """A value the destination cannot carry as it is (a NUL byte, a host that is no host name)."""


def _text(value: Any, what: str) -> str:
    text = str(value)
    if "\0" in text:
        raise UnsafeValue(f"{what} must not contain a NUL byte (no shell word, environment or SQL text holds one)")
    return text


# ---- shell -------------------------------------------------------------------------------------------------
def shell(value: Any) -> str:
    """One shell word that reads back as exactly `value` (bash, dash, systemd's EnvironmentFile)."""
    return shlex.quote(_text(value, "a shell word"))


def command(*argv: Any) -> str:
    """A command line, each argument one quoted word."""
    return " ".join(shell(a) for a in argv)


def decoded(text: str) -> str:
    """A shell expression whose output is `text`, byte for byte: base64 in single quotes (an alphabet that
    cannot close a quote, end a heredoc or start a command), decoded on the host."""
    blob = base64.b64encode(_text(text, "a decoded text").encode()).decode()
    return f"printf '%s' '{blob}' | base64 -d"


def env_file(values: Mapping[str, Any]) -> str:
    """KEY='value' lines that `.` in a shell and systemd's EnvironmentFile read back exactly."""
    out = []
    for key, value in values.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key, re.ASCII):
            raise UnsafeValue(f"{key!r} is not an environment variable name")
        out.append(f"{key}={shell(_text(value, key))}\n")
    return "".join(out)


# ---- databases ---------------------------------------------------------------------------------------------
def conninfo(**params: Any) -> str:
    """A libpq connection string with every value quoted as libpq reads it (psycopg's make_conninfo)."""
    return _conninfo.make_conninfo("", **{k: _text(v, k) for k, v in params.items() if v not in (None, "")})


def pg_identifier(name: str) -> str:
    """A PostgreSQL identifier in double quotes (a quote inside doubled): for SQL text no driver binds."""
    return '"' + _text(name, "an identifier").replace('"', '""') + '"'


def pg_literal(value: Any) -> str:
    """A PostgreSQL string literal (standard_conforming_strings, on since 9.1: a quote doubled, backslash
    plain). Prefer the driver's parameters; this is for scripts run with psql where none exist."""
    return "'" + _text(value, "a literal").replace("'", "''") + "'"


def mysql_identifier(name: str) -> str:
    return "`" + _text(name, "an identifier").replace("`", "``") + "`"


def mysql_literal(value: Any) -> str:
    """A MySQL string literal under the default sql_mode (backslash escapes on)."""
    text = _text(value, "a literal")
    for a, b in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"), ("\x1a", "\\Z")):
        text = text.replace(a, b)
    return f"'{text}'"


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def psql_command(sql: str, *, database: str = "", variables: Mapping[str, Any] | None = None,
                 psql: str = "psql", options: tuple[str, ...] = ("-X", "-q", "-At", "-F", "|")) -> str:
    """A shell command running `sql` with psql: the statement arrives on standard input (decoded), each
    value as a psql variable given on the command line (one quoted word) and written into the statement
    as :'name' (a literal) or :"name" (an identifier), which psql quotes itself. Stops at the first error."""
    argv = [psql, *options, "-v", "ON_ERROR_STOP=1"]
    for name, value in (variables or {}).items():
        if not _VARIABLE.fullmatch(name):
            raise UnsafeValue(f"{name!r} is not a psql variable name")
        argv += ["-v", f"{name}={_text(value, name)}"]
    if database:
        argv += ["-d", database]
    return f"{decoded(sql)} | {command(*argv)}"


# ---- URLs --------------------------------------------------------------------------------------------------
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}", re.ASCII)
PATH_SAFE = "/-._~!$&'()*+,;=:@"


def host(name: str) -> str:
    """A URL's host: a DNS name (ASCII labels) or an IP address (IPv6 in brackets); anything else refused."""
    name = _text(name, "a host")
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        labels = name.rstrip(".").split(".")
        if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
            raise UnsafeValue(f"{name[:80]!r} is not a host name or an IP address") from None
        return name.lower()
    return f"[{ip}]" if ip.version == 6 else str(ip)


def _escape(text: str, safe: str) -> str:
    parts, last = [], 0
    for m in _ESCAPE.finditer(text):
        parts.append(urllib.parse.quote(text[last:m.start()], safe=safe))
        parts.append(m.group(0))
        last = m.end()
    parts.append(urllib.parse.quote(text[last:], safe=safe))
    return "".join(parts)


def url_path(path: str) -> str:
    """A URL path with an optional query (what a health check requests): valid %XX escapes kept, the first
    ? kept as the query's start, every other character outside RFC 3986's sets escapes ('#' included)."""
    path = _text(path, "a URL path")
    head, mark, query = path.partition("?")
    quoted = _escape(head, PATH_SAFE) + (mark + _escape(query, PATH_SAFE + "?") if mark else "")
    return quoted if quoted.startswith("/") else "/" + quoted


def url(scheme: str, hostname: str, port: int | None = None, path: str = "",
        query: Mapping[str, Any] | None = None) -> str:
    """scheme://host[:port]/path[?query], each part checked or quoted for its place."""
    if scheme not in ("http", "https"):
        raise UnsafeValue(f"{scheme!r}: only http and https URLs are made here")
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise UnsafeValue(f"{port!r} is not a TCP port")
    netloc = host(hostname) + (f":{port}" if port is not None else "")
    q = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"{scheme}://{netloc}{url_path(path) if path else ''}{q}"


def join_url(base: str, path: str) -> str:
    """A base URL (scheme://host[:port]) and a path, the path quoted; the base checked to be only that."""
    parts = urllib.parse.urlsplit(base)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise UnsafeValue(f"{base[:80]!r} is not a base URL (scheme://host[:port])")
    return url(parts.scheme, parts.hostname or "", parts.port, path)


# ---- S3 ------------------------------------------------------------------------------------------------------
_BUCKET = re.compile(r"(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)


def s3_uri(bucket: str, key: str) -> str:
    """s3://bucket/key as the AWS CLI takes it (the key not URL-encoded), after S3's own naming rules."""
    if not _BUCKET.fullmatch(bucket) or re.fullmatch(r"[0-9.]+", bucket):
        raise UnsafeValue(f"{bucket[:80]!r} is not an S3 bucket name")
    key = _text(key, "an S3 key")
    if not key or len(key.encode()) > 1024 or re.search(r"[\x00-\x1f\x7f]", key):
        raise UnsafeValue(f"{key[:80]!r} is not an S3 key (1-1,024 bytes, no control characters)")
    return f"s3://{bucket}/{key}"
