"""The instances the database move runs on, and what each needs first (SSM Run Command).

- `run_command`: AWS-RunShellScript with the script under bash (dbmove_scripts.wrap), the documented
  `command_executed` waiter for as long as AWS may take (delivery + execution timeout), and the
  invocation read even when the waiter gives up, so a failure shows what the instance printed on
  stderr; a command still running when the wait ends is no failure (progress.StillWaiting).
- `registered`: the instance's SSM agent is Online (DescribeInstanceInformation) before anything is sent.
- `dev_access`: the dev host needs an instance profile whose role has AmazonSSMManagedInstanceCore (the
  agent) and s3:PutObject on the dump objects. A host with no profile gets the stack's own move profile
  only when the host is the stack's (00_setup built it) or `dev_attach_profile` allows it, and loses it
  again afterwards: the host is put back as it was. A host with a profile of its own keeps it (the
  workbook never changes a role it did not create); its role must allow the upload.
- `app_access`: the app server that restores reads the dump and the two database secrets with its own
  role, through an inline policy that exists only while the move runs.
- `ensure_app_secret`: the app's own least-privilege database user, its password kept in a secret of
  the stack (created here; the restore creates the user in the database with it).
"""
from __future__ import annotations

import contextlib
import json
from typing import Any, Iterator
from urllib.parse import urlparse

from botocore.exceptions import ClientError, WaiterError

from . import engine, names, progress
from .connect import Context
from .dbmove_scripts import wrap

STEP = "08_cutover_compare"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
UPLOAD_POLICY = "dump-upload"        # inline, on the stack's dev move role
MOVE_POLICY = "workbook-dbmove"      # inline, on the app role, only while the move runs
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
APP_USER = "app_user"
REGISTRATION_WAIT = (10, 60)         # s between checks, checks: the agent picks up a new profile in minutes


class CommandFailed(RuntimeError):
    """A command ended other than Success; the message holds the instance's stderr."""


class NotReady(RuntimeError):
    """A prerequisite of the move is missing; the message names what to set or do."""


OUTPUT_PREFIX = "dumps/ssm-output"   # under dumps/: the dev host's move role may already write there
OUTPUT_SHOWN = 24_000                # bytes of stdout the agent keeps for GetCommandInvocation
DELIVERY_TIMEOUT_S = 600             # SendCommand TimeoutSeconds: the agent must have picked the command up by then
EXECUTION_TIMEOUT_S = 3600           # the script's executionTimeout: the agent ends it after that
RUNNING = ("Pending", "InProgress", "Delayed")   # a command AWS has not ended: it goes on
WAIT_DELAY_S = 5


