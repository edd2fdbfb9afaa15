"""The calls every kind and the engine make alike: error codes, pagination, waiting on a kind's waiter,
retrying the refusals that clear by themselves. Below both (workbook.kinds' hooks use them, and the
engine reads the kinds): nothing here knows the registry of kinds.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from botocore.exceptions import ClientError, WaiterError

from . import progress
from .tagging import STACK as STACK_TAG

if TYPE_CHECKING:
    from .connect import Context
    from .kinds import Kind

NOT_FOUND_CODES = {"NoSuchEntity", "NoSuchBucket", "NoSuchHostedZone", "ResourceNotFoundException",
                   "NotFoundException", "ParameterNotFound", "NotFound", "404", "NoSuchTagSet"}
# Refusals that clear by themselves on AWS (an ENI of a deleted NAT/ALB/VPC link is freed minutes
# later, an RDS group is "in use" until its instance is gone, an instance refuses changes until it
# is available again).
TRANSIENT_CODES = ("DependencyViolation", "ResourceInUse", "ResourceInUseException", "InvalidDBSubnetGroupStateFault",
                   "InvalidDBParameterGroupState", "ConflictException", "InvalidDBInstanceState")
RETRY_DELAY_S = 15.0      # AWS seconds between attempts
RETRY_BUDGET_S = 10 * 60.0
# How long such a refusal can last on AWS, per kind deleted (AWS documentation and provider issue trackers:
# minutes for NAT and ALB interfaces, up to ~20-40 min for Lambda / API Gateway VPC-link interfaces,
# which hold subnets, security groups and so the VPC; an RDS group is in use until its instance's
# 5-10 minute delete ends). Every retry is also bounded by the cell's budget (progress.StillWaiting).
RETRY_BUDGETS_S = {"subnet": 45 * 60.0, "security_group": 45 * 60.0, "vpc": 45 * 60.0,
                   "db_subnet_group": 15 * 60.0, "db_parameter_group": 15 * 60.0, "internet_gateway": 15 * 60.0,
                   "elastic_ip": 10 * 60.0,
                   # ACM calls a certificate in use for 10-20 min after the API custom domain using it is deleted
                   # (aws-cdk #36265, serverless-domain-manager #32)
                   "certificate": 30 * 60.0}
RETRY_ATTEMPTS = int(RETRY_BUDGET_S / RETRY_DELAY_S)   # kept for callers that count attempts
# A new IAM role or instance profile can be refused for seconds to ~10 s after it was created
# (terraform-provider-aws #29323; the EC2 and Auto Scaling "Invalid IAM Instance Profile"): these refusals of a create are retried with backoff for a minute.
PROPAGATION = (("InvalidParameter", "Unable to assume given IAM role"),
               ("InvalidParameterValue", "Invalid IAM Instance Profile"),
               ("ValidationError", "Invalid IAM Instance Profile"),
               # EC2 is eventually consistent (EC2 API guide, "Eventual consistency"): a call that uses an id
               # created a moment ago can be told it does not exist yet
               ("InvalidInternetGatewayID.NotFound", ""), ("InvalidRouteTableID.NotFound", ""),
               ("InvalidAllocationID.NotFound", ""), ("InvalidSubnetID.NotFound", ""),
               ("InvalidGroup.NotFound", ""), ("InvalidNatGatewayID.NotFound", ""))
PROPAGATION_BUDGET_S = 60.0


def code(e: ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def missing(e: ClientError) -> bool:
    c = code(e)
    return c in NOT_FOUND_CODES or c.endswith(("NotFound", "NotFoundFault", "NotFoundException", ".NotFound",
                                                "Malformed"))



# ---- reading ------------------------------------------------------------------------------------
def _dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)] if part.isdigit() else [x for o in obj for x in (o.get(part) or [])]
        else:
            obj = (obj or {}).get(part)
    return obj


def _arg(spec: str, value: Any) -> dict[str, Any]:
    """"VpcIds[]" -> {"VpcIds": [value]}; "VpcId" -> {"VpcId": value}."""
    return {spec[:-2]: [value]} if spec.endswith("[]") else {spec: value}


def _pages(ctx: Context, service: str, op: str, key: str, **kw: Any) -> list[dict[str, Any]]:
    c = ctx.client(service)
    if c.can_paginate(op):
        pages = list(c.get_paginator(op).paginate(**kw))
    else:  # follow NextToken by hand (API Gateway v2's get_vpc_links has no paginator)
        pages, token = [], None
        while True:
            page = getattr(c, op)(**kw, **({"NextToken": token} if token else {}))
            pages.append(page)
            token = page.get("NextToken")
            if not token:
                break
    out: list[dict[str, Any]] = []
    for page in pages:
        got = _dig(page, key)
        out.extend(got or [])
    return out


def _with_stack_filter(kind: Kind, stack: str, args: dict[str, Any]) -> dict[str, Any]:
    """Add the server-side tag filter where the service has one (EC2 and Auto Scaling describes)."""
    if kind.find not in ("ec2", "asg"):
        return args
    key = "Filter" if kind.describe in ("describe_nat_gateways", "describe_flow_logs") else "Filters"
    return {**args, key: [{"Name": f"tag:{STACK_TAG}", "Values": [stack]}] + list(args.get(key, []))}


def wait(ctx: Context, kind: Kind, id_: str, *, deleted: bool = False, what: str = "",
         max_attempts: int | None = None, then: str = "") -> None:
    """The kind's botocore waiter (or its delete waiter), with the workbook's progress bar; bounded by
    the cell's budget too (progress.StillWaiting: it goes on in AWS; `then` says who picks it up)."""
    name, arg = (kind.delete_waiter, kind.delete_waiter_arg) if deleted else (kind.waiter, kind.waiter_arg)
    if not name:
        return
    label = what or f"{kind.label} {id_} {'deleted' if deleted else 'ready'}"
    try:
        progress.wait_for(ctx.client(kind.service), name, label, max_attempts=max_attempts,
                          clock=ctx.clock, then=then, acceptors=() if deleted else kind.waiter_acceptors,
                          **_arg(arg or kind.id, id_))
    except WaiterError as e:
        if deleted and "NotFound" in str(e):
            return  # a deleted resource that vanished is what the wait was for
        raise



