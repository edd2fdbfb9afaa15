"""00_setup on moto: the demo dev host in both layouts, idempotency, dry run, finding the user's own dev
server (demo_dev_host), destroy."""
from __future__ import annotations

import re

import boto3
import pytest

from conftest import make_ctx
from workbook import engine, names, steps, tagging
from workbook.iam_actions import actions_for_calls
from workbook.params import ParameterError, Params, help_text
from workbook.inventory import ec2 as inv_ec2
from workbook.steps import dev
from workbook.steps.compute_template import AL2023_PARAMETER  # the default, x86_64 one

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


KINDS = ("security_group", "instance", "elastic_ip")


def kinds_only(records):
    """The resources (kinds) of a step's frame, without its sub-things (rules, associations)."""
    return records[records.type.isin(KINDS)]


def test_default_layout_is_one_instance_open_on_ssh_http_and_postgres(ctx):
    p = ctx.params
    done = by_type(dev.apply(ctx))
    assert [r.action for t in KINDS for r in done.get(t, [])] == ["created", "created"]
    (sg,) = done["security_group"]
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
    assert "elastic_ip" not in done
    volumes = [m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]]
    assert volumes and not ctx.client("ec2").describe_snapshots(  # no backups, as in the article
        OwnerIds=["self"], Filters=[{"Name": "volume-id", "Values": volumes}])["Snapshots"]


def test_second_layout_has_web_and_db_groups_an_eip_and_mysql():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="layout2", dev_db_engine="mysql", dev_elastic_ip=True, dev_split_security_groups=True)
        done = by_type(dev.apply(ctx))
        groups = {r.name: r.id for r in done["security_group"]}
        assert set(groups) == {"dev-backend-sg-web", "dev-backend-sg-db"}
        assert ingress(ctx, groups["dev-backend-sg-web"]) == {(22, "0.0.0.0/0"), (80, "0.0.0.0/0")}
        assert ingress(ctx, groups["dev-backend-sg-db"]) == {(3306, "0.0.0.0/0")}
        inst = instance(ctx, done["instance"][0].id)
        assert set(inv_ec2.instance_group_ids(inst)) == set(groups.values())
        assert tagging.as_dict(inst["Tags"])["workbook:dev-db"] == "mysql"
        (eip,) = done["elastic_ip"]
        address = ctx.client("ec2").describe_addresses(AllocationIds=[eip.id])["Addresses"][0]
        assert address["InstanceId"] == inst["InstanceId"]
        assert tagging.as_dict(address["Tags"])["workbook:step"] == "00_setup"
        assert "mariadb105-server" in dev.user_data(ctx.params)
        mark = ctx.calls.mark()
        assert set(dev.apply(ctx).action) == {"exists"}  # EIP stays associated, nothing new
        assert ctx.calls.count(mark, prefix=MUTATING) == 0


def test_second_run_creates_nothing(ctx):
    first = kinds_only(dev.apply(ctx))
    mark = ctx.calls.mark()
    second = dev.apply(ctx)
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
    (record,) = dev.ensure_dev_security_groups(ctx)
    assert (record.id, record.action) == (gid, "exists")
    (added,) = [r for r in ctx.resources if r.type == "security_group_rule"]
    assert (added.id, added.action) == (gid, "created") and added.name.endswith("tcp:80, 5432")
    assert ingress(ctx, gid) == {(22, "0.0.0.0/0"), (80, "0.0.0.0/0"), (5432, "0.0.0.0/0")}


def test_run_instances_carries_a_client_token_and_no_secret_in_the_call_log(ctx):
    seen: dict = {}
    ctx.client("ec2").meta.events.register("provide-client-params.ec2.RunInstances",
                                           lambda params, **_: seen.update(params))
    dev.apply(ctx)
    assert seen["ClientToken"] == engine.client_token(ctx, names.DEV_NAME)
    run = ctx.calls.frame()
    run = run[run.operation == "RunInstances"].iloc[0]
    assert "UserData='***'" in run.args
    # the database password is generated on the host, never written into the user data
    assert re.findall(r"DB_PASSWORD=(\S+)", dev.user_data(ctx.params)) == ["$(openssl"]


def test_dry_run_plans_and_creates_nothing(ctx):
    dry = ctx.replace(dry_run=True, dev_elastic_ip=True)
    planned = dev.apply(dry)
    assert set(planned.action) == {"would create"}
    assert set(kinds_only(planned).type) == set(KINDS)
    assert planned[planned.type == "security_group_rule"].name.tolist() == [
        f"{names.dev_sg(dry.p)} ingress from 0.0.0.0/0 tcp:22, 80, 5432"]
    assert ctx.calls.count(0, prefix=MUTATING) == 0
    assert dev.verify(dry).empty
    assert dev.discover(dry).instances.empty


def test_plan_reports_what_exists_after_apply(ctx):
    dev.apply(ctx)
    mark = ctx.calls.mark()
    assert set(dev.plan(ctx).action) == {"exists"}
    assert ctx.calls.count(mark, prefix=MUTATING) == 0


def aws_ctx(**kw):
    return make_ctx(target="aws", aws_account_id="123456789012", **kw)


