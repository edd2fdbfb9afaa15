"""Programs of a sandbox stand-in host (runcommand.py puts them on its PATH):

- `aws`: the few AWS CLI commands the move's scripts use (`s3 cp`, a stream `-` too, `s3api head-object`,
  `secretsmanager get-secret-value`),
  acting as the instance: with no instance profile there are no credentials (the CLI's own message),
  and each call is allowed only when the instance role's policies allow it (instance_role.py);
- `dnf install`: installs what Amazon Linux's packages would (postgresql16, mariadb105, awscli-2) as
  wrappers in the host's bin folder; an unknown package is "No match", as dnf says. The database client
  wrappers send the RDS endpoint to the RDS stand-in's local socket.
Run as `python .../workbook/sandbox/hostbin.py TOOL ARGS...` with the host's environment.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import json

import boto3

if __package__:
    from . import instance_role
else:   # run by path, as the hosts' shims do: a second instead of the package's imports (pandas ...)
    import instance_role  # type: ignore[no-redef]

NO_CREDENTIALS = 'Unable to locate credentials. You can configure credentials by running "aws configure".'


def _client(service: str, region: str) -> object:
    return boto3.client(service, region_name=region or "us-east-1", endpoint_url=os.environ["WORKBOOK_SANDBOX_ENDPOINT"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


VALUED = ("--region", "--sse", "--secret-id", "--query", "--output", "--profile", "--endpoint-url", "--expected-size",
          "--bucket", "--key")


def _option(args: list[str], name: str, default: str = "") -> str:
    return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else default


def _positional(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in VALUED:
            skip = True
        elif not a.startswith("--"):
            out.append(a)
    return out


def aws(args: list[str]) -> int:
    region = _option(args, "--region", os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION", ""))
    if not region:
        print("You must specify a region. You can also configure your region by running \"aws configure\".",
              file=sys.stderr)
        return 253
    iid = os.environ["WORKBOOK_SANDBOX_HOST"]
    role = os.environ.get("WORKBOOK_SANDBOX_ROLE", "")   # the instance profile's role when the command started
    if not role:
        print(NO_CREDENTIALS, file=sys.stderr)
        return 253
    iam = _client("iam", region)
    words = _positional(args)

    def denied(action: str, resource: str, op: str) -> bool:
        if instance_role.allowed(iam, role, action, resource):
            return False
        print(f"An error occurred (AccessDenied) when calling the {op} operation: User: "
              f"arn:aws:sts::123456789012:assumed-role/{role}/{iid} is not authorized to perform: {action} on resource: "
              f"{resource}", file=sys.stderr)
        return True
    if words[:2] == ["s3", "cp"]:
        src, dst = words[2:4]
        s3 = _client("s3", region)
        if dst.startswith("s3://"):
            bucket, _, key = dst[5:].partition("/")
            if denied("s3:PutObject", f"arn:aws:s3:::{bucket}/{key}", "PutObject"):
                return 1
            extra = {"ServerSideEncryption": _option(args, "--sse")} if "--sse" in args else {}
            if src == "-":   # a stream from stdin, as the CLI takes it
                s3.upload_fileobj(sys.stdin.buffer, bucket, key, ExtraArgs=extra or None)
            else:
                s3.upload_file(src, bucket, key, ExtraArgs=extra or None)
        else:
            bucket, _, key = src[5:].partition("/")
            if denied("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", "GetObject"):
                return 1
            if dst == "-":
                s3.download_fileobj(bucket, key, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                s3.download_file(bucket, key, dst)
        return 0
    if words[:2] == ["s3api", "head-object"]:
        bucket, key = _option(args, "--bucket"), _option(args, "--key")
        if denied("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", "HeadObject"):
            return 254
        s3 = _client("s3", region)
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except s3.exceptions.ClientError:
            print("An error occurred (404) when calling the HeadObject operation: Not Found", file=sys.stderr)
            return 254
        print(head["ContentLength"] if _option(args, "--query") == "ContentLength" else json.dumps(
            {"ContentLength": head["ContentLength"]}))
        return 0
    if words[:2] == ["secretsmanager", "get-secret-value"]:
        sm = _client("secretsmanager", region)
        secret_id = _option(args, "--secret-id")
        try:
            arn = sm.describe_secret(SecretId=secret_id)["ARN"]
        except sm.exceptions.ResourceNotFoundException:
            print(f"An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: "
                  f"Secrets Manager can't find the specified secret.", file=sys.stderr)
            return 254
        if denied("secretsmanager:GetSecretValue", arn, "GetSecretValue"):
            return 254
        value = sm.get_secret_value(SecretId=arn)
        print(value["SecretString"] if _option(args, "--query") == "SecretString" else value)
        return 0
    print(f"sandbox aws: {' '.join(words[:2])} is not one of the commands a sandbox host offers", file=sys.stderr)
    return 2


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def _rds() -> tuple[str, str, str]:
    """(RDS endpoint address, PostgreSQL stand-in data folder, MariaDB stand-in socket) from runcommand's env."""
    return (os.environ.get("WORKBOOK_SANDBOX_RDS_ADDRESS", ""), os.environ.get("WORKBOOK_SANDBOX_RDS_PGDATA", ""),
            os.environ.get("WORKBOOK_SANDBOX_RDS_SOCKET", ""))


