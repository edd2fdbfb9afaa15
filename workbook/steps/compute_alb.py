"""04_compute's Application Load Balancer, its target group and its listeners.

The ALB spans one subnet in each of at least two AZs: the public subnets when it is the way in
(entry=alb), the private app subnets when API Gateway's VPC link reaches it (entry=api_gateway, an
internal ALB). It takes minutes on AWS, so `ensure_load_balancer` starts it and `wait_for_load_balancer`
waits late. Deletion protection and dropping invalid header fields are on.

The listener layout is the step's own: with an ISSUED certificate for domain_name (05_edge requests it)
HTTPS on 443 forwards to the target group and HTTP on 80 redirects to it; without one HTTP on 80
forwards. A rerun after 05_edge upgrades the listeners in place. Listeners go with their load balancer.
"""
from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import WaiterError

from .. import engine, names, progress, tagging
from .. import kinds as K
from ..connect import Context, Resource
from ..params import Params
from .compute_prereq import STEP_ID, Network, PrerequisiteMissing, find_certificate, find_network

SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ALB_ATTRIBUTES = {"deletion_protection.enabled": "true", "routing.http.drop_invalid_header_fields.enabled": "true"}
# How long a deregistered target keeps its in-flight requests (AWS's default: 300 s). The app answers API calls
# in milliseconds to a few seconds, so 30 s lets every request of a retiring instance (scale-in, instance
# refresh, the group's own terminate) finish, without holding it, and a scale-in, for five minutes.
DEREGISTRATION_DELAY_S = 30
TARGET_GROUP_ATTRIBUTES = {"deregistration_delay.timeout_seconds": str(DEREGISTRATION_DELAY_S)}
REDIRECT_TO_HTTPS = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                              "StatusCode": "HTTP_301"}}]


# ---- load balancer --------------------------------------------------------------------------------
def find_load_balancer(ctx: Context) -> engine.Item | None:
    return engine.find_one(ctx, "load_balancer", names.alb(ctx.p))


def alb_scheme(p: Params) -> str:
    return "internet-facing" if p.entry == "alb" else "internal"


def alb_subnets(p: Params, net: Network) -> list[str]:
    """One subnet per AZ. Internet-facing: the public subnets; internal (behind API Gateway's VPC
    link): the private app subnets, since nothing from the internet reaches it directly."""
    pool = net.public_subnets if p.entry == "alb" else net.app_subnets
    per_az: dict[str, str] = {}
    for subnet, az in sorted(pool.items()):
        per_az.setdefault(az, subnet)
    if len(per_az) < 2:
        tier = "public" if p.entry == "alb" else "app"
        raise PrerequisiteMissing(
            f"an Application Load Balancer needs subnets in at least 2 availability zones; stack {p.stack_name!r} "
            f"has {tier} subnets in {len(per_az)} ({', '.join(sorted(per_az)) or 'none'}): rerun 02_network with "
            f"az_count >= 2")
    return list(per_az.values())


def ensure_load_balancer(ctx: Context, *, wait: bool = False) -> Resource:
    """Start creating the ALB (2-3 minutes on AWS) and return at once unless wait; call
    wait_for_load_balancer later so the target group and template are made meanwhile."""
    p, name = ctx.p, names.alb(ctx.p)

    def create() -> dict[str, Any]:
        net = find_network(ctx)
        return {"Name": name, "Subnets": alb_subnets(p, net), "SecurityGroups": [net.alb_sg],
                "Scheme": alb_scheme(p), "Type": "application", "IpAddressType": "ipv4"}
    rec = engine.ensure(ctx, "load_balancer", name, step=STEP_ID, create=create, wait_ready=False)
    if rec.action == "would create":
        return rec
    if rec.action == "created" and not wait:
        progress.started(f"load balancer {name}", "2-3 minutes (up to 30)", "wait_for_load_balancer")
    if rec.item.get("Scheme", alb_scheme(p)) != alb_scheme(p):
        raise PrerequisiteMissing(
            f"load balancer {name} exists as {rec.item['Scheme']} but entry={p.entry!r} needs {alb_scheme(p)}; the "
            f"scheme of a load balancer cannot change: run destroy of 04_compute, then apply again")
    ensure_load_balancer_attributes(ctx, rec)
    if wait and not ctx.dry_run:
        wait_for_load_balancer(ctx)
    return rec


def ensure_load_balancer_attributes(ctx: Context, lb: Resource) -> None:
    """Deletion protection and dropping invalid header fields: set on a new ALB as part of making it;
    on an existing one a drifted attribute is put back and listed."""
    _ensure_attributes(ctx, lb, ALB_ATTRIBUTES, "load_balancer", "LoadBalancerArn")


