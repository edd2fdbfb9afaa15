"""09_teardown on moto: a stack of many resource types is built here directly (not through the other
steps, so these tests do not wait for them), torn down, and scanned.

One in-process moto account for the module (its first EC2, SSM and API Gateway calls take seconds);
each test builds its own stack under its own stack name, which also shows a teardown touches only
its own stack."""
from __future__ import annotations

import itertools
import json

import pytest
from moto import mock_aws

from tests.conftest import make_ctx
from workbook import names, tagging
from workbook.steps import teardown

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
STAGES = ("iam", "network", "database", "compute", "edge", "observability", "dev")


def _tags(p, step, name, stack=None):
    return tagging.tags(p, step, name, stack)


def build(ctx, p, upto: str = "dev", stack_step_prefix: str = "") -> dict:
    """Resources of every type teardown must remove, roughly as steps 00-07 create them. Stops after
    stage `upto` (a half-finished build)."""
    ec2, rds, elb, asg, iam = (ctx.client(s) for s in ("ec2", "rds", "elbv2", "autoscaling", "iam"))
    out: dict = {}
    stages = STAGES[: STAGES.index(upto) + 1]

    if "iam" in stages:
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
        iam.create_role(RoleName=names.app_role(p), AssumeRolePolicyDocument=trust, Tags=_tags(p, "04_compute", names.app_role(p)))
        iam.put_role_policy(RoleName=names.app_role(p), PolicyName="secret", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
        iam.create_instance_profile(InstanceProfileName=names.app_role(p), Tags=_tags(p, "04_compute", names.app_role(p)))
        iam.add_role_to_instance_profile(InstanceProfileName=names.app_role(p), RoleName=names.app_role(p))
        iam.create_group(GroupName=names.developers_group(p))
        iam.put_group_policy(GroupName=names.developers_group(p), PolicyName="read", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}))
        iam.create_user(UserName=p.name("alice"), Tags=_tags(p, "07_access", p.name("alice")))
        iam.add_user_to_group(GroupName=names.developers_group(p), UserName=p.name("alice"))
        iam.create_access_key(UserName=p.name("alice"))
        pol = iam.create_policy(PolicyName=p.name("extra"), PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}),
            Tags=_tags(p, "07_access", p.name("extra")))["Policy"]["Arn"]
        iam.attach_group_policy(GroupName=names.developers_group(p), PolicyArn=pol)
        iam.create_role(RoleName=names.operators_role(p), AssumeRolePolicyDocument=trust,
                        Tags=_tags(p, "07_access", names.operators_role(p)))

    if "network" in stages:
        vpc = ec2.create_vpc(CidrBlock=p.vpc_cidr, TagSpecifications=tagging.tag_spec("vpc", p, "02_network", names.vpc(p)))["Vpc"]["VpcId"]
        out["vpc"] = vpc
        subnets = {}
        for i, (tier, az) in enumerate([(t, a) for t in ("public", "app", "db") for a in ("us-east-1a", "us-east-1b")]):
            subnets[(tier, az)] = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=az,
                TagSpecifications=tagging.tag_spec("subnet", p, "02_network", names.subnet(p, tier, az)))["Subnet"]["SubnetId"]
        out["subnets"] = subnets
        igw = ec2.create_internet_gateway(TagSpecifications=tagging.tag_spec("internet-gateway", p, "02_network", names.igw(p)))
        igw = igw["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        rt = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagging.tag_spec("route-table", p, "02_network",
                                                                                  names.route_table(p, "public")))["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
        for az in ("us-east-1a", "us-east-1b"):
            ec2.associate_route_table(RouteTableId=rt, SubnetId=subnets[("public", az)])
        eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagging.tag_spec("elastic-ip", p, "02_network", p.name("nat-eip")))
        nat = ec2.create_nat_gateway(SubnetId=subnets[("public", "us-east-1a")], AllocationId=eip["AllocationId"],
                                     TagSpecifications=tagging.tag_spec("natgateway", p, "02_network", names.nat(p, "us-east-1a")))
        rt_app = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagging.tag_spec(
            "route-table", p, "02_network", names.route_table(p, "app")))["RouteTable"]["RouteTableId"]
        ec2.create_route(RouteTableId=rt_app, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat["NatGateway"]["NatGatewayId"])
        ec2.associate_route_table(RouteTableId=rt_app, SubnetId=subnets[("app", "us-east-1a")])
        sgs = {}
        for n in (names.alb_sg(p), names.app_sg(p), names.db_sg(p)):
            sgs[n] = ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc,
                                               TagSpecifications=tagging.tag_spec("security-group", p, "02_network", n))["GroupId"]
        # app <-> db reference each other: neither can be deleted before the rules go
        ec2.authorize_security_group_ingress(GroupId=sgs[names.db_sg(p)], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sgs[names.app_sg(p)]}]}])
        ec2.authorize_security_group_ingress(GroupId=sgs[names.app_sg(p)], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": sgs[names.alb_sg(p)]}]}])
        ec2.authorize_security_group_egress(GroupId=sgs[names.app_sg(p)], IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": sgs[names.db_sg(p)]}]}])
        out["sgs"] = sgs
        ctx.client("logs").create_log_group(logGroupName=names.flow_log_group(p), tags=tagging.tag_dict(p, "02_network", "flow"))
        ec2.create_flow_logs(ResourceIds=[vpc], ResourceType="VPC", TrafficType="ALL", LogGroupName=names.flow_log_group(p),
                             DeliverLogsPermissionArn=f"arn:aws:iam::123456789012:role/{p.name('flow-logs')}",
                             TagSpecifications=tagging.tag_spec("vpc-flow-log", p, "02_network", p.name("flow-log")))
        # an ENI nobody manages (what a half-deleted ALB or VPC link leaves behind)
        ec2.create_network_interface(SubnetId=subnets[("app", "us-east-1b")], Description="orphan")

    if "database" in stages:
        db_subnets = [out["subnets"][("db", az)] for az in ("us-east-1a", "us-east-1b")]
        rds.create_db_subnet_group(DBSubnetGroupName=names.db_subnet_group(p), DBSubnetGroupDescription="db",
                                   SubnetIds=db_subnets, Tags=_tags(p, "03_database", names.db_subnet_group(p)))
        rds.create_db_parameter_group(DBParameterGroupName=names.db_parameter_group(p), DBParameterGroupFamily="postgres16",
                                      Description="db", Tags=_tags(p, "03_database", names.db_parameter_group(p)))
        rds.create_db_instance(DBInstanceIdentifier=names.db_instance(p), Engine="postgres", EngineVersion="16.4",
                               DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="app",
                               ManageMasterUserPassword=True, MultiAZ=True, BackupRetentionPeriod=7,
                               DBSubnetGroupName=names.db_subnet_group(p), DBParameterGroupName=names.db_parameter_group(p),
                               VpcSecurityGroupIds=[out["sgs"][names.db_sg(p)]], DeletionProtection=True,
                               CopyTagsToSnapshot=True, Tags=_tags(p, "03_database", names.db_instance(p)))
        rds.create_db_snapshot(DBInstanceIdentifier=names.db_instance(p), DBSnapshotIdentifier=names.db_snapshot(p, "manual"),
                               Tags=_tags(p, "03_database", names.db_snapshot(p, "manual")))
        ctx.client("secretsmanager").create_secret(Name=p.name("app-config"), SecretString="x",
                                                   Tags=_tags(p, "03_database", p.name("app-config")))

    if "compute" in stages:
        ami = ctx.client("ssm").get_parameter(Name=AL2023)["Parameter"]["Value"]
        lt = ec2.create_launch_template(LaunchTemplateName=names.launch_template(p), LaunchTemplateData={
            "ImageId": ami, "InstanceType": "t3.micro", "SecurityGroupIds": [out["sgs"][names.app_sg(p)]]},
            TagSpecifications=tagging.tag_spec("launch-template", p, "04_compute", names.launch_template(p)))
        pub = [out["subnets"][("public", az)] for az in ("us-east-1a", "us-east-1b")]
        app = [out["subnets"][("app", az)] for az in ("us-east-1a", "us-east-1b")]
        lb = elb.create_load_balancer(Name=names.alb(p), Subnets=pub, SecurityGroups=[out["sgs"][names.alb_sg(p)]],
                                      Tags=_tags(p, "04_compute", names.alb(p)))["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(Name=names.target_group(p), Protocol="HTTP", Port=8080, VpcId=out["vpc"],
                                     Tags=_tags(p, "04_compute", names.target_group(p)))["TargetGroups"][0]["TargetGroupArn"]
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        asg.create_auto_scaling_group(
            AutoScalingGroupName=names.asg(p), MinSize=2, MaxSize=4, DesiredCapacity=2,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplate"]["LaunchTemplateId"], "Version": "$Latest"},
            VPCZoneIdentifier=",".join(app), TargetGroupARNs=[tg],
            Tags=[{**t, "PropagateAtLaunch": True} for t in _tags(p, "04_compute", names.asg(p))])
        inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=app[0],
                                 TagSpecifications=tagging.tag_spec("instance", p, "04_compute", p.name("builder")))
        img = ec2.create_image(InstanceId=inst["Instances"][0]["InstanceId"], Name=p.name("app-image"),
                               TagSpecifications=tagging.tag_spec("image", p, "04_compute", p.name("app-image")))
        out["image"] = img["ImageId"]
        ctx.client("ssm").put_parameter(Name=f"/{p.stack_name}/app/artifact-url", Value="s3://x/y", Type="String")

    if "edge" in stages:
        r53 = ctx.client("route53")
        zone = r53.create_hosted_zone(Name="example.com", CallerReference=p.name("zone"))["HostedZone"]["Id"].rsplit("/", 1)[-1]
        r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone, AddTags=_tags(p, "05_edge", p.name("zone")))
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
            "Name": "api.example.com", "Type": "CNAME", "TTL": 60, "ResourceRecords": [{"Value": "alb.example.com"}]}}]})
        ctx.client("acm").request_certificate(DomainName="api.example.com", ValidationMethod="DNS",
                                              Tags=_tags(p, "05_edge", p.name("cert")))
        gw = ctx.client("apigatewayv2")
        gw.create_api(Name=names.api(p), ProtocolType="HTTP", Tags=tagging.tag_dict(p, "05_edge", names.api(p)))
        gw.create_vpc_link(Name=names.vpc_link(p), SubnetIds=app, SecurityGroupIds=[out["sgs"][names.alb_sg(p)]],
                           Tags=tagging.tag_dict(p, "05_edge", names.vpc_link(p)))

    if "observability" in stages:
        logs, cw, sns = ctx.client("logs"), ctx.client("cloudwatch"), ctx.client("sns")
        logs.create_log_group(logGroupName=names.app_log_group(p), tags=tagging.tag_dict(p, "06_observability", "app"))
        logs.create_log_group(logGroupName=p.name("api-access-logs"), tags=tagging.tag_dict(p, "05_edge", "api"))
        topic = sns.create_topic(Name=names.alarm_topic(p), Tags=_tags(p, "06_observability", names.alarm_topic(p)))["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")
        cw.put_metric_alarm(AlarmName=names.alarm(p, "5xx"), MetricName="HTTPCode_Target_5XX_Count",
                            Namespace="AWS/ApplicationELB", Statistic="Sum", Period=60, EvaluationPeriods=1,
                            Threshold=1, ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic],
                            Tags=_tags(p, "06_observability", names.alarm(p, "5xx")))
        cw.put_dashboard(DashboardName=names.dashboard(p), DashboardBody=json.dumps({"widgets": []}))
        s3 = ctx.client("s3")
        s3.create_bucket(Bucket=names.dump_bucket(p, ctx.account_id))
        s3.put_object(Bucket=names.dump_bucket(p, ctx.account_id), Key="dump/db.sql", Body=b"--")

    if "dev" in stages:
        # Step 00_setup in the sandbox: the dev server in the default VPC, same stack tag, step 00_setup.
        ami = ctx.client("ssm").get_parameter(Name=AL2023)["Parameter"]["Value"]
        sg = ec2.create_security_group(GroupName=p.name("dev-sg"), Description="dev",
                                       TagSpecifications=tagging.tag_spec("security-group", p, "00_setup", p.name("dev-sg")))["GroupId"]
        inst = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SecurityGroupIds=[sg],
                                 TagSpecifications=tagging.tag_spec("instance", p, "00_setup", names.DEV_NAME))
        out["dev_instance"] = inst["Instances"][0]["InstanceId"]
    return out


