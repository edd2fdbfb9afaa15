"""The rehearsal's durations: the states users wait on, played in AWS time.

moto answers every create at once; here a create starts a phase in the timeline and every describe
reports the phase's state until it ends (then moto's answer stands): RDS creating / modifying /
rebooting / deleting (with its final snapshot), snapshots creating, restores creating then
backing-up; NAT gateways pending and deleting; load balancers provisioning; instances pending and
shutting-down; targets initial until their first passing check and draining for the target group's
deregistration delay. Operations AWS refuses in a state (a snapshot of a creating instance ...) are
refused with the service's error code. Auto Scaling is in rehearsal_groups.py, ACM / Route 53 / API
Gateway in rehearsal_edge.py; figures and sources in rehearsal_facts.py.
"""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..connect import Context
from . import rehearsal_facts as F
from .corrections import plain
from .rehearsal import Refusal, Rehearsal, active, jsonable, model, note
from .rehearsal_consistency import linger

# ---- RDS -------------------------------------------------------------------------------------------------
RDS_BUSY = ("creating", "modifying", "rebooting", "deleting")
RESIZING = ("MultiAZ", "DBInstanceClass", "AllocatedStorage", "StorageType", "Iops", "EngineVersion")


def _db(ident: str) -> str:
    return f"db_instance:{ident}"


def _gone(rh: Rehearsal, ident: str) -> dict[str, Any] | None:
    g = rh.timeline.get(_db(ident)).get("gone")
    return g if active(g, rh.now()) else None


def _db_view(rh: Rehearsal, ctx: Context, db: dict[str, Any]) -> None:
    state = rh.timeline.state(_db(db.get("DBInstanceIdentifier", "")), rh.now())
    if state:
        db["DBInstanceStatus"] = state
        if state == "creating":
            db.pop("Endpoint", None)   # AWS gives the endpoint once the instance exists
        note(ctx, "an RDS instance takes AWS minutes to create, modify, reboot and delete: describes report "
                  "its state meanwhile")


def _start_db(rh: Rehearsal, ctx: Context, db: dict[str, Any], fact: str, retention: int | None = None) -> None:
    ident = db.get("DBInstanceIdentifier", "")
    end = rh.timeline.begin(_db(ident), "creating", rh.now(), F.point(fact, ident), fact, reset=True)
    if retention is None:
        retention = db.get("BackupRetentionPeriod") or 0
    if fact == "rds_restore" and retention > 0:
        rh.timeline.begin(_db(ident), "backing-up", end, F.point("rds_restore_backing_up", ident), "rds_restore_backing_up")
    _db_view(rh, ctx, db)