def dump_objects(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}/dumps/*"


# ---- SSM Run Command ----------------------------------------------------------------------------------
def run_command(ctx: Context, instance_id: str, script: str | list[str], comment: str, *,
                output_bucket: str = "") -> str:
    """Run a bash script (or ready AWS-RunShellScript commands) on the instance; returns its stdout.
    Raises CommandFailed with the instance's stderr when it did not succeed. GetCommandInvocation gives
    the first 24,000 bytes of stdout only: with `output_bucket` the instance also writes the whole
    of it to S3 (OUTPUT_PREFIX, with its role), and a longer output is read from there."""
    commands = wrap(script) if isinstance(script, str) else list(script)
    ssm = ctx.client("ssm")
    # A command an earlier cell left running (its wait outlasted the cell) is waited for, not sent again:
    # a second dump or restore would run over the first.
    cmd = in_flight(ctx, instance_id, comment) or ssm.send_command(
        InstanceIds=[instance_id], DocumentName="AWS-RunShellScript", Comment=comment[:100],
        Parameters={"commands": commands, "executionTimeout": [str(EXECUTION_TIMEOUT_S)]},
        TimeoutSeconds=DELIVERY_TIMEOUT_S,
        **({"OutputS3BucketName": output_bucket, "OutputS3KeyPrefix": OUTPUT_PREFIX} if output_bucket else {}))["Command"]
    t0 = ctx.clock.now()
    try:
        # as long as AWS may let it run: picked up within the delivery timeout, then the execution timeout
        progress.wait_for(ssm, "command_executed", comment, delay=WAIT_DELAY_S, sleep=ctx.clock.sleep,
                          max_attempts=-(-(DELIVERY_TIMEOUT_S + EXECUTION_TIMEOUT_S) // WAIT_DELAY_S) + 2,
                          CommandId=cmd["CommandId"], InstanceId=instance_id)
    except WaiterError:
        pass   # a failed command ends the waiter before its output is read: it is read below
    inv = _invocation(ctx, cmd["CommandId"], instance_id)
    if inv.get("Status") in RUNNING:
        # Not a failure: what it needs (a profile, a role policy, the freeze) must stay while it runs.
        raise progress.StillWaiting(comment, ctx.clock.now() - t0, then="the command goes on on the instance; a rerun "
                                    "of the move waits for it rather than sending it again")
    if inv.get("Status") != "Success":
        err = (inv.get("StandardErrorContent") or "").strip() or (inv.get("StandardOutputContent") or "").strip()
        raise CommandFailed(f"{comment}: {inv.get('Status', 'no status')} on {instance_id} "
                            f"(exit {inv.get('ResponseCode', '?')}): {err[-2000:] or '(nothing on stderr)'}")
    out = inv.get("StandardOutputContent", "")
    # Cut at 24,000 bytes of UTF-8, not characters; a character cut in two is dropped or replaced (<= 3 bytes).
    return out if len(out.encode()) < OUTPUT_SHOWN - 3 else _whole_output(ctx, inv, output_bucket, comment)


def _whole_output(ctx: Context, inv: dict[str, Any], bucket: str, comment: str) -> str:
    """The whole stdout of a command whose answer may be cut at 24,000 bytes, from the S3 object the
    instance wrote (its URL in the invocation)."""
    url = urlparse(inv.get("StandardOutputUrl") or "")
    where = (f"s3://{bucket}/{OUTPUT_PREFIX}/" if bucket else "no S3 bucket was named for it")
    if not (bucket and url.path):
        raise CommandFailed(f"{comment}: its output may be longer than the 24,000 bytes Run Command returns and "
                            f"the whole of it is not in S3 ({where}): the instance role needs s3:PutObject there")
    key = url.path.lstrip("/")
    key = key[len(bucket) + 1:] if key.startswith(bucket + "/") else key   # path-style or virtual-hosted URL
    try:
        return ctx.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as e:
        raise CommandFailed(f"{comment}: its output may be longer than the 24,000 bytes Run Command returns and "
                            f"s3://{bucket}/{key} could not be read ({engine.code(e)}): the instance role needs "
                            f"s3:PutObject on {where}") from None


def in_flight(ctx: Context, instance_id: str, comment: str) -> dict[str, Any] | None:
    """The workbook's command of this comment still running on the instance, if any (ListCommands)."""
    for page in ctx.client("ssm").get_paginator("list_commands").paginate(InstanceId=instance_id):
        for c in page["Commands"]:
            if c.get("Comment") == comment[:100] and c.get("Status") in RUNNING:
                print(f"{comment}: the command sent earlier ({c['CommandId']}) still runs: waiting for it")
                return c
    return None


def _invocation(ctx: Context, command_id: str, instance_id: str) -> dict[str, Any]:
    """GetCommandInvocation; right after SendCommand AWS may not know the invocation yet."""
    ssm = ctx.client("ssm")
    for attempt in range(6):
        try:
            return ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as e:
            if engine.code(e) != "InvocationDoesNotExist" or attempt == 5:
                raise
            ctx.clock.sleep(2)
    raise AssertionError("unreachable")


def ping_status(ctx: Context, instance_id: str) -> str:
    """The instance's SSM agent status ("Online", "ConnectionLost" ...; "" when never registered)."""
    items = ctx.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])["InstanceInformationList"]
    return items[0].get("PingStatus", "") if items else ""


def registered(ctx: Context, instance_id: str, what: str, *, wait: bool = False) -> None:
    """Refuses (NotReady) unless the instance's agent is Online; with wait, gives a just attached profile
    the minutes the agent takes to register."""
    if wait:
        delay, attempts = REGISTRATION_WAIT
        try:
            progress.poll(lambda: ping_status(ctx, instance_id) == "Online", f"{what} {instance_id} to register "
                          "with SSM", delay=delay, max_attempts=attempts, sleep=ctx.clock.sleep)
        except TimeoutError:
            pass
    status = ping_status(ctx, instance_id)
    if status != "Online":
        raise NotReady(f"the {what} {instance_id} is not registered with SSM ({status or 'never seen'}): the move "
                       "runs there through SSM Run Command, which needs the SSM agent running, a route to the SSM "
                       "endpoints and an instance profile with AmazonSSMManagedInstanceCore (after attaching one, "
                       "`sudo systemctl restart amazon-ssm-agent` speeds up the registration)")


# ---- the dev host --------------------------------------------------------------------------------------
def profile_of(ctx: Context, instance_id: str) -> dict[str, Any] | None:
    assoc = ctx.client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]},
                 {"Name": "state", "Values": ["associating", "associated"]}])["IamInstanceProfileAssociations"]
    return assoc[0] if assoc else None


def is_stacks(ctx: Context, instance_id: str) -> bool:
    """Whether the stack made the instance (its tag), so the workbook may change it without asking."""
    inst = ctx.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in inst.get("Tags", [])}.get("workbook:stack") == ctx.p.stack_name


def ensure_dev_profile(ctx: Context, bucket: str) -> str:
    """The stack's move role (SSM core + s3:PutObject on the dump objects) and its instance profile;
    returns the profile's name."""
    p, iam = ctx.p, ctx.client("iam")
    name = names.dev_move_role(p)
    engine.ensure(ctx, "iam_role", name, step=STEP, create=lambda: {
        "RoleName": name, "AssumeRolePolicyDocument": json.dumps(EC2_TRUST),
        "Description": "the dev host while the database moves: SSM agent and the dump upload"})
    attached = {a["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for a in page["AttachedPolicies"]}
    if SSM_CORE not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=SSM_CORE)
    iam.put_role_policy(RoleName=name, PolicyName=UPLOAD_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                                "Resource": dump_objects(bucket)}]}))
    rec = engine.ensure(ctx, "instance_profile", name, step=STEP, create={"InstanceProfileName": name})
    if not rec.item.get("Roles"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name


@contextlib.contextmanager
def dev_access(ctx: Context, instance_id: str, bucket: str) -> Iterator[dict[str, str]]:
    """The dev host ready for SSM Run Command and the upload for as long as the block runs (see the
    module docstring). Yields what was found and done, for the notebook."""
    p, ec2 = ctx.p, ctx.client("ec2")
    current = profile_of(ctx, instance_id)
    attached = ""
    if current is not None and current["IamInstanceProfile"]["Arn"].endswith(f"/{names.dev_move_role(p)}"):
        attached, current = current["AssociationId"], None   # the move's own, left by a cell that ran out of time
    if current is None and not attached:
        if not (is_stacks(ctx, instance_id) or p.dev_attach_profile):
            raise NotReady(
                f"the dev host {instance_id} has no instance profile, so SSM Run Command cannot reach it and it cannot "
                f"upload the dump. It is not the stack's: the workbook changes it only when asked. Set "
                f"dev_attach_profile=true to let 08 attach the profile {names.dev_move_role(p)} (SSM agent + s3:PutObject "
                f"on {dump_objects(bucket)}) for the move and detach it afterwards, or attach a profile of your own "
                "with those permissions")
        profile = ensure_dev_profile(ctx, bucket)
        arn = ctx.client("iam").get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
        attached = engine.retrying(
            ctx, lambda: ec2.associate_iam_instance_profile(
                InstanceId=instance_id, IamInstanceProfile={"Arn": arn})["IamInstanceProfileAssociation"]["AssociationId"],
            "attach the move profile to the dev host", codes=("InvalidParameterValue",))   # a new profile propagates
    revoke = True
    try:
        registered(ctx, instance_id, "dev host", wait=bool(attached))
        yield {"profile": (current or {}).get("IamInstanceProfile", {}).get("Arn", "") or f"{names.dev_move_role(p)} "
               "(attached for the move)", "attached": attached}
    except progress.StillWaiting:
        revoke = False
        if attached:
            _left_running(f"the profile {names.dev_move_role(p)} on the dev host")
        raise
    finally:
        if attached and revoke:
            ec2.disassociate_iam_instance_profile(AssociationId=attached)   # back as it was


def _left_running(what: str) -> None:
    """A wait ran out of its cell's time (progress.StillWaiting): the command goes on in AWS and needs the
    permission the block gave, so it is left in place; the rerun that waits the command out removes it."""
    print(f"{what} stays while the command runs on; the rerun that waits for it removes it")


# ---- the app server that restores ------------------------------------------------------------------------
@contextlib.contextmanager
def app_access(ctx: Context, bucket: str, secrets: list[str]) -> Iterator[None]:
    """The app role may read the dump objects and the database secrets while the block runs."""
    role = engine.find_one(ctx, "iam_role", names.app_role(ctx.p))
    if role is None:
        raise NotReady(f"no instance role {names.app_role(ctx.p)} of stack {ctx.p.stack_name!r}: run 04_compute first")
    iam = ctx.client("iam")
    iam.put_role_policy(RoleName=role.id, PolicyName=MOVE_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": dump_objects(bucket)},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/{OUTPUT_PREFIX}/*"},
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secrets}]}))
    revoke = True
    try:
        yield
    except progress.StillWaiting:
        revoke = False
        _left_running(f"the policy {MOVE_POLICY} on {role.id}")
        raise
    finally:
        if revoke:
            iam.delete_role_policy(RoleName=role.id, PolicyName=MOVE_POLICY)


def restore_instance(ctx: Context) -> str:
    """One InService instance of the stack's Auto Scaling group (in the VPC, allowed to the database)."""
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(ctx.p)])["AutoScalingGroups"]
    ids = [i["InstanceId"] for g in groups for i in g.get("Instances", []) if i.get("LifecycleState") == "InService"]
    if not ids:
        raise NotReady(f"no InService instance in {names.asg(ctx.p)}: the restore runs on an app server (04_compute)")
    return sorted(ids)[0]


def ensure_app_secret(ctx: Context, db: dict[str, Any], engine_name: str) -> str:
    """The app's own database user: its secret (RDS's secret layout), created once; returns its ARN.
    The password is generated by Secrets Manager and never printed."""
    p, name = ctx.p, names.app_db_secret(ctx.p)
    ep = db.get("Endpoint") or {}
    sm = ctx.client("secretsmanager")

    def value() -> str:
        password = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]
        return json.dumps({"engine": engine_name, "host": ep.get("Address", ""), "port": ep.get("Port"),
                           "dbname": db.get("DBName") or "app", "username": APP_USER, "password": password})
    found = engine.find_one(ctx, "secret", name)
    if found is not None and found.raw.get("DeletedDate") and not ctx.dry_run:
        # A teardown scheduled it for deletion (a 7-day recovery window, in which AWS refuses a new secret
        # of the name): a rebuild restores the stack's own and gives it the new database's address.
        sm.restore_secret(SecretId=found.id)
        sm.put_secret_value(SecretId=found.id, SecretString=value())
        return ctx.note(STEP, "secret", name, found.id, "restored").id
    return engine.ensure(ctx, "secret", name, step=STEP, found=found, lookup=False, create=lambda: {
        "Name": name, "Description": f"the app's own database user of stack {p.stack_name} (08 creates it)",
        "SecretString": value()}).id
