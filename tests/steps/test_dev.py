"""00_setup on moto: the dev environment in both layouts, idempotency, dry run, aws mode, destroy."""
from __future__ import annotations

import re

import boto3
import pytest

from conftest import make_ctx
from workbook import names, steps, tagging
from workbook.inventory import ec2 as inv_ec2
from workbook.steps import dev

MUTATING = ("Create", "Run", "Allocate", "Authorize", "Associate", "Terminate", "Delete", "Release")


def ingress(ctx, group_id: str) -> set[tuple[int, str]]:
    g = ctx.client("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    return {(perm["FromPort"], r["CidrIp"]) for perm in g["IpPermissions"] for r in perm["IpRanges"]}


def instance(ctx, instance_id: str) -> dict:
    return ctx.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def by_type(records) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in records.itertuples():
        out.setdefault(r.type, []).append(r)
    return out


def test_default_layout_is_one_instance_open_on_ssh_http_and_postgres(ctx):
    p = ctx.params
    done = by_type(dev.apply(ctx, p))
    assert [r.action for rs in done.values() for r in rs] == ["created", "created"]
    (sg,) = done["security-group"]
    assert sg.name == names.dev_sg(p)
    assert ingress(ctx, sg.id) == {(22, "0.0.0.0/0"), (80, "0.0.0.0/0"), (5432, "0.0.0.0/0")}
    inst = instance(ctx, done["instance"][0].id)
    tags = tagging.as_dict(inst["Tags"])
    assert tags == {"workbook:stack": p.stack_name, "workbook:step": "00_setup", "Name": names.DEV_NAME,
                    "workbook:dev-db": "postgres"}
    assert inst["State"]["Name"] == "running" and inst["PublicIpAddress"]
    default_vpc = ctx.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    assert inst["VpcId"] == default_vpc["VpcId"]
    assert inst["ImageId"] == dev.resolve_ami(ctx)  # the AL2023 SSM parameter
    assert sg.id in inv_ec2.instance_group_ids(inst)
    assert "elastic-ip" not in done
    volumes = [m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]]
    assert volumes and not ctx.client("ec2").describe_snapshots(  # no backups, as in the article
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": volumes}])["Snapshots"]


def test_second_layout_has_web_and_db_groups_an_eip_and_mysql():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="layout2", dev_db_engine="mysql", dev_elastic_ip=True, dev_split_security_groups=True)
        done = by_type(dev.apply(ctx, ctx.params))
        groups = {r.name: r.id for r in done["security-group"]}
        assert set(groups) == {"dev-backend-sg-web", "dev-backend-sg-db"}
        assert ingress(ctx, groups["dev-backend-sg-web"]) == {(22, "0.0.0.0/0"), (80, "0.0.0.0/0")}
        assert ingress(ctx, groups["dev-backend-sg-db"]) == {(3306, "0.0.0.0/0")}
        inst = instance(ctx, done["instance"][0].id)
        assert set(inv_ec2.instance_group_ids(inst)) == set(groups.values())
        assert tagging.as_dict(inst["Tags"])["workbook:dev-db"] == "mysql"
        (eip,) = done["elastic-ip"]
        address = ctx.client("ec2").describe_addresses(AllocationIds=[eip.id])["Addresses"][0]
        assert address["InstanceId"] == inst["InstanceId"]
        assert tagging.as_dict(address["Tags"])["workbook:step"] == "00_setup"
        assert "mariadb105-server" in dev.user_data(ctx.params)
        mark = ctx.calls.mark()
        assert set(dev.apply(ctx, ctx.params).action) == {"exists"}  # EIP stays associated, nothing new
        assert ctx.calls.count(mark, prefix=MUTATING) == 0


