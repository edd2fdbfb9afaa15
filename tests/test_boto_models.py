"""workbook/boto_models.py: every context of a process reads a service's model once."""
from __future__ import annotations

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import boto_models


@pytest.mark.parametrize("target", ["sandbox", "aws"])
def test_contexts_share_the_parsed_models_and_the_search_path_stays_put(target):
    with mock_aws():
        extra = {"aws_account_id": "123456789012"} if target == "aws" else {}
        contexts = [make_ctx(target=target, **extra) for _ in range(10)]
        models = [c.client("ec2").meta.service_model for c in contexts]
        # one parse per process: a new session used to parse ec2's megabytes again (0.2 s each time)
        assert len({id(m._service_description) for m in models}) == 1
        assert boto_models.service_model("ec2")._service_description is models[0]._service_description
        # boto3 adds its data folder for each session: the shared search path keeps one of each
        paths = contexts[-1].session._loader.search_paths
        assert len(set(paths)) == len(paths)