@model("rds", "CreateDBInstance")
def db_creating(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    db = parsed.get("DBInstance", {})
    _start_db(rh, ctx, db, "rds_create_multi" if db.get("MultiAZ") or params.get("MultiAZ") else "rds_create_single")


@model("rds", "CreateDBInstanceReadReplica")
def replica_creating(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    _start_db(rh, ctx, parsed.get("DBInstance", {}), "rds_create_single")


def _restoring(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    # The retention asked for decides the hours of backing-up (moto 5.2.5 answers the source's instead).
    _start_db(rh, ctx, parsed.get("DBInstance", {}), "rds_restore", params.get("BackupRetentionPeriod"))


model("rds", "RestoreDBInstanceFromDBSnapshot")(_restoring)
model("rds", "RestoreDBInstanceToPointInTime")(_restoring)


@model("rds", "CreateDBInstance", when="before")
def name_held_while_deleting(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    ident = params.get("DBInstanceIdentifier", "")
    if _gone(rh, ident):
        return Refusal("DBInstanceAlreadyExists", f"DB instance {ident} already exists (it is being deleted)")
    return None


def _busy(rh: Rehearsal, ident: str) -> str | None:
    if _gone(rh, ident):
        return "deleting"
    state = rh.timeline.state(_db(ident), rh.now())
    return state if state in RDS_BUSY else None


def _refuse_when_busy(op: str, message: str) -> None:
    def refuse(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
        ident = params.get("DBInstanceIdentifier", "")
        state = _busy(rh, ident)
        if state is None:
            return None
        note(ctx, "RDS refuses snapshots, modifications and reboots until the instance is available")
        return Refusal("InvalidDBInstanceState", message.format(id=ident, state=state))
    model("rds", op, when="before")(refuse)


_refuse_when_busy("CreateDBSnapshot", "Cannot create a snapshot because the database instance {id} is not currently "
                                      "in the available state (it is {state}).")
_refuse_when_busy("ModifyDBInstance", "Database instance {id} is not in available state (it is {state}).")
_refuse_when_busy("RebootDBInstance", "Database instance {id} is not in available state (it is {state}).")


@model("rds", "ModifyDBInstance")
def db_modifying(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    db = parsed.get("DBInstance", {})
    if params.get("ApplyImmediately") and any(k in params for k in RESIZING):
        ident = db.get("DBInstanceIdentifier", "")
        rh.timeline.begin(_db(ident), "modifying", rh.now(), F.point("rds_modify", ident), "rds_modify")
    _db_view(rh, ctx, db)


@model("rds", "RebootDBInstance")
def db_rebooting(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    db = parsed.get("DBInstance", {})
    ident = db.get("DBInstanceIdentifier", "")
    rh.timeline.begin(_db(ident), "rebooting", rh.now(), F.point("rds_reboot", ident), "rds_reboot")
    _db_view(rh, ctx, db)


@model("rds", "DeleteDBInstance", when="before")
def delete_needs_a_finished_instance(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    ident = params.get("DBInstanceIdentifier", "")
    if _gone(rh, ident):
        return Refusal("InvalidDBInstanceState", f"Instance {ident} is already being deleted.")
    if rh.timeline.state(_db(ident), rh.now()) == "creating" and not params.get("SkipFinalSnapshot"):
        return Refusal("InvalidDBInstanceState", f"Instance {ident} is currently creating - a final snapshot cannot "
                                                 f"be taken.")
    return None


@model("rds", "DeleteDBInstance")
def db_deleting(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    db = parsed.get("DBInstance", {})
    ident = db.get("DBInstanceIdentifier", params.get("DBInstanceIdentifier", ""))
    now, seconds = rh.now(), F.point("rds_delete", ident)
    item = {**jsonable(db), "DBInstanceStatus": "deleting"}
    rh.timeline.begin(_db(ident), "deleting", now, seconds, "rds_delete",
                      gone={"start": now, "end": now + seconds, "item": item})
    final = None if params.get("SkipFinalSnapshot") else params.get("FinalDBSnapshotIdentifier")
    if final:
        rh.timeline.begin(f"db_snapshot:{final}", "creating", now, seconds, "rds_delete", reset=True)
    db["DBInstanceStatus"] = "deleting"


@model("rds", "DescribeDBInstances", when="before")
def deleting_instance_still_shows(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    g = _gone(rh, params.get("DBInstanceIdentifier", ""))
    return {"DBInstances": [dict(g["item"])]} if g else None


@model("rds", "DescribeDBInstances")
def db_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    items = parsed.setdefault("DBInstances", [])
    for db in items:
        _db_view(rh, ctx, db)
    if params.get("DBInstanceIdentifier") or params.get("Filters"):
        return
    present, now = {d.get("DBInstanceIdentifier") for d in items}, rh.now()
    for key, entry in rh.timeline.items("db_instance:").items():
        if active(entry.get("gone"), now) and key.split(":", 1)[1] not in present:
            items.append(dict(entry["gone"]["item"]))


@model("rds", "CreateDBSnapshot")
def snapshot_creating(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    snap = parsed.get("DBSnapshot", {})
    ident = snap.get("DBSnapshotIdentifier", "")
    rh.timeline.begin(f"db_snapshot:{ident}", "creating", rh.now(), F.point("rds_snapshot", ident), "rds_snapshot",
                      reset=True)
    _snapshot_view(rh, ctx, snap)


def _snapshot_view(rh: Rehearsal, ctx: Context, snap: dict[str, Any]) -> None:
    key = f"db_snapshot:{snap.get('DBSnapshotIdentifier', '')}"
    now = rh.now()
    for ph in rh.timeline.get(key).get("phases", []):
        if active(ph, now):
            snap["Status"] = ph["state"]
            snap["PercentProgress"] = int(100 * (now - ph["start"]) / max(1.0, ph["end"] - ph["start"]))
            note(ctx, "an RDS snapshot takes AWS minutes: it is `creating` meanwhile")


@model("rds", "DescribeDBSnapshots")
def snapshot_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for snap in parsed.get("DBSnapshots", []):
        _snapshot_view(rh, ctx, snap)


@model("rds", "RestoreDBInstanceFromDBSnapshot", when="before")
def restore_needs_a_finished_snapshot(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> Refusal | None:
    ident = params.get("DBSnapshotIdentifier", "")
    if rh.timeline.state(f"db_snapshot:{ident}", rh.now()) == "creating":
        return Refusal("InvalidDBSnapshotState", f"Snapshot {ident} is not in available state.")
    return None


# ---- NAT gateways -----------------------------------------------------------------------------------------
@model("ec2", "CreateNatGateway")
def nat_pending(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    nat = parsed.get("NatGateway", {})
    nid = nat.get("NatGatewayId", "")
    rh.timeline.begin(f"nat_gateway:{nid}", "pending", rh.now(), F.point("nat_create", nid), "nat_create", reset=True)
    nat["State"] = "pending"


@model("ec2", "DeleteNatGateway")
def nat_deleting(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    nid = params.get("NatGatewayId", "")
    seconds = F.point("nat_delete", nid)
    rh.timeline.begin(f"nat_gateway:{nid}", "deleting", rh.now(), seconds, "nat_delete")
    try:
        nat = plain(ctx, "ec2").describe_nat_gateways(NatGatewayIds=[nid])["NatGateways"][0]
    except (ClientError, IndexError):
        return
    linger(rh, f"nat_gateway:{nid}", f"NAT gateway {nid}", subnets=[nat.get("SubnetId", "")], groups=[],
           vpc=nat.get("VpcId", ""), seconds=max(seconds, F.point("eni_nat", nid)), fact="eni_nat", iface="nat_gateway")


@model("ec2", "DescribeNatGateways")
def nat_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for nat in parsed.get("NatGateways", []):
        state = rh.timeline.state(f"nat_gateway:{nat.get('NatGatewayId', '')}", rh.now())
        if state:
            nat["State"] = state
            note(ctx, "a NAT gateway is pending for 1.5-2 AWS minutes and deleting for about one")


# ---- load balancers -------------------------------------------------------------------------------------
@model("elbv2", "CreateLoadBalancer")
def lb_provisioning(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for lb in parsed.get("LoadBalancers", []):
        arn = lb.get("LoadBalancerArn", "")
        rh.timeline.begin(f"load_balancer:{arn}", "provisioning", rh.now(), F.point("alb_create", arn), "alb_create",
                          reset=True)
        lb["State"] = {"Code": "provisioning"}


@model("elbv2", "DescribeLoadBalancers")
def lb_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for lb in parsed.get("LoadBalancers", []):
        state = rh.timeline.state(f"load_balancer:{lb.get('LoadBalancerArn', '')}", rh.now())
        if state:
            lb["State"] = {"Code": state}
            note(ctx, "a load balancer is provisioning for 2-3 AWS minutes")


@model("elbv2", "DeleteLoadBalancer", when="before")
def lb_interfaces_seen(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> None:
    arn = params.get("LoadBalancerArn", "")
    try:
        lb = plain(ctx, "elbv2").describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    except (ClientError, IndexError):
        return None
    rh.pending[("lb", arn)] = lb
    return None


@model("elbv2", "DeleteLoadBalancer")
def lb_interfaces_linger(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    arn = params.get("LoadBalancerArn", "")
    lb = rh.pending.pop(("lb", arn), None)
    if lb:
        linger(rh, f"load_balancer:{arn}", f"ELB {lb.get('LoadBalancerName', arn)}",
               subnets=[z.get("SubnetId", "") for z in lb.get("AvailabilityZones", [])],
               groups=lb.get("SecurityGroups", []), vpc=lb.get("VpcId", ""), seconds=F.point("eni_alb", arn),
               fact="eni_alb")


# ---- instances --------------------------------------------------------------------------------------------
EC2_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}


def instance_phase(rh: Rehearsal, iid: str, state: str, seconds: float, fact: str, *, start: float | None = None,
                   reset: bool = False) -> float:
    return rh.timeline.begin(f"instance:{iid}", state, rh.now() if start is None else start, seconds, fact,
                             reset=reset)


@model("ec2", "RunInstances")
def instances_pending(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for i in parsed.get("Instances", []):
        instance_phase(rh, i["InstanceId"], "pending", F.point("ec2_running", i["InstanceId"]), "ec2_running", reset=True)
        i["State"] = {"Code": 0, "Name": "pending"}


@model("ec2", "DescribeInstances")
def instance_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    now = rh.now()
    for r in parsed.get("Reservations", []):
        for i in r.get("Instances", []):
            state = rh.timeline.state(f"instance:{i.get('InstanceId', '')}", now)
            if state:
                i["State"] = {"Code": EC2_CODES.get(state, 0), "Name": state}


def instance_places(ctx: Context, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Subnet, VPC, groups and AZ of each instance (what its interface occupies)."""
    if not ids:
        return {}
    try:
        res = plain(ctx, "ec2").describe_instances(InstanceIds=ids)["Reservations"]
    except ClientError:
        return {}
    return {i["InstanceId"]: {"subnet": i.get("SubnetId", ""), "vpc": i.get("VpcId", ""),
                              "groups": [g["GroupId"] for g in i.get("SecurityGroups", [])],
                              "az": i.get("Placement", {}).get("AvailabilityZone", "")}
            for r in res for i in r.get("Instances", [])}


@model("ec2", "TerminateInstances", when="before")
def terminating_seen(rh: Rehearsal, ctx: Context, params: dict[str, Any]) -> None:
    rh.pending[("terminate", tuple(params.get("InstanceIds", [])))] = instance_places(ctx, params.get("InstanceIds", []))
    return None


@model("ec2", "TerminateInstances")
def instances_shutting_down(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    places = rh.pending.pop(("terminate", tuple(params.get("InstanceIds", []))), {})
    for change in parsed.get("TerminatingInstances", []):
        iid = change["InstanceId"]
        shut = F.point("ec2_shutting_down", iid)
        instance_phase(rh, iid, "shutting-down", shut, "ec2_shutting_down")
        change["CurrentState"] = {"Code": 32, "Name": "shutting-down"}
        where = places.get(iid)
        if where:
            linger(rh, f"instance:{iid}", f"instance {iid}", subnets=[where["subnet"]], groups=where["groups"],
                   vpc=where["vpc"], seconds=shut, fact="ec2_shutting_down")


# ---- targets ----------------------------------------------------------------------------------------------
def group_settings(rh: Rehearsal, ctx: Context, tg_arn: str) -> tuple[float, float]:
    """(health-check interval, deregistration delay) of a target group, in AWS seconds."""
    if ("tg", tg_arn) not in rh.cache:
        interval, delay = F.point("target_first_check", tg_arn), F.point("deregistration_delay", tg_arn)
        elb = plain(ctx, "elbv2")
        try:
            tg = elb.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
            interval = float(tg.get("HealthCheckIntervalSeconds") or interval)
            attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(
                TargetGroupArn=tg_arn)["Attributes"]}
            delay = float(attrs.get("deregistration_delay.timeout_seconds", delay))
        except (ClientError, IndexError):
            pass
        rh.cache[("tg", tg_arn)] = (interval, delay)
    return rh.cache[("tg", tg_arn)]


def _target(tg_arn: str, tid: str) -> str:
    return f"target:{tg_arn}|{tid}"


def drain(rh: Rehearsal, ctx: Context, tg_arn: str, tid: str, port: Any = None, start: float | None = None) -> float:
    """A deregistered target drains for its group's deregistration delay; returns when it ends."""
    _, delay = group_settings(rh, ctx, tg_arn)
    return rh.timeline.begin(_target(tg_arn, tid), "draining", rh.now() if start is None else start, delay,
                             "deregistration_delay", tg=tg_arn, id=tid, port=port)


@model("elbv2", "RegisterTargets")
def targets_initial(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    tg = params.get("TargetGroupArn", "")
    interval, _ = group_settings(rh, ctx, tg)
    for t in params.get("Targets", []):
        rh.timeline.begin(_target(tg, t["Id"]), "initial", rh.now(), interval, "target_first_check", reset=True,
                          tg=tg, id=t["Id"], port=t.get("Port"))


@model("elbv2", "DeregisterTargets")
def targets_draining(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    for t in params.get("Targets", []):
        drain(rh, ctx, params.get("TargetGroupArn", ""), t["Id"], t.get("Port"))


REASONS = {"initial": ("Elb.InitialHealthChecking", "Initial health checks in progress"),
           "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress")}


def _target_state(rh: Rehearsal, ctx: Context, tg: str, tid: str, now: float) -> str | None:
    state = rh.timeline.state(_target(tg, tid), now)
    if state:
        return state
    # A group instance is registered when it is InService and is `initial` until its first passing check.
    launch = rh.timeline.get(f"asg_instance:{tid}").get("phases", [])
    if launch and launch[0]["state"] == "Pending":
        interval, _ = group_settings(rh, ctx, tg)
        if now < launch[0]["end"] + interval:
            return "initial"
    return None


@model("elbv2", "DescribeTargetHealth")
def target_states(rh: Rehearsal, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> None:
    tg, now = params.get("TargetGroupArn", ""), rh.now()
    descs = parsed.setdefault("TargetHealthDescriptions", [])
    for d in descs:
        state = _target_state(rh, ctx, tg, d.get("Target", {}).get("Id", ""), now)
        if state:
            reason, text = REASONS.get(state, ("", ""))
            d["TargetHealth"] = {"State": state, "Reason": reason, "Description": text}
            note(ctx, "a target is `initial` until its first passing health check and `draining` for its target "
                      "group's deregistration delay (300 AWS seconds unless set)")
    asked = {t["Id"] for t in params.get("Targets", [])}
    present = {d.get("Target", {}).get("Id") for d in descs}
    for e in rh.timeline.items(f"target:{tg}|").values():
        if e["id"] in present or (asked and e["id"] not in asked):
            continue
        if any(ph["state"] == "draining" and active(ph, now) for ph in e.get("phases", [])):
            reason, text = REASONS["draining"]
            descs.append({"Target": {"Id": e["id"], **({"Port": e["port"]} if e.get("port") else {})},
                          "TargetHealth": {"State": "draining", "Reason": reason, "Description": text}})
