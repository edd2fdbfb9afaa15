"""moto's gaps, corrected where the answer comes back: botocore event handlers on the sandbox's clients.

Each correction is one function registered for one operation with `@correct(service, operation)`:
- "after" (the default) sees the call's parameters and moto's parsed answer and may fix the answer or
  finish what AWS would also have done (an RDS delete takes the managed secret with it);
- "before" may answer in moto's place (return the parsed answer) where moto would do harm.
What a correction does is said once per session on the notebook's output, labelled sandbox-only.
Corrections make their own calls on plain clients of the same session, which carry no corrections and
stay out of the call log: they are the emulator's business, not the workbook's calls.

Measured gaps are listed in EMULATOR.md; the ones that cannot be corrected are seam.GAPS.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Callable

from botocore.config import Config

from ..connect import Context
from ..kinds import tag_dict

PLAIN = Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class Correction:
    service: str
    operation: str
    when: str            # "before" | "after"
    note: str
    fn: Callable[..., Any]


CORRECTIONS: list[Correction] = []
_plain: "weakref.WeakKeyDictionary[Context, dict[str, Any]]" = weakref.WeakKeyDictionary()


def correct(service: str, operation: str, *, when: str = "after", note: str = ""):
    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        CORRECTIONS.append(Correction(service, operation, when, note, fn))
        return fn
    return wrap


def plain(ctx: Context, service: str) -> Any:
    """A client of the same session without corrections or call log."""
    cache = _plain.setdefault(ctx, {})
    if service not in cache:
        cache[service] = ctx.session.client(service, endpoint_url=ctx.endpoint, config=PLAIN)
    return cache[service]


class _Ok:
    """The HTTP side of an answer given in moto's place."""
    status_code = 200
    headers: dict[str, str] = {}


