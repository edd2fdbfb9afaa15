"""The 01_assess checks: on the dev environment (moto) and on a production-like inventory (fake frames),
so the same checks can compare before and after."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import make_ctx
from fake_inventory import FakeInventory, production_stack
from workbook import checks
from workbook.checks import dev as dev_checks
from workbook.inventory import ec2 as inv_ec2
from workbook.params import Params
from workbook.steps import dev
from workbook.steps.compute_template import AL2023_PARAMETER  # the default, x86_64 one

P = Params()


def run(inv, p: Params = P) -> pd.DataFrame:
    return checks.run(inv, p, groups=["dev"])


def status(findings: pd.DataFrame, check_id: str) -> set[str]:
    return set(findings[findings.id == check_id].status)


def detail(findings: pd.DataFrame, check_id: str) -> str:
    return " | ".join(findings[findings.id == check_id].detail)


@pytest.fixture
def dev_env(ctx):
    dev.apply(ctx)
    return ctx


def test_dev_environment_fails_on_open_ports_database_and_backups(dev_env):
    f = run(inv_ec2.discover_dev(dev_env, dev_env.params), dev_env.params)
    for check_id in ("EC2.13", "EC2.18", "EC2.19", "EC2.9", "EC2.8", "EC2.3", "ARTICLE.MANAGED_DB", "ARTICLE.BACKUPS",
                     "ARTICLE.MULTI_AZ", "ARTICLE.DB_REACHABLE", "ARTICLE.LOAD_BALANCER", "ARTICLE.AUTO_SCALING",
                     "ARTICLE.MONITORING", "ARTICLE.DNS"):
        assert status(f, check_id) == {"FAIL"}, check_id
    assert "port 22 open to 0.0.0.0/0" in detail(f, "EC2.13")
    assert detail(f, "EC2.18").endswith("open to the internet: 22, 5432")  # 80 is an authorized port
    assert "22, 5432" in detail(f, "EC2.19")
    assert "postgres 5432" in detail(f, "ARTICLE.DB_REACHABLE")
    assert "no snapshot" in detail(f, "ARTICLE.BACKUPS")
    assert "runs postgres" in detail(f, "ARTICLE.MANAGED_DB")


def test_split_layout_blames_the_right_group():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="layout2", dev_db_engine="mysql", dev_elastic_ip=True, dev_split_security_groups=True)
        dev.apply(ctx)
        f = run(inv_ec2.discover_dev(ctx, ctx.params), ctx.params)
        ssh = f[f.id == "EC2.13"].set_index("resource").status
        assert ssh[ssh.index.str.endswith("-sg-web)")].tolist() == ["FAIL"]
        assert ssh[ssh.index.str.endswith("-sg-db)")].tolist() == ["PASS"]
        reach = f[f.id == "ARTICLE.DB_REACHABLE"]
        assert list(reach.status) == ["FAIL"] and reach.resource.iloc[0].endswith("-sg-db)") and "mysql 3306" in reach.detail.iloc[0]


def test_a_snapshot_and_imdsv2_turn_their_checks_green(dev_env):
    inv = inv_ec2.discover_dev(dev_env, dev_env.params)
    ec2 = dev_env.client("ec2")
    ec2.create_snapshot(VolumeId=inv.volumes.id.iloc[0])
    ec2.modify_instance_metadata_options(InstanceId=inv.instances.id.iloc[0], HttpTokens="required")
    f = run(inv_ec2.discover_dev(dev_env, dev_env.params), dev_env.params)
    assert status(f, "ARTICLE.BACKUPS") == {"PASS"} and "1 snapshot(s)" in detail(f, "ARTICLE.BACKUPS")
    assert status(f, "EC2.8") == {"PASS"}


def test_an_all_traffic_rule_counts_as_every_port():
    rules = [{"id": "r", "group_id": "sg-1", "group_name": "wide", "vpc_id": "v", "direction": "ingress",
              "protocol": "-1", "from_port": 0, "to_port": 65535, "source": "0.0.0.0/0", "open_to_internet": True}]
    inv = FakeInventory(security_groups=[{"id": "sg-1", "vpc_id": "v", "group_name": "wide", "description": ""}],
                        sg_rules=rules)
    f = run(inv)
    assert status(f, "EC2.13") == status(f, "EC2.19") == status(f, "EC2.18") == {"FAIL"}
    assert "3306" in detail(f, "EC2.19") and "3389" in detail(f, "EC2.19")


def test_the_same_checks_pass_on_a_production_stack():
    f = run(production_stack())
    failing = f[f.status == "FAIL"]
    assert failing.empty, failing[["id", "resource", "detail"]].to_string()
    for check_id in ("EC2.13", "EC2.18", "EC2.19", "EC2.9", "EC2.8", "EC2.3", "ARTICLE.MANAGED_DB", "ARTICLE.BACKUPS",
                     "ARTICLE.MULTI_AZ", "ARTICLE.DB_REACHABLE", "ARTICLE.LOAD_BALANCER", "ARTICLE.AUTO_SCALING",
                     "ARTICLE.MONITORING", "ARTICLE.DNS"):
        assert "PASS" in status(f, check_id), check_id
    assert dev_checks.summary(f).status.eq("PASS").all()


def test_single_az_rds_fails_multi_az():
    f = run(production_stack(multi_az=False))
    rds = f[(f.id == "ARTICLE.MULTI_AZ") & (f.resource == "demo-db")]
    assert list(rds.status) == ["FAIL"] and "single-AZ" in rds.detail.iloc[0]


def test_absent_frames_are_never_a_pass():
    """Without the frames other modules provide, the article's checks cannot pass."""
    stack = production_stack()
    bare = FakeInventory(**{n: stack.frames[n] for n in ("vpcs", "subnets", "security_groups", "sg_rules",
                                                          "instances", "volumes")})
    f = run(bare)
    for check_id in ("ARTICLE.LOAD_BALANCER", "ARTICLE.MONITORING", "ARTICLE.DNS", "ARTICLE.MANAGED_DB"):
        assert status(f, check_id) == {"FAIL"}, check_id
    assert "no load balancer inventory" in detail(f, "ARTICLE.LOAD_BALANCER")


