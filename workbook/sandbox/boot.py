"""An app server's boot in the sandbox, under the contract a real instance keeps.

On AWS an instance of the group runs its launch template's user data (04_compute's boot script): it
reads the release's location from the SSM parameter the script names, copies the wheel from S3 and
installs it, each with the instance role's credentials; when any of that fails (`set -euo pipefail`)
the app never starts and the target never passes a health check. moto runs no user data, so this
module does the same, in order, for one instance, and the data plane starts an app process only
from what it installed:

1. the instance's own user data (DescribeInstanceAttribute userData): the boot settings file the
   script writes (`/etc/app/boot.env`: ARTIFACT, ARTIFACT_PARAMETER);
2. the instance's role, through its instance profile association;
3. `ssm:GetParameter` on the parameter, then `s3:GetObject` on the object: each allowed only if the
   role's policies allow it (below), then read from the sandbox's SSM and S3;
4. the wheel unpacked into the instance's own folder (what `pip install` puts in site-packages); the
   app runs from there (daemon.py), never from this checkout;
5. the app's settings (`/etc/app/app.env`): with no DB_HOST the app exits at start, as it does on an
   instance (systemd restarts it, forever), so the target never passes a health check.

How the role's permissions are evaluated: every identity policy of the role (inline ones, and the
default version of each attached managed policy) is read, and an action on a resource is allowed when
some Allow statement matches both (Action/NotAction, Resource/NotResource, `*` and `?` wildcards,
actions case-insensitive) and no Deny statement does. A statement with a Condition is not evaluated:
an Allow with one grants nothing here and a Deny with one denies, so the sandbox never lets through
what AWS might refuse. Not considered: permissions boundaries, organization SCPs, session policies and
resource policies (the bucket's), which the workbook does not set to grant anything.

What the boot printed is kept as the instance's boot log, which the sandbox gives as its console
output (corrections.py, GetConsoleOutput), as AWS shows the boot script's output there.
"""
from __future__ import annotations

import base64
import io
import json
import re
import shlex
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from ..connect import Context
from .corrections import plain

FILE_LINE = re.compile(r"^printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d > (\S+)$", re.M)
BOOT_ENV = "/etc/app/boot.env"
APP_ENV = "/etc/app/app.env"
LOGS: dict[str, str] = {}   # instance id -> its last boot log (this process's; also written to disk)


@dataclass
class Boot:
    instance_id: str
    ok: bool = False
    log: list[str] = field(default_factory=list)
    release: dict[str, str] | None = None   # path (unpacked), version, url

    def fail(self, line: str) -> "Boot":
        self.log.append(line)
        self.log.append("boot script aborted (set -e): the app was not installed and does not start")
        return self

    @property
    def text(self) -> str:
        return "\n".join(self.log) + "\n"


# ---- the role's permissions -----------------------------------------------------------------------------
def _document(doc: Any) -> dict[str, Any]:
    return json.loads(unquote(doc)) if isinstance(doc, str) else dict(doc or {})


def role_statements(ctx: Context, role: str) -> list[dict[str, Any]]:
    """Every statement of the role's identity policies: inline, and attached (default version)."""
    iam, out = plain(ctx, "iam"), []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            out += _statements(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for a in page["AttachedPolicies"]:
            try:
                version = iam.get_policy(PolicyArn=a["PolicyArn"])["Policy"]["DefaultVersionId"]
                out += _statements(iam.get_policy_version(PolicyArn=a["PolicyArn"], VersionId=version)
                                   ["PolicyVersion"]["Document"])
            except ClientError:
                continue   # a policy that cannot be read grants nothing here
    return out


def _statements(doc: Any) -> list[dict[str, Any]]:
    st = _document(doc).get("Statement", [])
    return [st] if isinstance(st, dict) else list(st)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _like(pattern: str, value: str, fold: bool) -> bool:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.IGNORECASE if fold else 0) is not None


def _matches(st: dict[str, Any], action: str, resource: str) -> bool:
    if "Action" in st:
        hit = any(_like(a, action, True) for a in _listed(st["Action"]))
    else:
        hit = not any(_like(a, action, True) for a in _listed(st.get("NotAction")))
    if "Resource" in st:
        return hit and any(_like(r, resource, False) for r in _listed(st["Resource"]))
    return hit and not any(_like(r, resource, False) for r in _listed(st.get("NotResource")))


