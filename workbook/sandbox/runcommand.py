"""SSM Run Command in the sandbox: the command runs, on the stand-in of the instance it was sent to.

moto records SendCommand and answers every invocation with Success and no output. Here the data plane
keeps a real instance's contract instead:
- an instance is registered with SSM (DescribeInstanceInformation: Online) only when a stand-in runs for
  it (the dev host, or an app server of the group) and its instance profile's role allows the agent
  (ssm:UpdateInstanceInformation, as AmazonSSMManagedInstanceCore does); SendCommand to any other
  instance is refused with InvalidInstanceId, as AWS refuses it;
- AWS-RunShellScript's commands run as one script under /bin/sh (dash here, as on Debian and Ubuntu),
  in the background: the invocation is InProgress until the script ends, then Success or Failed with
  its exit code, stdout and stderr (cut to the agent's 24,000 and 8,000 bytes);
- the script sees the host a real instance would be: a PATH with dnf (which "installs" the client
  tools), sudo, and the aws CLI acting with the instance role's permissions (hostbin.py); on the dev
  host its database server's tools and local socket; on an app server the RDS endpoint reaches the RDS
  stand-in (over its local socket, without TLS: the sandbox's one shortcut on that path).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..connect import Context
from . import dataplane as local
from . import instance_role
from .corrections import Refuse, correct, plain

NOTE = ("SSM Run Command: the sandbox runs the command with /bin/sh on the stand-in of the instance (the dev host or an "
        "app server), with that host's tools, sudo and an aws CLI acting with the instance role's permissions "
        "(workbook.sandbox.runcommand)")
OUT_MAX, ERR_MAX = 24_000, 8_000   # bytes GetCommandInvocation returns at most


def _cut(text: str, most: int) -> str:
    """The agent's cut: the first `most` bytes of the UTF-8 (a character cut in two is dropped)."""
    return text.encode()[:most].decode(errors="ignore")


@dataclass
class Invocation:
    status: str = "InProgress"
    stdout: str = ""
    stderr: str = ""
    code: int = -1
    stdout_url: str = ""   # the whole stdout in S3, when the command named a bucket and the role may write it
    stderr_url: str = ""


_runs: dict[tuple[str, str], Invocation] = {}


# ---- which instance is which host -------------------------------------------------------------------
def hosts() -> dict[str, str]:
    """instance id -> "dev" | "app" for the stand-ins the data plane runs."""
    cfg = local.config()
    out = {a["instance_id"]: "app" for a in cfg.get("apps", []) if a.get("role") == "asg"}
    if cfg.get("dev"):
        out[cfg["dev"]["instance_id"]] = "dev"
    return out


def agent_online(ctx: Context, instance_id: str) -> bool:
    kind = hosts().get(instance_id)
    if kind is None or (kind == "dev" and not local.dev_database_up()):
        return False   # nothing runs there (or the dev host is down): no agent
    ec2 = plain(ctx, "ec2")
    try:
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    except Exception:  # noqa: BLE001 - an unknown id is simply not registered
        return False
    if inst["State"]["Name"] != "running":
        return False
    iam = plain(ctx, "iam")
    role = instance_role.role_of(ec2, iam, instance_id)
    return bool(role) and instance_role.allowed(iam, role, "ssm:UpdateInstanceInformation", "*")


