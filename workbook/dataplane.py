"""The data plane: what serves requests and holds the data, reached the same way on both targets.

The control plane (AWS, or moto in the sandbox) says what exists; the data plane is what answers: the dev
instance's app and database, the RDS database, the group's app servers, the load balancer. On a real
account AWS runs all of that; the sandbox runs local stand-ins (`workbook/sandbox/dataplane.py`). Steps,
`dbmove` and `probe` reach it only through `ctx.target.dataplane`, which has the same methods on both:

| method                         | what it gives                                                        |
|--------------------------------|----------------------------------------------------------------------|
| `resolve(ctx)`                 | what the control plane says serves: dev instance, RDS, group, ALB    |
| `start(ctx, **options)`        | makes it serve (sandbox) or shows that it does (AWS): a frame        |
| `endpoint_url(ctx, kind)`      | the URL a client uses: "dev" (the dev app) or "lb" (load balancer)   |
| `fault(ctx, name)`             | the callable a probe calls mid-run to inject fault `name`            |
| `restore(ctx, name, info)`     | undoes what the fault stopped (the dev instance started again)       |
| `fault_settle_s(ctx, name)`    | about how long the fault takes to play out (the probe's length)      |
| `flush()`                      | publishes the metrics gathered so far                                |
| `database_identity(ctx, kind)` | which database server "dev" / "rds" is ("" when it cannot be read)   |
| `move_database(ctx)`           | freeze, dump, stage in S3, restore into RDS, verify (`MoveResult`): the |
|                                | same SSM Run Command path on both (the sandbox runs the commands)    |
| `dev_instance_id(ctx)`         | the dev instance's id                                                |

`AwsDataPlane` is the real account's (`workbook.aws.AwsTarget.dataplane`); the sandbox's is `SandboxDataPlane`
in sandbox/plane.py. Both read the control plane the same way (`DataPlane.resolve`).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from . import names, quoting
from .connect import Context

if TYPE_CHECKING:
    from .dbmove import MoveResult

DB_NAME = "app"   # the app's database, on the dev host and in RDS


class FaultRefused(Exception):
    """A fault that would stop or terminate what the workbook did not create, with no parameter allowing it."""


def _is_stacks(ctx: Context, instance_id: str) -> bool:
    from .dbmove_hosts import is_stacks
    return is_stacks(ctx, instance_id)


def resolves(host: str) -> bool:
    """Whether a name resolves from here (a zone not yet delegated to Route 53 does not)."""
    import socket
    try:
        socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
        return True
    except (OSError, UnicodeError):
        return False


def _certificate_issued(ctx: Context, domain: str) -> bool:
    """An ISSUED ACM certificate for the name in the region (until then HTTPS on it cannot be served)."""
    pages = ctx.client("acm").get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"])
    return any(c.get("DomainName") == domain for page in pages for c in page["CertificateSummaryList"])


def _running_dev(ctx: Context) -> str:
    """The running dev instance (dev_instance_id, else dev_tag; the stack's own first), "" when none."""
    from .inventory.ec2 import find_dev_instances
    running = [i["InstanceId"] for i in find_dev_instances(ctx, ctx.p) if i["State"]["Name"] == "running"]
    return running[0] if running else ""


class DataPlane:
    """The interface (and what both targets share: reading the control plane)."""

    def resolve(self, ctx: Context) -> dict[str, Any]:
        """The dev instance, the RDS instance, the Auto Scaling group with its InService instances and the
        load balancer with its target group's health check, as the control plane describes them; what
        does not exist is None."""
        p = ctx.p
        ec2, rds, asg, elb = (ctx.client(s) for s in ("ec2", "rds", "autoscaling", "elbv2"))
        out: dict[str, Any] = {"dev": None, "rds": None, "asg": None, "lb": None}

        # The dev host as 01_assess finds it (several stacks may share a tag: the stack's own wins), running.
        dev = _running_dev(ctx)
        out["dev"] = {"instance_id": dev} if dev else None

        try:
            db = rds.describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
            ep = db.get("Endpoint") or {}
            out["rds"] = {"id": db["DBInstanceIdentifier"],
                          "endpoint": f"{ep.get('Address', '')}:{ep.get('Port', p.db_port)}",
                          "db_name": db.get("DBName") or DB_NAME, "status": db.get("DBInstanceStatus"),
                          "engine": "mysql" if db.get("Engine") in ("mysql", "mariadb") else "postgres",
                          "master_user": db.get("MasterUsername", ""),
                          "master_secret": (db.get("MasterUserSecret") or {}).get("SecretArn", "")}
        except rds.exceptions.DBInstanceNotFoundFault:
            pass

        groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"]
        if groups:
            g = groups[0]
            out["asg"] = {"name": g["AutoScalingGroupName"], "desired": g["DesiredCapacity"],
                          "instance_ids": sorted(i["InstanceId"] for i in g.get("Instances", [])
                                                 if i.get("LifecycleState") == "InService"),
                          "target_group_arns": g.get("TargetGroupARNs", [])}
        try:
            lbs = elb.describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"]
        except elb.exceptions.LoadBalancerNotFoundException:
            lbs = []
        if lbs:
            lb = lbs[0]
            tgs = [t for page in elb.get_paginator("describe_target_groups").paginate(
                LoadBalancerArn=lb["LoadBalancerArn"]) for t in page["TargetGroups"]]
            tg = next((t for t in tgs if t["TargetGroupName"] == names.target_group(p)), tgs[0] if tgs else None)
            tg = tg or {}
            out["lb"] = {"arn": lb["LoadBalancerArn"], "dns_name": lb.get("DNSName", ""),
                         # CloudWatch's LoadBalancer / TargetGroup dimensions are the ARN suffixes.
                         "lb_dimension": lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1],
                         "tg_dimension": tg["TargetGroupArn"].split(":", 5)[5] if tg else "",
                         "health": {"path": tg.get("HealthCheckPath") or p.health_check_path,
                                    "interval_s": float(tg.get("HealthCheckIntervalSeconds", 30)),
                                    "timeout_s": float(tg.get("HealthCheckTimeoutSeconds", 5)),
                                    "healthy_threshold": int(tg.get("HealthyThresholdCount", 5)),
                                    "unhealthy_threshold": int(tg.get("UnhealthyThresholdCount", 2))}}
        return out

    def dev_instance_id(self, ctx: Context) -> str:
        """dev_instance_id, else the first running instance tagged dev_tag (LookupError when none)."""
        p = ctx.p
        if p.dev_instance_id:
            return p.dev_instance_id
        dev = _running_dev(ctx)
        if dev:
            return dev
        raise LookupError(f"no running instance tagged {p.dev_tag} (dev_tag)")

    def fault(self, ctx: Context, name: str) -> Callable[[], dict[str, Any]] | None:
        """What injecting fault `name` does (None for "none"); `probe.fault_action` validates the name.
        FaultRefused for stop_dev on a dev instance the workbook did not create, unless dev_fault_stop."""
        if name == "none":
            return None
        if name == "stop_dev":
            iid = self.dev_instance_id(ctx)
            if not (ctx.p.dev_fault_stop or _is_stacks(ctx, iid)):
                raise FaultRefused(
                    f"the dev instance {iid} is not the stack's (the workbook did not create it): the stop_dev fault "
                    "does not stop it unless dev_fault_stop=true (it is then started again after the probe)")
        return self._fault(ctx, name)

    def fault_settle_s(self, ctx: Context, name: str) -> float:
        """About how long after fault `name` the service takes to settle, in seconds, so a probe can last
        long enough to show it: the load balancer noticing a dead target (unhealthy threshold x interval
        + timeout, the target group's own figures), an RDS failover (1-2 minutes, AWS's documentation);
        a stopped dev instance does not come back (0: only the outage is measured)."""
        if name == "kill_app_instance":
            h = (self.resolve(ctx)["lb"] or {}).get("health") or {}
            return h.get("unhealthy_threshold", 2) * h.get("interval_s", 30.0) + h.get("timeout_s", 5.0)
        return self._failover_s if name == "db_failover" else 0.0

    _failover_s = 120.0   # AWS: reboot with failover 1-2 minutes

    def restore(self, ctx: Context, name: str, info: dict[str, Any]) -> str:
        """Undo what fault `name` did to what must outlive the probe (the dev instance a stop_dev stopped is
        started again, so it serves and a rerun finds it); what it says it did, "" when nothing."""
        return self._restart_dev(ctx, info) if name == "stop_dev" else ""

    # ---- what each target does its own way --------------------------------------------------------------
    def _restart_dev(self, ctx: Context, info: dict[str, Any]) -> str:
        raise NotImplementedError

    def _fault(self, ctx: Context, name: str) -> Callable[[], dict[str, Any]]:
        raise NotImplementedError

    def start(self, ctx: Context, **options: Any) -> pd.DataFrame:
        raise NotImplementedError

    def endpoint_url(self, ctx: Context, kind: str) -> str:
        raise NotImplementedError

    def flush(self) -> dict[str, int]:
        raise NotImplementedError

    def database_identity(self, ctx: Context, kind: str) -> str:
        raise NotImplementedError

    def move_database(self, ctx: Context) -> "MoveResult":
        """On the instances through SSM Run Command (dbmove.move_with_ssm): AWS runs the commands on a real
        account, the sandbox's data plane runs them on its stand-ins."""
        from . import dbmove
        return dbmove.move_with_ssm(ctx)