def install(client: Any, ctx: Context) -> None:
    service = client.meta.service_model.service_name
    sid = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events
    mine = [c for c in CORRECTIONS if c.service == service]
    if not mine:
        return

    def stash(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["sandbox_params"] = dict(params)
    events.register(f"before-parameter-build.{sid}", stash)

    for c in mine:
        if c.when == "after":
            def after(parsed: Any, context: dict[str, Any], http_response: Any = None, _c: Correction = c,
                      **_: Any) -> None:
                if http_response is not None and http_response.status_code >= 300:
                    return
                if _c.fn(ctx=ctx, params=context.get("sandbox_params", {}), parsed=parsed) and _c.note:
                    ctx.say(_c.note)
            events.register(f"after-call.{sid}.{c.operation}", after)
        else:
            def before(context: dict[str, Any], _c: Correction = c, **_: Any) -> Any:
                answer = _c.fn(ctx=ctx, params=context.get("sandbox_params", {}))
                if answer is None:
                    return None
                if _c.note:
                    ctx.say(_c.note)
                return _Ok(), answer
            events.register(f"before-call.{sid}.{c.operation}", before)


# ---- EC2 ----------------------------------------------------------------------------------------------
@correct("ec2", "DescribeNatGateways",
         note="moto 5.2.5 ignores tag filters on DescribeNatGateways: the sandbox filters NAT gateways by tag")
def nat_gateway_tag_filters(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    wanted = {f["Name"][4:]: f["Values"] for f in params.get("Filter", []) if f["Name"].startswith("tag:")}
    if not wanted:
        return False
    before = parsed.get("NatGateways", [])
    parsed["NatGateways"] = [n for n in before
                             if all(tag_dict(n.get("Tags")).get(k) in v for k, v in wanted.items())]
    return len(parsed["NatGateways"]) != len(before)


# ---- Auto Scaling -----------------------------------------------------------------------------------
_corrected_instances: set[str] = set()


@correct("autoscaling", "DescribeAutoScalingGroups",
         note="moto launches Auto Scaling instances without the launch template's metadata options, security "
              "groups and instance profile: the sandbox sets them on each new instance, as AWS launches it")
def group_instances_take_the_template(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ec2 = plain(ctx, "ec2")
    acted = False
    for g in parsed.get("AutoScalingGroups", []):
        todo = [i["InstanceId"] for i in g.get("Instances", [])
                if i.get("LifecycleState") == "InService" and i["InstanceId"] not in _corrected_instances]
        spec = g.get("LaunchTemplate") or {}
        if not todo or not spec.get("LaunchTemplateId"):
            continue
        data = ec2.describe_launch_template_versions(
            LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version") or "$Latest"]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        meta = data.get("MetadataOptions") or {}
        groups = [gid for n in data.get("NetworkInterfaces", []) for gid in n.get("Groups", [])] \
            or data.get("SecurityGroupIds", [])
        profile = (data.get("IamInstanceProfile") or {}).get("Name")
        associated = {a["InstanceId"] for a in ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": todo}])["IamInstanceProfileAssociations"]
            if a.get("State") in ("associating", "associated")}
        for r in ec2.describe_instances(InstanceIds=todo)["Reservations"]:
            for i in r["Instances"]:
                if meta.get("HttpTokens") and i.get("MetadataOptions", {}).get("HttpTokens") != meta["HttpTokens"]:
                    ec2.modify_instance_metadata_options(
                        InstanceId=i["InstanceId"], HttpTokens=meta["HttpTokens"],
                        HttpPutResponseHopLimit=meta.get("HttpPutResponseHopLimit", 1),
                        HttpEndpoint=meta.get("HttpEndpoint", "enabled"))
                    acted = True
                if groups and sorted(g2["GroupId"] for g2 in i.get("SecurityGroups", [])) != sorted(groups):
                    ec2.modify_instance_attribute(InstanceId=i["InstanceId"], Groups=groups)
                    acted = True
                if profile and i["InstanceId"] not in associated:
                    ec2.associate_iam_instance_profile(InstanceId=i["InstanceId"], IamInstanceProfile={"Name": profile})
                    acted = True
                _corrected_instances.add(i["InstanceId"])
    return acted


# ---- RDS ------------------------------------------------------------------------------------------------
@correct("rds", "DeleteDBInstance",
         note="moto keeps the RDS-managed secret after its DB instance is deleted: the sandbox deletes it, as RDS does")
def managed_secret_goes_with_its_instance(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ident = params.get("DBInstanceIdentifier", "")
    sm = plain(ctx, "secretsmanager")
    acted = False
    for page in sm.get_paginator("list_secrets").paginate():
        for s in page["SecretList"]:
            owner = tag_dict(s.get("Tags")).get("aws:rds:primaryDBInstanceArn", "")
            if s["Name"].startswith("rds!db-") and owner.endswith(f":db:{ident}"):
                sm.delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
                acted = True
    return acted


@correct("rds", "RestoreDBInstanceFromDBSnapshot",
         note="moto copies DeletionProtection from the source on restore (RDS honours DeletionProtection=False): "
              "the sandbox turns it off as asked")
def restore_honours_deletion_protection(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    db = parsed.get("DBInstance", {})
    if params.get("DeletionProtection") is False and db.get("DeletionProtection"):
        plain(ctx, "rds").modify_db_instance(DBInstanceIdentifier=db["DBInstanceIdentifier"],
                                             DeletionProtection=False, ApplyImmediately=True)
        db["DeletionProtection"] = False
        return True
    return False


@correct("rds", "ModifyDBSubnetGroup", when="before",
         note="moto loses a DB subnet group on ModifyDBSubnetGroup: in the sandbox the group keeps its subnets")
def subnet_group_modify_keeps_the_group(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    groups = plain(ctx, "rds").describe_db_subnet_groups(DBSubnetGroupName=params["DBSubnetGroupName"])
    return {"DBSubnetGroup": groups["DBSubnetGroups"][0]}


# ---- IAM ----------------------------------------------------------------------------------------------------
@correct("iam", "SimulatePrincipalPolicy", when="before",
         note="moto has no IAM policy simulation: the sandbox answers simulate_principal_policy from an IAM drill, a "
              "second, ephemeral moto server with IAM enforcement on, where a copy of the group's policies is tried "
              "with a member's keys (the server is stopped afterwards); what moto cannot evaluate (resource ARNs, "
              "conditions, roles) comes back as not emulated")
def simulation_from_the_iam_drill(ctx: Context, params: dict[str, Any]) -> dict[str, Any]:
    return ctx.target.iam_drills.simulate(plain(ctx, "iam"), params, region=ctx.p.region)


# ---- S3 -----------------------------------------------------------------------------------------------------
@correct("s3", "PutBucketPolicy", when="before",
         note="no TLS-only bucket policy in the sandbox: its endpoint is plain HTTP and moto enforces the policy, "
              "so every upload would be refused")
def no_tls_only_policy_over_http(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    policy = str(params.get("Policy", ""))
    return {} if "aws:SecureTransport" in policy else None