@correct("ssm", "DescribeInstanceInformation", when="before", note=NOTE)
def instance_information(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    wanted = [v for f in params.get("Filters", []) + params.get("InstanceInformationFilterList", [])
              if f.get("Key") in ("InstanceIds", "instanceIds") for v in f.get("Values", f.get("valueSet", []))]
    ids = wanted or sorted(hosts())
    return {"InstanceInformationList": [
        {"InstanceId": i, "PingStatus": "Online", "PlatformType": "Linux", "PlatformName": "Amazon Linux",
         "AgentVersion": "sandbox", "ResourceType": "EC2Instance"} for i in ids if agent_online(ctx, i)]}


@correct("ssm", "SendCommand", when="before")
def refuse_unregistered(ctx: Context, params: dict[str, Any]) -> None:
    bad = [i for i in params.get("InstanceIds", []) if not agent_online(ctx, i)]
    if bad:
        raise Refuse("InvalidInstanceId", f"Instances [[{', '.join(bad)}]] not in a valid state for account "
                                          f"{ctx.account_id}")
    if params.get("DocumentName") != "AWS-RunShellScript":
        raise Refuse("InvalidDocument", f"the sandbox runs AWS-RunShellScript only, not {params.get('DocumentName')}")
    return None


@correct("ssm", "SendCommand", note=NOTE)
def run_sent_command(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    cmd = parsed["Command"]
    cmd["InstanceIds"] = list(params.get("InstanceIds", []))
    commands = list(params.get("Parameters", {}).get("commands", []))
    timeout = int((params.get("Parameters", {}).get("executionTimeout") or ["3600"])[0])
    # moto's answer lists every instance of the account when no Targets were given: the request says which
    for iid in params.get("InstanceIds", []):
        inv = _runs[(cmd["CommandId"], iid)] = Invocation()
        role = instance_role.role_of(plain(ctx, "ec2"), plain(ctx, "iam"), iid) or ""
        out = _output_in_s3(ctx, params, cmd["CommandId"], iid, role)
        threading.Thread(target=_execute, args=(inv, iid, commands, timeout, role, out), daemon=True).start()
    return True


def _output_in_s3(ctx: Context, params: dict[str, Any], command_id: str, instance_id: str, role: str) -> Any:
    """What the agent does with OutputS3BucketName: the whole stdout and stderr written to
    <prefix>/<command>/<instance>/awsrunShellScript/0.awsrunShellScript/, with the instance role's
    credentials (an upload the role may not make is skipped: the command's own status stands)."""
    bucket = params.get("OutputS3BucketName", "")
    if not bucket:
        return None
    prefix = params.get("OutputS3KeyPrefix", "").strip("/")
    base = "/".join(x for x in (prefix, command_id, instance_id, "awsrunShellScript", "0.awsrunShellScript") if x)
    s3, iam = plain(ctx, "s3"), plain(ctx, "iam")

    def upload(inv: Invocation) -> None:
        for name, text in (("stdout", inv.stdout), ("stderr", inv.stderr)):
            key = f"{base}/{name}"
            if not (role and instance_role.allowed(iam, role, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}")):
                return
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
            setattr(inv, f"{name}_url", f"https://s3.{ctx.p.region}.amazonaws.com/{bucket}/{key}")
    return upload


@correct("ssm", "GetCommandInvocation", when="before")
def invocation_result(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    """Answered here while the data plane runs the command (moto's answer would be Success at once); the
    waiter polls this often in the sandbox, and the moto server is spared those calls."""
    inv = _runs.get((params.get("CommandId", ""), params.get("InstanceId", "")))
    if inv is None:
        return None
    return {"CommandId": params["CommandId"], "InstanceId": params["InstanceId"], "PluginName": "aws:runShellScript",
            "DocumentName": "AWS-RunShellScript", "Status": inv.status, "StatusDetails": inv.status,
            "ResponseCode": inv.code, "StandardOutputContent": _cut(inv.stdout, OUT_MAX),
            "StandardErrorContent": _cut(inv.stderr, ERR_MAX), "StandardOutputUrl": inv.stdout_url,
            "StandardErrorUrl": inv.stderr_url}


# ---- running a script on a stand-in host ---------------------------------------------------------------
def _execute(inv: Invocation, instance_id: str, commands: list[str], timeout: int, role: str,
             upload: Any = None) -> None:
    result = Invocation()
    _run_script(result, instance_id, commands, timeout, role)
    if upload is not None:
        try:
            upload(result)
        except Exception:  # noqa: BLE001 - a failed upload leaves the command's result as it is, as on AWS
            pass
    inv.stdout, inv.stderr, inv.code = result.stdout, result.stderr, result.code
    inv.stdout_url, inv.stderr_url = result.stdout_url, result.stderr_url
    inv.status = result.status   # last: a reader sees the result only with its output and their URLs


def _run_script(inv: Invocation, instance_id: str, commands: list[str], timeout: int, role: str) -> None:
    try:
        env, cwd = host_env(instance_id)
        env["WORKBOOK_SANDBOX_ROLE"] = role   # what the instance's credentials stand for (hostbin's aws)
        script = Path(cwd) / f"_script-{uuid.uuid4().hex[:8]}.sh"
        script.write_text("\n".join(commands) + "\n")
        try:
            run = subprocess.run(["/bin/sh", str(script)], env=env, cwd=cwd, capture_output=True, text=True,
                                 timeout=timeout, stdin=subprocess.DEVNULL)
            inv.stdout, inv.stderr, inv.code = run.stdout, run.stderr, run.returncode
            inv.status = "Success" if run.returncode == 0 else "Failed"
        finally:
            script.unlink(missing_ok=True)
    except subprocess.TimeoutExpired as e:
        inv.stdout, inv.stderr = str(e.stdout or ""), str(e.stderr or "")
        inv.code, inv.status = 124, "TimedOut"
    except Exception as e:  # noqa: BLE001 - the agent reports what broke, it does not crash the notebook
        inv.stderr, inv.code, inv.status = f"sandbox: {type(e).__name__}: {e}", 1, "Failed"


def host_dir(instance_id: str) -> Path:
    return local.data_dir() / "hosts" / instance_id


SUDO = """#!/bin/sh
# sudo on a sandbox host: the command runs as this user; -u NAME makes NAME the database user it logs in as
while [ $# -gt 0 ]; do
  case "$1" in
    -u) PGUSER="$2"; export PGUSER; shift 2;;
    --) shift; break;;
    -*) shift;;
    *) break;;
  esac
done
exec "$@"
"""


# What a bare instance has on its PATH (an AMI's base system): no database client among them, so a script
# must install its client tools, as on an Amazon Linux app server.
BASE_TOOLS = ("sh", "bash", "cat", "cp", "mv", "rm", "mkdir", "mktemp", "chmod", "ls", "echo", "printf", "env",
              "grep", "sed", "awk", "tr", "cut", "head", "tail", "wc", "sort", "sleep", "date", "hostname", "id",
              "python3", "gzip", "base64", "true", "false", "test", "[", "xargs", "tee", "stat", "basename", "dirname",
              "dd", "df")


def _base_system(d: Path, extra: tuple[str, ...] = ()) -> Path:
    sys_ = d / "sys"
    sys_.mkdir(parents=True, exist_ok=True)
    for tool in BASE_TOOLS + extra:
        found = shutil.which(tool, path="/usr/bin:/bin")
        link = sys_ / tool
        if found and not link.exists():
            link.symlink_to(found)
    return sys_


def _shim(path: Path, tool: str) -> None:
    path.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name('hostbin.py')} {tool} \"$@\"\n")
    path.chmod(0o755)


def host_env(instance_id: str) -> tuple[dict[str, str], str]:
    """The environment and working folder of the stand-in host (module docstring)."""
    kind = hosts().get(instance_id)
    if kind is None:
        raise LookupError(f"no stand-in host for {instance_id}")
    d = host_dir(instance_id)
    bin_, home = d / "bin", d / "home"
    for sub in (bin_, home):
        sub.mkdir(parents=True, exist_ok=True)
    for tool in ("aws", "dnf"):
        _shim(bin_ / tool, tool)
    (bin_ / "sudo").write_text(SUDO)
    (bin_ / "sudo").chmod(0o755)
    cfg = local.config()
    path = [str(bin_)]
    env = {"HOME": str(home), "USER": "root", "LOGNAME": "root", "LANG": "C.UTF-8", "SHELL": "/bin/sh",
           "WORKBOOK_STATE_DIR": os.environ.get("WORKBOOK_STATE_DIR", ""), "WORKBOOK_SANDBOX_HOST": instance_id,
           "WORKBOOK_SANDBOX_ENDPOINT": cfg.get("endpoint") or "", "WORKBOOK_SANDBOX_REGION": cfg.get("region", "")}
    extra: tuple[str, ...] = ()
    if kind == "dev":
        dev = cfg["dev"]
        if dev.get("engine") == "mysql":
            from . import mysql
            (home / ".my.cnf").write_text(f"[client]\nuser=root\nsocket={mysql.socket_path(Path(dev['datadir']))}\n")
            extra = ("mysql", "mysqldump")   # the server's own client tools, installed with it
        else:
            from . import pg
            path.append(str(Path(pg.bin_path("psql")).parent))   # the server's own tools, as installed with it
            env["PGHOST"] = pg.socket_dir(Path(dev["pgdata"]))
            env["PGPORT"] = pg.port(Path(dev["pgdata"]))
    rds = cfg.get("rds") or {}
    from . import mysql, pg
    env.update(WORKBOOK_SANDBOX_PG_BIN=str(Path(pg.bin_path("psql")).parent),
               WORKBOOK_SANDBOX_RDS_ADDRESS=rds.get("endpoint", "").rsplit(":", 1)[0],
               WORKBOOK_SANDBOX_RDS_PGDATA=rds.get("pgdata", ""),
               WORKBOOK_SANDBOX_RDS_SOCKET=str(mysql.socket_path(Path(rds["datadir"]))) if rds.get("datadir") else "")
    env["PATH"] = ":".join(path + [str(_base_system(d, extra))])
    return env, str(home)


def wait(command_id: str, instance_id: str, timeout: float = 60.0) -> Invocation | None:
    """For tests: the invocation once it ended (None when unknown)."""
    deadline = time.monotonic() + timeout
    inv = _runs.get((command_id, instance_id))
    while inv is not None and inv.status == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.05)
    return inv