class AwsDataPlane(DataPlane):
    """A real account: AWS runs what the workbook created; the workbook only looks and, for the faults
    and the move, uses the documented APIs that cause the same thing."""

    def start(self, ctx: Context, **options: Any) -> pd.DataFrame:
        """The instances serve by themselves: the target group's health as the load balancer sees it.
        (`options` are the sandbox stand-ins' settings; nothing here to set.)"""
        elb = ctx.client("elbv2")
        tg = elb.describe_target_groups(Names=[names.target_group(ctx.p)])["TargetGroups"][0]
        health = elb.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
        return pd.DataFrame([{"instance": h["Target"]["Id"], "port": h["Target"].get("Port"),
                              "state": h["TargetHealth"]["State"], "reason": h["TargetHealth"].get("Reason", "")}
                             for h in health], columns=["instance", "port", "state", "reason"])

    def endpoint_url(self, ctx: Context, kind: str) -> str:
        """Where a client reaches it from the internet now. "dev": the dev instance's public address on the
        port its layout serves (the stack's demo host: names.DEV_HTTP_PORT; yours: app_port). "lb": the way
        in: https://domain_name once its certificate is issued and the name resolves, else the API's own
        endpoint (entry=api_gateway: the ALB is internal) or the ALB's DNS name (entry=alb)."""
        p = ctx.p
        if kind == "dev":
            iid = self.dev_instance_id(ctx)
            inst = ctx.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
            if not inst.get("PublicIpAddress"):
                raise LookupError(f"the dev instance {iid} has no public address to probe from here")
            return quoting.url("http", inst["PublicIpAddress"], names.DEV_HTTP_PORT if _is_stacks(ctx, iid)
                               else p.app_port)
        if p.domain_name and _certificate_issued(ctx, p.domain_name) and resolves(p.domain_name):
            return quoting.url("https", p.domain_name)
        if p.entry == "api_gateway":   # the ALB is internal: the API's own endpoint is the way in
            from urllib.parse import urlsplit

            from . import engine
            api = engine.find_one(ctx, "http_api", names.api(p))
            if api is None or not api.raw.get("ApiEndpoint"):
                raise LookupError(f"no API {names.api(p)} to probe (entry=api_gateway: the load balancer is "
                                  "internal); run 05_edge first")
            return quoting.url("https", urlsplit(api.raw["ApiEndpoint"]).hostname or "")
        lb = ctx.client("elbv2").describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
        return quoting.url("http", lb["DNSName"])

    def _fault(self, ctx: Context, name: str) -> Callable[[], dict[str, Any]]:
        """The documented API that causes the same thing: stop the dev instance; terminate one InService
        group instance and let the group replace it; reboot the database with failover (Multi-AZ)."""
        p = ctx.p
        if name == "stop_dev":
            iid = self.dev_instance_id(ctx)   # found before the probe starts, not during the fault
            return lambda: {"stopped": iid, "at": time.time(),
                            "state": ctx.client("ec2").stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
                            ["CurrentState"]["Name"]}
        if name == "kill_app_instance":
            # A crash: the instance itself is terminated through EC2. The group's own terminate
            # (TerminateInstanceInAutoScalingGroup) would first drain it for the deregistration delay: a
            # graceful retirement, not "an app server dies". The group replaces the dead one either way.
            def kill() -> dict[str, Any]:
                g = ctx.client("autoscaling").describe_auto_scaling_groups(
                    AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
                iid = next(i["InstanceId"] for i in g["Instances"] if i["LifecycleState"] == "InService")
                ctx.client("ec2").terminate_instances(InstanceIds=[iid])
                return {"killed": iid, "at": time.time(),
                        "how": "crash: the instance terminated through EC2, no drain; the group replaces it"}
            return kill
        if name == "db_failover":
            return lambda: {"rebooted": ctx.client("rds").reboot_db_instance(
                DBInstanceIdentifier=names.db_instance(p), ForceFailover=True)["DBInstance"]["DBInstanceIdentifier"],
                "at": time.time()}
        raise KeyError(name)

    def _restart_dev(self, ctx: Context, info: dict[str, Any]) -> str:
        """The instance the fault stopped: once stopped (a start is refused while it is stopping), started, and
        waited for until its status checks pass (booted: its SSM agent, app and database come back with it)."""
        from . import progress
        iid = info.get("stopped")
        if not iid:
            return ""
        ec2 = ctx.client("ec2")
        progress.wait_for(ec2, "instance_stopped", f"the dev instance {iid} stopped", clock=ctx.clock,
                          InstanceIds=[iid])
        ec2.start_instances(InstanceIds=[iid])
        progress.wait_for(ec2, "instance_running", f"the dev instance {iid} running again", clock=ctx.clock,
                          InstanceIds=[iid])
        progress.wait_for(ec2, "instance_status_ok", f"the dev instance {iid} booted (status checks)",
                          clock=ctx.clock, then="a rerun of this cell", InstanceIds=[iid])
        return f"{iid} started again (running, status checks passed)"

    def flush(self) -> dict[str, int]:
        """AWS publishes its own metrics: nothing is held back here."""
        return {"calls": 0, "datums": 0}

    def database_identity(self, ctx: Context, kind: str) -> str:
        """Neither database is reachable from the workbook's machine (private subnet, the dev host's
        firewall): "" - the cutover then shows what the app itself reports."""
        return ""
