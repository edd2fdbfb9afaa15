"""dbengine.py: which engine the dev host runs decides RDS's engine (db_engine=auto)."""
from __future__ import annotations

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import dbengine
from workbook.params import ParameterError


def _host(ctx, tags=(), ports=()):
    ec2 = ctx.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    sg = ec2.create_security_group(GroupName="theirs", Description="x", VpcId=vpc)["GroupId"]
    for port in ports:
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=ami, InstanceType="t3.small", MinCount=1, MaxCount=1, SecurityGroupIds=[sg],
                             TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                 {"Key": "Name", "Value": "their-dev"}, *tags]}])["Instances"][0]["InstanceId"]


@pytest.fixture
def aws():
    with mock_aws():
        yield make_ctx(target="aws", aws_account_id="123456789012", dev_tag="Name=their-dev")


def test_a_host_the_workbook_did_not_create_is_read_by_its_database_port(aws):
    iid = _host(aws, ports=(22, 3306))
    engine, evidence, found = dbengine.detect(aws)
    assert (engine, found) == ("mysql", iid) and "3306" in evidence
    settled = dbengine.settle(aws)
    assert settled.p.db_engine == "mysql" and settled.p.db_port == 3306 and settled.p.rds_engine_version == "8.4"


def test_the_tag_wins_over_ports(aws):
    _host(aws, tags=[{"Key": "workbook:dev-db", "Value": "postgres"}], ports=(3306,))
    assert dbengine.detect(aws)[0] == "postgres"


def test_an_explicit_engine_that_disagrees_with_the_host_is_refused_naming_db_engine(aws):
    _host(aws, ports=(5432,))
    with pytest.raises(ParameterError) as e:
        dbengine.settle(aws.replace(db_engine="mysql"))
    assert set(e.value.problems) == {"db_engine"} and "runs postgres" in e.value.problems["db_engine"]
    assert dbengine.settle(aws.replace(db_engine="postgres")).p.db_engine == "postgres"


def test_auto_that_cannot_tell_says_so(aws):
    _host(aws, ports=(22, 3306, 5432))
    with pytest.raises(ParameterError, match="cannot be told.*both"):
        dbengine.settle(aws)


def test_the_demo_host_needs_no_call_and_params_refuse_a_mismatch():
    with mock_aws():
        ctx = make_ctx(dev_db_engine="mysql")
        mark = ctx.calls.mark()
        assert dbengine.settle(ctx).p.rds_engine == "mysql" and ctx.calls.count(mark) == 0
    with pytest.raises(ParameterError, match="db_engine"):
        make_ctx(dev_db_engine="mysql", db_engine="postgres")
