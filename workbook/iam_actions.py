"""The IAM action an API call needs, from the call itself.

Most services name the action after the operation under the service's IAM prefix (ec2:CreateVpc).
The exceptions are written here once: Elastic Load Balancing's prefix differs from boto3's client
name, API Gateway authorizes by HTTP method (apigateway:GET ...), and S3's actions are not its
operation names (HeadBucket needs s3:ListBucket). The HTTP method comes from botocore's own service
model, so it is never guessed.
"""
from __future__ import annotations

from functools import lru_cache

from . import boto_models

PREFIX = {"elbv2": "elasticloadbalancing", "apigatewayv2": "apigateway", "resourcegroupstaggingapi": "tag",
          "cloudwatch": "cloudwatch", "logs": "logs"}
# Operations that need no permission at all.
FREE = {("sts", "GetCallerIdentity")}
# S3 operations whose IAM action has another name (AWS's S3 "actions, resources and condition keys").
S3 = {"HeadBucket": ("s3:ListBucket",), "ListObjectsV2": ("s3:ListBucket",), "ListObjects": ("s3:ListBucket",),
      "ListObjectVersions": ("s3:ListBucketVersions",), "HeadObject": ("s3:GetObject",),
      "PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
      "GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
      "PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
      "GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
      "DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
      "CreateMultipartUpload": ("s3:PutObject",), "UploadPart": ("s3:PutObject",),
      "CompleteMultipartUpload": ("s3:PutObject",), "AbortMultipartUpload": ("s3:AbortMultipartUpload",),
      "CopyObject": ("s3:GetObject", "s3:PutObject"), "GetBucketLocation": ("s3:GetBucketLocation",),
      "PutBucketOwnershipControls": ("s3:PutBucketOwnershipControls",), "ListBuckets": ("s3:ListAllMyBuckets",)}


@lru_cache(maxsize=None)
def _http_method(service: str, operation: str) -> str:
    model = boto_models.service_model(service)
    return model.operation_model(operation).http["method"]


@lru_cache(maxsize=None)
def _api_names(service: str) -> dict[str, str]:
    """boto3's method names to the API's operation names (create_db_instance -> CreateDBInstance)."""
    from botocore import xform_name
    model = boto_models.service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def actions_for(service: str, operation: str) -> tuple[str, ...]:
    """IAM actions for one call, e.g. ("elbv2", "CreateLoadBalancer") -> elasticloadbalancing:CreateLoadBalancer.
    `operation` may be the API name (CreateVpc) or boto3's (create_vpc)."""
    op = _api_names(service).get(operation, operation)
    if (service, op) in FREE:
        return ()
    if service == "s3":
        return S3.get(op, (f"s3:{op}",))
    if service == "apigatewayv2":
        return (f"apigateway:{_http_method(service, op)}",)
    return (f"{PREFIX.get(service, service)}:{op}",)


def actions_for_calls(calls) -> set[str]:
    """The actions a list of connect.Call records needed."""
    return {a for c in calls for a in actions_for(c.service, c.operation)}
