"""09_teardown on moto, on stacks built by the steps themselves (through the step registry).

One in-process moto account for the module (its first EC2, IAM and SSM calls take seconds); each test
builds its own stack under its own name, which also shows a teardown touches only its own stack.
"""
from __future__ import annotations

import json

import pytest
from moto import mock_aws

from conftest import make_ctx
from workbook import names, steps
from workbook.kinds import all_kinds
from workbook.connect import MUTATING
from workbook.steps import teardown


def params(stack: str, **extra) -> dict:
    return {"stack_name": stack, "domain_name": f"api.{stack}.example", "alarm_email": "ops@example.com", **extra}


def building_steps() -> list[steps.Step]:
    return [s for s in steps.ordered() if s.kinds and s.fn("apply") and s.id != "09_teardown"]


def build(stack: str, upto: str | None = None, **extra) -> set[str]:
    """Apply every building step in order (up to and including `upto`); returns the kinds they made."""
    made: set[str] = set()
    for s in building_steps():
        df = s.fn("apply")(make_ctx(**params(stack, **extra)))
        made |= set(df[df.action == "created"].type) & {k.name for k in all_kinds()}
        if s.id == upto:
            break
    return made


def ctx_for(stack: str, **extra):
    return make_ctx(**{**params(stack), "keep_final_snapshot": True, **extra})


class Killed(Exception):
    pass


@pytest.fixture(scope="module")
def aws():
    import os
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    with mock_aws():
        yield


def test_the_whole_stack_is_found_then_gone_and_the_final_snapshot_kept(aws):
    made = build("full")
    ctx = ctx_for("full")
    before = teardown.scan(ctx)
    assert made <= set(before.type), made - set(before.type)      # every kind the steps made is scanned
    gone = teardown.destroy(ctx)
    assert not [a for a in gone.action if a.startswith("failed")], gone[gone.action.str.startswith("failed")]
    after = teardown.scan(ctx)
    assert teardown.leftovers(after).empty, teardown.leftovers(after)
    kept = after[after.status != "leftover"]
    assert list(kept[kept.status == "kept (final snapshot)"].id) == [names.db_snapshot(ctx.p, "final")]
    assert set(kept[kept.status == "kept (dev environment)"].step) == {"00_setup"}
    # the second teardown finds nothing to delete and changes nothing: it only takes the stack's lock
    # and gives it back
    mark = ctx.calls.mark()
    again = teardown.destroy(ctx)
    assert "deleted" not in set(again.action)
    assert [c.operation for c in ctx.calls.calls[mark:] if c.operation.startswith(MUTATING)] == \
        ["PutParameter", "DeleteParameter"]


def test_an_earlier_teardowns_final_snapshot_is_kept_by_the_next_one(aws):
    """keep_final_snapshot says whether this teardown takes one. The final snapshot an earlier teardown left
    is that build's data; it carries the stack's tag (RDS copies the instance's tags to its snapshots), and a
    later teardown with keep_final_snapshot=False deleted it."""
    build("twice", upto="03_database")
    teardown.destroy(ctx_for("twice"))
    build("twice", upto="03_database")
    ctx = ctx_for("twice", keep_final_snapshot=False)
    teardown.destroy(ctx)
    rds = ctx.client("rds")
    left = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert names.db_snapshot(ctx.p, "final") in left
    assert teardown.leftovers(teardown.scan(ctx)).empty


def test_a_rule_in_someone_elses_group_that_names_the_stacks_group_is_left_alone(aws):
    """AWS refuses to delete a group another group's rule names; the teardown revoked such rules wherever
    it found them, and the dev host's group lives in the account's shared default VPC: a team's rule
    "allow from the dev host" vanished from their own group. Now only the stack's groups are edited; a
    group named by someone else's rule is kept, and the teardown says by which group."""
    from workbook import engine
    build("shared", upto="00_setup")
    ctx = ctx_for("shared", teardown_dev=True)
    ec2 = ctx.client("ec2")
    ours = [it for it in engine.find(ctx, "security_group") if it.step == "00_setup"][0]
    theirs = ec2.create_security_group(GroupName="team-monitoring", Description="not the stack's",
                                       VpcId=ours.raw["VpcId"])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=theirs, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 9100, "ToPort": 9100, "UserIdGroupPairs": [{"GroupId": ours.id}]}])
    done = teardown.destroy(ctx)
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [theirs]}])["SecurityGroupRules"]
    assert [r for r in rules if r.get("ReferencedGroupInfo", {}).get("GroupId") == ours.id]
    said = done[done.id == ours.id].action.tolist()
    assert said and said[-1].startswith("kept") and theirs in said[-1]


