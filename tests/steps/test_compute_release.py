"""04_compute's release (issue 10 #1): the app's wheel in the stack's bucket, its location in the SSM
parameter the boot script reads, readable through the instance role alone; 04 waits for healthy
targets. On in-process moto (no local processes: the boot is checked, not run; tests/sandbox/
test_app_release.py runs it for real)."""
from __future__ import annotations

import base64
import itertools
import json
import shlex
import subprocess
import sys
import tempfile
import zipfile

import pytest

from compute_fixtures import build_network, create_database, moto  # noqa: F401 (moto: a fixture)
from conftest import make_ctx
from workbook import engine, names
from workbook.steps import compute, compute_release

_stacks = itertools.count(1)



def _ready(*, database: bool = True, **params):
    ctx = make_ctx(stack_name=f"rls{next(_stacks)}", **params)
    build_network(ctx, ctx.p)
    if database:
        create_database(ctx, ctx.p)
    return ctx, ctx.p


def test_apply_stores_the_release_where_only_the_app_role_reads_it(moto):
    ctx, p = _ready()
    done = compute.apply(ctx)
    assert {"s3_bucket", "release_artifact", "ssm_parameter"} <= set(done.type)
    s3, bucket = ctx.client("s3"), compute.bucket_name(p, ctx.account_id)
    assert str(ctx.account_id) not in bucket
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert set(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()) == {True}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert (tags["workbook:stack"], tags["workbook:step"]) == (p.stack_name, compute.STEP_ID)

    url = ctx.client("ssm").get_parameter(Name=compute.artifact_parameter(p))["Parameter"]["Value"]
    rel = compute.release()
    assert url == f"s3://{bucket}/{rel.key}" and rel.key.endswith(f"-{rel.version}-py3-none-any.whl")
    assert s3.head_object(Bucket=bucket, Key=rel.key)["ContentLength"] > 1000
    [param] = engine.find(ctx, "ssm_parameter", name=compute.artifact_parameter(p))
    assert param.step == compute.STEP_ID                      # tagged: teardown finds it by tag

    doc = ctx.client("iam").get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)["PolicyDocument"]
    reads = {s["Action"]: s["Resource"] for s in doc["Statement"]}
    assert reads["s3:GetObject"] == f"arn:aws:s3:::{bucket}/{rel.key}"
    assert reads["ssm:GetParameter"].endswith(f":parameter/{p.stack_name}/app/artifact-url")
    # The launch template does not carry the release: the boot script reads the parameter.
    lt = compute.find_launch_template(ctx)
    data = ctx.client("ec2").describe_launch_template_versions(LaunchTemplateId=lt.id, Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    boot_env = compute.user_data_files(base64.b64decode(data["UserData"]).decode())["/etc/app/boot.env"]
    assert "ARTIFACT=''" in boot_env and f"ARTIFACT_PARAMETER=/{p.stack_name}/app/artifact-url" in boot_env


class Killed(Exception):
    pass


def _killed_right_after_create_bucket(ctx):
    """The run dies the moment CreateBucket has answered, before anything else of the bucket is set."""
    def crash(**_):
        raise Killed("killed right after CreateBucket answered")
    ctx.client("s3").meta.events.register("after-call.s3.CreateBucket", crash)
    with pytest.raises(Killed):
        compute.ensure_artifact_bucket(ctx)


def test_a_crash_right_after_create_bucket_leaves_a_bucket_the_stack_finds(moto):
    """The tags are part of CreateBucket: no moment exists when the bucket is the stack's but untagged."""
    ctx, p = _ready()

    _killed_right_after_create_bucket(ctx)
    again = make_ctx(stack_name=p.stack_name)
    assert [b.name for b in engine.find(again, "s3_bucket")] == [compute.bucket_name(p, again.account_id)]
    rec = compute.ensure_artifact_bucket(again)    # found, and its settings are made on the rerun
    assert rec.action == "exists"
    assert {(r.type, r.action) for r in again.resources} >= {("bucket_setting", "updated")}
    assert again.client("s3").get_bucket_versioning(Bucket=rec.id)["Status"] == "Enabled"


def test_a_namesake_bucket_without_the_stacks_tag_is_refused(moto):
    ctx, p = _ready()
    ctx.client("s3").create_bucket(Bucket=compute.bucket_name(p, ctx.account_id))
    with pytest.raises(engine.ForeignResource, match="does not carry the tag"):
        compute.ensure_artifact_bucket(ctx)


def test_a_new_release_moves_the_parameter_and_keeps_the_template(moto, monkeypatch):
    ctx, p = _ready()
    compute.apply(ctx)
    wheel = compute.build()
    newer = compute_release.Release("workbook-backend", "9.9.9", "0123456789abcdef")
    monkeypatch.setattr(compute_release, "release", lambda: newer)   # the app changed and got a new version
    monkeypatch.setattr(compute_release, "build", lambda: wheel)
    changed = compute.ensure_release(ctx)
    assert [(r.type, r.action) for r in changed] == [("s3_bucket", "exists"), ("release_artifact", "created"),
                                                     ("ssm_parameter", "updated")]
    assert compute.release_location(ctx).endswith(f"/releases/workbook-backend/9.9.9/0123456789abcdef/{newer.filename}")
    assert compute.ensure_instance_role(ctx).action == "exists"
    assert ctx.resources[-1].type == "iam_role_policy" and ctx.resources[-1].action == "updated"
    assert compute.ensure_launch_template(ctx).action == "exists"


def test_drifted_bucket_settings_are_put_back(moto):
    ctx, p = _ready()
    compute.ensure_release(ctx)
    bucket = compute.bucket_name(p, ctx.account_id)
    ctx.client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    ctx.client("s3").delete_public_access_block(Bucket=bucket)
    mark = len(ctx.resources)
    compute.ensure_artifact_bucket(ctx)
    assert sorted(r.name for r in ctx.resources[mark:] if r.type == "bucket_setting") == [
        f"{bucket} public_access_block", f"{bucket} versioning"]
    assert ctx.client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


def _tls_only(s3, bucket: str) -> bool:
    """The bucket's policy denies every request not made over TLS (what the step promises)."""
    doc = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    return any(st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               and st["Action"] == "s3:*" and f"arn:aws:s3:::{bucket}/*" in st["Resource"]
               for st in doc["Statement"])


def test_a_crash_right_after_create_bucket_still_ends_with_a_tls_only_bucket(moto):
    """The policy was put only with the bucket's creation: a run killed in between left it without, for good."""
    ctx, p = _ready()

    _killed_right_after_create_bucket(ctx)
    again = make_ctx(stack_name=p.stack_name)
    rec = compute.ensure_artifact_bucket(again)
    assert _tls_only(again.client("s3"), rec.id)
    assert f"{rec.id} tls_only_policy" in [r.name for r in again.resources if r.type == "bucket_setting"]


def test_a_removed_tls_only_policy_is_put_back_keeping_what_else_the_policy_says(moto):
    ctx, p = _ready()
    bucket = compute.ensure_artifact_bucket(ctx).id
    s3 = ctx.client("s3")
    theirs = {"Sid": "TheirAuditorReads", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "s3:GetBucketLocation", "Resource": f"arn:aws:s3:::{bucket}"}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [theirs]}))
    mark = len(ctx.resources)
    compute.ensure_artifact_bucket(ctx)
    assert [(r.name, r.action) for r in ctx.resources[mark:] if r.type == "bucket_setting"] == [
        (f"{bucket} tls_only_policy", "updated")]
    assert _tls_only(s3, bucket) and theirs in json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    mark = len(ctx.resources)
    compute.ensure_artifact_bucket(ctx)
    assert [r for r in ctx.resources[mark:] if r.type == "bucket_setting"] == []