_names = itertools.count(1)


@pytest.fixture(scope="module")
def account():
    with mock_aws():
        yield


def new_ctx(**params):
    return make_ctx(stack_name=f"t{next(_names)}", **params)


@pytest.fixture
def stack(account):
    ctx = new_ctx(keep_final_snapshot=True)
    return ctx, build(ctx, ctx.params)


def _snapshots(ctx) -> list[str]:
    """Manual DB snapshots of this test's stack (the module's account holds other tests' stacks)."""
    snaps = ctx.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    return sorted(s["DBSnapshotIdentifier"] for s in snaps if s["DBSnapshotIdentifier"].startswith(f"{ctx.params.stack_name}-"))


def test_full_stack_is_found_then_gone_and_the_final_snapshot_kept_also_on_a_second_run(stack):
    ctx, built = stack
    p = ctx.params
    before = teardown.scan_leftovers(ctx, p)
    found = set(teardown.leftovers(before).type)
    # the scan sees every type built here (what the tagging API alone would miss included)
    for t in ("vpc", "subnet", "security_group", "internet_gateway", "nat_gateway", "elastic_ip", "route_table",
              "flow_log", "network_interface", "instance", "launch_template", "ami", "load_balancer", "target_group",
              "auto_scaling_group", "db_instance", "db_snapshot", "db_subnet_group", "db_parameter_group", "secret",
              "log_group", "alarm", "dashboard", "sns_topic", "hosted_zone", "certificate", "http_api", "vpc_link",
              "iam_role", "instance_profile", "iam_group", "iam_user", "iam_policy", "s3_bucket", "ssm_parameter"):
        assert t in found, t

    done = teardown.destroy(ctx, p)
    assert not done.action.str.startswith("failed").any(), done[done.action.str.startswith("failed")]
    after = teardown.scan_leftovers(ctx, p)
    assert teardown.leftovers(after).empty, teardown.leftovers(after)
    summary = teardown.scan_summary(after)
    assert set(summary.type) == {t for t, _ in teardown.FINDERS} and summary.leftover.sum() == 0
    kept = after[after.status == "kept (final snapshot)"]
    assert list(kept.id) == [names.db_snapshot(p, "final")]
    # the dev environment is someone else's decision (teardown_dev=False): still running
    dev = ctx.client("ec2").describe_instances(InstanceIds=[built["dev_instance"]])["Reservations"][0]["Instances"][0]
    assert dev["State"]["Name"] == "running"
    assert set(after[after.status == "kept (dev environment)"].type) == {"instance", "security_group"}
    # the default VPC is never touched
    assert ctx.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]

    again = teardown.destroy(ctx, p)
    assert not (again.action == "deleted").any(), again[again.action == "deleted"]
    assert teardown.leftovers(teardown.scan_leftovers(ctx, p)).empty
    # the kept snapshot survives the second run and is not duplicated
    assert _snapshots(ctx) == [names.db_snapshot(p, "final")]


