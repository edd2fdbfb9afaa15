"""The SSM Run Command scripts of the database move (aws data plane) rendered with hostile values and run
as the instance would run them: every value stays data (issue 13).

The move is driven through its public entry, `ctx.target.dataplane.move_database(ctx)` on a real-account
target, against moto for S3 and fakes that answer what AWS would answer with hostile text where a value
comes from (the RDS endpoint, database and user names, the secret's ARN). The fake SSM "instance" runs each
command list under bash in a temporary root with stand-ins for the tools (sudo, psql, pg_dump, pg_restore,
aws) that record their argument vectors. A value that escapes its quoting runs `touch <root>/PWNED-...`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from moto import mock_aws

from conftest import make_ctx

sys.path.insert(0, str(Path(__file__).resolve().parent / "sandbox"))
from dataplane_stack import create_stack  # noqa: E402

STUB = """#!{python}
import json, os, sys
name = os.path.basename(sys.argv[0])
conn = {{k: os.environ[k] for k in ("PGHOST", "PGUSER", "PGDATABASE", "PGSSLMODE") if k in os.environ}}
with open({log!r}, "a") as f:
    f.write(json.dumps([name] + sys.argv[1:] + ([conn] if conn else [])) + "\\n")
if name == "sudo":   # sudo -u postgres CMD ...: run CMD as it is
    args = sys.argv[1:]
    while args and args[0].startswith("-"):
        args = args[2:] if args[0] == "-u" else args[1:]
    os.execvp(args[0], args)
if name == "aws" and "get-secret-value" in sys.argv:
    print(json.dumps({{"username": "u", "password": "pw"}}))
if name == "psql" and "SHOW server_version_num" in sys.argv:
    print("160004")
    sys.exit(0)
if "--version" in sys.argv:
    print(f"{{name}} (PostgreSQL) 16.4")
    sys.exit(0)
if name == "psql" and "-At" in sys.argv:
    for t in ("customers", "items", "orders"):
        print(f"{{t}}|3|abc")