def test_a_new_release_bucket_is_tls_only_and_a_rerun_repairs_nothing(moto):
    ctx, p = _ready()
    compute.ensure_release(ctx)
    assert _tls_only(ctx.client("s3"), compute.bucket_name(p, ctx.account_id))
    mark = len(ctx.resources)
    compute.ensure_release(ctx)
    assert {r.action for r in ctx.resources[mark:]} == {"exists"}


def test_without_the_parameter_04_says_which_targets_never_turn_healthy(moto):
    ctx, p = _ready()
    compute.apply(ctx)
    ctx.client("ssm").delete_parameter(Name=compute.artifact_parameter(p))
    group = compute.find_auto_scaling_group(ctx).raw
    old = {i["InstanceId"] for i in group["Instances"]}
    ctx.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=sorted(old)[0], ShouldDecrementDesiredCapacity=False)
    with pytest.raises(compute.TargetsUnhealthy) as failed:
        compute.wait_for_healthy_targets(ctx, max_attempts=5)
    new = {i["InstanceId"] for i in compute.find_auto_scaling_group(ctx).raw["Instances"]} - old
    text = str(failed.value)
    assert new and all(f"{i}: unhealthy (Target.FailedHealthChecks" in text for i in new)
    assert "ParameterNotFound" in text and compute.artifact_parameter(p) in text
    assert "123456789012" not in text                      # account ids masked in what is shown
    # Running the step again puts the parameter back, and the group's instances boot.
    assert compute.apply(ctx).query("type == 'ssm_parameter'").action.tolist() == ["created"]