def test_second_run_creates_nothing(ctx):
    first = dev.apply(ctx, ctx.params)
    mark = ctx.calls.mark()
    second = dev.apply(ctx, ctx.params)
    assert set(second.action) == {"exists"}
    assert list(second.id) == list(first.id)
    assert ctx.calls.count(mark, prefix=MUTATING) == 0
    reservations = ctx.client("ec2").describe_instances(Filters=tagging.ec2_filters(ctx.params))["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 1


def test_a_crash_between_create_and_authorize_is_finished_by_running_again(ctx):
    p = ctx.params
    vpc = ctx.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    gid = ctx.client("ec2").create_security_group(
        GroupName=names.dev_sg(p), Description="half made", VpcId=vpc,
        TagSpecifications=tagging.tag_spec("security-group", p, "00_setup", names.dev_sg(p)))["GroupId"]
    ctx.client("ec2").authorize_security_group_ingress(GroupId=gid, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    (record,) = dev.ensure_dev_security_groups(ctx, p)
    assert (record.id, record.action) == (gid, "exists")
    assert ingress(ctx, gid) == {(22, "0.0.0.0/0"), (80, "0.0.0.0/0"), (5432, "0.0.0.0/0")}


def test_run_instances_carries_a_client_token_and_no_secret_in_the_call_log(ctx):
    seen: dict = {}
    ctx.client("ec2").meta.events.register("provide-client-params.ec2.RunInstances",
                                           lambda params, **_: seen.update(params))
    dev.apply(ctx, ctx.params)
    assert seen["ClientToken"] == tagging.client_token(ctx.params, names.DEV_NAME)
    run = ctx.calls.frame()
    run = run[run.operation == "RunInstances"].iloc[0]
    assert "UserData='***'" in run.args
    # the database password is generated on the host, never written into the user data
    assert re.findall(r"DB_PASSWORD=(\S+)", dev.user_data(ctx.params)) == ["$(openssl"]


def test_dry_run_plans_and_creates_nothing(ctx):
    p = ctx.params.replace(dry_run=True, dev_elastic_ip=True)
    planned = dev.apply(ctx, p)
    assert set(planned.action) == {"would create"}
    assert set(planned.type) == {"security-group", "instance", "elastic-ip"}
    assert ctx.calls.count(0, prefix=MUTATING) == 0
    assert dev.verify(ctx, p).empty
    assert dev.discover(ctx, p).instances.empty


def test_plan_reports_what_exists_after_apply(ctx):
    dev.apply(ctx, ctx.params)
    mark = ctx.calls.mark()
    assert set(dev.plan(ctx, ctx.params).action) == {"exists"}
    assert ctx.calls.count(mark, prefix=MUTATING) == 0


def aws_ctx(**kw):
    return make_ctx(target="aws", aws_account_id="123456789012", **kw)


def users_own_dev_server(name: str = "dev-backend") -> str:
    """A dev server the workbook did not create: no workbook tags."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=dev.AMI_PARAMETER)["Parameter"]["Value"]
    return ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])["Instances"][0]["InstanceId"]


def test_aws_mode_finds_the_users_dev_server_and_creates_nothing():
    from moto import mock_aws
    with mock_aws():
        iid = users_own_dev_server()
        users_own_dev_server("something-else")
        ctx = aws_ctx()
        done = dev.apply(ctx, ctx.params)
        assert ctx.calls.count(0, prefix=MUTATING) == 0
        assert set(done.action) == {"exists"}
        assert done[done.type == "instance"].id.tolist() == [iid]
        by_id = aws_ctx(dev_instance_id=iid, dev_tag="")
        assert dev.ensure_dev_instance(by_id, by_id.params).id == iid


def test_aws_mode_says_which_parameter_to_set_when_nothing_matches():
    from moto import mock_aws
    with mock_aws():
        ctx = aws_ctx(dev_tag="Name=nope")
        with pytest.raises(inv_ec2.DevNotFound, match="dev_tag=Name=nope"):
            dev.ensure_dev_instance(ctx, ctx.params)
        users_own_dev_server("twin")
        users_own_dev_server("twin")
        ctx = aws_ctx(dev_tag="Name=twin")
        with pytest.raises(inv_ec2.DevNotFound, match="set dev_instance_id"):
            dev.ensure_dev_instance(ctx, ctx.params)


def test_destroy_removes_only_what_the_step_tagged_and_is_safe_twice():
    from moto import mock_aws
    with mock_aws():
        theirs = users_own_dev_server()
        ctx = make_ctx(dev_elastic_ip=True, dev_split_security_groups=True)
        dev.apply(ctx, ctx.params)
        assert set(dev.destroy(ctx, ctx.params.replace(dry_run=True)).action) == {"would delete"}
        gone = dev.destroy(ctx, ctx.params)
        assert sorted(gone.type) == ["elastic-ip", "instance", "security-group", "security-group"]
        assert set(gone.action) == {"deleted"}
        assert dev.destroy(ctx, ctx.params).empty
        assert instance(ctx, theirs)["State"]["Name"] == "running"
        assert not ctx.client("ec2").describe_addresses()["Addresses"]


def test_bad_layout_input_fails_before_any_call():
    from workbook.params import ParameterError
    with pytest.raises(ParameterError, match="dev_db_engine"):
        make_ctx(dev_db_engine="oracle")


IAM_PREFIX = {"elbv2": "elasticloadbalancing"}  # boto3 service name -> IAM action prefix


def test_declared_permissions_cover_every_call_the_step_makes(ctx):
    dev.apply(ctx, ctx.params.replace(dev_elastic_ip=True))
    dev.verify(ctx, ctx.params)
    dev.destroy(ctx, ctx.params)
    used = {f"{IAM_PREFIX.get(c.service, c.service)}:{c.operation}" for c in ctx.calls.calls}
    declared = set(steps.REGISTRY["00_setup"].permissions)
    assert used <= declared, used - declared
