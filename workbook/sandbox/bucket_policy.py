"""TLS-only bucket policies in the sandbox (the release bucket's, the dump bucket's).

The sandbox's endpoint is plain HTTP, and moto applies a bucket policy's Deny whatever its condition (it
evaluates none), so a statement denying requests without aws:SecureTransport would refuse every upload.
moto also enforces only statements whose Principal is "*": such a statement is kept in moto with its
principal parked in a marker moto does not enforce, and GetBucketPolicy answers it as it was put. The
policy so exists, reads back and can drift like AWS's (and stays in moto's journal across restarts),
without refusing anything. Every other policy is moto's as it is.
"""
from __future__ import annotations

import json
from typing import Any

from ..connect import Context
from .corrections import correct, plain

MARK = "sandbox-not-enforced:"   # a Principal moto does not enforce; what follows is the one put


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    st = doc.get("Statement", [])
    return st if isinstance(st, list) else [st]


def _tls_only(statement: dict[str, Any]) -> bool:
    return "aws:SecureTransport" in json.dumps(statement.get("Condition", {}))


@correct("s3", "PutBucketPolicy", when="before",
         note="a TLS-only bucket policy is kept but not enforced in the sandbox: its endpoint is plain HTTP and "
              "moto would refuse every request under it")
def tls_only_kept_not_enforced(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    try:
        doc = json.loads(str(params.get("Policy", "")))
    except ValueError:
        return None   # moto's own answer to a malformed policy
    if not any(_tls_only(s) for s in _statements(doc)):
        return None
    parked = [{**s, "Principal": MARK + json.dumps(s.get("Principal"))} if _tls_only(s) else s
              for s in _statements(doc)]
    plain(ctx, "s3").put_bucket_policy(Bucket=params["Bucket"], Policy=json.dumps({**doc, "Statement": parked}))
    return {}


@correct("s3", "GetBucketPolicy")
def tls_only_read_back_as_put(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    doc = json.loads(parsed.get("Policy") or "{}")
    parked = [s for s in _statements(doc) if str(s.get("Principal", "")).startswith(MARK)]
    for s in parked:
        s["Principal"] = json.loads(s["Principal"][len(MARK):])
    if parked:
        parsed["Policy"] = json.dumps(doc)
    return False   # said when it is put
