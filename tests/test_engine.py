"""workbook/engine.py: the generic ensure, as a real account answers it."""
from __future__ import annotations

import boto3

from conftest import make_ctx
from workbook import engine, tagging


def test_a_create_retried_after_it_succeeded_is_the_stacks_resource_not_a_foreign_one(ctx):
    """botocore retries a create whose answer was lost (a 5xx, a timeout) while AWS had made it, and a create
    without a client token then answers AlreadyExists: the workbook called its own new resource "not this
    stack's" and stopped. A namesake carrying the stack's tag is the one just made."""
    c = make_ctx()
    name = "/demo/app"
    plain = boto3.client("logs", region_name="us-east-1")

    def first_attempt_made_it(**_):
        if not plain.describe_log_groups(logGroupNamePrefix=name)["logGroups"]:
            plain.create_log_group(logGroupName=name, tags=tagging.tag_dict(c.p, "06_observability", name))
    c.client("logs").meta.events.register("before-call.cloudwatch-logs.CreateLogGroup", first_attempt_made_it)
    rec = engine.ensure(c, "log_group", name, step="06_observability", lookup=False, create={"logGroupName": name})
    assert rec.action.startswith("created") and rec.id == name