# ---- refusals that clear by themselves ----------------------------------------------------------------
def propagating(ctx: Context, fn: Callable[[], Any], what: str, budget_s: float = PROPAGATION_BUDGET_S) -> Any:
    """Call fn; a refusal because a new IAM role or instance profile has not reached the service yet
    is retried with backoff (2, 4, 8 ... s) on the target's clock, for `budget_s` AWS seconds."""
    t0, delay = ctx.clock.now(), 2.0
    while True:
        try:
            return fn()
        except ClientError as e:
            msg = e.response.get("Error", {}).get("Message", "")
            if not any(code(e) == c and m in msg for c, m in PROPAGATION) or ctx.clock.now() - t0 + delay > budget_s:
                raise
            print(f"{what}: {code(e)} ({msg[:80]}): what was just created takes seconds to reach every part of "
                  f"AWS; retrying in {delay:.0f} s")
            ctx.clock.sleep(delay)
            delay = min(delay * 2, 15.0)


def retrying(ctx: Context, fn: Callable[[], Any], what: str, codes: Iterable[str] = TRANSIENT_CODES,
             attempts: int | None = None, delay_s: float = RETRY_DELAY_S, budget_s: float | None = None,
             gone: Iterable[str] = ()) -> Any:
    """Call fn; not-found is done; a refusal that clears by itself is retried every `delay_s` for
    `budget_s` AWS seconds (or `attempts` tries), on the target's clock and within the cell's budget:
    when the cell's time is up first, progress.StillWaiting says so (the refusal clears in AWS
    meanwhile; a rerun retries)."""
    codes = tuple(codes)
    budget = budget_s if budget_s is not None else (attempts * delay_s if attempts else RETRY_BUDGET_S)
    t0 = ctx.clock.now()
    while True:
        try:
            return fn()
        except ClientError as e:
            if (code(e) in gone) if gone else missing(e):   # `gone`: only these codes say "not there"
                return None
            if code(e) not in codes or ctx.clock.now() - t0 + delay_s > budget:
                raise
            left = progress.remaining()
            if left is not None and left < delay_s:
                raise progress.StillWaiting(f"{what}: AWS still answers {code(e)}", ctx.clock.now() - t0,
                                            then="a rerun retries it once AWS has let go") from e
            ctx.clock.sleep(delay_s)
