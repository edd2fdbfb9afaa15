"""EC2 frames on moto: stack filtering, the sg_rules shape, pagination, dev discovery in both modes."""
from __future__ import annotations

import boto3
import pandas as pd
import pytest
from botocore.stub import Stubber

from conftest import make_ctx
from workbook import inventory, tagging
from workbook.inventory import ec2 as inv_ec2
from workbook.steps import dev
from workbook.steps.compute_template import AL2023_PARAMETER  # the default, x86_64 one

CONTRACT = {
    "vpcs": ["cidr", "is_default"],
    "subnets": ["vpc_id", "az", "cidr", "tier", "public"],
    "security_groups": ["vpc_id", "group_name", "description"],
    "sg_rules": ["group_id", "group_name", "vpc_id", "direction", "protocol", "from_port", "to_port", "source",
                 "open_to_internet"],
    "instances": ["vpc_id", "subnet_id", "az", "state", "public_ip", "private_ip", "instance_type",
                  "security_groups", "imds_tokens", "image_id", "asg_name"],
    "volumes": ["instance_id", "size", "encrypted", "az"],
    "snapshots": ["volume_id", "start_time"],
    "addresses": ["public_ip", "instance_id"],
}


def test_every_frame_has_the_contract_columns_even_when_empty(ctx):
    inv = inventory.Inventory(ctx, "nothing-here")
    for name, cols in CONTRACT.items():
        df = inv.frame(name)
        assert df.empty, name
        assert set(inventory.BASE_COLUMNS + cols) <= set(df.columns), name


def test_stack_frames_hold_only_that_stack(ctx):
    one = ctx.params
    dev.apply(ctx)
    dev.apply(ctx.replace(stack_name="other", dev_elastic_ip=True))
    inv = inventory.Inventory(ctx, "other")
    (inst,) = inv.instances.itertuples()
    assert inst.stack == "other" and inst.step == "00_setup" and inst.name == "dev-backend"
    assert inst.tags["workbook:dev-db"] == "postgres" and inst.dev_db == "postgres"
    assert set(inv.security_groups["stack"]) == {"other"}
    (vol,) = inv.volumes.itertuples()
    assert vol.instance_id == inst.id and not vol.encrypted and vol.az == inst.az
    (addr,) = inv.addresses.itertuples()
    assert addr.instance_id == inst.id and addr.id.startswith("eipalloc-") and addr.public_ip == inst.public_ip
    assert inventory.Inventory(ctx, one.stack_name).addresses.empty


