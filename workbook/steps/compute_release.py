"""04_compute's release: the backend app built into a wheel, stored in the stack's bucket, its location
in the SSM parameter each app server's boot script reads (`/<stack>/app/artifact-url`).

- `build()`: the wheel from `workbook/backend/pyproject.toml`, built from a copy of that folder with
  setuptools' PEP 517 backend (no network, no build isolation) and SOURCE_DATE_EPOCH fixed; cached by
  a hash of the sources, so a notebook rerun builds nothing.
- `ensure_artifact_bucket`: the stack's bucket (engine kind `s3_bucket`, tagged in the CreateBucket
  call itself), with a TLS-only policy, default encryption SSE-S3 (the instance role then needs no KMS
  permission to read), versioning and all four public-access blocks, each put back when it drifted.
- `ensure_release_artifact`: the wheel under `releases/<name>/<version>/<source hash>/<wheel file>`; a
  key is written once and never overwritten (a running server's release stays as it was).
- `ensure_artifact_parameter`: the parameter (kind `ssm_parameter`, tagged) pointing at it; a new
  release updates its value, and the instances launched from then on install that one.
Who may read them: the instance role alone (compute.role_policy: s3:GetObject on that one object,
ssm:GetParameter on that one parameter); the bucket grants nothing to anyone.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .. import engine
from ..connect import Context, Resource
from ..params import Params
from .compute_prereq import STEP_ID
from .compute_template import ARTIFACT_RE, artifact_parameter

BACKEND = Path(__file__).resolve().parents[1] / "backend"
SOURCE_DATE_EPOCH = "315532800"   # 1980-01-01, the earliest time a zip entry can hold
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
PUBLIC_ACCESS_BLOCK = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                       "RestrictPublicBuckets": True}


class BuildFailed(RuntimeError):
    """The wheel could not be built; the message has the build's last lines."""


@dataclass(frozen=True)
class Release:
    name: str          # the distribution: workbook-backend
    version: str
    source_hash: str   # of the files the wheel is built from

    @property
    def filename(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-py3-none-any.whl"

    @property
    def key(self) -> str:
        return f"releases/{self.name}/{self.version}/{self.source_hash}/{self.filename}"


def _sources() -> list[Path]:
    return sorted([BACKEND / "pyproject.toml", *BACKEND.glob("*.py")])


def release() -> Release:
    """What the sources make (read, nothing built)."""
    h = hashlib.sha256()
    for path in _sources():
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    project = tomllib.loads((BACKEND / "pyproject.toml").read_text())["project"]
    return Release(project["name"], project["version"], h.hexdigest()[:16])


def release_version() -> str:
    return release().version


def build() -> Path:
    """The release's wheel, built once per source hash (in the system's temp folder)."""
    return _build(release())


@lru_cache(maxsize=None)
def _build(rel: Release) -> Path:
    out = Path(tempfile.gettempdir()) / "workbook-release" / rel.source_hash
    wheel = out / rel.filename
    if wheel.exists():
        return wheel
    with tempfile.TemporaryDirectory(prefix="workbook-build-") as stage:
        for path in _sources():   # a copy: the build's own folders (build/, *.egg-info) stay out of the tree
            shutil.copyfile(path, Path(stage) / path.name)
        tmp_out = Path(stage) / "dist"
        done = subprocess.run(
            [sys.executable, "-c", "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))",
             str(tmp_out)], cwd=stage, capture_output=True, text=True, timeout=300,
            env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
        built = tmp_out / rel.filename
        if done.returncode != 0 or not built.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
            raise BuildFailed(f"building the app's wheel from {BACKEND / 'pyproject.toml'} failed (setuptools and "
                              f"wheel come with requirements.txt: make setup):\n{tail}")
        out.mkdir(parents=True, exist_ok=True)
        part = out / f".{rel.filename}.{os.getpid()}"
        shutil.copyfile(built, part)
        os.replace(part, wheel)   # whole or absent: other processes may build the same release at once
    return wheel


def bucket_name(p: Params, account_id: str) -> str:
    """Bucket names are global: the stack's name and a digest of its account and region (not the account
    id itself, which written outputs never show)."""
    digest = hashlib.sha256(f"{account_id}:{p.region}".encode()).hexdigest()[:12]
    return f"{p.stack_name}-release-{digest}"


def _did(ctx: Context, verb: str) -> str:
    return f"would {verb}" if ctx.dry_run else f"{verb}d"


def _missing(e: ClientError) -> bool:
    return engine.missing(e) or engine.code(e) in ("ServerSideEncryptionConfigurationNotFoundError",
                                                   "NoSuchPublicAccessBlockConfiguration", "NoSuchBucketPolicy")


def tls_only_statement(bucket: str) -> dict[str, Any]:
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _same_statement(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Alike but for the Sid and a one-item list written as its item."""
    def norm(st: dict[str, Any]) -> str:
        return json.dumps({k: sorted(v) if isinstance(v, list) else [v] if k in ("Action", "Resource") else v
                           for k, v in st.items() if k != "Sid"}, sort_keys=True)
    return norm(a) == norm(b)


def with_tls_only(policy: str | None, bucket: str) -> str | None:
    """The bucket's policy with the TLS-only statement added (the statements of others kept), or None when
    it has it already."""
    doc = json.loads(policy) if policy else {"Version": "2012-10-17", "Statement": []}
    statements = doc.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    ours = tls_only_statement(bucket)
    if any(_same_statement(st, ours) for st in statements):
        return None
    kept = [st for st in statements if st.get("Sid") != ours["Sid"]]   # a drifted copy of ours is replaced
    return json.dumps({**doc, "Statement": kept + [ours]})


def ensure_artifact_bucket(ctx: Context) -> Resource:
    """The stack's release bucket: encrypted (SSE-S3), versioned, public access blocked, TLS only."""
    p, name = ctx.p, bucket_name(ctx.p, ctx.account_id)
    where = {} if p.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": p.region}}
    rec = engine.ensure(ctx, "s3_bucket", name, step=STEP_ID, create={"Bucket": name, **where})
    if rec.action == "would create":
        return rec
    s3 = ctx.client("s3")

    def current(read: str, key: str) -> Any:
        try:
            return getattr(s3, read)(Bucket=name).get(key)
        except ClientError as e:
            if not _missing(e):
                raise
            return None
    rules = (current("get_bucket_encryption", "ServerSideEncryptionConfiguration") or {}).get("Rules", [])
    # Part of the drift repair, not only of creating: a run that stopped right after CreateBucket had none.
    policy = with_tls_only(current("get_bucket_policy", "Policy"), name)
    settings = (
        ("tls_only_policy", policy is None, lambda: s3.put_bucket_policy(Bucket=name, Policy=policy)),
        ("encryption", [r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for r in rules] == ["AES256"],
         lambda: s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=ENCRYPTION)),
        ("versioning", current("get_bucket_versioning", "Status") == "Enabled",
         lambda: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})),
        ("public_access_block", current("get_public_access_block", "PublicAccessBlockConfiguration") == PUBLIC_ACCESS_BLOCK,
         lambda: s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)))
    for what, ok, put in settings:
        if ok:
            continue
        if not ctx.dry_run:
            put()
        if rec.action != "created":   # part of making a new bucket; on an existing one, a repaired drift
            ctx.note(STEP_ID, "bucket_setting", f"{name} {what}", name, _did(ctx, "update"))
    return rec


