"""Throttling as AWS answers it, so botocore's retry mode is exercised for real.

A configurable share of HTTP requests (each attempt drawn on its own) is answered, in place of the
sandbox's server, with the service's own throttling error in the service's protocol. The answer is
given on botocore's `before-send` event, which takes an HTTP response instead of sending the request:
it is parsed like any answer, so botocore's retry handler sees a throttling error and retries.

- EC2 (ec2 protocol): RequestLimitExceeded, HTTP 503.
- query protocol (RDS, ELB, Auto Scaling, IAM, STS): Throttling, HTTP 400. SNS models its own:
  Throttled, HTTP 429.
- JSON (Logs, ACM, SSM, Secrets Manager, KMS ...): ThrottlingException, HTTP 400. CloudWatch speaks JSON
  in botocore 1.44 with awsQueryCompatible: its query code (Throttling) comes in x-amzn-query-error.
- REST-JSON (API Gateway v2): TooManyRequestsException, HTTP 429. REST-XML: Route 53
  ThrottlingException HTTP 400 (modelled), S3 SlowDown HTTP 503.

botocore sleeps between attempts; that backoff is AWS time too, so here it is slept on the
rehearsal clock (botocore's own standard retry handler still decides whether and how long).
Throttling needs the sandbox's server: with moto's in-process mock the request would be executed
even when the answer says it was not, so the in-process mock is never throttled.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from botocore.awsrequest import AWSResponse
from botocore.retries import standard

from ..connect import Context
from .rehearsal import Rehearsal, note

# service -> (code, HTTP status) where the service models its own; else by protocol below
BY_SERVICE = {"ec2": ("RequestLimitExceeded", 503), "sns": ("Throttled", 429), "s3": ("SlowDown", 503),
              "route53": ("ThrottlingException", 400), "cloudwatch": ("Throttling", 400)}
BY_PROTOCOL = {"query": ("Throttling", 400), "json": ("ThrottlingException", 400),
               "rest-json": ("TooManyRequestsException", 429), "rest-xml": ("Throttling", 400),
               "ec2": ("RequestLimitExceeded", 503)}
MESSAGE = "Rate exceeded"


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answer(service: str, protocol: str, url: str, query_compatible: bool = False) -> AWSResponse:
    """The HTTP response AWS gives a throttled request of this service."""
    code, status = BY_SERVICE.get(service) or BY_PROTOCOL.get(protocol, ("Throttling", 400))
    headers = {"x-amzn-RequestId": "rehearsal-throttle"}
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>Request limit exceeded.</Message></Error>"
                f"</Errors><RequestID>rehearsal-throttle</RequestID></Response>")
        headers["Content-Type"] = "text/xml"
    elif protocol in ("query", "rest-xml"):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{MESSAGE}</Message></Error>"
                f"<RequestId>rehearsal-throttle</RequestId></ErrorResponse>")
        if service == "s3":
            body = f"<Error><Code>{code}</Code><Message>Please reduce your request rate.</Message></Error>"
        headers["Content-Type"] = "text/xml"
    elif protocol == "rest-json":
        body = json.dumps({"message": "Too Many Requests"})
        headers.update({"Content-Type": "application/json", "x-amzn-ErrorType": code})
    else:   # json: the JSON code; a query-compatible service also says its query code
        body = json.dumps({"__type": "ThrottlingException" if query_compatible else code, "message": MESSAGE})
        headers["Content-Type"] = "application/x-amz-json-1.1"
        if query_compatible:
            headers["x-amzn-query-error"] = f"{code};Sender"
    return AWSResponse(url, status, headers, _Raw(body.encode()))


def install(client: Any, ctx: Context, rh: Rehearsal) -> None:
    """Throttle a share of this client's requests (server only) and sleep botocore's backoff on the
    rehearsal clock."""
    model = client.meta.service_model
    sid = model.service_id.hyphenize()
    events = client.meta.events
    _backoff_on_the_clock(client, rh)
    share = rh.settings.throttle
    if share <= 0 or not ctx.endpoint:
        return
    service, protocol = model.service_name, model.resolved_protocol
    query_compatible = "awsQueryCompatible" in model.metadata

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if rh.rng.random() >= share:
            return None
        note(ctx, f"{share:.0%} of calls are throttled as AWS throttles them (botocore retries them)")
        return answer(service, protocol, request.url, query_compatible)
    # First: an answer given here means the request is not sent at all.
    events.register_first(f"before-send.{sid}", throttle)


def _backoff_on_the_clock(client: Any, rh: Rehearsal) -> None:
    """botocore's standard retry handler, its delay slept on the rehearsal clock (AWS time)."""
    config = client.meta.config.retries or {}
    if config.get("mode") != "standard":
        return
    sid = client.meta.service_model.service_id.hyphenize()
    uid = f"retry-config-{sid}"
    events = client.meta.events
    events.unregister(f"needs-retry.{sid}", unique_id=uid)
    kwargs = {"max_attempts": config["total_max_attempts"]} if config.get("total_max_attempts") else {}
    handler = standard.register_retry_handler(client, **kwargs)   # a fresh one: the first is out of reach
    events.unregister(f"needs-retry.{sid}", unique_id=uid)

    def needs_retry(**kwargs: Any) -> float | None:
        delay = handler.needs_retry(**kwargs)
        if delay is None:
            return None
        rh.clock.sleep(delay)
        return 0.0   # retry now: the wait was slept on the clock
    events.register(f"needs-retry.{sid}", needs_retry, unique_id=uid)