def _ensure_attributes(ctx: Context, rec: Resource, wanted: dict[str, str], kind: str, arg: str) -> None:
    """`wanted` attributes of a load balancer or target group (`kind`): set on a new one as part of making
    it; on an existing one a drifted attribute is put back and listed."""
    elb = ctx.client("elbv2")
    current = {a["Key"]: a["Value"] for a in getattr(elb, f"describe_{kind}_attributes")(**{arg: rec.id})["Attributes"]}
    change = {k: v for k, v in wanted.items() if current.get(k) != v}
    if change and not ctx.dry_run:
        getattr(elb, f"modify_{kind}_attributes")(**{arg: rec.id}, Attributes=[
            {"Key": k, "Value": v} for k, v in change.items()])
    if rec.action == "created":
        return
    for k, v in change.items():
        ctx.note(STEP_ID, f"{kind}_attribute", f"{rec.name} {k}={v}", rec.id,
                 "would update" if ctx.dry_run else "updated")


class LoadBalancerFailed(RuntimeError):
    """AWS could not set the load balancer up (State.Code failed); the message has AWS's reason."""


def _serves(name: str, state: dict[str, Any]) -> bool:
    """True when it routes traffic (active, or active_impaired: said, with AWS's reason); a failed one raises."""
    code, reason = state.get("Code", ""), state.get("Reason", "")
    if code == "failed":
        raise LoadBalancerFailed(
            f"load balancer {name} failed: {reason or 'AWS gave no reason'}. A failed load balancer does not "
            f"recover: delete it (destroy of 04_compute does), then apply again")
    if code == "active_impaired":
        print(f"note: load balancer {name} is active_impaired: it routes traffic but does not have what it needs "
              f"to scale ({reason or 'AWS gave no reason'})")
    return code in ("active", "active_impaired")


def wait_for_load_balancer(ctx: Context) -> str:
    """Block until the ALB routes traffic (botocore waiter load_balancer_available, which also ends on a
    failed one: LoadBalancerFailed with AWS's reason); returns its DNS name."""
    lb = find_load_balancer(ctx)
    if lb is None:
        return ""
    if not _serves(lb.name, lb.raw.get("State", {})):
        try:
            engine.wait(ctx, K.get("load_balancer"), lb.id, what=f"load balancer {lb.name}")
        except WaiterError as e:
            for found in (e.last_response or {}).get("LoadBalancers", []):
                _serves(lb.name, found.get("State", {}))   # a failed one says why
            raise
        now = ctx.client("elbv2").describe_load_balancers(LoadBalancerArns=[lb.id])["LoadBalancers"]
        _serves(lb.name, now[0].get("State", {}) if now else {})   # active_impaired is said
    return lb.raw["DNSName"]


# ---- target group and listeners -------------------------------------------------------------------
def find_target_group(ctx: Context) -> engine.Item | None:
    return engine.find_one(ctx, "target_group", names.target_group(ctx.p))