def test_a_stopped_database_is_started_then_deleted_with_its_final_snapshot(aws):
    """A user stops the database overnight to save money, then tears down: turning deletion protection off
    (ModifyDBInstance) needs it available, and botocore's waiter for that never ends on `stopped`, so the
    teardown waited its whole bound and failed, at every rerun, while AWS starts (and bills) a stopped
    instance again after 7 days by itself."""
    build("asleep", upto="03_database")
    ctx = ctx_for("asleep")
    rds = ctx.client("rds")
    rds.stop_db_instance(DBInstanceIdentifier=names.db_instance(ctx.p))
    done = teardown.destroy(ctx)
    assert not [a for a in done.action if a.startswith("failed")], done[done.action.str.startswith("failed")]
    assert not [d for d in rds.describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"] == names.db_instance(ctx.p)]
    assert names.db_snapshot(ctx.p, "final") in {
        s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}


def test_a_failed_database_is_deleted_without_the_snapshot_aws_refuses_and_keeps_its_backups(aws):
    """In `failed` or `incompatible-*` AWS accepts a delete only with SkipFinalSnapshot, and the waiter for
    `available` stops at once on those states: the teardown failed there at every rerun. It now deletes
    without the final snapshot AWS would refuse, keeps the automated backups (the data's one copy), says so."""
    build("broken", upto="03_database")
    ctx = ctx_for("broken")
    rds, sent = ctx.client("rds"), {}

    def broken(parsed, **_):
        for d in parsed.get("DBInstances", []):
            d["DBInstanceStatus"] = "incompatible-parameters"
    rds.meta.events.register("after-call.rds.DescribeDBInstances", broken)
    rds.meta.events.register("before-parameter-build.rds.DeleteDBInstance", lambda params, **_: sent.update(params))
    done = teardown.destroy(ctx)
    assert sent.get("SkipFinalSnapshot") is True and sent.get("DeleteAutomatedBackups") is False
    said = " ".join(done[done.type == "db_instance"].action)
    assert "incompatible-parameters" in said and "automated backups" in said


def test_the_log_groups_of_the_databases_log_exports_are_the_stacks_and_go_with_it(aws):
    """RDS publishes each exported log to /aws/rds/instance/<id>/<type> and creates the group when it is
    missing: untagged and kept forever, so no teardown by tag ever saw it and it cost on after the stack."""
    build("dblogs", upto="03_database")
    ctx = ctx_for("dblogs")
    logs = ctx.client("logs")
    prefix = f"/aws/rds/instance/{names.db_instance(ctx.p)}/"
    groups = logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"]
    assert groups
    for g in groups:
        assert g.get("retentionInDays") == ctx.p.log_retention_days
        assert logs.list_tags_for_resource(resourceArn=g["arn"].removesuffix(":*"))["tags"].get("workbook:stack") == "dblogs"
    teardown.destroy(ctx)
    assert logs.describe_log_groups(logGroupNamePrefix=prefix)["logGroups"] == []


def test_same_prefix_resources_of_others_are_left_alone(aws):
    """A name that starts like the stack's proves nothing: log groups and SSM parameters under /<stack>/,
    an IAM role and a security group named <stack>-..., a validation-style CNAME in the user's zone,
    none of them carrying the stack's tag, all survive the teardown."""
    stack = "shop"
    zone = make_ctx().client("route53").create_hosted_zone(Name="shop.example", CallerReference="users-zone")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    extra = {"domain_name": "api.shop.example", "hosted_zone_id": zone_id}
    build(stack, **extra)
    ctx = make_ctx(**params(stack, **extra))
    logs, ssm, iam, ec2, r53 = (ctx.client(s) for s in ("logs", "ssm", "iam", "ec2", "route53"))
    logs.create_log_group(logGroupName=f"/{stack}/another-teams-app")
    logs.create_log_group(logGroupName=f"{stack}-payments", tags={"workbook:stack": "payments"})
    ssm.put_parameter(Name=f"/{stack}/another-team/db-url", Value="postgres://elsewhere", Type="String")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=f"{stack}-reporting", AssumeRolePolicyDocument=json.dumps(trust))
    default_vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    sg = ec2.create_security_group(GroupName=f"{stack}-bastion-sg", Description="someone's", VpcId=default_vpc)["GroupId"]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": {
        "Name": "_0123456789abcdef.mail.shop.example", "Type": "CNAME", "TTL": 300,
        "ResourceRecords": [{"Value": "_x.acm-validations.aws."}]}}]})

    teardown.destroy(ctx)

    assert {f"/{stack}/another-teams-app", f"{stack}-payments"} <= {
        g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    assert ssm.get_parameter(Name=f"/{stack}/another-team/db-url")["Parameter"]["Value"] == "postgres://elsewhere"
    assert iam.get_role(RoleName=f"{stack}-reporting")["Role"]["RoleName"] == f"{stack}-reporting"
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    records = {r["Name"] for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]}
    assert "_0123456789abcdef.mail.shop.example." in records
    assert teardown.leftovers(teardown.scan(ctx)).empty