def test_sg_rules_one_row_per_port_and_source(ctx):
    ec2 = ctx.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    spec = tagging.tag_spec("security-group", ctx.params, "test", "rules")
    a = ec2.create_security_group(GroupName="a", Description="a", VpcId=vpc, TagSpecifications=spec)["GroupId"]
    b = ec2.create_security_group(GroupName="b", Description="b", VpcId=vpc, TagSpecifications=spec)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=a, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}, {"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "UserIdGroupPairs": [{"GroupId": b}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "192.168.0.0/16"}]}])
    rules = inventory.Inventory(ctx, ctx.params.stack_name).sg_rules
    mine = rules[(rules.group_id == a) & (rules.direction == "ingress")].sort_values(["from_port", "source"])
    got = [(r.protocol, r.from_port, r.to_port, r.source, r.open_to_internet) for r in mine.itertuples()]
    assert got == [("-1", 0, 65535, "192.168.0.0/16", False),
                   ("tcp", 443, 443, "0.0.0.0/0", True), ("tcp", 443, 443, "10.0.0.0/8", False),
                   ("tcp", 443, 443, "::/0", True), ("tcp", 8000, 8100, b, False)]
    egress = rules[(rules.group_id == a) & (rules.direction == "egress")]
    assert list(egress.source) == ["0.0.0.0/0"]  # the default allow-all egress
    assert set(mine.group_name) == {"a"} and set(mine.vpc_id) == {vpc}


def test_instances_read_every_page_of_describe_instances(ctx):
    """Two pages: the second one (after NextToken) must be in the frame too."""
    ec2 = ctx.client("ec2")
    page = lambda iid: {"Reservations": [{"Instances": [{  # noqa: E731
        "InstanceId": iid, "State": {"Name": "running"}, "Placement": {"AvailabilityZone": "us-east-1a"},
        "SecurityGroups": [{"GroupId": "sg-1", "GroupName": "x"}], "Tags": [{"Key": "Name", "Value": iid}],
        "MetadataOptions": {"HttpTokens": "required"}}]}]}
    with Stubber(ec2) as stub:
        stub.add_response("describe_instances", {**page("i-00000001"), "NextToken": "more"})
        stub.add_response("describe_instances", page("i-00000002"))
        df = inv_ec2.fetch_instances(ctx, "demo")
    assert list(df.id) == ["i-00000001", "i-00000002"]
    assert list(df.imds_tokens) == ["required", "required"]


def test_volumes_and_snapshots_of_the_stacks_instances_count_even_untagged(ctx):
    dev.apply(ctx)
    inv = inventory.Inventory(ctx, ctx.params.stack_name)
    vol = inv.volumes.id.iloc[0]
    ec2 = ctx.client("ec2")
    ec2.delete_tags(Resources=[vol], Tags=[{"Key": tagging.STACK}])  # e.g. a launch template that tags no volume
    snap = ec2.create_snapshot(VolumeId=vol, Description="manual backup")["SnapshotId"]  # untagged
    inv.refresh()
    assert list(inv.volumes.id) == [vol]
    assert list(inv.snapshots.id) == [snap] and list(inv.snapshots.volume_id) == [vol]


def test_discover_dev_finds_an_untagged_server_and_what_it_uses():
    """aws mode: the user's dev server carries none of the workbook's tags."""
    from moto import mock_aws
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        sg = ec2.create_security_group(GroupName="launch-wizard-1", Description="x", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3306, "ToPort": 3306, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ami = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
        run = lambda name: ec2.run_instances(  # noqa: E731
            ImageId=ami, MinCount=1, MaxCount=1, SecurityGroupIds=[sg], TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])["Instances"][0]["InstanceId"]
        mine, _ = run("api-dev"), run("unrelated")
        ctx = make_ctx(target="aws", aws_account_id="123456789012", dev_tag="Name=api-dev")
        inv = inv_ec2.discover_dev(ctx, ctx.params)
        assert list(inv.instances.id) == [mine]
        assert list(inv.security_groups.id) == [sg]
        assert set(inv.sg_rules[inv.sg_rules.direction == "ingress"].from_port) == {3306}
        assert list(inv.volumes.instance_id) == [mine]
        assert list(inv.vpcs.id) == [vpc] and inv.vpcs.is_default.iloc[0]
        assert len(inv.subnets) == 1 and inv.subnets.vpc_id.iloc[0] == vpc
        assert inv.snapshots.empty and inv.addresses.empty
        by_id = make_ctx(target="aws", aws_account_id="123456789012", dev_instance_id=mine, dev_tag="")
        assert list(inv_ec2.discover_dev(by_id, by_id.params).instances.id) == [mine]


def test_discover_dev_prefers_this_stacks_server_when_several_carry_the_tag(ctx):
    dev.apply(ctx.replace(stack_name="first"))
    dev.apply(ctx.replace(stack_name="second", dev_db_engine="mysql"))
    inv = inv_ec2.discover_dev(ctx, ctx.params.replace(stack_name="second"))
    assert list(inv.instances["stack"]) == ["second"] and list(inv.instances.dev_db) == ["mysql"]


def test_discover_dev_raises_naming_the_parameters_and_dry_run_gets_an_empty_inventory(ctx):
    with pytest.raises(inv_ec2.DevNotFound, match="dev_instance_id / dev_tag"):
        inv_ec2.discover_dev(ctx, ctx.params)
    empty = inv_ec2.discover_dev(ctx, ctx.params, missing_ok=True)
    assert all(empty.frame(n).empty for n in CONTRACT)


def test_a_named_dev_instance_that_does_not_exist_is_not_found_like_a_terminated_one(ctx):
    """dev_instance_id of an instance the account does not have (a typo, or one terminated and forgotten):
    every notebook's start read it to learn its database engine and stopped on EC2's raw
    InvalidInstanceID.NotFound (the input sweep, through papermill); now it is found as nothing, and
    01 says which parameter to set."""
    p = ctx.params.replace(dev_instance_id="i-0123456789abcdef0")
    assert inv_ec2.find_dev_instances(ctx, p) == []
    with pytest.raises(inv_ec2.DevNotFound, match="dev_instance_id=i-0123456789abcdef0"):
        inv_ec2.discover_dev(ctx, p)


def test_other_frames_are_kept_only_where_they_touch_the_dev_environment(ctx, monkeypatch):
    """A frame another module provides (alarms here) is fetched region-wide and restricted."""
    dev.apply(ctx)
    inv = inv_ec2.discover_dev(ctx, ctx.params)
    iid = inv.instances.id.iloc[0]
    alarms = pd.DataFrame([{"id": "cpu-dev", "name": "", "stack": "", "step": "", "tags": {}, "dimensions": [iid]},
                           {"id": "cpu-other", "name": "", "stack": "", "step": "", "tags": {}, "dimensions": ["i-0"]}])
    # in the same VPC is not serving the host: only a database whose groups admit the host's group is
    rds = pd.DataFrame([{"id": "elsewhere", "vpc_id": "vpc-other", "security_groups": []},
                        {"id": "beside", "vpc_id": inv.vpcs.id.iloc[0], "security_groups": []},
                        {"id": "its-db", "vpc_id": inv.vpcs.id.iloc[0], "security_groups": ["sg-rds"]}])
    monkeypatch.setitem(inventory.FETCHERS, "alarms", lambda c, s: alarms)
    monkeypatch.setitem(inventory.FETCHERS, "db_instances", lambda c, s: rds)
    monkeypatch.setattr(inv_ec2, "paginate", lambda *a, **k: [{
        "GroupId": "sg-rds", "GroupName": "rds", "IpPermissions": [{
            "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
            "UserIdGroupPairs": [{"GroupId": inv.instances.security_groups.iloc[0][0]}]}]}])
    assert list(inv.alarms.id) == ["cpu-dev"]
    assert list(inv.db_instances.id) == ["its-db"]


def test_production_inventory_leaves_the_dev_environment_out(ctx):
    dev.apply(ctx.replace(dev_elastic_ip=True))
    ec2 = ctx.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=tagging.tag_spec(
        "vpc", ctx.params, "02_network", "demo-vpc"))["Vpc"]["VpcId"]
    dev_volume = inventory.Inventory(ctx, ctx.params.stack_name).volumes.id.iloc[0]
    ec2.create_snapshot(VolumeId=dev_volume)
    prod = inv_ec2.ProductionInventory(ctx, ctx.params.stack_name)
    assert prod.instances.empty and prod.security_groups.empty and prod.volumes.empty and prod.addresses.empty
    assert prod.sg_rules.empty and prod.snapshots.empty
    assert list(prod.vpcs.id) == [vpc]
    assert len(inventory.Inventory(ctx, ctx.params.stack_name).instances) == 1
