"""Issue 10 #11, the app's side: the app logs in with the secret DB_SECRET_ARN names and, when the
database refuses that login after a rotation, reads the secret again and reconnects. Against a real
PostgreSQL (pgserver) that checks passwords (scram-sha-256) and Secrets Manager on moto, rotated the
way RDS rotates its managed secret: the new password goes to the database while it is still the
secret's AWSPENDING version, then AWSCURRENT moves to it."""
from __future__ import annotations

import json
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from moto import mock_aws

from workbook.backend import app, login
from workbook.sandbox import pg

USER = "app_user"


@pytest.fixture(scope="module")
def server():
    # Not under pytest's temp root (see tests/backend/test_backend_app.py).
    root = Path(tempfile.mkdtemp(prefix="wb-rotation-", dir="/var/tmp"))
    pgdata = root / "pg"
    uri = pg.start(pgdata)
    app.seed(uri, 100)
    hba = pgdata / "pg_hba.conf"
    hba.write_text(f"local all {USER} scram-sha-256\n" + hba.read_text())   # the app's user needs its password
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {USER} LOGIN PASSWORD 'first-password'")
        conn.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {USER}")
        conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {USER}")
        conn.execute("SELECT pg_reload_conf()")
    yield uri, uri.split("host=", 1)[1]
    pg.stop(pgdata)
    shutil.rmtree(root, ignore_errors=True)


def set_password(uri: str, password: str) -> None:
    """The database side of a rotation, and the connections it leaves: the sessions end (a restart, a
    failover, the pool's next new connection all meet the new password)."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {USER} PASSWORD '{password}'")
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (USER,))


def finish(sm, arn: str, version: str) -> None:
    """The end of a rotation: AWSCURRENT moves to the new version, which keeps no AWSPENDING label."""
    current = next(v for v, stages in sm.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
                   if "AWSCURRENT" in stages)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=version,
                                   RemoveFromVersionId=current)
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=version)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_app_reads_its_secret_again_when_a_rotation_changed_the_password(server, monkeypatch):
    uri, socket_dir = server
    monkeypatch.setattr(login, "REREAD_EVERY_S", 0.0)   # each refusal may read the secret again
    with mock_aws():
        sm = __import__("boto3").client("secretsmanager", region_name="us-east-1")
        arn = sm.create_secret(Name="rds!db-rotation", SecretString=json.dumps(
            {"username": USER, "password": "first-password"}))["ARN"]
        cfg = app.config_from_env({"DB_HOST": socket_dir, "DB_NAME": "app", "DB_SECRET_ARN": arn,
                                   "AWS_REGION": "us-east-1", "DB_SSLMODE": "prefer", "INSTANCE_ID": "i-rot"})
        srv = app.make_server(cfg["url"], 0, "i-rot")
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        try:
            assert get(url + "/items/1") == 200
            reads = cfg["url"].login.reads

            # Mid-rotation: the database has the new password, the secret still names it AWSPENDING.
            second = sm.put_secret_value(SecretId=arn, SecretString=json.dumps(
                {"username": USER, "password": "second-password"}), VersionStages=["AWSPENDING"])["VersionId"]
            set_password(uri, "second-password")
            assert get(url + "/items/1") == 200
            assert get(url + "/health") == 200
            # The rotation finishes: AWSCURRENT moves to the new version; the app keeps working.
            finish(sm, arn, second)
            assert get(url + "/items/1") == 200
            # The next rotation, finished before the app meets it (at its next new connection).
            third = sm.put_secret_value(SecretId=arn, SecretString=json.dumps(
                {"username": USER, "password": "third-password"}), VersionStages=["AWSPENDING"])["VersionId"]
            finish(sm, arn, third)
            set_password(uri, "third-password")
            assert get(url + "/items/2") == 200
            assert cfg["url"].login.reads > reads
            with psycopg.connect(uri) as conn:   # the app logged in as its own user, never as the superuser
                users = {r[0] for r in conn.execute("SELECT usename FROM pg_stat_activity WHERE client_port IS NOT NULL "
                                                    "OR usename = %s", (USER,)).fetchall()}
            assert USER in users
        finally:
            srv.shutdown()
            srv.server_close()
            srv.backend.pool.close()


def test_a_wrong_password_is_not_retried_in_a_loop(server):
    """Within REREAD_EVERY_S of the last read, a refused login reads nothing new and fails as it is."""
    _, socket_dir = server
    reads: list[str] = []

    def read(secret_id: str, region: str, stage: str) -> str | None:
        reads.append(stage)
        return json.dumps({"username": USER, "password": "wrong"}) if stage == "AWSCURRENT" else None
    connect = login.Connector(f"host={socket_dir} dbname=app", login.SecretLogin("s", "", read, clock=lambda: 0.0))
    for _ in range(3):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect()
    assert reads == ["AWSCURRENT"]
