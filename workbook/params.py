"""One typed, validated parameter set.

The papermill `parameters` cell, a YAML file, the CLI and the workshop form all feed `Params`;
`validate()` runs before any AWS call and reports every bad value at once, each naming the
parameter and what would be valid.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Mapping, get_args, get_type_hints

import yaml

from . import aws_limits as aws
from .params_io import ParameterError, coerce, load_yaml, shown

__all__ = ["Params", "ParameterError", "REGIONS", "DB_ENGINES", "DB_PORTS", "FAULTS", "LOG_RETENTION_DAYS",
           "state_dir", "saved_path", "help_text"]

# Regions the workbook knows prices and AZ names for; real AWS has more, but an unknown
# region is far more often a typo than a new region.
REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
    "ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2",
    "sa-east-1",
)
DB_ENGINES = ("postgres", "mysql")
DB_PORTS = {"postgres": 5432, "mysql": 3306}
# A major: the newest minor RDS offers for new instances is resolved before the create (steps/database.py)
# MySQL 8.4 (LTS): RDS for MySQL 8.0 left standard support on 2026-07-31, and a new 8.0 instance is billed
# RDS Extended Support from the start.
ENGINE_DEFAULT_VERSION = {"postgres": "16", "mysql": "8.4"}
DB_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", re.ASCII)
# Every pattern here is matched whole (fullmatch: `$` would let a trailing newline through) with ASCII
# classes only (`\d` matches other scripts' digits; AWS's APIs do not).
INSTANCE_TYPE_RE = re.compile(r"[a-z][a-z0-9-]*\.(?:nano|micro|small|medium|large|[0-9]*xlarge|metal(?:-[0-9]+xl)?)",
                              re.ASCII)
# Stack names go into resource names with the tightest rules of the lot: ALB and target group
# names (32 chars, alphanumerics and hyphens, no leading/trailing hyphen) with a suffix of up to
# 12 chars, and RDS identifiers (must start with a letter, no double hyphen).
STACK_NAME_RE = re.compile(r"[a-z](?:[a-z0-9]|-(?!-)){0,18}[a-z0-9]", re.ASCII)
# A target group's HealthCheckPath: botocore's elbv2 model allows 1 to 1,024 characters (no pattern);
# the load balancer requests it as the URL path of its health check, so it must be one: "/" then
# RFC 3986 path and query characters, "%" only as a %XX escape. No spaces, no control characters.
HEALTH_CHECK_PATH_MAX = int(aws.limits("elbv2", "Path")["max"])
HEALTH_CHECK_PATH_RE = re.compile(r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*", re.ASCII)
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
FAULTS = ("none", "stop_dev", "kill_app_instance", "db_failover")
# Identifiers AWS spells in lowercase: another case means the same thing, so it is normalised.
LOWERCASE = ("region", "instance_type", "dev_instance_type", "db_instance_class", "domain_name")
AUTO = ("domain_name", "alarm_email")   # parameters whose "auto" Params resolves from target and stack_name


def _meta(help: str, **kw: Any) -> dict[str, Any]:
    return {"help": help, **kw}


@dataclass(frozen=True)
class Params:
    # where the calls go
    stack_name: str = field(default="demo", metadata=_meta(
        "Name of the production stack; goes into every resource name and the workbook:stack tag."))
    target: Literal["sandbox", "aws"] = field(default="sandbox", metadata=_meta(
        "sandbox: local emulator, no AWS account. aws: a real account (costs money)."))
    region: str = field(default="us-east-1", metadata=_meta("AWS region."))
    aws_profile: str = field(default="", metadata=_meta(
        "Named profile for target=aws; empty uses the default credential chain."))
    aws_account_id: str = field(default="", metadata=_meta(
        "target=aws only acts when this equals the caller's account id."))
    # network
    az_count: int = field(default=2, metadata=_meta("Availability zones to spread over (2-6).", min=1, max=6))
    vpc_cidr: str = field(default="10.20.0.0/16", metadata=_meta("CIDR of the new production VPC (/16 to /24)."))
    dev_vpc_cidr: str = field(default="172.31.0.0/16", metadata=_meta(
        "CIDR of the dev VPC; the production VPC must not overlap it (the default VPC is 172.31.0.0/16)."))
    nat_per_az: bool = field(default=True, metadata=_meta(
        "One NAT gateway per AZ (survives an AZ loss; each one adds its hourly charge, priced in the plan) instead of a single one."))
    # compute
    instance_type: str = field(default="t3.micro", metadata=_meta("Instance type of the app servers."))
    dev_instance_type: str = field(default="t3.small", metadata=_meta("Instance type of the demo dev host."))
    app_port: int = field(default=8080, metadata=_meta("Port the backend listens on.", min=1024, max=65535))
    health_check_path: str = field(default="/health", metadata=_meta("Path the load balancer health-checks."))
    min_capacity: int = field(default=2, metadata=_meta("Auto Scaling group minimum size.", min=1, max=20))
    desired_capacity: int = field(default=2, metadata=_meta(
        "Auto Scaling group size it starts with (a rerun keeps the size scaling gave it, within min and max).",
        min=1, max=20))
    max_capacity: int = field(default=4, metadata=_meta("Auto Scaling group maximum size.", min=1, max=20))
    # database
    db_engine: Literal["auto", "postgres", "mysql"] = field(default="auto", metadata=_meta(
        "Engine of the RDS database. auto: the engine the dev host runs (the demo host's dev_db_engine, or what "
        "01_assess finds on yours), since the move copies the dev database as it is."))
    db_engine_version: str = field(default="", metadata=_meta(
        "Engine version: a major (16 postgres, 8.4 mysql) takes the newest minor RDS offers for new instances; a full "
        "version (16.9) is used only while RDS offers it; empty: the engine's major (16 postgres, 8.4 mysql; 8.0 is billed RDS Extended Support)."))
    db_instance_class: str = field(default="db.t4g.micro", metadata=_meta("RDS instance class."))
    db_allocated_storage: int = field(default=20, metadata=_meta("Storage in GiB.", min=20, max=65536))
    multi_az: bool = field(default=True, metadata=_meta("Run a standby in a second AZ (about twice the price)."))
    backup_retention_days: int = field(default=7, metadata=_meta(
        "Days of automated backups (1-35; 0 would turn backups off, which production must not do).", min=1, max=35))
    # edge
    domain_name: str = field(default="auto", metadata=_meta(
        "DNS name of the API, e.g. api.example.com; empty for none. auto: api.<stack_name>.example in the sandbox "
        "(its zone and certificate are made there), none on a real account (a domain must be yours and delegated)."))
    hosted_zone_id: str = field(default="", metadata=_meta("Existing Route 53 zone id; empty creates one."))
    entry: Literal["alb", "api_gateway"] = field(default="api_gateway", metadata=_meta(
        "alb: the load balancer is the way in. api_gateway: an HTTP API in front of an internal ALB."))
    # observability
    alarm_email: str = field(default="auto", metadata=_meta(
        "E-mail subscribed to alarms; empty for none. auto: ops@<stack_name>.example in the sandbox, none on a real "
        "account (only you know who should be woken up)."))
    log_retention_days: int = field(default=30, metadata=_meta("CloudWatch Logs retention.", min=1, max=3653))
    # the dev environment ("before")
    dev_instance_id: str = field(default="", metadata=_meta("Your dev instance (i-...); empty finds it by dev_tag."))
    dev_tag: str = field(default="Name=dev-backend", metadata=_meta("Tag Key=Value that finds the dev instance."))
    demo_dev_host: Literal["auto", "yes", "no"] = field(default="auto", metadata=_meta(
        "Whether 00_setup builds a demo dev host (one instance with its database, open to the internet) or "
        "finds yours. auto: build it in the sandbox when dev_instance_id is empty, never on a real account. "
        "yes: build it (on a real account too: it costs money and is open to the internet). no: only find "
        "yours, by dev_instance_id or dev_tag."))
    dev_db_engine: Literal["postgres", "mysql"] = field(default="postgres", metadata=_meta(
        "Database running on the dev host: the demo host's; for yours, what 01_assess takes it to run "
        "when no tag or open port shows one (a database on localhost)."))
    dev_db_name: str = field(default="app", metadata=_meta("The dev host's database that 08 moves into RDS."))
    dev_attach_profile: bool = field(default=False, metadata=_meta(
        "Let 08 attach an instance profile (SSM agent + upload of the dump) to a dev host the workbook did not "
        "create and that has none, for the move only: it is detached afterwards."))
    dev_fault_stop: bool = field(default=False, metadata=_meta(
        "Let 08's 'before' probe stop a dev instance the workbook did not create (the stop_dev fault); it is "
        "started again after the probe. Off: that probe runs without the fault and says so."))
    dev_elastic_ip: bool = field(default=False, metadata=_meta("Demo dev host layout: it has an Elastic IP."))
    dev_split_security_groups: bool = field(default=False, metadata=_meta(
        "Demo dev host layout: its rules are split over two security groups (web and database)."))
    # evidence
    probe_rate: int = field(default=40, metadata=_meta("Requests per second the probe sends.", min=1, max=500))
    probe_seconds: int = field(default=10, metadata=_meta("Seconds each probe run lasts.", min=2, max=600))
    fault: Literal["none", "stop_dev", "kill_app_instance", "db_failover"] = field(default="kill_app_instance", metadata=_meta(
        "Fault injected during the probe runs."))
    sample_rows: int = field(default=100_000, metadata=_meta("Rows seeded into the dev database.", min=100, max=10_000_000))
    # teardown
    keep_final_snapshot: bool = field(default=True, metadata=_meta("Teardown keeps the database as a final snapshot (an earlier teardown's is always kept)."))
    teardown_dev: bool = field(default=False, metadata=_meta("Teardown removes the dev environment too."))
    # how to run
    dry_run: bool = field(default=False, metadata=_meta("Only say what would be created."))
    interactive: bool = field(default=False, metadata=_meta("Show forms and buttons (JupyterLab)."))

    def __post_init__(self) -> None:
        # "auto" is resolved here, once, like demo_dev_host: every step reads the concrete value. to_dict()
        # gives "auto" back, so a copy with another stack_name or target resolves again.
        auto = tuple(n for n in AUTO if getattr(self, n) == "auto")
        object.__setattr__(self, "_auto", auto)
        for name in auto:
            object.__setattr__(self, name, self.auto_value(name))
        # A Params is valid by construction, however it is made (mapping, YAML, replace(), direct):
        # validation happens once, here, at the boundary, and nothing downstream validates again.
        self.validate()

    def auto_value(self, name: str) -> str:
        """What "auto" means for `name`. The sandbox gets the whole article (a domain of its own under the
        reserved .example TLD, with its zone and an issued certificate; an alarm address). A real account
        gets none: a domain must be registered to you and delegated to Route 53 before ACM can validate it,
        and an alarm address must be someone's; a guessed one would cost money and never work."""
        if self.target != "sandbox":
            return ""
        return {"domain_name": f"api.{self.stack_name}.example", "alarm_email": f"ops@{self.stack_name}.example"}[name]

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = True) -> "Params":
        """Build and validate. Unknown keys are an error when strict (a typo must not be ignored)."""
        known = cls.names()
        unknown = [k for k in values if k not in known]
        if strict and unknown:
            raise ParameterError({k: unknown_message(k) for k in unknown})
        coerced, problems = {}, {}
        hints = get_type_hints(cls)
        for k, v in values.items():
            if k in known:
                try:
                    coerced[k] = coerce(k, v, hints[k])
                except (TypeError, ValueError) as e:
                    problems[k] = str(e)
                else:
                    if k in LOWERCASE and isinstance(coerced[k], str) and coerced[k].isascii():
                        coerced[k] = coerced[k].lower()
        if problems:
            raise ParameterError(problems)
        if "db_engine_version" not in coerced and coerced.get("db_engine") in ENGINE_DEFAULT_VERSION:
            # an engine named without a version: that engine's default, not the other engine's
            coerced["db_engine_version"] = ENGINE_DEFAULT_VERSION[coerced["db_engine"]]
        if coerced.get("domain_name", "").endswith("."):
            coerced["domain_name"] = coerced["domain_name"][:-1]   # the root's dot: the same name
        return cls(**coerced)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "Params":
        """From a YAML file of name: value; a file that is not one is refused naming the file."""
        return cls.from_mapping(load_yaml(path))

    @classmethod
    def from_namespace(cls, ns: Mapping[str, Any]) -> "Params":
        """From a notebook's globals: the parameters cell plus what papermill injected.

        In the workshop (interactive=True) the form's saved values win over the cell's defaults,
        so every notebook picks up what was entered in 00_setup.
        """
        values = {k: ns[k] for k in cls.names() if k in ns}
        if values.get("interactive") is True and saved_path().exists():
            saved = load_yaml(saved_path(), label="saved form")
            values.update({k: v for k, v in saved.items() if k in cls.names() and k != "interactive"})
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> "Params":
        return Params.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The parameters as given ("auto" stays "auto"; the attribute holds what it resolved to)."""
        return {**dataclasses.asdict(self), **{name: "auto" for name in getattr(self, "_auto", ())}}

    def save(self, path: str | os.PathLike | None = None) -> Path:
        path = Path(path or saved_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    # ---- derived --------------------------------------------------------------------------
    @property
    def rds_engine(self) -> str:
        """The RDS engine: db_engine, or with auto the dev host's (the demo host's dev_db_engine until the
        dev host is read: dbengine.settle puts what your host runs into db_engine)."""
        return self.dev_db_engine if self.db_engine == "auto" else self.db_engine

    @property
    def rds_engine_version(self) -> str:
        return self.db_engine_version or ENGINE_DEFAULT_VERSION[self.rds_engine]

    @property
    def db_port(self) -> int:
        return DB_PORTS[self.rds_engine]

    @property
    def dev_db_port(self) -> int:
        return DB_PORTS[self.dev_db_engine]

    @property
    def builds_demo_dev_host(self) -> bool:
        """00_setup builds the demo dev host (True) or only finds the user's (False): decided here, once,
        from demo_dev_host. "auto" builds it only in the sandbox and only when no dev_instance_id names
        a host of the user's; on a real account the workbook never builds one unless told "yes"."""
        if self.demo_dev_host == "auto":
            return self.target == "sandbox" and not self.dev_instance_id
        return self.demo_dev_host == "yes"

    def name(self, suffix: str) -> str:
        """Resource name: <stack>-<suffix>, e.g. demo-vpc."""
        return f"{self.stack_name}-{suffix}"

    # ---- validation -----------------------------------------------------------------------
    def validate(self) -> "Params":
        problems: dict[str, str] = {}
        check = problems.setdefault
        hints = get_type_hints(type(self))
        for f in fields(self):
            v, hint = getattr(self, f.name), hints[f.name]
            want = str if getattr(hint, "__origin__", None) is Literal else hint
            if type(v) is not want:   # made directly with a wrong type: nothing below may compare it
                check(f.name, f"expected {'text' if want is str else want.__name__}, got {shown(v)}")
                continue
            choices = get_args(hint) if want is str and hint is not str else ()
            if choices and v not in choices:
                check(f.name, f"{shown(v)} is not one of {', '.join(choices)}")
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            if lo is not None and not (lo <= v <= hi):
                check(f.name, f"{shown(v)} is outside {lo}..{hi}")
        if problems:   # the checks below read every value as its type
            raise ParameterError(problems)
        self._check_names(check)
        self._check_network(check)
        self._check_compute(check)
        self._check_database(check)
        self._check_edge(check)
        self._check_dev(check)
        if problems:
            raise ParameterError(problems)
        return self

    def _check_names(self, check: Any) -> None:
        if not STACK_NAME_RE.fullmatch(self.stack_name):
            check("stack_name", f"{shown(self.stack_name)}: use 2-20 lowercase letters, digits and single hyphens, "
                                "starting with a letter and not ending with a hyphen")
        if self.region not in REGIONS:
            check("region", f"{shown(self.region)} is not a known region; known: {', '.join(REGIONS)}")
        if self.aws_profile and not aws.PROFILE_RE.fullmatch(self.aws_profile):
            check("aws_profile", f"{shown(self.aws_profile)} is not a profile name of ~/.aws/config (at most 128 "
                                 "characters, no control characters)")
        if self.target == "aws":
            if not aws.ACCOUNT_RE.fullmatch(self.aws_account_id):
                check("aws_account_id", f"target=aws needs the 12-digit id of the account to act on (the workbook "
                                        f"refuses to act on any other); got {shown(self.aws_account_id)}")
        elif self.aws_account_id and not aws.ACCOUNT_RE.fullmatch(self.aws_account_id):
            check("aws_account_id", f"{shown(self.aws_account_id)} is not a 12-digit account id")

    def _check_network(self, check: Any) -> None:
        nets = {}
        for name in ("vpc_cidr", "dev_vpc_cidr"):
            value = getattr(self, name)
            try:
                if not value.isascii():
                    raise ValueError("only ASCII digits")
                net = ipaddress.IPv4Network(value, strict=True)
            except ValueError as e:
                check(name, f"{shown(value)} is not a valid IPv4 CIDR ({shown(str(e), 80).strip(chr(39))})")
                continue
            if not 16 <= net.prefixlen <= 24:
                check(name, f"{net} has prefix /{net.prefixlen}; AWS allows /16 to /28, the workbook needs /16 to /24")
            nets[name] = net
        if len(nets) == 2 and nets["vpc_cidr"].overlaps(nets["dev_vpc_cidr"]):
            check("vpc_cidr", f"{nets['vpc_cidr']} overlaps the dev VPC {nets['dev_vpc_cidr']}; pick a range that does not")
        if "vpc_cidr" in nets and nets["vpc_cidr"].prefixlen + _subnet_bits(self.az_count) > 28:
            check("vpc_cidr", f"{nets['vpc_cidr']} is too small for 3 subnets in each of {self.az_count} AZs")
        if self.az_count < 2:
            # one message whatever multi_az says: turning Multi-AZ off would not make one AZ valid
            check("az_count", "production needs at least 2 availability zones (2-6): an RDS subnet group, an ALB "
                              "and a Multi-AZ standby each need two")

    def _check_compute(self, check: Any) -> None:
        # the one out of line is named: min above desired blames min_capacity, desired above max desired_capacity
        if self.min_capacity > self.desired_capacity:
            check("min_capacity", f"{self.min_capacity} is above desired_capacity {self.desired_capacity}; need "
                                  f"min_capacity <= desired_capacity <= max_capacity")
        elif self.desired_capacity > self.max_capacity:
            check("desired_capacity", f"{self.desired_capacity} is above max_capacity {self.max_capacity}; need "
                                      f"min_capacity <= desired_capacity <= max_capacity")
        for name in ("instance_type", "dev_instance_type"):
            value = getattr(self, name)
            if not INSTANCE_TYPE_RE.fullmatch(value) or value not in aws.instance_types():
                near = aws.closest(value, aws.instance_types()) if value.isascii() and len(value) < 40 else []
                hint = f"; did you mean {near[0]}?" if near else " such as t3.micro"
                check(name, f"{shown(value)} is not an EC2 instance type{hint} (botocore "
                            f"{aws.botocore_version()} lists {len(aws.instance_types()):,})")
        path = self.health_check_path
        if len(path) > HEALTH_CHECK_PATH_MAX:
            check("health_check_path", f"{shown(path)} is {len(path):,} characters; a target group's health "
                                       f"check path takes at most {HEALTH_CHECK_PATH_MAX:,}")
        elif not HEALTH_CHECK_PATH_RE.fullmatch(path):
            check("health_check_path", f"{shown(path)} must be a URL path starting with /, such as /health: "
                                       "letters, digits, - . _ ~ ! $ & ' ( ) * + , ; = : @ / ? and %XX escapes, no "
                                       "spaces or control characters (what a target group's health check requests)")

    def _check_database(self, check: Any) -> None:
        cls = self.db_instance_class
        if not aws.DB_CLASS_RE.fullmatch(cls):
            fix = f"db.{cls}" if INSTANCE_TYPE_RE.fullmatch(cls) else "db.t4g.micro"
            check("db_instance_class", f"{shown(cls)} is not an RDS instance class; RDS classes start with db., "
                                       f"e.g. {fix}")
        version, engine = self.db_engine_version, self.rds_engine
        if version and not aws.ENGINE_VERSION_RE[engine].fullmatch(version):
            check("db_engine_version", f"{shown(version)} is not a {engine} version such as "
                                       f"{aws.ENGINE_VERSION_EXAMPLE[engine]}")

    def _check_edge(self, check: Any) -> None:
        d = self.domain_name
        if d and len(d) > aws.DOMAIN_MAX:
            check("domain_name", f"{shown(d)} is {len(d):,} characters; a certificate's domain name takes at most "
                                 f"{aws.DOMAIN_MAX} (ACM)")
        elif d and any(len(label) > 63 for label in d.split(".")):
            check("domain_name", f"{shown(d)} has a label over 63 characters (DNS allows 63 between dots)")
        elif d and not aws.DOMAIN_RE.fullmatch(d):
            check("domain_name", f"{shown(d)} is not a DNS name such as api.example.com: ASCII letters, digits and "
                                 "hyphens between dots (an internationalised name in its xn-- form)")
        z = self.hosted_zone_id
        if z and not aws.ZONE_ID_RE.fullmatch(z):
            check("hosted_zone_id", f"{shown(z)} is not a Route 53 zone id such as Z0123456789ABC (upper-case "
                                    f"letters and digits, at most {aws.ZONE_ID_MAX})")
        if z and not d:
            check("domain_name", "hosted_zone_id is set, so domain_name must name a record in that zone")
        e = self.alarm_email
        if e and (len(e) > aws.EMAIL_MAX or len(e.partition("@")[0]) > aws.EMAIL_LOCAL_MAX):
            check("alarm_email", f"{shown(e)} is too long for an e-mail address (at most {aws.EMAIL_LOCAL_MAX} "
                                 f"characters before the @, {aws.EMAIL_MAX} in all)")
        elif e and not aws.EMAIL_RE.fullmatch(e):
            check("alarm_email", f"{shown(e)} is not an e-mail address such as ops@example.com")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            check("log_retention_days", f"{self.log_retention_days} is not a CloudWatch Logs retention; use one of "
                                        f"{', '.join(map(str, LOG_RETENTION_DAYS))}")

    def _check_dev(self, check: Any) -> None:
        if self.dev_tag:
            key, eq, value = self.dev_tag.partition("=")
            if not eq or not key.strip() or not value or re.search(r"[\x00-\x1f\x7f]", self.dev_tag):
                check("dev_tag", f"{shown(self.dev_tag)} must be Key=Value, e.g. Name=dev-backend")
            elif len(key) > aws.TAG_KEY_MAX or len(value) > aws.TAG_VALUE_MAX:
                check("dev_tag", f"{shown(self.dev_tag)}: a tag key takes at most {aws.TAG_KEY_MAX} characters and a "
                                 f"value at most {aws.TAG_VALUE_MAX} (key {len(key):,}, value {len(value):,})")
        if self.dev_instance_id and not aws.INSTANCE_ID_RE.fullmatch(self.dev_instance_id):
            check("dev_instance_id", f"{shown(self.dev_instance_id)} is not an instance id such as i-0123456789abcdef0")
        if not DB_NAME_RE.fullmatch(self.dev_db_name):
            check("dev_db_name", f"{shown(self.dev_db_name)} is not a database name such as app (letters, digits, _ "
                                 "and $, starting with a letter or _, at most 63)")
        if self.builds_demo_dev_host and self.db_engine not in ("auto", self.dev_db_engine):
            check("db_engine", f"{self.db_engine}, but the demo dev host runs {self.dev_db_engine} (dev_db_engine): the "
                               "move copies the dev database as it is, so RDS runs the same engine; set db_engine to "
                               f"auto or {self.dev_db_engine}")
        if self.demo_dev_host == "yes" and self.dev_instance_id:
            check("demo_dev_host", f"yes builds a demo dev host, but dev_instance_id={self.dev_instance_id} names "
                                   "your own: empty dev_instance_id, or set demo_dev_host to no (or auto)")
        if not self.builds_demo_dev_host and not (self.dev_instance_id or self.dev_tag):
            why = "target=aws" if self.target == "aws" and self.demo_dev_host == "auto" else \
                f"demo_dev_host={self.demo_dev_host}"
            check("dev_instance_id", f"{why} needs dev_instance_id or dev_tag to find the dev instance")


def unknown_message(name: Any) -> str:
    near = aws.closest(name, tuple(Params.names())) if isinstance(name, str) and len(name) < 60 else []
    hint = f"did you mean {near[0]}? " if near else ""
    return f"unknown parameter; {hint}`python -m workbook params` lists the known ones"


def _subnet_bits(az_count: int) -> int:
    """Bits needed to carve 3 tiers x az_count subnets (rounded to a power of two)."""
    return max(1, (3 * max(az_count, 1) - 1).bit_length())


def state_dir() -> Path:
    """Where the sandbox and the workshop keep their state (ignored by git)."""
    root = os.environ.get("WORKBOOK_STATE_DIR")
    return Path(root) if root else Path(__file__).resolve().parent.parent / ".sandbox"


def saved_path() -> Path:
    return state_dir() / "params.yaml"


def help_text() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in fields(Params)}