def test_the_wheel_is_reproducible_and_holds_only_the_app(tmp_path, monkeypatch, request):
    # A temp folder of its own: the wheel deleted below is shared with other test workers otherwise.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    compute_release._build.cache_clear()
    request.addfinalizer(compute_release._build.cache_clear)
    first = compute.build().read_bytes()
    compute_release._build.cache_clear()
    (compute.build()).unlink()
    compute_release._build.cache_clear()
    assert compute.build().read_bytes() == first
    with zipfile.ZipFile(compute.build()) as z:
        names_ = z.namelist()
        z.extractall(tmp_path)
    assert "workbook/__init__.py" not in names_ and "workbook/backend/app.py" in names_
    assert not any(n.endswith("pyproject.toml") for n in names_)
    # The unpacked wheel runs without this checkout on the path (what an instance has).
    out = subprocess.run([sys.executable, "-S", "-c", "import workbook.backend.app as a; print(a.release(), a.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": f"{tmp_path}:{_purelib()}"})
    version, where = out.stdout.split()
    assert version == compute.release_version() and where.startswith(str(tmp_path))


def _purelib() -> str:
    import sysconfig
    return sysconfig.get_paths()["purelib"]


def test_a_bad_artifact_url_is_refused_before_any_call(moto):
    ctx, p = _ready()
    mark = ctx.calls.mark()
    with pytest.raises(ValueError, match="artifact_url"):
        compute.ensure_release(ctx, artifact_url="s3://x/app.whl; rm -rf /")
    assert ctx.calls.calls[mark:] == []


def test_once_the_app_has_its_own_database_user_its_servers_log_in_with_that_secret(moto):
    """Issue 10 #11: DB_SECRET_ARN names the app user's secret (made by 08 with the user) once it exists;
    until then the RDS-managed master secret. The role may read the secrets in use, no other: the master
    secret as long as a server launched before the app's user existed runs, then the app's alone."""
    import time
    ctx, p = _ready(database=False)
    master = create_database(ctx, p)["MasterUserSecret"]["SecretArn"]
    compute.apply(ctx)
    time.sleep(1.1)   # the servers run a moment before 08 makes the user (AWS's timestamps have whole seconds)

    def in_use() -> tuple[str, str]:
        lt = compute.find_launch_template(ctx)
        data = ctx.client("ec2").describe_launch_template_versions(LaunchTemplateId=lt.id, Versions=["$Latest"])[
            "LaunchTemplateVersions"][0]["LaunchTemplateData"]
        env = compute.user_data_files(base64.b64decode(data["UserData"]).decode())["/etc/app/app.env"]
        doc = ctx.client("iam").get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)
        granted = {r for s in doc["PolicyDocument"]["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"
                   for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
        return next(line for line in env.splitlines() if line.startswith("DB_SECRET_ARN=")), granted
    assert in_use() == (f"DB_SECRET_ARN={shlex.quote(master)}", {master})
    # 08 creates the app's own user and its secret (tagged, named names.app_db_secret); a rerun of 04 switches.
    from workbook import tagging
    own = ctx.client("secretsmanager").create_secret(
        Name=names.app_db_secret(p), SecretString='{"username": "app_rw", "password": "x"}',
        Tags=tagging.tags(p, "08_cutover_compare", names.app_db_secret(p)))["ARN"]
    assert compute.ensure_instance_role(ctx).action == "exists"
    assert compute.ensure_launch_template(ctx).action == "updated (v2)"
    assert in_use() == (f"DB_SECRET_ARN={shlex.quote(own)}", {own, master})   # the running servers' too
    assert compute.roll_out(ctx) is not None                                  # replaced ...
    compute.ensure_instance_role(ctx)
    assert in_use() == (f"DB_SECRET_ARN={shlex.quote(own)}", {own})            # ... then the app's alone
