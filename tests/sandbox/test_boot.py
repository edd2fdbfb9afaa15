"""How the sandbox decides whether an instance's role may read its release (boot.allowed): identity
policies evaluated as IAM does for these cases, and never more permissive than AWS."""
from __future__ import annotations

import pytest

from workbook.sandbox.boot import allowed

OBJECT = "arn:aws:s3:::rel-release-1/releases/workbook-backend/1.1.0/abc/workbook_backend-1.1.0-py3-none-any.whl"
PARAM = "arn:aws:ssm:us-east-1:123456789012:parameter/rel/app/artifact-url"


def allow(action, resource, **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize("statements, action, resource, expected", [
    ([allow("s3:GetObject", OBJECT)], "s3:GetObject", OBJECT, True),
    ([allow("S3:getobject", OBJECT)], "s3:GetObject", OBJECT, True),                   # actions ignore case
    ([allow("s3:Get*", "arn:aws:s3:::rel-release-1/*")], "s3:GetObject", OBJECT, True),
    ([allow("s3:GetObject", "arn:aws:s3:::rel-release-1/other.whl")], "s3:GetObject", OBJECT, False),
    ([allow("s3:GetObject", "arn:aws:s3:::REL-release-1/*")], "s3:GetObject", OBJECT, False),  # ARNs keep case
    ([allow("s3:PutObject", OBJECT)], "s3:GetObject", OBJECT, False),
    ([allow(["ssm:GetParameter", "ssm:GetParameters"], "*")], "ssm:GetParameter", PARAM, True),  # the SSM core policy
    ([allow("ssm:GetParameter", "arn:aws:ssm:us-east-1:123456789012:parameter/rel/app/artifact-ur?")],
     "ssm:GetParameter", PARAM, True),
    ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "s3:GetObject", OBJECT, True),
    ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], "s3:GetObject", OBJECT, False),
    ([{"Effect": "Allow", "Action": "s3:*", "NotResource": OBJECT}], "s3:GetObject", OBJECT, False),
    ([allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:GetObject", "Resource": OBJECT}], "s3:GetObject", OBJECT, False),
    # Conditions are not evaluated: a conditional Allow grants nothing, a conditional Deny denies.
    ([allow("s3:GetObject", OBJECT, Condition={"Bool": {"aws:SecureTransport": "true"}})], "s3:GetObject", OBJECT, False),
    ([allow("s3:GetObject", OBJECT), {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
                                      "Condition": {"Bool": {"aws:SecureTransport": "false"}}}],
     "s3:GetObject", OBJECT, False),
    ([], "s3:GetObject", OBJECT, False),
])
def test_the_roles_policies_decide_the_boot(statements, action, resource, expected):
    assert allowed(statements, action, resource) is expected
