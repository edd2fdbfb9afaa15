"""02_network on moto: plan, apply, rerun, crash recovery, dev-VPC overlap, drift, destroy."""
from __future__ import annotations

import ipaddress
import json

import boto3
import pytest

from conftest import make_ctx
from workbook import names, tagging
from workbook.connect import MUTATING
from workbook.params import ParameterError, Params
from workbook.steps import network


def ec2_raw(region: str = "us-east-1"):
    """A client outside ctx, so setup and inspection stay out of the step's call log."""
    return boto3.client("ec2", region_name=region)


def stack_filter(p: Params) -> list[dict]:
    return [{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]


def stack_nats(p: Params) -> list[dict]:
    """moto ignores tag filters on DescribeNatGateways: filter by the stack tag here."""
    return [n for n in ec2_raw(p.region).describe_nat_gateways()["NatGateways"]
            if tagging.as_dict(n.get("Tags")).get(tagging.STACK) == p.stack_name]


def mutating_calls(ctx, since: int) -> list[str]:
    return [c.operation for c in ctx.calls.calls[since:] if c.operation.startswith(MUTATING)]


def refused(code: str) -> tuple:
    """What a botocore before-call handler returns to answer a call with an AWS error in the service's place."""
    class Refused:
        status_code = 400
        headers: dict = {}
    return Refused(), {"Error": {"Code": code, "Message": "not yet"}, "ResponseMetadata": {}}


def shape(ctx, p: Params) -> dict:
    """What a user would compare between two stacks: resources by name (stack prefix removed)."""
    ec2 = ec2_raw(p.region)
    strip = lambda s: s.replace(p.stack_name, "STACK", 1)  # noqa: E731
    name = lambda item: strip(tagging.as_dict(item.get("Tags")).get("Name", ""))  # noqa: E731
    subnets = ec2.describe_subnets(Filters=stack_filter(p))["Subnets"]
    nats = [n for n in stack_nats(p) if n["State"] == "available"]
    rts = ec2.describe_route_tables(Filters=stack_filter(p))["RouteTables"]
    sub_names = {s["SubnetId"]: name(s) for s in subnets}
    nat_names = {n["NatGatewayId"]: name(n) for n in nats}
    return {
        "subnets": sorted((name(s), s["CidrBlock"], s["AvailabilityZone"]) for s in subnets),
        "nats": sorted(nat_names.values()),
        "eips": sorted(name(a) for a in ec2.describe_addresses(Filters=stack_filter(p))["Addresses"]),
        "igws": len(ec2.describe_internet_gateways(Filters=stack_filter(p))["InternetGateways"]),
        "route_tables": sorted(
            (name(t), tuple(sorted(sub_names.get(a.get("SubnetId"), "") for a in t["Associations"])),
             tuple(sorted(nat_names.get(r.get("NatGatewayId"), "igw" if r.get("GatewayId", "").startswith("igw-") else "")
                          for r in t["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")))
            for t in rts),
        "security_groups": sorted(name(g) for g in ec2.describe_security_groups(Filters=stack_filter(p))["SecurityGroups"]),
        "flow_logs": len(ec2.describe_flow_logs(Filter=stack_filter(p))["FlowLogs"]),
    }


# ---- pure planning --------------------------------------------------------------------------------
@pytest.mark.parametrize("cidr,az_count", [("10.20.0.0/16", 2), ("10.20.0.0/16", 6), ("10.1.2.0/24", 2),
                                           ("10.1.0.0/22", 3)])
def test_carved_subnets_fit_the_vpc_without_overlap(cidr, az_count):
    p = Params.from_mapping({"vpc_cidr": cidr, "az_count": az_count})
    azs = [f"us-east-1{c}" for c in "abcdef"[:az_count]]
    specs = network.carve_subnets(p, azs)
    nets = [ipaddress.IPv4Network(s.cidr) for s in specs]
    vpc = ipaddress.IPv4Network(cidr)
    assert len(specs) == 3 * az_count
    assert all(n.subnet_of(vpc) and n.prefixlen <= 28 for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    assert {(s.tier, s.az) for s in specs} == {(t, az) for t in names.TIERS for az in azs}
    assert network.carve_subnets(p, azs) == specs  # the same parameters always carve the same


def test_nat_cost_counts_one_nat_or_one_per_az():
    single = network.nat_cost(Params.from_mapping({"az_count": 3, "nat_per_az": False}))
    per_az = network.nat_cost(Params.from_mapping({"az_count": 3, "nat_per_az": True}))
    assert single.attrs["monthly_usd"] == pytest.approx(32.85 + 3.65)
    assert per_az.attrs["monthly_usd"] == pytest.approx(3 * (32.85 + 3.65))


# ---- plan / dry run ---------------------------------------------------------------------------------
def test_plan_creates_nothing_and_prices_the_nat(ctx):
    plan = network.plan(ctx)
    assert mutating_calls(ctx, 0) == []
    assert ec2_raw().describe_vpcs(Filters=stack_filter(ctx.params))["Vpcs"] == []
    would = plan[plan.action == "would create"]
    assert (would.type == "subnet").sum() == 6 and (would.type == "nat_gateway").sum() == 1
    assert {"vpc", "internet_gateway", "elastic_ip", "route_table", "security_group", "flow_log", "iam_role",
            "log_group"} <= set(would.type)
    assert plan.attrs["nat_monthly_usd"] == pytest.approx(36.5)
    assert plan.loc[plan.type == "nat_gateway", "usd_month"].sum() == pytest.approx(32.85)


def test_dry_run_apply_creates_nothing():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(dry_run=True, nat_per_az=True, az_count=3)
        df = network.apply(ctx)
        assert mutating_calls(ctx, 0) == []
        assert set(df.action) <= {"would create", "would update", "would delete"}
        assert (df.type == "nat_gateway").sum() == 3


def test_vpc_overlapping_the_dev_instance_vpc_is_refused(ctx):
    """p.dev_vpc_cidr says 172.31/16 but the dev instance really sits in 10.20/16: plan refuses."""
    ec2 = ec2_raw()
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "dev-backend"}]}])
    with pytest.raises(ParameterError) as e:
        network.plan(ctx)
    assert "vpc_cidr" in e.value.problems and "10.20.0.0/16" in e.value.problems["vpc_cidr"]
    assert "10.30.0.0/16" in e.value.problems["vpc_cidr"]  # a suggestion that does not overlap
    assert ec2.describe_vpcs(Filters=stack_filter(ctx.params))["Vpcs"] == []
    network.plan(ctx.replace(vpc_cidr="10.30.0.0/16"))  # the suggested range passes