@pytest.mark.parametrize("upto", ["network", "database"])
def test_half_finished_build_ends_clean(account, upto):
    ctx = new_ctx(keep_final_snapshot=False)
    build(ctx, ctx.params, upto=upto)
    teardown.destroy(ctx, ctx.params)
    scan = teardown.scan_leftovers(ctx, ctx.params)
    assert teardown.leftovers(scan).empty, scan
    # only the stack's own secret may remain, inside its recovery window
    assert set(scan.status) <= {"pending deletion"} and set(scan.type) <= {"secret"}


def test_sweep_alone_cleans_without_any_step_destroy_and_keeps_no_snapshot_when_told(stack):
    """A missing or broken step destroy(): the sweep by tag and name still ends clean."""
    ctx, _ = stack
    p = ctx.params.replace(keep_final_snapshot=False, teardown_dev=True)
    teardown.sweep(ctx, p)
    scan = teardown.scan_leftovers(ctx, p)
    assert teardown.leftovers(scan).empty, teardown.leftovers(scan)
    assert _snapshots(ctx) == []


def test_teardown_dev_removes_the_dev_environment_too(stack):
    ctx, built = stack
    p = ctx.params.replace(teardown_dev=True)
    teardown.destroy(ctx, p)
    scan = teardown.scan_leftovers(ctx, p)
    assert set(scan.status) <= {"kept (final snapshot)", "pending deletion"}, scan
    dev = ctx.client("ec2").describe_instances(InstanceIds=[built["dev_instance"]])["Reservations"][0]["Instances"][0]
    assert dev["State"]["Name"] == "terminated"