def test_nothing_deployed_is_not_applicable_not_fail():
    f = run(FakeInventory())
    assert set(f.status) == {"NOT_APPLICABLE"}


def test_every_check_has_metadata_and_a_one_line_remediation():
    checks.load_all()
    mine = [c for c in checks.REGISTRY.values() if c.group == "dev"]
    assert {c.id for c in mine} >= {"EC2.13", "EC2.18", "EC2.19", "EC2.9", "EC2.8", "EC2.3", "ARTICLE.MANAGED_DB",
                                   "ARTICLE.BACKUPS", "ARTICLE.MULTI_AZ", "ARTICLE.DB_REACHABLE",
                                   "ARTICLE.LOAD_BALANCER", "ARTICLE.AUTO_SCALING", "ARTICLE.MONITORING", "ARTICLE.DNS"}
    for c in mine:
        assert c.remediation and "\n" not in c.remediation and c.risk and c.title, c.id


def test_other_groups_with_the_same_control_id_do_not_replace_these():
    """04_compute has its own EC2.8; loading every module must leave the dev group's EC2.8 in place."""
    checks.load_all()
    groups = {c.group for c in checks.REGISTRY.values() if c.id == "EC2.8"}
    assert "dev" in groups


def test_summary_rolls_up_one_row_per_check(dev_env, capsys):
    f = run(inv_ec2.discover_dev(dev_env, dev_env.params), dev_env.params)
    s = dev_checks.summary(f)
    assert s.id.is_unique and set(s.id) == set(f.id)
    assert "checks fail" in capsys.readouterr().out


# ---- a real account: the dev host in the default VPC, beside other teams' things --------------------------
@pytest.fixture
def shared_vpc():
    """target aws, the demo dev host in the default VPC, where on a real account other teams' load
    balancers and databases live too."""
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="acct", target="aws", aws_account_id="123456789012", demo_dev_host="yes")
        dev.apply(ctx)
        yield ctx


def _others_alb_and_db(ctx, name: str, db_groups: list[str] | None = None) -> tuple[str, str]:
    """An untagged ALB and an RDS instance of someone else's in the default VPC -> (ALB ARN, subnet group)."""
    ec2 = ctx.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    lb = ctx.client("elbv2").create_load_balancer(Name=f"{name}-alb", Subnets=subnets, Scheme="internet-facing")["LoadBalancers"][0]
    rds = ctx.client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName=f"{name}-subnets", DBSubnetGroupDescription="x", SubnetIds=subnets)
    rds.create_db_instance(DBInstanceIdentifier=f"{name}-db", Engine="postgres", DBInstanceClass="db.t3.micro",
                           MasterUsername="u", MasterUserPassword="passw0rd!", AllocatedStorage=20,
                           BackupRetentionPeriod=7, MultiAZ=True, DBSubnetGroupName=f"{name}-subnets",
                           VpcSecurityGroupIds=db_groups or [])
    return lb["LoadBalancerArn"], vpc


