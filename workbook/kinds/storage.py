"""Storage kinds: S3 buckets, SSM parameters, Secrets Manager secrets, and the stack's lock (an SSM
parameter of its own kind, see workbook.lock). Buckets and parameters have their tags read per item;
secrets carry theirs."""
from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from . import Kind, declare, hook

declare(
    # CreateBucket takes the tags (CreateBucketConfiguration.Tags, with s3:TagResource): a bucket is the
    # stack's from its first moment, and no crash between creating and tagging can orphan it. A bucket
    # name is global; ListBuckets' Prefix asks about one name, so an untagged namesake in this account
    # is refused, and one in another account answers BucketAlreadyExists (refused as well).
    Kind("s3_bucket", "s3", "list_buckets", "Buckets", "Name", title="S3 bucket", name_key="Name",
         narrow="name-prefix", by_name="Prefix", create="create_bucket",
         create_tags="list:CreateBucketConfiguration.Tags", waiter="bucket_exists", waiter_arg="Bucket",
         delete="delete_bucket",
         extra_permissions=("s3:TagResource", "s3:PutBucketTagging", "s3:GetBucketTagging", "s3:PutEncryptionConfiguration",
                            "s3:PutBucketPublicAccessBlock", "s3:PutBucketVersioning", "s3:PutBucketPolicy",
                            "s3:ListBucketVersions", "s3:DeleteObject", "s3:DeleteObjectVersion")),
    Kind("ssm_parameter", "ssm", "describe_parameters", "Parameters", "Name", title="SSM parameter", name_key="Name",
         create="put_parameter", create_tags="list:Tags", delete="delete_parameter",
         after=("iam_group", "dashboard", "dns_record"),   # the stack's ledger goes last
         extra_permissions=("ssm:ListTagsForResource", "ssm:AddTagsToResource", "ssm:GetParameter")),
    Kind("secret", "secretsmanager", "list_secrets", "SecretList", "ARN", name_key="Name", arn_key="ARN",
         tags_key="Tags", describe_args={"IncludePlannedDeletion": True}, create="create_secret",
         create_tags="list:Tags", token="ClientRequestToken", delete="delete_secret", delete_arg="SecretId",
         after=("db_instance",)),
    # One change at a time per stack (workbook.lock): taken with a conditional PutParameter (no Overwrite),
    # given back by deleting it. Teardown holds it while it runs and gives it back last of all.
    Kind("stack_lock", "ssm", "describe_parameters", "Parameters", "Name", title="stack lock", name_key="Name",
         create="put_parameter", create_tags="list:Tags", delete="delete_parameter", after=("ssm_parameter",),
         extra_permissions=("ssm:GetParameter", "ssm:AddTagsToResource", "ssm:ListTagsForResource")),
)


def lock_name(stack: str) -> str:
    """The stack's lock, beside its ledger."""
    return f"/workbook/{stack}/lock"


_LOCK_NAME = re.compile(r"^/workbook/[^/]+/lock$")


@hook("s3_bucket", "tags")
def _bucket_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    try:
        return ctx.client("s3").get_bucket_tagging(Bucket=raw["Name"])["TagSet"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchTagSet", "AccessDenied", "403"):
            return []   # untagged, or another account's name: not ours
        raise


@hook("s3_bucket", "delete")
def _empty_and_delete_bucket(ctx: Any, kind: Kind, it: Any) -> None:
    s3 = ctx.client("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=it.id):
        objs = [{"Key": o["Key"], "VersionId": o["VersionId"]}
                for o in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if objs:
            s3.delete_objects(Bucket=it.id, Delete={"Objects": objs, "Quiet": True})
    s3.delete_bucket(Bucket=it.id)


@hook("ssm_parameter", "find")
def _parameters(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """DescribeParameters filters by tag on the server. The stack's lock is a kind of its own."""
    from ..calls import _pages
    from . import STACK
    filters = [{"Key": f"tag:{STACK}", "Values": [stack]}] if stack else []
    return [r for r in _pages(ctx, "ssm", "describe_parameters", "Parameters",
                              ParameterFilters=filters + kw.get("ParameterFilters", []))
            if not _LOCK_NAME.match(r["Name"])]


@hook("stack_lock", "find")
def _locks(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    from ..calls import _pages
    from . import STACK
    filters = ([{"Key": f"tag:{STACK}", "Values": [stack]},
                {"Key": "Name", "Option": "Equals", "Values": [lock_name(stack)]}]
               if stack else [{"Key": "Name", "Option": "BeginsWith", "Values": ["/workbook/"]}])
    return [r for r in _pages(ctx, "ssm", "describe_parameters", "Parameters", ParameterFilters=filters)
            if _LOCK_NAME.match(r["Name"])]


@hook("stack_lock", "tags")
@hook("ssm_parameter", "tags")
def _parameter_tags(ctx: Any, raw: dict[str, Any]) -> list[dict[str, str]]:
    return ctx.client("ssm").list_tags_for_resource(ResourceType="Parameter", ResourceId=raw["Name"])["TagList"]


@hook("secret", "delete")
def _delete_secret(ctx: Any, kind: Kind, it: Any) -> None:
    """The stack's own secrets keep AWS's shortest recovery window: a mistaken teardown can be undone.
    A secret already scheduled for deletion is left to its schedule."""
    if it.raw.get("DeletedDate"):
        return
    ctx.client("secretsmanager").delete_secret(SecretId=it.id, RecoveryWindowInDays=7)