def _pg_wrappers(bin_: Path) -> None:
    address, pgdata, _ = _rds()
    for tool in ("psql", "pg_dump", "pg_restore"):
        _write(bin_ / tool, f"""#!/bin/sh
# {tool} as dnf installed it on a sandbox app server: the RDS endpoint leads to the RDS stand-in's socket
if [ -n "{address}" ] && [ "${{PGHOST:-}}" = "{address}" ] && [ -f "{pgdata}/postmaster.pid" ]; then
  PGPORT=$(sed -n 4p "{pgdata}/postmaster.pid"); PGHOST=$(sed -n 5p "{pgdata}/postmaster.pid"); PGSSLMODE=disable
  export PGPORT PGHOST PGSSLMODE
fi
exec {os.environ["WORKBOOK_SANDBOX_PG_BIN"]}/{tool} "$@"
""")


def _mysql_wrappers(bin_: Path) -> None:
    address, _, sock = _rds()
    for tool in ("mysql", "mysqldump"):
        real = shutil.which(tool, path="/usr/bin:/bin") or f"/usr/bin/{tool}"
        _write(bin_ / tool, f"""#!/bin/sh
# {tool} as dnf installed it on a sandbox app server: an option file naming the RDS endpoint leads to the
# RDS stand-in's socket (no TLS there)
case "${{1:-}}" in --defaults-extra-file=*)
  f="${{1#--defaults-extra-file=}}"; shift
  if [ -n "{sock}" ] && grep -qx "host={address}" "$f"; then
    t=$(mktemp); sed -e "s|^host={address}$|socket={sock}|" -e '/^port=/d' -e '/^ssl/d' "$f" > "$t"
    {real} --defaults-extra-file="$t" "$@"; rc=$?; rm -f "$t"; exit $rc
  fi
  set -- --defaults-extra-file="$f" "$@";;
esac
exec {real} "$@"
""")


PACKAGES = {"postgresql16": _pg_wrappers, "mariadb105": _mysql_wrappers, "awscli-2": None}


def dnf(args: list[str]) -> int:
    if not args or args[0] != "install":
        print(f"sandbox dnf: only `dnf install` is offered, not {' '.join(args[:1])}", file=sys.stderr)
        return 1
    bin_ = Path(os.environ["HOME"]).parent / "bin"   # the host's own bin folder (runcommand.host_env)
    packages = [a for a in args[1:] if not a.startswith("-")]
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        print(f"No match for argument: {' '.join(unknown)}\nError: Unable to find a match: {' '.join(unknown)}",
              file=sys.stderr)
        return 1
    for p in packages:
        if PACKAGES[p]:
            PACKAGES[p](bin_)
        print(f"Installed: {p} (sandbox)", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    return {"aws": aws, "dnf": dnf}[tool](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