def test_existing_vpc_with_another_cidr_is_refused(ctx):
    network.ensure_vpc(ctx)
    with pytest.raises(ParameterError, match="vpc_cidr.*already exists with 10.20.0.0/16"):
        network.ensure_vpc(ctx.replace(vpc_cidr="10.40.0.0/16"))


def test_too_many_azs_for_the_region_is_a_parameter_error():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(region="eu-west-1", az_count=5)  # moto's eu-west-1 has three
        with pytest.raises(ParameterError, match="az_count"):
            network.plan(ctx)


# ---- apply ------------------------------------------------------------------------------------------
@pytest.fixture(scope="class")
def built():
    """One applied network (default parameters) for the tests that only look at it (class scope: the
    mock must end before the next test's own mock_aws starts, nested mocks share one state)."""
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx()
        network.apply(ctx)
        yield ctx


class TestAppliedNetwork:
    def test_apply_builds_a_private_network(self, built):
        ctx = built
        p = ctx.params
        ec2 = ec2_raw()
        vpc = ec2.describe_vpcs(Filters=stack_filter(p))["Vpcs"][0]
        assert vpc["CidrBlock"] == p.vpc_cidr
        for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attr)[key]["Value"]
        subnets = ec2.describe_subnets(Filters=stack_filter(p))["Subnets"]
        tiers = {}
        for s in subnets:
            t = tagging.as_dict(s["Tags"])
            assert t[tagging.STEP] == "02_network" and t["Name"] == names.subnet(p, t[names.TIER], s["AvailabilityZone"])
            assert not s["MapPublicIpOnLaunch"]
            tiers.setdefault(t[names.TIER], set()).add(s["AvailabilityZone"])
        assert tiers == {"public": {"us-east-1a", "us-east-1b"}, "app": {"us-east-1a", "us-east-1b"},
                         "db": {"us-east-1a", "us-east-1b"}}
        summary = network.summary(ctx).set_index("subnet")
        assert summary.loc[names.subnet(p, "public", "us-east-1a"), "default_route"].startswith("igw-")
        assert summary.loc[names.subnet(p, "app", "us-east-1b"), "default_route"].startswith("nat-")
        assert (summary[summary.tier == "db"].default_route == "none (VPC only)").all()
        nats = stack_nats(p)
        assert len(nats) == 1 and nats[0]["State"] == "available"
        # the single NAT serves both AZs' app subnets
        assert set(summary[summary.tier == "app"].default_route) == {nats[0]["NatGatewayId"]}


    def test_security_groups_chain_alb_app_db_and_default_is_closed(self, built):
        ctx = built
        p = ctx.params
        ec2 = ec2_raw()
        groups = {g["GroupName"]: g for g in ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [network.vpc_id(ctx)]}])["SecurityGroups"]}
        alb, app, db = groups[names.alb_sg(p)], groups[names.app_sg(p)], groups[names.db_sg(p)]

        def ingress(g):
            return sorted((r["FromPort"], (r["IpRanges"] + r["UserIdGroupPairs"])[0].get("CidrIp")
                           or r["UserIdGroupPairs"][0]["GroupId"]) for r in g["IpPermissions"])
        assert ingress(alb) == [(80, "0.0.0.0/0"), (443, "0.0.0.0/0")]
        assert ingress(app) == [(p.app_port, alb["GroupId"])]
        assert ingress(db) == [(p.db_port, app["GroupId"])]
        assert db["IpPermissionsEgress"] == []
        assert [(r["FromPort"], r["UserIdGroupPairs"][0]["GroupId"]) for r in alb["IpPermissionsEgress"]] == \
            [(p.app_port, app["GroupId"])]
        assert groups["default"]["IpPermissions"] == [] and groups["default"]["IpPermissionsEgress"] == []


    def test_flow_logs_go_to_the_log_group_through_the_named_role(self, built):
        ctx = built
        p = ctx.params
        vpc_id = network.vpc_id(ctx)
        fl = ec2_raw().describe_flow_logs(Filter=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
        assert len(fl) == 1 and fl[0]["TrafficType"] == "ALL" and fl[0]["LogGroupName"] == names.flow_log_group(p)
        role = boto3.client("iam").get_role(RoleName=f"{p.stack_name}-flowlogs-role")["Role"]
        assert fl[0]["DeliverLogsPermissionArn"] == role["Arn"]
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        policy = boto3.client("iam").get_role_policy(RoleName=role["RoleName"], PolicyName=network.FLOW_LOG_POLICY)
        doc = policy["PolicyDocument"] if isinstance(policy["PolicyDocument"], dict) else json.loads(policy["PolicyDocument"])
        assert all(names.flow_log_group(p) in r for r in doc["Statement"][0]["Resource"])
        group = boto3.client("logs").describe_log_groups(logGroupNamePrefix=names.flow_log_group(p))["logGroups"][0]
        assert group["retentionInDays"] == p.log_retention_days


def test_nat_per_az_routes_each_app_subnet_through_its_own_az():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(nat_per_az=True, az_count=3)
        p = ctx.params
        network.apply(ctx)
        nats = {n["NatGatewayId"]: n for n in stack_nats(p)}
        subnet_az = {s["SubnetId"]: s["AvailabilityZone"] for s in ec2_raw().describe_subnets()["Subnets"]}
        assert len(nats) == 3
        app = network.summary(ctx).query("tier == 'app'")
        assert len(app) == 3
        for row in app.itertuples():
            assert subnet_az[nats[row.default_route]["SubnetId"]] == row.az


def test_switching_to_nat_per_az_moves_the_routes(ctx):
    network.apply(ctx)
    per_az = ctx.replace(nat_per_az=True)
    df = network.apply(per_az)
    assert ((df.type == "nat_gateway") & (df.action == "created")).sum() == 1
    assert ((df.type == "route") & (df.action == "updated")).sum() == 1  # us-east-1b's app table, 1a kept its NAT
    app = network.summary(per_az).query("tier == 'app'")
    assert app.default_route.nunique() == 2


def test_switching_back_to_one_nat_deletes_the_one_no_route_uses(ctx):
    """nat_per_az true, then false: the routes moved to the first AZ's NAT, but the other NAT and its address
    ran on (about $36 a month) while the plan priced one; a NAT no route uses is deleted, its address freed."""
    per_az = ctx.replace(nat_per_az=True)
    network.apply(per_az)
    df = network.apply(ctx)
    assert set(df[df.type == "nat_gateway"].action) >= {"deleted"}
    live = [n for n in stack_nats(ctx.params) if n["State"] not in ("deleted", "deleting")]
    assert len(live) == 1
    assert len(ec2_raw().describe_addresses(Filters=stack_filter(ctx.params))["Addresses"]) == 1
    app = network.summary(ctx).query("tier == 'app'")
    assert set(app.default_route) == {live[0]["NatGatewayId"]}


def test_second_apply_changes_nothing(ctx):
    network.apply(ctx)
    mark, rmark = ctx.calls.mark(), len(ctx.resources)
    again = network.apply(ctx)
    assert mutating_calls(ctx, mark) == []
    assert set(again.action) <= {"exists", "available"}
    assert len(again) == len(ctx.resources) - rmark
    plan = network.plan(ctx)
    assert set(plan.action) <= {"exists", "available"} and plan.attrs["usd_month_new"] == 0


def test_crashed_apply_finishes_on_rerun_like_a_clean_one(ctx):
    """Crash 1: after the VPC and 2 of 6 subnets. Crash 2: after the NAT's EIP, before the NAT."""
    clean = ctx.replace(stack_name="clean")
    network.apply(clean)

    p = ctx.params
    ec2 = ctx.client("ec2")
    budget = {"CreateSubnet": 2, "CreateNatGateway": 0}

    def crash(model, **_):
        if model.name in budget:
            if budget[model.name] == 0:
                raise RuntimeError(f"simulated crash before {model.name}")
            budget[model.name] -= 1
    ec2.meta.events.register("before-call.ec2.*", crash)
    with pytest.raises(RuntimeError, match="CreateSubnet"):
        network.apply(ctx)
    budget["CreateSubnet"] = 99
    with pytest.raises(RuntimeError, match="CreateNatGateway"):
        network.apply(ctx)
    assert len(ec2_raw().describe_addresses(Filters=stack_filter(p))["Addresses"]) == 1
    ec2.meta.events.unregister("before-call.ec2.*", crash)

    network.apply(ctx)
    assert shape(ctx, p) == shape(ctx, clean.params)
    assert len(shape(ctx, p)["subnets"]) == 6 and shape(ctx, p)["eips"] == ["STACK-nat-us-east-1a-eip"]


def test_apply_repairs_drift(ctx):
    """A deleted route, a revoked ALB rule and a reopened default SG come back as designed."""
    p = ctx.params
    network.apply(ctx)
    ec2 = ec2_raw()
    vpc_id = network.vpc_id(ctx)
    rt = ec2.describe_route_tables(Filters=stack_filter(p) + [
        {"Name": "tag:Name", "Values": [names.route_table(p, "app", "us-east-1a")]}])["RouteTables"][0]
    ec2.delete_route(RouteTableId=rt["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
    ec2.revoke_security_group_ingress(GroupId=groups[names.alb_sg(p)], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=groups["default"], IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": groups["default"]}]}])

    df = network.apply(ctx)
    changed = df[~df.action.isin(["exists", "available"])]
    assert sorted(changed.type) == ["default_security_group", "route", "security_group_rule"]
    findings = network.verify(ctx)
    assert set(findings[findings.status == "FAIL"].id) <= {"ARTICLE.NAT_REDUNDANCY"}


# ---- destroy ----------------------------------------------------------------------------------------
def test_destroy_removes_everything_and_is_safe_twice():
    from moto import mock_aws
    with mock_aws():
        ctx = make_ctx(nat_per_az=True)
        p = ctx.params
        network.apply(ctx)
        gone = network.destroy(ctx)
        assert set(gone.action) == {"deleted"}
        assert {"flow_log", "log_group", "iam_role", "nat_gateway", "elastic_ip", "route_table", "internet_gateway",
                "subnet", "security_group", "vpc"} == set(gone.type)
        ec2 = ec2_raw()
        assert ec2.describe_vpcs(Filters=stack_filter(p))["Vpcs"] == []
        assert ec2.describe_addresses(Filters=stack_filter(p))["Addresses"] == []
        assert stack_nats(p) and all(n["State"] == "deleted" for n in stack_nats(p))
        assert boto3.client("logs").describe_log_groups(logGroupNamePrefix=names.flow_log_group(p))["logGroups"] == []
        with pytest.raises(boto3.client("iam").exceptions.NoSuchEntityException):
            boto3.client("iam").get_role(RoleName=network.flow_log_role(p))
        mark = ctx.calls.mark()
        assert network.destroy(ctx).empty
        assert mutating_calls(ctx, mark) == []
        network.apply(ctx)  # and it can be built again from nothing
        assert len(network.summary(ctx)) == 6


def test_an_address_aws_will_not_release_yet_is_released_once_it_may_not_reported_gone(ctx):
    """Right after its NAT gateway is deleted, ReleaseAddress can answer AuthFailure or that the NAT's
    interface is not found (seen by Terraform users). The second was read as "the address is already gone",
    the row said deleted, and the address went on costing; the first failed the row. Only the address's own
    not-found means gone; the others clear within minutes and are retried."""
    network.apply(ctx)
    ec2, refusals = ctx.client("ec2"), ["InvalidNetworkInterfaceID.NotFound", "AuthFailure"]

    def not_yet(**_):
        return refused(refusals.pop(0)) if refusals else None
    ec2.meta.events.register("before-call.ec2.ReleaseAddress", not_yet)
    gone = network.destroy(ctx)
    assert refusals == []
    assert set(gone[gone.type == "elastic_ip"].action) == {"deleted"}
    assert ec2_raw().describe_addresses(Filters=stack_filter(ctx.params))["Addresses"] == []


def test_an_address_still_shown_on_its_deleted_nat_is_released_not_failed(ctx):
    """For a while after its NAT gateway is deleted, an address still shows the NAT's association, and
    DisassociateAddress on it answers AuthFailure (AWS manages that association): the row failed and the
    address went on costing until a rerun. Only the release is needed; it is retried until AWS lets go."""
    network.apply(ctx)
    ec2 = ctx.client("ec2")

    def still_on_the_nat(parsed, **_):
        for a in parsed.get("Addresses", []):
            a.setdefault("AssociationId", "eipassoc-0123456789abcdef0")
    ec2.meta.events.register("after-call.ec2.DescribeAddresses", still_on_the_nat)
    ec2.meta.events.register("before-call.ec2.DisassociateAddress", lambda **_: refused("AuthFailure"))
    gone = network.destroy(ctx)
    assert set(gone[gone.type == "elastic_ip"].action) == {"deleted"}, gone
    assert ec2_raw().describe_addresses(Filters=stack_filter(ctx.params))["Addresses"] == []


def test_a_nat_gateway_deleted_by_hand_is_made_again_by_a_rerun(ctx):
    """A user deletes a NAT gateway in the console to save money, then runs 02 again. Its client token was
    the one the first create sent, and EC2 answers a token it has seen (for at least 24 hours) with the
    resource it made then: the deleted NAT came back as "created", nothing waited for it, and every rerun
    stopped at the routes."""
    network.apply(ctx)
    ec2 = ctx.client("ec2")
    first = [n for n in stack_nats(ctx.params) if n["State"] != "deleted"]
    for n in first:
        ec2.delete_nat_gateway(NatGatewayId=n["NatGatewayId"])
    network.apply(ctx)
    live = [n for n in stack_nats(ctx.params) if n["State"] not in ("deleted", "deleting")]
    assert len(live) == len(first) and not {n["NatGatewayId"] for n in live} & {n["NatGatewayId"] for n in first}
    routes = [r.get("NatGatewayId") for t in ec2.describe_route_tables(Filters=stack_filter(ctx.params))["RouteTables"]
              for r in t["Routes"] if r.get("NatGatewayId")]
    assert routes and set(routes) <= {n["NatGatewayId"] for n in live}


def test_what_was_just_created_and_is_not_known_everywhere_yet_is_used_a_moment_later(ctx):
    """EC2 is eventually consistent: right after a create, a call that uses the new id may answer that it
    does not exist (the EC2 API guide, "Eventual consistency"; retry with backoff). An internet gateway,
    route table or address used at once failed the step on AWS; such an answer is retried for a minute."""
    ec2 = ctx.client("ec2")
    firsts = {"AttachInternetGateway": "InvalidInternetGatewayID.NotFound",
              "AssociateRouteTable": "InvalidRouteTableID.NotFound",
              "CreateRoute": "InvalidRouteTableID.NotFound",
              "CreateNatGateway": "InvalidAllocationID.NotFound"}

    def not_yet(model, **_):
        code = firsts.pop(model.name, None)
        return refused(code) if code else None
    ec2.meta.events.register("before-call.ec2", not_yet)
    done = network.apply(ctx)
    assert firsts == {}
    assert not [a for a in done.action if a.startswith("failed")]
    assert len(network.summary(ctx)) == 6


def test_destroy_leaves_other_stacks_alone(ctx):
    other = ctx.replace(stack_name="other", vpc_cidr="10.30.0.0/16")
    network.apply(ctx)
    network.apply(other)
    network.destroy(ctx)
    assert len(network.summary(other)) == 6
    assert network.vpc_id(ctx) is None


def test_destroy_dry_run_deletes_nothing(ctx):
    network.apply(ctx)
    mark = ctx.calls.mark()
    df = network.destroy(ctx.replace(dry_run=True))
    assert set(df.action) == {"would delete"} and "vpc" in set(df.type)
    assert mutating_calls(ctx, mark) == []


def test_behind_the_api_gateway_the_alb_group_is_not_opened_to_anywhere(ctx):
    """entry=api_gateway: the ALB is internal and the VPC link's group (05) is its only client; 0.0.0.0/0
    on it would let anything inside the VPC reach the app around the gateway."""
    c = make_ctx(entry="api_gateway")
    network.apply(c)
    alb = ec2_raw().describe_security_groups(Filters=stack_filter(c.params) + [
        {"Name": "group-name", "Values": [names.alb_sg(c.params)]}])["SecurityGroups"][0]
    assert alb["IpPermissions"] == []


def test_plan_shows_the_security_group_chain_exactly_as_apply_builds_it(ctx):
    """The chain is what 02 teaches: the plan's rules (with unique placeholders for the groups it would
    create) must be the rules apply creates and AWS then holds, name for name."""
    from workbook.steps import network_sg
    rows = lambda df, kind: {(r.name, r.action.replace("would ", "")) for r in df.itertuples() if r.type == kind}  # noqa: E731
    plan = network.plan(ctx)
    planned = {(n, {"create": "created", "delete": "deleted"}[a]) for n, a in rows(plan, "security_group_rule")}
    applied = rows(network.apply(ctx), "security_group_rule")
    assert planned == applied
    assert ("demo-alb-sg egress to demo-app-sg tcp:8080", "created") in applied
    assert ("demo-app-sg ingress from demo-alb-sg tcp:8080", "created") in applied
    assert ("demo-db-sg ingress from demo-app-sg tcp:5432", "created") in applied
    # and AWS holds exactly the created ones plus the app group's default egress, nothing else
    groups = {g["GroupId"]: g["GroupName"] for g in ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": "tag:workbook:stack", "Values": ["demo"]}])["SecurityGroups"]}
    held = {f"{groups[gid]} {network_sg.describe_rule(network_sg.rule_of(r), groups)}"
            for gid in groups for r in network_sg.group_rules(ctx, gid)}
    assert held == {n for n, a in applied if a == "created"} | {"demo-app-sg egress to 0.0.0.0/0 all"}