def test_someone_elses_load_balancer_and_database_in_the_default_vpc_do_not_serve_the_dev_host(shared_vpc):
    _others_alb_and_db(shared_vpc, "other-team")
    f = run(inv_ec2.discover_dev(shared_vpc, shared_vpc.params), shared_vpc.params)
    assert status(f, "ARTICLE.LOAD_BALANCER") == {"FAIL"}, detail(f, "ARTICLE.LOAD_BALANCER")
    assert not any("other-team" in r for r in f.resource)
    for check_id in ("ARTICLE.MANAGED_DB", "ARTICLE.BACKUPS", "ARTICLE.MULTI_AZ"):
        assert status(f, check_id) == {"FAIL"}, check_id   # the database on the host is still the finding


def test_a_load_balancer_registering_the_dev_host_and_a_database_it_may_reach_count(shared_vpc):
    ctx = shared_vpc
    inst = inv_ec2.discover_dev(ctx, ctx.params).instances.iloc[0]
    ec2, elb = ctx.client("ec2"), ctx.client("elbv2")
    vpc = inst.vpc_id
    # the database admits the dev host's security group: the host is its client
    db_sg = ec2.create_security_group(GroupName="dev-db-rds", Description="x", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": inst.security_groups[0]}]}])
    by_id, _ = _others_alb_and_db(ctx, "ours", [db_sg])
    tg = elb.create_target_group(Name="dev-by-id", Protocol="HTTP", Port=80, VpcId=vpc)["TargetGroups"][0]
    elb.create_listener(LoadBalancerArn=by_id, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": inst.id}])
    # a second one registers the host by its private address
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    by_ip = elb.create_load_balancer(Name="ours-ip-alb", Subnets=subnets, Scheme="internet-facing")["LoadBalancers"][0]["LoadBalancerArn"]
    tg_ip = elb.create_target_group(Name="dev-by-ip", Protocol="HTTP", Port=80, VpcId=vpc,
                                    TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    elb.create_listener(LoadBalancerArn=by_ip, Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_ip}])
    elb.register_targets(TargetGroupArn=tg_ip, Targets=[{"Id": inst.private_ip}])
    _others_alb_and_db(ctx, "other-team")
    f = run(inv_ec2.discover_dev(ctx, ctx.params), ctx.params)
    lbs = f[f.id == "ARTICLE.LOAD_BALANCER"]
    assert set(lbs.resource) == {by_id, by_ip} and set(lbs.status) == {"PASS"}   # untagged: named by ARN
    managed = f[f.id == "ARTICLE.MANAGED_DB"].set_index("resource").status
    assert managed.get("ours-db") == "PASS" and "other-team-db" not in managed.index


def test_a_record_for_an_address_that_merely_contains_the_dev_ip_is_not_the_dev_hosts(ctx):
    """Dev host at 3.4.5.6: a record for 13.4.5.67 (someone else's address) is not its domain name."""
    frames = {name: inv_ec2._frame(name, []) for name in inv_ec2.COLUMNS}
    frames["instances"] = inv_ec2.instances_frame([{
        "InstanceId": "i-0123456789abcdef0", "State": {"Name": "running"}, "PublicIpAddress": "3.4.5.6",
        "PrivateIpAddress": "172.31.0.5", "Placement": {"AvailabilityZone": "us-east-1a"}}])
    scope = {"instance_ids": {"i-0123456789abcdef0"}, "public_ips": {"3.4.5.6"}, "private_ips": {"172.31.0.5"}}
    r53 = ctx.client("route53")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]

    def put(name: str, *values: str) -> None:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": v} for v in values]}}]})
    put("shop.example.com", "13.4.5.67")
    f = run(inv_ec2.DevInventory(ctx, dict(frames), scope))
    assert status(f, "ARTICLE.DNS") == {"FAIL"}, detail(f, "ARTICLE.DNS")
    put("api.example.com", "10.9.9.9", "3.4.5.6")   # one of several values is the host's: it is its name
    f = run(inv_ec2.DevInventory(ctx, dict(frames), scope))
    assert status(f, "ARTICLE.DNS") == {"PASS"}


