"""The sandbox's TLS-only bucket policies (workbook/sandbox/bucket_policy.py): its endpoint is plain HTTP, and
moto would apply such a policy's Deny to every request (it ignores the condition). On in-process moto
through the seam, as the notebooks' clients get it."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from conftest import make_ctx

BUCKET = "stack-release-0123456789ab"


def _tls_only(bucket: str) -> dict:
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


@pytest.fixture
def s3():
    with mock_aws():
        client = make_ctx().client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_a_tls_only_policy_reads_back_as_put_and_refuses_nothing(s3, capsys):
    theirs = {"Sid": "Theirs", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}
    policy = {"Version": "2012-10-17", "Statement": [_tls_only(BUCKET), theirs]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(policy))
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == policy
    s3.put_object(Bucket=BUCKET, Key="releases/app.whl", Body=b"wheel")   # over the sandbox's plain HTTP
    assert s3.get_object(Bucket=BUCKET, Key="releases/app.whl")["Body"].read() == b"wheel"
    assert "TLS-only" in capsys.readouterr().out   # said, as sandbox-only
    s3.delete_bucket_policy(Bucket=BUCKET)
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=BUCKET)


def test_any_other_policy_is_moto_s_as_it_is(s3):
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(deny))
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"]) == deny
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    with pytest.raises(ClientError, match="403|AccessDenied|Forbidden"):
        s3.get_object(Bucket=BUCKET, Key="k")
