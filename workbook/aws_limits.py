"""What AWS itself allows for the values the workbook passes on, read from botocore's service models
(the same JSON the SDK sends requests with), so a value AWS would refuse is refused before the first
call, with AWS's own limit in the message.

Where a model states a pattern, a length or an enum it is used as stated (translated to ASCII-only
classes where the model's pattern is ASCII: Python's `\\d` and `\\w` match other scripts' digits and
letters, AWS's APIs do not). Where the model says nothing (RDS instance classes, engine versions, SNS
e-mail endpoints) the rule is AWS's documentation of the parameter, and the message says so.
"""
from __future__ import annotations

import difflib
import functools
import re
from typing import Any

import botocore

from . import boto_models


@functools.lru_cache(maxsize=None)
def _shape(service: str, shape: str) -> Any:
    return boto_models.service_model(service).shape_for(shape)


def limits(service: str, shape: str) -> dict[str, Any]:
    """min / max / pattern of one string shape (what the model states; {} when it states nothing)."""
    return dict(_shape(service, shape).metadata)


@functools.lru_cache(maxsize=1)
def instance_types() -> frozenset[str]:
    """Every EC2 instance type the model lists (RunInstances refuses any other)."""
    return frozenset(_shape("ec2", "InstanceType").enum)


def botocore_version() -> str:
    return botocore.__version__


def closest(value: str, choices: frozenset[str] | tuple[str, ...], n: int = 1) -> list[str]:
    return difflib.get_close_matches(value, sorted(choices), n=n, cutoff=0.75)


# ---- patterns, ASCII only ------------------------------------------------------------------------------
# ACM RequestCertificate DomainName: 1-253 characters, labels of letters, digits and hyphens (not at the
# ends), at most 63 each; the workbook takes no wildcard (it names one API) and a TLD of letters.
ACM_DOMAIN = limits("acm", "DomainNameString")
DOMAIN_MAX = int(ACM_DOMAIN["max"])
DOMAIN_RE = re.compile(r"(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}", re.ASCII)
# Route 53 HostedZone Id: the model's ResourceId, at most 32 characters.
ZONE_ID_MAX = int(limits("route53", "ResourceId")["max"])
ZONE_ID_RE = re.compile(r"[A-Z0-9]{2,%d}" % ZONE_ID_MAX, re.ASCII)
# EC2 CreateTags / DescribeInstances tag:Key filters: keys 1-128, values 0-256 characters (EC2 takes any
# Unicode text; the tag is sent as an API parameter, never through a shell).
TAG_KEY_MAX = int(limits("elbv2", "TagKey")["max"])
TAG_VALUE_MAX = int(limits("elbv2", "TagValue")["max"])
# CloudWatch Logs log group names the stack's name goes into: the model's pattern and length.
LOG_GROUP = limits("logs", "LogGroupName")
LOG_GROUP_RE = re.compile(LOG_GROUP["pattern"], re.ASCII)
# SNS e-mail endpoints (no model pattern): an address as SMTP carries it, RFC 5321's limits.
EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:(?!-)[A-Za-z0-9-]{1,63}(?<!-)\.)+[A-Za-z]{2,63}",
                      re.ASCII)
EMAIL_LOCAL_MAX, EMAIL_MAX = 64, 254
# RDS DBInstanceClass (no model pattern; the RDS documentation's form): db.<family>.<size>.
DB_CLASS_RE = re.compile(r"db\.[a-z][a-z0-9-]*\.(?:nano|micro|small|medium|large|[0-9]*xlarge|metal(?:-[0-9]+xl)?)",
                         re.ASCII)
# RDS EngineVersion (no model pattern): PostgreSQL 10 on is major.minor (9.6.x before it), RDS's
# extended-support builds add -rds.YYYYMMDD; MySQL is major.minor[.patch].
ENGINE_VERSION_RE = {
    "postgres": re.compile(r"(?:[1-9][0-9](?:\.[0-9]{1,2})?|9\.[0-9](?:\.[0-9]{1,2})?)(?:-rds\.[0-9]{8})?", re.ASCII),
    "mysql": re.compile(r"[5-9]\.[0-9](?:\.[0-9]{1,3})?", re.ASCII),
}
ENGINE_VERSION_EXAMPLE = {"postgres": "16.4 or 16", "mysql": "8.4 or 8.4.3"}
# EC2 instance ids: i- then 8 or 17 hex digits.
INSTANCE_ID_RE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})", re.ASCII)
ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)
# A named profile: a section name of ~/.aws/config; printable, no control characters (AWS sets no length:
# a name far longer than anything a config file holds is a mistake).
PROFILE_RE = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