def test_dry_run_deletes_nothing_and_says_what_it_would(account):
    ctx = new_ctx()
    build(ctx, ctx.params, upto="network")
    p = ctx.params.replace(dry_run=True)
    before = teardown.scan_leftovers(ctx, p)
    done = teardown.destroy(ctx, p)
    assert set(done.action) <= {"would delete", "absent"} and (done.action == "would delete").any()
    assert len(teardown.scan_leftovers(ctx, p)) == len(before)


def test_another_stacks_resources_are_left_alone(account):
    """Stack "sx" and stack "sx-2": the prefix "sx-" matches the other's names, the tag tells them apart."""
    ctx = make_ctx(stack_name="sx")
    other = make_ctx(stack_name="sx-2").params
    ec2 = ctx.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16", TagSpecifications=tagging.tag_spec("vpc", other, "02_network", names.vpc(other)))
    ctx.client("iam").create_role(RoleName=names.app_role(other), AssumeRolePolicyDocument="{}",
                                  Tags=_tags(other, "04_compute", names.app_role(other)))
    ctx.client("logs").create_log_group(logGroupName=names.app_log_group(other))
    subnet = ec2.create_subnet(VpcId=vpc["Vpc"]["VpcId"], CidrBlock="10.30.1.0/24",
                               TagSpecifications=tagging.tag_spec("subnet", other, "02_network", "s"))["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc", TagSpecifications=tagging.tag_spec("elastic-ip", other, "02_network", "e"))
    nat = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip["AllocationId"],
                                 TagSpecifications=tagging.tag_spec("natgateway", other, "02_network", "n"))["NatGateway"]
    teardown.destroy(ctx, ctx.params)
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat["NatGatewayId"]])["NatGateways"][0]["State"] == "available"
    assert ec2.describe_vpcs(VpcIds=[vpc["Vpc"]["VpcId"]])["Vpcs"]
    assert ctx.client("iam").get_role(RoleName=names.app_role(other))
    assert teardown.scan_leftovers(ctx, ctx.params).empty
    assert set(teardown.leftovers(teardown.scan_leftovers(ctx, other)).type) == {"vpc", "subnet", "nat_gateway", "elastic_ip", "network_interface",
                                                                                  "iam_role", "log_group"}