@pytest.mark.parametrize("upto", ["02_network", "03_database", "04_compute"])
def test_a_half_finished_build_ends_clean(aws, upto):
    """A build that stopped after `upto` (the next step killed at its third write) tears down to nothing."""
    stack = f"half{upto[:2]}"
    build(stack, upto=upto)
    nxt = next((s for s in building_steps() if s.order > steps.get(upto).order), None)
    if nxt is not None:
        ctx = make_ctx(**params(stack))
        writes = {"n": 0}

        def die(model, **_):
            if model.name.startswith(MUTATING):
                writes["n"] += 1
                if writes["n"] == 3:
                    raise Killed("killed")
        ctx.on_call(die)
        with pytest.raises(Killed):
            nxt.fn("apply")(ctx)
    ctx = ctx_for(stack, keep_final_snapshot=False, teardown_dev=True)
    teardown.destroy(ctx)
    assert teardown.scan(ctx).empty, teardown.scan(ctx)


def test_dry_run_deletes_nothing_and_says_what_it_would(aws):
    build("dry", upto="02_network")
    ctx = make_ctx(**params("dry", dry_run=True))
    mark = ctx.calls.mark()
    plan = teardown.destroy(ctx)
    assert "would delete" in set(plan.action) and "vpc" in set(plan.type)
    assert [c.operation for c in ctx.calls.calls[mark:] if c.operation.startswith(MUTATING)] == []
    assert len(teardown.leftovers(teardown.scan(ctx))) == (plan.action == "would delete").sum()


def test_another_stacks_resources_are_left_alone(aws):
    build("mine", upto="02_network")
    build("theirs", upto="02_network", vpc_cidr="10.30.0.0/16")
    teardown.destroy(make_ctx(**params("mine")))
    assert teardown.leftovers(teardown.scan(make_ctx(**params("mine")))).empty
    theirs = teardown.scan(make_ctx(**params("theirs", vpc_cidr="10.30.0.0/16")))
    assert {"vpc", "subnet", "nat_gateway", "security_group"} <= set(theirs.type)


TOKENS = ("ClientToken", "CallerReference", "IdempotencyToken", "ClientRequestToken")


def test_a_rebuild_after_teardown_creates_anew_instead_of_being_handed_the_deleted_ones(aws, monkeypatch):
    """An idempotency token names one create for good: EC2 answers a reused ClientToken with the resource
    it made then (deleted or not, for at least 24 h), Route 53 refuses a CallerReference ever used, ACM
    returns the first certificate for an hour (moto's ACM crashes on it). So a rebuild after a teardown
    sends tokens of its own, while a rerun within one build sends the same ones (a retried create after
    a crash must get back what it made)."""
    import botocore.client
    sent: list[tuple[str, str]] = []
    real = botocore.client.BaseClient._make_api_call

    def spy(self, operation, api_params):
        sent.extend((operation, api_params[k]) for k in TOKENS if k in api_params)
        return real(self, operation, api_params)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", spy)

    build("again", upto="05_edge")
    first = set(sent)
    assert {op for op, _ in first} >= {"CreateNatGateway", "CreateHostedZone", "RequestCertificate", "RunInstances"}
    teardown.destroy(ctx_for("again", keep_final_snapshot=False))
    sent.clear()
    build("again", upto="05_edge")                      # the same stack, built anew in the same account
    assert {op for op, _ in sent} >= {"CreateNatGateway", "CreateHostedZone", "RequestCertificate"}
    assert not set(sent) & first, sorted(set(sent) & first)
    # one step's own destroy (a workshop's Destroy, or 05's) and its apply again: the same holds
    second = set(sent)
    sent.clear()
    network = steps.get("02_network")
    network.fn("destroy")(make_ctx(**params("again")))
    network.fn("apply")(make_ctx(**params("again")))
    assert "CreateNatGateway" in {op for op, _ in sent} and not set(sent) & second, sorted(set(sent) & second)