def ensure_target_group(ctx: Context) -> Resource:
    """HTTP on app_port, health check on health_check_path expecting 200. 15 s interval, healthy
    after 2 passes, unhealthy after 2 failures: a new instance serves after ~30 s, a dead one is out
    after ~30 s (the defaults, 30 s x 5, take 150 s to bring one back)."""
    p, name = ctx.p, names.target_group(ctx.p)
    rec = engine.ensure(ctx, "target_group", name, step=STEP_ID, create=lambda: {
        "Name": name, "Protocol": "HTTP", "Port": p.app_port, "VpcId": find_network(ctx).vpc_id,
        "TargetType": "instance", "HealthCheckProtocol": "HTTP", "HealthCheckPath": p.health_check_path,
        "HealthCheckPort": "traffic-port", "HealthCheckIntervalSeconds": 15, "HealthCheckTimeoutSeconds": 5,
        "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2, "Matcher": {"HttpCode": "200"}})
    if rec.action != "would create":
        ensure_target_group_attributes(ctx, rec)
    return rec


def ensure_target_group_attributes(ctx: Context, tg: Resource) -> None:
    """The deregistration delay (DEREGISTRATION_DELAY_S, why there): set on a new target group as part of
    making it; on an existing one a drifted value is put back and listed."""
    _ensure_attributes(ctx, tg, TARGET_GROUP_ATTRIBUTES, "target_group", "TargetGroupArn")


def listeners(ctx: Context, lb_arn: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for page in ctx.client("elbv2").get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn):
        for listener in page["Listeners"]:
            out[listener["Port"]] = listener
    return out


def _actions_key(actions: list[dict[str, Any]]) -> str:
    keep = []
    for a in actions:
        if a["Type"] == "forward":
            keep.append(("forward", a.get("TargetGroupArn") or a.get("ForwardConfig", {}).get(
                "TargetGroups", [{}])[0].get("TargetGroupArn")))
        elif a["Type"] == "redirect":
            rc = a["RedirectConfig"]
            keep.append(("redirect", rc.get("Protocol"), str(rc.get("Port")), rc.get("StatusCode")))
        else:
            keep.append((a["Type"],))
    return json.dumps(keep)


def ensure_listeners(ctx: Context) -> list[Resource]:
    """With an ISSUED certificate for domain_name: HTTPS 443 forwarding to the target group and
    HTTP 80 redirecting to it (an existing plain HTTP listener is upgraded). Without: HTTP 80 forwards,
    and verify reports HTTPS as missing."""
    p, elb = ctx.p, ctx.client("elbv2")
    lb, tg = find_load_balancer(ctx), find_target_group(ctx)
    if lb is None or tg is None:
        if ctx.dry_run:
            return [ctx.note(STEP_ID, "listener", f"{names.alb(p)}:80", "", "would create")]
        raise PrerequisiteMissing("create the load balancer and target group first (ensure_load_balancer, "
                                  "ensure_target_group)")
    forward = [{"Type": "forward", "TargetGroupArn": tg.id}]
    cert = find_certificate(ctx)
    current = listeners(ctx, lb.id)
    records: list[Resource] = []

    def put(port: int, protocol: str, actions: list[dict[str, Any]], **extra: Any) -> None:
        label = f"{lb.name}:{port}"
        have = current.get(port)
        if have is None:
            arn = "" if ctx.dry_run else elb.create_listener(
                LoadBalancerArn=lb.id, Port=port, Protocol=protocol, DefaultActions=actions,
                Tags=tagging.tags(p, STEP_ID, label), **extra)["Listeners"][0]["ListenerArn"]
            records.append(ctx.note(STEP_ID, "listener", label, arn, "would create" if ctx.dry_run else "created"))
            return
        same_cert = [c["CertificateArn"] for c in have.get("Certificates", [])] == \
            [c["CertificateArn"] for c in extra.get("Certificates", [])]
        if _actions_key(have["DefaultActions"]) == _actions_key(actions) and have["Protocol"] == protocol and same_cert:
            records.append(ctx.note(STEP_ID, "listener", label, have["ListenerArn"], "exists"))
            return
        if not ctx.dry_run:
            elb.modify_listener(ListenerArn=have["ListenerArn"], Port=port, Protocol=protocol,
                                DefaultActions=actions, **extra)
        records.append(ctx.note(STEP_ID, "listener", label, have["ListenerArn"],
                                "would update" if ctx.dry_run else "updated"))

    if cert:
        put(443, "HTTPS", forward, Certificates=[{"CertificateArn": cert}], SslPolicy=SSL_POLICY)
        from .edge_api import follow_https_listener   # 05's API, if it is on port 80, moves before 80 redirects
        moved = follow_https_listener(ctx)
        records += [moved] if moved is not None and moved.action != "exists" else []
        put(80, "HTTP", REDIRECT_TO_HTTPS)
    else:
        if p.domain_name:
            print(f"note: no ISSUED ACM certificate for {p.domain_name} yet: the load balancer serves plain HTTP on "
                  f"port 80 until 05_edge, which requests the certificate and then calls this step's ensure_listeners "
                  f"(HTTPS on 443, port 80 redirected).")
        else:
            print("note: no domain_name, so no certificate: the load balancer serves plain HTTP on port 80.")
        if 80 in current and _actions_key(current[80]["DefaultActions"]) == _actions_key(REDIRECT_TO_HTTPS) \
                and 443 in current:
            records.append(ctx.note(STEP_ID, "listener", f"{lb.name}:80", current[80]["ListenerArn"], "exists"))
        else:
            put(80, "HTTP", forward)
    return records


def endpoint(ctx: Context) -> str:
    """The URL clients use: https://<domain> when HTTPS is set up, else the ALB's DNS name."""
    lb = find_load_balancer(ctx)
    if lb is None:
        return ""
    if 443 in listeners(ctx, lb.id) and ctx.p.domain_name:
        return f"https://{ctx.p.domain_name}"
    return f"http://{lb.raw['DNSName']}"