"""
TOOLS = ("sudo", "psql", "pg_dump", "pg_restore", "aws", "mysql", "mysqldump", "dnf", "apt-get", "yum")


class FakeInstance:
    """An SSM-managed instance that runs AWS-RunShellScript's commands under bash, tools stubbed."""

    def __init__(self, root: Path):
        self.root, self.stubs, self.log = root, root / "stubs", root / "commands.jsonl"
        self.stubs.mkdir(parents=True)
        for tool in TOOLS:
            (self.stubs / tool).write_text(STUB.format(python=sys.executable, log=str(self.log)))
            (self.stubs / tool).chmod(0o755)
        self.scripts: list[str] = []
        self.results: dict[str, dict] = {}

    def run(self, commands: list[str]) -> dict:
        script = "\n".join(commands) + "\n"
        self.scripts.append(script)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=self.root, timeout=60,
                              env={"PATH": f"{self.stubs}:/usr/bin:/bin", "HOME": str(self.root)})
        return {"Status": "Success" if done.returncode == 0 else "Failed",
                "StandardOutputContent": done.stdout, "StandardErrorContent": done.stderr}

    def argv(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


class FakeSSM:
    def __init__(self, instance: FakeInstance):
        self.instance, self.n = instance, 0

    def send_command(self, **kw):
        assert kw["DocumentName"] in ("AWS-RunShellScript", "AWS-RunRemoteScript")
        self.n += 1
        cid = f"cmd-{self.n}"
        self.instance.results[cid] = self.instance.run(kw["Parameters"]["commands"])
        return {"Command": {"CommandId": cid}}

    def get_waiter(self, name):
        return SimpleNamespace(config=SimpleNamespace(delay=1, max_attempts=1), wait=lambda **kw: None)

    def get_command_invocation(self, CommandId, InstanceId, **_):
        return self.instance.results[CommandId]

    def __getattr__(self, name):
        # what the move does besides running commands (the stack's ledger) goes to the account's SSM
        import boto3
        return getattr(boto3.client("ssm", region_name="us-east-1"), name)

    def describe_instance_information(self, Filters=(), **_):
        ids = [v for f in Filters if f.get("Key") in ("InstanceIds", "InstanceId") for v in f.get("Values", [])]
        return {"InstanceInformationList": [{"InstanceId": i, "PingStatus": "Online", "PlatformType": "Linux"}
                                            for i in ids]}


def hostile(root: Path) -> dict[str, str]:
    return {
        "address": f"db.example.com$(touch${{IFS}}{root}/PWNED-address)",
        "dbname": f"app';touch {root}/PWNED-dbname;'",
        "user": f"postgres host=evil.example `touch {root}/PWNED-user`",
        "secret": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-x'$(touch {root}/PWNED-secret)'",
    }


def fake_rds(h: dict[str, str]):
    db = {"DBInstanceIdentifier": "demo-db", "DBInstanceArn": "arn:aws:rds:us-east-1:123456789012:db:demo-db",
          "Endpoint": {"Address": h["address"], "Port": 5432},
          "DBName": h["dbname"], "MasterUsername": h["user"], "Engine": "postgres",
          "MasterUserSecret": {"SecretArn": h["secret"]}, "DBInstanceStatus": "available", "TagList": []}
    return SimpleNamespace(describe_db_instances=lambda **_: {"DBInstances": [db]},
                           list_tags_for_resource=lambda **_: {"TagList": []})


def fake_asg():
    group = {"AutoScalingGroupName": "demo-asg", "DesiredCapacity": 1, "TargetGroupARNs": [],
             "Instances": [{"InstanceId": "i-0fedcba9876543210", "LifecycleState": "InService"}]}
    return SimpleNamespace(describe_auto_scaling_groups=lambda **_: {"AutoScalingGroups": [group]})


def test_the_move_scripts_keep_hostile_values_inert(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")   # the dev host's SSM policy
    with mock_aws():
        _hostile_move(tmp_path)


def _hostile_move(tmp_path):
    from workbook.connect import Target
    tmp_path.chmod(0o755)
    ctx = make_ctx(target="aws", aws_account_id="123456789012")
    assert isinstance(ctx.target, Target)
    stack = create_stack(ctx, ctx.p, managed_secret=True, release=False)   # the dev host and its profile
    h = hostile(tmp_path)
    instance = FakeInstance(tmp_path)
    ctx._clients.update({"ssm": FakeSSM(instance), "rds": fake_rds(h), "autoscaling": fake_asg()})
    try:
        ctx.target.dataplane.move_database(ctx)
    except Exception as e:  # noqa: BLE001 - what matters here is what ran, not whether the move passed
        print(f"the move stopped: {type(e).__name__}: {e}")
    assert instance.scripts, "no SSM command was sent"
    assert sorted(p.name for p in tmp_path.glob("PWNED*")) == [], "a value ran as a command"

    argv = instance.argv()
    # every connection to RDS reaches its tool as libpq's variables that read back as the values given
    conns = [cmd[-1] for cmd in argv if cmd[0] in ("psql", "pg_restore", "pg_dump") and isinstance(cmd[-1], dict)
             and "PGHOST" in cmd[-1]]
    assert conns, argv
    for d in conns:
        assert (d["PGHOST"], d["PGDATABASE"], d["PGUSER"]) == (h["address"], h["dbname"], h["user"]), d
        assert d.get("PGSSLMODE") == "require"
    # the secret's ARN reached the CLI as one argument, byte for byte
    secret_args = [cmd[cmd.index("--secret-id") + 1] for cmd in argv if cmd[0] == "aws" and "--secret-id" in cmd]
    assert secret_args and set(secret_args) == {h["secret"]}   # read by each command that connects
    assert not os.environ.get("PGPASSWORD")