def test_in_the_users_zone_only_our_records_go_and_the_zone_stays(account):
    """hosted_zone_id names the user's zone: the API record and our certificate's validation record are
    deleted, the user's own records and the zone are not."""
    import dataclasses
    ctx = new_ctx()
    r53, acm = ctx.client("route53"), ctx.client("acm")
    zone = r53.create_hosted_zone(Name="example.org", CallerReference=ctx.params.name("user-zone"))["HostedZone"]["Id"].rsplit("/", 1)[-1]
    # moto's zone ids do not start with Z as AWS's do, so Params' check is bypassed here on purpose
    p = dataclasses.replace(ctx.params, domain_name="api.example.org", hosted_zone_id=zone)
    cert = acm.request_certificate(DomainName="api.example.org", ValidationMethod="DNS", Tags=_tags(p, "05_edge", "cert"))
    rr = acm.describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"]

    def record(name, type_, value):
        return {"Action": "CREATE", "ResourceRecordSet": {"Name": name, "Type": type_, "TTL": 60,
                                                          "ResourceRecords": [{"Value": value}]}}
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        record("api.example.org", "CNAME", "alb.example.net"), record(rr["Name"], "CNAME", rr["Value"]),
        record("www.example.org", "CNAME", "site.example.net")]})
    assert set(teardown.leftovers(teardown.scan_leftovers(ctx, p)).type) == {"dns_record", "certificate"}
    teardown.sweep(ctx, p)
    left = {(r["Name"].rstrip("."), r["Type"]) for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}
    assert ("www.example.org", "CNAME") in left
    assert not any(n in ("api.example.org", rr["Name"].rstrip(".")) for n, _ in left)
    assert teardown.leftovers(teardown.scan_leftovers(ctx, p)).empty
