"""The database login of an app server: from a Secrets Manager secret, read again when the database
refuses it.

`DB_SECRET_ARN` names the secret the app logs in with: the RDS-managed master secret of 03_database
until 08 has created the app's own least-privilege user, then that user's secret (same JSON shape:
`username`, `password`). RDS rotates its managed secret every 7 days; an app that read it once at
start is refused at its next new connection after a rotation. So a refused login (PostgreSQL's
"password authentication failed", SQLSTATE 28P01) re-reads the secret and tries again. A rotation
sets the new password in the database before it moves the `AWSCURRENT` label to it, so for that
moment the new password is still `AWSPENDING`: the re-read tries that one too when it exists.
Re-reads are spaced (`REREAD_EVERY_S`) so a wrong password does not hammer Secrets Manager.

Nothing here logs or returns a password; errors carry the exception type and PostgreSQL's message,
which never holds the password.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

import psycopg
from psycopg.conninfo import make_conninfo

REREAD_EVERY_S = 5.0
# What PostgreSQL says when it refuses a login (28P01 / 28000). libpq reports a refused login at
# connect time with no SQLSTATE on the exception, so the message is what there is to go by.
AUTH_FAILED = ("password authentication failed", "authentication failed", "no password supplied",
               "PAM authentication failed")

Reader = Callable[[str, str, str], "str | None"]   # (secret id, region, version stage) -> SecretString


def read_secret(secret_id: str, region: str, stage: str = "AWSCURRENT") -> str | None:
    """A secret's SecretString at a version stage, with the instance role: boto3 when installed,
    else the AWS CLI that Amazon Linux ships. None when no version carries that stage."""
    try:
        import boto3
    except ImportError:
        boto3 = None
    if boto3 is not None:
        client = boto3.client("secretsmanager", region_name=region or None)
        try:
            return client.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            if stage == "AWSCURRENT":
                raise
            return None
    import subprocess
    done = subprocess.run(["aws", "secretsmanager", "get-secret-value", "--secret-id", secret_id,
                           "--version-stage", stage, "--query", "SecretString", "--output", "text"]
                          + (["--region", region] if region else []), capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        if stage != "AWSCURRENT" and "ResourceNotFoundException" in done.stderr:
            return None
        raise RuntimeError(f"could not read the database secret ({done.stderr.strip()[:200]})")
    return done.stdout


def is_auth_failure(e: BaseException) -> bool:
    return isinstance(e, psycopg.OperationalError) and any(m in str(e) for m in AUTH_FAILED)


class SecretLogin:
    """(username, password) from one secret; `refreshed()` reads it again (spaced), with AWSPENDING."""

    def __init__(self, secret_id: str, region: str = "", read: Reader = read_secret,
                 clock: Callable[[], float] = time.monotonic):
        self.secret_id, self.region, self._read, self._clock = secret_id, region, read, clock
        self._lock = threading.Lock()
        self._current: tuple[str, str] | None = None
        self._read_at = float("-inf")
        self.reads = 0        # how many times the secret was read (tests, and the app's /stats if wanted)

    def _parse(self, text: str | None) -> tuple[str, str] | None:
        if not text:
            return None
        data: dict[str, Any] = json.loads(text)
        return str(data.get("username", "")), str(data["password"])

    def current(self) -> tuple[str, str]:
        with self._lock:
            if self._current is None:
                self._current = self._parse(self._read(self.secret_id, self.region, "AWSCURRENT"))
                self._read_at = self._clock()
                self.reads += 1
            assert self._current is not None
            return self._current

    def refreshed(self) -> list[tuple[str, str]]:
        """Logins to try after a refusal: the secret's AWSCURRENT read again and, mid-rotation, its
        AWSPENDING. Within REREAD_EVERY_S of the last read nothing new is read (an empty list)."""
        with self._lock:
            if self._clock() - self._read_at < REREAD_EVERY_S:
                return []
            old = self._current
            self._current = self._parse(self._read(self.secret_id, self.region, "AWSCURRENT"))
            pending = self._parse(self._read(self.secret_id, self.region, "AWSPENDING"))
            self._read_at = self._clock()
            self.reads += 1
            return [c for c in (self._current, pending) if c is not None and c != old]

    def promote(self, login: tuple[str, str]) -> None:
        """The login that worked becomes the one to use (an AWSPENDING password mid-rotation)."""
        with self._lock:
            self._current = login


class Connector:
    """Opens a connection: to a fixed libpq URI/conninfo, or with the login from a secret, read again
    when the database refuses it. Called by the app's pool for each new connection."""

    def __init__(self, conninfo: str, login: SecretLogin | None = None, connect_timeout: int = 2):
        self.conninfo, self.login, self.connect_timeout = conninfo, login, connect_timeout

    def _open(self, creds: tuple[str, str] | None, timeout: int) -> psycopg.Connection:
        info = self.conninfo
        if creds is not None:
            user, password = creds
            info = make_conninfo(info, **({"user": user} if user else {}), password=password)
        return psycopg.connect(info, autocommit=True, connect_timeout=timeout)

    def __call__(self, connect_timeout: int | None = None) -> psycopg.Connection:
        timeout = connect_timeout or self.connect_timeout
        if self.login is None:
            return self._open(None, timeout)
        try:
            return self._open(self.login.current(), timeout)
        except psycopg.OperationalError as e:
            if not is_auth_failure(e):
                raise
            refused = e
        for creds in self.login.refreshed():
            try:
                conn = self._open(creds, timeout)
            except psycopg.OperationalError as e:
                if not is_auth_failure(e):
                    raise
                refused = e
                continue
            self.login.promote(creds)
            return conn
        raise refused