def _own_dev_server(ctx, ports=(22, 80)) -> tuple[str, str]:
    """The user's dev server (no workbook tag), its database on localhost: its group opens only `ports`."""
    ec2 = ctx.client("ec2")
    sg = ec2.create_security_group(GroupName="web", Description="web")["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]} for p in ports])
    ami = ctx.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.small", SecurityGroupIds=[sg],
                            TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                {"Key": "Name", "Value": "dev-backend"}]}])["Instances"][0]["InstanceId"]
    return iid, sg


def test_your_own_dev_server_with_its_database_on_localhost_needs_backups():
    """The article's case: one instance runs the API and its database, which listens on localhost only.
    dev_db_engine says it runs one, so backups are a finding, not 'no database found'."""
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="own", target="aws", aws_account_id="123456789012", demo_dev_host="no",
                       dev_db_engine="mysql")
        iid, _ = _own_dev_server(ctx)
        f = run(inv_ec2.discover_dev(ctx, ctx.params), ctx.params)
        assert status(f, "ARTICLE.BACKUPS") == {"FAIL"}, detail(f, "ARTICLE.BACKUPS")
        assert "no snapshot" in detail(f, "ARTICLE.BACKUPS")
        assert status(f, "ARTICLE.MANAGED_DB") == {"FAIL"} and "mysql" in detail(f, "ARTICLE.MANAGED_DB")
        assert "dev_db_engine" in detail(f, "ARTICLE.MANAGED_DB")   # says where it learnt that
        multi = f[f.id == "ARTICLE.MULTI_AZ"].set_index("resource")
        assert multi.status.get(iid) == "FAIL" and "database on one server" in multi.detail[iid]


def test_a_dev_server_whose_database_is_rds_is_not_said_to_run_one_itself():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(stack_name="own", target="aws", aws_account_id="123456789012", demo_dev_host="no")
        iid, sg = _own_dev_server(ctx)
        ec2 = ctx.client("ec2")
        db_sg = ec2.create_security_group(GroupName="rds", Description="rds")["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=db_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sg}]}])
        ctx.client("rds").create_db_instance(
            DBInstanceIdentifier="app-db", Engine="postgres", DBInstanceClass="db.t3.micro", MasterUsername="u",
            MasterUserPassword="passw0rd!", AllocatedStorage=20, BackupRetentionPeriod=7, VpcSecurityGroupIds=[db_sg])
        f = run(inv_ec2.discover_dev(ctx, ctx.params), ctx.params)
        managed = f[f.id == "ARTICLE.MANAGED_DB"].set_index("resource").status
        assert managed.to_dict() == {"app-db": "PASS"}
        assert set(f[f.id == "ARTICLE.BACKUPS"].resource) == {"app-db"}


def _db_host_with_snapshots(*snapshots: tuple[str, str]) -> FakeInventory:
    """A dev host running postgres (tag) with one volume and snapshots of it: (started, state)."""
    return FakeInventory(
        instances=[{"id": "i-dev", "vpc_id": "v", "subnet_id": "s", "az": "us-east-1a", "state": "running",
                    "public_ip": "3.4.5.6", "private_ip": "172.31.0.5", "instance_type": "t3.small",
                    "security_groups": [], "imds_tokens": "optional", "image_id": "ami-1", "asg_name": "",
                    "dev_db": "postgres"}],
        volumes=[{"id": "vol-dev", "instance_id": "i-dev", "size": 8, "encrypted": False, "az": "us-east-1a"}],
        snapshots=[{"id": f"snap-{n}", "volume_id": "vol-dev", "start_time": pd.Timestamp(t, tz="UTC"), "state": s,
                    "volume_size": 8} for n, (t, s) in enumerate(snapshots)])


def test_one_old_or_failed_snapshot_is_not_regular_backups():
    now = pd.Timestamp.now(tz="UTC")
    old = run(_db_host_with_snapshots(((now - pd.Timedelta(days=400)).isoformat(), "completed")))
    assert status(old, "ARTICLE.BACKUPS") == {"FAIL"} and "400 days old" in detail(old, "ARTICLE.BACKUPS")
    failed = run(_db_host_with_snapshots(((now - pd.Timedelta(hours=2)).isoformat(), "error")))
    assert status(failed, "ARTICLE.BACKUPS") == {"FAIL"} and "error" in detail(failed, "ARTICLE.BACKUPS")
    # a recent completed one beside them is a backup
    fine = run(_db_host_with_snapshots(((now - pd.Timedelta(days=400)).isoformat(), "completed"),
                                       ((now - pd.Timedelta(days=1)).isoformat(), "completed")))
    assert status(fine, "ARTICLE.BACKUPS") == {"PASS"}