def test_what_lingers_longest_is_deleted_as_early_as_its_order_allows():
    """A deleted VPC link's network interfaces hold its subnets and security groups, and so the VPC, for 20-40
    minutes (AWS-FACTS). Teardown deleted it after draining the group's instances, the NAT gateways and the
    DNS records: `make rehearse` measured 7 AWS minutes added to a 33-minute teardown by waiting behind them."""
    from workbook import kinds as K
    order = [k.name for k in K.deletion_order()]
    assert order.index("vpc_link") < min(order.index("auto_scaling_group"), order.index("nat_gateway"))
    for first in K.get("vpc_link").after + ("api_domain", "dns_record"):   # still after what must go before it
        assert order.index(first) < order.index("vpc_link")


def test_the_deletion_order_is_the_same_whichever_module_loaded_the_kinds_first():
    """The order among kinds free to go was the order their modules happened to be imported in: a run whose
    first import was the stack's lock (kinds/storage.py) deleted S3 buckets before the group's instances, one
    that started from the engine after them; a teardown should not depend on what a kernel imported first."""
    import subprocess
    import sys
    seen = set()
    for first in ("workbook.kinds.storage", "workbook.lock", "workbook.engine", "workbook.kinds.rds"):
        seen.add(subprocess.run([sys.executable, "-c", f"import {first}; import workbook.kinds as K; "
                                 "print(' '.join(k.name for k in K.deletion_order()))"],
                                check=True, capture_output=True, text=True).stdout)
    assert len(seen) == 1


def test_an_operators_own_snapshot_of_the_stacks_database_survives_the_teardown(aws):
    """03 sets CopyTagsToSnapshot, so RDS puts the instance's tags (the stack's among them) on every
    manual snapshot of it, an operator's "before-upgrade" taken in the console included: the teardown
    deleted it as the stack's. Its tag proves RDS copied it, not that the workbook made it."""
    build("ops", upto="03_database")
    ctx = ctx_for("ops")
    rds = ctx.client("rds")
    rds.create_db_snapshot(DBSnapshotIdentifier="before-upgrade-by-ops", DBInstanceIdentifier=names.db_instance(ctx.p))
    rds.add_tags_to_resource(   # what CopyTagsToSnapshot gives it on AWS (moto copies none)
        ResourceName=rds.describe_db_snapshots(DBSnapshotIdentifier="before-upgrade-by-ops")["DBSnapshots"][0]["DBSnapshotArn"],
        Tags=rds.describe_db_instances(DBInstanceIdentifier=names.db_instance(ctx.p))["DBInstances"][0]["TagList"])
    teardown.destroy(ctx)
    left = {s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]}
    assert "before-upgrade-by-ops" in left
    rds.delete_db_snapshot(DBSnapshotIdentifier="before-upgrade-by-ops")


def test_the_move_profile_left_on_the_users_dev_host_is_detached_before_it_is_deleted(aws):
    """08 attaches the stack's move profile to the user's dev host (dev_attach_profile) and leaves it while a
    command still runs (its cell ran out of time). The teardown deleted the profile and role and left the
    user's instance associated with a profile that no longer exists."""
    from workbook import dbmove_hosts as hosts
    from workbook.steps.compute_template import AL2023_PARAMETER
    ctx = ctx_for("prof")
    ec2, iam = ctx.client("ec2"), ctx.client("iam")
    ami = ctx.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]
    users = ec2.run_instances(ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    profile = hosts.ensure_dev_profile(ctx, "prof-dbmove-123456789012")
    arn = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Arn"]
    ec2.associate_iam_instance_profile(InstanceId=users, IamInstanceProfile={"Arn": arn})
    teardown.destroy(ctx)
    left = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [users]}])["IamInstanceProfileAssociations"]
    assert not [a for a in left if a["State"] in ("associating", "associated")]
    ec2.terminate_instances(InstanceIds=[users])