def ensure_release_artifact(ctx: Context) -> Resource:
    """The wheel in the bucket, under a key of its version and source hash (written once)."""
    rel, bucket = release(), bucket_name(ctx.p, ctx.account_id)
    url = f"s3://{bucket}/{rel.key}"
    s3 = ctx.client("s3")
    try:
        s3.head_object(Bucket=bucket, Key=rel.key)
        return ctx.note(STEP_ID, "release_artifact", rel.key, url, "exists")
    except ClientError as e:
        if not engine.missing(e) and engine.code(e) != "403":
            raise
    if ctx.dry_run:
        return ctx.note(STEP_ID, "release_artifact", rel.key, url, "would create")
    wheel = build()
    data = wheel.read_bytes()
    s3.put_object(Bucket=bucket, Key=rel.key, Body=data, ContentType="application/zip",
                  Metadata={"sha256": hashlib.sha256(data).hexdigest(), "source-hash": rel.source_hash})
    return ctx.note(STEP_ID, "release_artifact", rel.key, url, "created")


def release_location(ctx: Context) -> str:
    """The parameter's value: where the instances get the release ("" while it does not exist)."""
    try:
        return ctx.client("ssm").get_parameter(Name=artifact_parameter(ctx.p))["Parameter"]["Value"]
    except ClientError as e:
        if not engine.missing(e):
            raise
        return ""


def ensure_artifact_parameter(ctx: Context, url: str) -> Resource:
    """The SSM parameter the boot script reads; its value follows the release."""
    name = artifact_parameter(ctx.p)
    if not ARTIFACT_RE.match(url):
        raise ValueError(f"artifact_url must be an s3:// or https:// URL without spaces or control characters, "
                         f"got {url[:80]!r}")
    rec = engine.ensure(ctx, "ssm_parameter", name, step=STEP_ID, create={
        "Name": name, "Value": url, "Type": "String",
        "Description": f"Release the app servers of stack {ctx.p.stack_name} install (workbook {STEP_ID})"})
    if rec.action != "exists" or release_location(ctx) == url:
        return rec
    if not ctx.dry_run:
        ctx.client("ssm").put_parameter(Name=name, Value=url, Type="String", Overwrite=True)
    return ctx.note(STEP_ID, "ssm_parameter", name, rec.id, _did(ctx, "update"))


def ensure_release(ctx: Context, *, artifact_url: str = "") -> list[Resource]:
    """Bucket, wheel and parameter; with `artifact_url` (a release of your own, s3:// or https://) only
    the parameter, pointing at it."""
    if artifact_url:
        return [ensure_artifact_parameter(ctx, artifact_url)]
    bucket = ensure_artifact_bucket(ctx)
    if bucket.action == "would create":
        rel = release()
        url = f"s3://{bucket.name}/{rel.key}"
        artifact = ctx.note(STEP_ID, "release_artifact", rel.key, url, "would create")
    else:
        artifact = ensure_release_artifact(ctx)
    return [bucket, artifact, ensure_artifact_parameter(ctx, artifact.id)]