def users_own_dev_server(name: str = "dev-backend") -> str:
    """A dev server the workbook did not create: no workbook tags."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    ami = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    return ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])["Instances"][0]["InstanceId"]


@pytest.mark.parametrize("target,demo,instance_id,builds", [
    ("sandbox", "auto", "", True), ("sandbox", "auto", "i-0123456789abcdef0", False), ("sandbox", "no", "", False),
    ("aws", "auto", "", False), ("aws", "no", "", False), ("aws", "yes", "", True), ("sandbox", "yes", "", True)])
def test_demo_dev_host_is_decided_by_the_parameter_never_built_on_a_real_account_unless_asked(
        target, demo, instance_id, builds):
    p = Params.from_mapping({"target": target, "demo_dev_host": demo, "dev_instance_id": instance_id,
                             "aws_account_id": "123456789012" if target == "aws" else ""})
    assert p.builds_demo_dev_host is builds


def test_demo_dev_host_refuses_contradictions_and_reads_yaml_booleans():
    with pytest.raises(ParameterError, match="demo_dev_host"):
        Params.from_mapping({"demo_dev_host": "yes", "dev_instance_id": "i-0123456789abcdef0"})
    with pytest.raises(ParameterError, match="demo_dev_host=no needs dev_instance_id or dev_tag"):
        Params.from_mapping({"demo_dev_host": "no", "dev_tag": ""})
    with pytest.raises(ParameterError, match="target=aws needs dev_instance_id or dev_tag"):
        Params.from_mapping({"target": "aws", "aws_account_id": "123456789012", "dev_tag": ""})
    assert Params.from_mapping({"demo_dev_host": True}).demo_dev_host == "yes"   # YAML's unquoted yes
    assert Params.from_mapping({"demo_dev_host": False}).demo_dev_host == "no"
    assert "never on a real account" in help_text()["demo_dev_host"]


def test_aws_mode_finds_the_users_dev_server_and_creates_nothing():
    from moto import mock_aws
    with mock_aws():
        iid = users_own_dev_server()
        users_own_dev_server("something-else")
        ctx = aws_ctx()
        done = dev.apply(ctx)
        assert ctx.calls.count(0, prefix=MUTATING) == 0
        assert set(done.action) == {"exists"}
        assert done[done.type == "instance"].id.tolist() == [iid]
        by_id = aws_ctx(dev_instance_id=iid, dev_tag="")
        assert dev.ensure_dev_instance(by_id).id == iid


def test_sandbox_with_demo_dev_host_no_finds_the_users_server_and_creates_nothing():
    from moto import mock_aws
    with mock_aws():
        iid = users_own_dev_server()
        ctx = make_ctx(demo_dev_host="no")
        done = dev.apply(ctx)
        assert ctx.calls.count(0, prefix=MUTATING) == 0
        assert done[done.type == "instance"].id.tolist() == [iid] and set(done.action) == {"exists"}
        assert dev.destroy(ctx).empty   # found, never the stack's
        assert instance(ctx, iid)["State"]["Name"] == "running"


def test_aws_mode_builds_the_demo_host_only_when_asked_with_yes():
    from moto import mock_aws
    with mock_aws():
        ctx = aws_ctx(demo_dev_host="yes")
        done = by_type(dev.apply(ctx))
        (inst,) = done["instance"]
        assert inst.action == "created"
        assert tagging.as_dict(instance(ctx, inst.id)["Tags"])["workbook:step"] == "00_setup"


def test_aws_mode_says_which_parameter_to_set_when_nothing_matches():
    from moto import mock_aws
    with mock_aws():
        ctx = aws_ctx(dev_tag="Name=nope")
        with pytest.raises(inv_ec2.DevNotFound, match="dev_tag=Name=nope"):
            dev.ensure_dev_instance(ctx)
        users_own_dev_server("twin")
        users_own_dev_server("twin")
        ctx = aws_ctx(dev_tag="Name=twin")
        with pytest.raises(inv_ec2.DevNotFound, match="set dev_instance_id"):
            dev.ensure_dev_instance(ctx)


def test_destroy_removes_only_what_the_step_tagged_and_is_safe_twice():
    from moto import mock_aws
    with mock_aws():
        theirs = users_own_dev_server()
        ctx = make_ctx(dev_elastic_ip=True, dev_split_security_groups=True)
        dev.apply(ctx)
        assert set(dev.destroy(ctx.replace(dry_run=True)).action) == {"would delete"}
        gone = dev.destroy(ctx)
        assert sorted(gone.type) == ["elastic_ip", "instance", "security_group", "security_group"]
        assert set(gone.action) == {"deleted"}
        assert dev.destroy(ctx).empty
        assert instance(ctx, theirs)["State"]["Name"] == "running"
        assert not ctx.client("ec2").describe_addresses()["Addresses"]


def test_bad_layout_input_fails_before_any_call():
    with pytest.raises(ParameterError, match="dev_db_engine"):
        make_ctx(dev_db_engine="oracle")


def test_steps_00_and_01_are_registered_outside_the_migration_proper():
    setup, assess = steps.get("00_setup"), steps.get("01_assess")
    assert (setup.short, setup.module, setup.kinds) == ("Dev environment", "dev", KINDS)
    assert (assess.short, assess.module, assess.kinds) == ("Assess", "dev", ())
    assert not setup.migration and not assess.migration


def test_declared_permissions_cover_every_call_the_step_makes(ctx):
    dev.apply(ctx.replace(dev_elastic_ip=True))
    dev.verify(ctx)
    dev.destroy(ctx)
    used = actions_for_calls(ctx.calls.calls)
    declared = set(steps.get("00_setup").all_permissions())
    assert used <= declared, used - declared


def test_a_graviton_dev_host_gets_the_arm64_image_it_can_boot(ctx):
    """The demo dev host always got the x86_64 Amazon Linux image: a dev_instance_type such as t4g.small
    (arm64) was refused by RunInstances, after its security group existed."""
    c = make_ctx(dev_instance_type="t4g.small")
    (host,) = by_type(dev.apply(c))["instance"]
    ec2 = c.client("ec2")
    image = instance(c, host.id)["ImageId"]
    assert ec2.describe_images(ImageIds=[image])["Images"][0]["Architecture"] == "arm64"