def allowed(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    relevant = [s for s in statements if _matches(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in relevant):
        return False
    return any(s.get("Effect") == "Allow" and not s.get("Condition") for s in relevant)


# ---- the boot ---------------------------------------------------------------------------------------------
def _boot_env(script: str, which: str = BOOT_ENV) -> dict[str, str]:
    for blob, path in FILE_LINE.findall(script):
        if path == which:
            text = base64.b64decode(blob).decode()
            return dict(part.split("=", 1) for line in text.splitlines() for part in shlex.split(line) if "=" in part)
    return {}


def _role_of(ctx: Context, instance_id: str) -> str:
    ec2, iam = plain(ctx, "ec2"), plain(ctx, "iam")
    for a in ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]:
        if a.get("State") in ("associating", "associated"):
            profile = a["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1]
            try:
                roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
            except ClientError:
                return ""
            return roles[0]["RoleName"] if roles else ""
    return ""


def boot(ctx: Context, instance_id: str, home: Path | None = None) -> Boot:
    """Run one instance's boot as its user data would; `home` is its folder (None: check only, unpack nothing)."""
    b = Boot(instance_id)
    try:
        _boot(ctx, b, home)
    finally:
        LOGS[instance_id] = b.text
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            (home / "boot.log").write_text(b.text)
    return b


def _boot(ctx: Context, b: Boot, home: Path | None) -> Boot:
    iid, region, account = b.instance_id, ctx.p.region, ctx.account_id
    raw = plain(ctx, "ec2").describe_instance_attribute(InstanceId=iid, Attribute="userData").get("UserData") or {}
    script = base64.b64decode(raw.get("Value") or "").decode(errors="replace")
    env = _boot_env(script)
    if not env:
        return b.fail("no boot script of 04_compute in the instance's user data: nothing installs the app")
    b.log.append("+ dnf install -y python3 python3-pip amazon-cloudwatch-agent")
    role = _role_of(ctx, iid)
    if not role:
        return b.fail("Unable to locate credentials: the instance has no instance profile with a role")
    statements = role_statements(ctx, role)
    who = f"arn:aws:sts::{account}:assumed-role/{role}/{iid}"
    url = env.get("ARTIFACT", "")
    if not url:
        name = env.get("ARTIFACT_PARAMETER", "")
        arn = f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
        b.log.append(f"+ aws ssm get-parameter --name {name} --query Parameter.Value --output text")
        if not allowed(statements, "ssm:GetParameter", arn):
            return b.fail(f"An error occurred (AccessDeniedException) when calling the GetParameter operation: User: "
                          f"{who} is not authorized to perform: ssm:GetParameter on resource: {arn}")
        try:
            url = plain(ctx, "ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as e:
            return b.fail(f"An error occurred ({e.response['Error'].get('Code')}) when calling the GetParameter "
                          f"operation: parameter {name} not found")
    if not url.startswith("s3://"):
        return b.fail(f"+ pip install {url}\nthe sandbox reaches no network: it installs a release only from its "
                      f"own S3 (s3://...), not {url.split(':', 1)[0]}://")
    bucket, _, key = url[len("s3://"):].partition("/")
    b.log.append(f"+ aws s3 cp {url} /opt/app/")
    if not allowed(statements, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"):
        return b.fail(f"fatal error: An error occurred (403) when calling the HeadObject operation: Forbidden ({who} "
                      f"is not allowed s3:GetObject on arn:aws:s3:::{bucket}/{key})")
    try:
        body = plain(ctx, "s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as e:
        return b.fail(f"fatal error: An error occurred ({e.response['Error'].get('Code')}) when calling the "
                      f"HeadObject operation: {url} not found")
    wheel = key.rsplit("/", 1)[-1]
    b.log.append(f"+ /opt/app/venv/bin/pip install /opt/app/{wheel}")
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
            version = next(line.split(":", 1)[1].strip() for line in z.read(meta).decode().splitlines()
                           if line.startswith("Version:"))
            if home is not None:
                import hashlib
                target = home / "release" / hashlib.sha256(body).hexdigest()[:16]
                if not (target / meta).exists():
                    z.extractall(target)
                b.release = {"path": str(target), "version": version, "url": url}
            else:
                b.release = {"path": "", "version": version, "url": url}
    except (zipfile.BadZipFile, StopIteration):
        return b.fail(f"ERROR: {wheel} is not a valid wheel")
    b.log.append(f"Successfully installed {meta.split('-', 1)[0].replace('_', '-')}-{version}")
    b.log.append("+ systemctl enable --now app.service")
    if not _boot_env(script, APP_ENV).get("DB_HOST"):
        b.log.append("app.service: DATABASE_URL is not set (DB_HOST is empty in /etc/app/app.env: the launch "
                     "template was made before the database had an address); the app exits at start and systemd "
                     "restarts it every 2 s")
        b.release = None   # the data plane starts no app process for it: nothing ever answers the health check
        return b
    _agent_starts(ctx, b, script, statements, who)
    b.ok = True
    return b


def _agent_starts(ctx: Context, b: Boot, script: str, statements: list[dict[str, Any]], who: str) -> None:
    """The CloudWatch agent the boot starts creates each log group it ships to that does not exist (its
    role may, with CloudWatchAgentServerPolicy): untagged, with no retention, as on an instance."""
    config = _boot_env_json(script, "/opt/aws/amazon-cloudwatch-agent/etc/app.json")
    wanted = {f.get("log_group_name", "") for f in config.get("logs", {}).get("logs_collected", {}).get("files", {})
              .get("collect_list", [])} - {""}
    logs = plain(ctx, "logs")
    for name in sorted(wanted):
        if any(g["logGroupName"] == name for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]):
            continue
        arn = f"arn:aws:logs:{ctx.p.region}:{ctx.account_id}:log-group:{name}"
        if allowed(statements, "logs:CreateLogGroup", arn):
            logs.create_log_group(logGroupName=name)
            b.log.append(f"amazon-cloudwatch-agent: log group {name} did not exist: created it")
        else:
            b.log.append(f"amazon-cloudwatch-agent: {who} may not logs:CreateLogGroup {name}: its logs are dropped")


def _boot_env_json(script: str, which: str) -> dict[str, Any]:
    for blob, path in FILE_LINE.findall(script):
        if path == which:
            return json.loads(base64.b64decode(blob).decode())
    return {}


def boot_log(instance_id: str, home: Path | None = None) -> str:
    """The instance's last boot log ("" when it never booted here)."""
    if instance_id in LOGS:
        return LOGS[instance_id]
    if home is not None and (home / "boot.log").exists():
        return (home / "boot.log").read_text()
    return ""
