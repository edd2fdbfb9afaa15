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
INSTANCE_TYPE_RE = re.compile(r"^[a-z][a-z0-9-]*\.(nano|micro|small|medium|large|\d*xlarge|metal)$")
DB_CLASS_RE = re.compile(r"^db\.[a-z][a-z0-9-]*\.(micro|small|medium|large|\d*xlarge)$")
# Stack names go into resource names with the tightest rules of the lot: ALB and target group
# names (32 chars, alphanumerics and hyphens, no leading/trailing hyphen) with a suffix of up to
# 12 chars, and RDS identifiers (must start with a letter, no double hyphen).
STACK_NAME_RE = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-)){0,18}[a-z0-9]$")
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z]{2,63}$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
ACCOUNT_RE = re.compile(r"^\d{12}$")
INSTANCE_ID_RE = re.compile(r"^i-[0-9a-f]{8,17}$")
ZONE_ID_RE = re.compile(r"^[A-Z0-9]{2,32}$")  # AWS ids start with Z; moto's do not always
# A target group's HealthCheckPath: botocore's elbv2 model allows 1 to 1,024 characters (no pattern);
# the load balancer requests it as the URL path of its health check, so it must be one: "/" then
# RFC 3986 path and query characters, "%" only as a %XX escape. No spaces, no control characters.
HEALTH_CHECK_PATH_MAX = 1024
HEALTH_CHECK_PATH_RE = re.compile(r"^/(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*$")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
FAULTS = ("none", "stop_dev", "kill_app_instance", "db_failover")


class ParameterError(ValueError):
    """Raised before any AWS call; `problems` maps each bad parameter to what would be valid."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        lines = [f"  {name}: {msg}" for name, msg in problems.items()]
        super().__init__("invalid parameters:\n" + "\n".join(lines))


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
    nat_per_az: bool = field(default=False, metadata=_meta(
        "One NAT gateway per AZ (survives an AZ loss; each one adds its hourly charge, priced in the plan) instead of a single one."))
    # compute
    instance_type: str = field(default="t3.micro", metadata=_meta("Instance type of the app servers."))
    dev_instance_type: str = field(default="t3.small", metadata=_meta("Instance type of the demo dev host."))
    app_port: int = field(default=8080, metadata=_meta("Port the backend listens on.", min=1024, max=65535))
    health_check_path: str = field(default="/health", metadata=_meta("Path the load balancer health-checks."))
    min_capacity: int = field(default=2, metadata=_meta("Auto Scaling group minimum size.", min=1, max=20))
    desired_capacity: int = field(default=2, metadata=_meta("Auto Scaling group desired size.", min=1, max=20))
    max_capacity: int = field(default=4, metadata=_meta("Auto Scaling group maximum size.", min=1, max=20))
    # database
    db_engine: Literal["postgres", "mysql"] = field(default="postgres", metadata=_meta("Engine of the RDS database."))
    db_engine_version: str = field(default="16.4", metadata=_meta("Engine version, e.g. 16.4 (postgres) or 8.0.39 (mysql)."))
    db_instance_class: str = field(default="db.t4g.micro", metadata=_meta("RDS instance class."))
    db_allocated_storage: int = field(default=20, metadata=_meta("Storage in GiB.", min=20, max=65536))
    multi_az: bool = field(default=True, metadata=_meta("Run a standby in a second AZ (about twice the price)."))
    backup_retention_days: int = field(default=7, metadata=_meta(
        "Days of automated backups (1-35; 0 would turn backups off, which production must not do).", min=1, max=35))
    # edge
    domain_name: str = field(default="", metadata=_meta("DNS name of the API, e.g. api.example.com; empty for none."))
    hosted_zone_id: str = field(default="", metadata=_meta("Existing Route 53 zone id; empty creates one."))
    entry: Literal["alb", "api_gateway"] = field(default="alb", metadata=_meta(
        "alb: the load balancer is the way in. api_gateway: an HTTP API in front of an internal ALB."))
    # observability
    alarm_email: str = field(default="", metadata=_meta("E-mail subscribed to alarms; empty for none."))
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
        "Database running on the demo dev host."))
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
    keep_final_snapshot: bool = field(default=True, metadata=_meta("Teardown keeps the database as a final snapshot."))
    teardown_dev: bool = field(default=False, metadata=_meta("Teardown removes the dev environment too."))
    # how to run
    dry_run: bool = field(default=False, metadata=_meta("Only say what would be created."))
    interactive: bool = field(default=False, metadata=_meta("Show forms and buttons (JupyterLab)."))

    def __post_init__(self) -> None:
        # A Params is valid by construction, however it is made (mapping, YAML, replace(), direct):
        # validation happens once, here, at the boundary, and nothing downstream validates again.
        self.validate()

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, strict: bool = True) -> "Params":
        """Build and validate. Unknown keys are an error when strict (a typo must not be ignored)."""
        known = set(cls.names())
        unknown = sorted(k for k in values if k not in known)
        if strict and unknown:
            raise ParameterError({k: f"unknown parameter; known are: {', '.join(sorted(known))}" for k in unknown})
        coerced, problems = {}, {}
        hints = get_type_hints(cls)
        for k, v in values.items():
            if k in known:
                try:
                    coerced[k] = _coerce(v, hints[k])
                except (TypeError, ValueError) as e:
                    problems[k] = str(e)
        if problems:
            raise ParameterError(problems)
        return cls(**coerced)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "Params":
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ParameterError({"params_file": f"{path} must hold a mapping of parameter: value"})
        return cls.from_mapping(data)

    @classmethod
    def from_namespace(cls, ns: Mapping[str, Any]) -> "Params":
        """From a notebook's globals: the parameters cell plus what papermill injected.

        In the workshop (interactive=True) the form's saved values win over the cell's defaults,
        so every notebook picks up what was entered in 00_setup.
        """
        values = {k: ns[k] for k in cls.names() if k in ns}
        if values.get("interactive") and saved_path().exists():
            saved = yaml.safe_load(saved_path().read_text()) or {}
            values.update({k: v for k, v in saved.items() if k in cls.names() and k != "interactive"})
        return cls.from_mapping(values)

    def replace(self, **changes: Any) -> "Params":
        return Params.from_mapping({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | os.PathLike | None = None) -> Path:
        path = Path(path or saved_path())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    # ---- derived --------------------------------------------------------------------------
    @property
    def db_port(self) -> int:
        return DB_PORTS[self.db_engine]

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
            v = getattr(self, f.name)
            choices = get_args(hints[f.name]) if getattr(hints[f.name], "__origin__", None) is Literal else ()
            if choices and v not in choices:
                check(f.name, f"{v!r} is not one of {', '.join(choices)}")
            lo, hi = f.metadata.get("min"), f.metadata.get("max")
            if lo is not None and not (lo <= v <= hi):
                check(f.name, f"{v} is outside {lo}..{hi}")
        if not STACK_NAME_RE.match(self.stack_name):
            check("stack_name", f"{self.stack_name!r}: use 2-20 lowercase letters, digits and single hyphens, "
                                "starting with a letter and not ending with a hyphen")
        if self.region not in REGIONS:
            check("region", f"{self.region!r} is not a known region; known: {', '.join(REGIONS)}")
        nets = {}
        for name in ("vpc_cidr", "dev_vpc_cidr"):
            try:
                net = ipaddress.IPv4Network(getattr(self, name), strict=True)
            except ValueError as e:
                check(name, f"{getattr(self, name)!r} is not a valid IPv4 CIDR ({e})")
                continue
            if not 16 <= net.prefixlen <= 24:
                check(name, f"{net} has prefix /{net.prefixlen}; AWS allows /16 to /28, the workbook needs /16 to /24")
            nets[name] = net
        if len(nets) == 2 and nets["vpc_cidr"].overlaps(nets["dev_vpc_cidr"]):
            check("vpc_cidr", f"{nets['vpc_cidr']} overlaps the dev VPC {nets['dev_vpc_cidr']}; pick a range that does not")
        if "vpc_cidr" in nets and nets["vpc_cidr"].prefixlen + _subnet_bits(self.az_count) > 28:
            check("vpc_cidr", f"{nets['vpc_cidr']} is too small for 3 subnets in each of {self.az_count} AZs")
        if self.multi_az and self.az_count < 2:
            check("az_count", "Multi-AZ needs at least 2 availability zones (az_count >= 2), or set multi_az=False")
        if self.az_count < 2:
            check("az_count", "production needs at least 2 availability zones (2-6); an RDS subnet group and an "
                              "ALB both require two")
        if not self.min_capacity <= self.desired_capacity <= self.max_capacity:
            check("min_capacity", f"need min_capacity <= desired_capacity <= max_capacity, got "
                                  f"{self.min_capacity} <= {self.desired_capacity} <= {self.max_capacity}")
        for name in ("instance_type", "dev_instance_type"):
            if not INSTANCE_TYPE_RE.match(getattr(self, name)):
                check(name, f"{getattr(self, name)!r} is not an EC2 instance type such as t3.micro")
        if not DB_CLASS_RE.match(self.db_instance_class):
            check("db_instance_class", f"{self.db_instance_class!r} is not an RDS class such as db.t4g.micro")
        if not re.match(r"^\d+(\.\d+){0,2}$", self.db_engine_version):
            check("db_engine_version", f"{self.db_engine_version!r} is not a version such as 16.4 or 8.0.39")
        path = self.health_check_path
        if len(path) > HEALTH_CHECK_PATH_MAX:
            check("health_check_path", f"{_shown(path)} is {len(path):,} characters; a target group's health "
                                       f"check path takes at most {HEALTH_CHECK_PATH_MAX:,}")
        elif not HEALTH_CHECK_PATH_RE.match(path):
            check("health_check_path", f"{_shown(path)} must be a URL path starting with /, such as /health: "
                                       "letters, digits, - . _ ~ ! $ & ' ( ) * + , ; = : @ / ? and %XX escapes, no "
                                       "spaces or control characters (what a target group's health check requests)")
        if self.domain_name and not DOMAIN_RE.match(self.domain_name):
            check("domain_name", f"{self.domain_name!r} is not a lowercase DNS name such as api.example.com")
        if self.hosted_zone_id and not ZONE_ID_RE.match(self.hosted_zone_id):
            check("hosted_zone_id", f"{self.hosted_zone_id!r} is not a Route 53 zone id such as Z0123456789ABC")
        if self.hosted_zone_id and not self.domain_name:
            check("domain_name", "hosted_zone_id is set, so domain_name must name a record in that zone")
        if self.entry == "api_gateway" and not self.domain_name:
            pass  # the API's default execute-api endpoint serves; a domain is optional
        if self.alarm_email and not EMAIL_RE.match(self.alarm_email):
            check("alarm_email", f"{self.alarm_email!r} is not an e-mail address such as ops@example.com")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            check("log_retention_days", f"{self.log_retention_days} is not a CloudWatch Logs retention; use one of "
                                        f"{', '.join(map(str, LOG_RETENTION_DAYS))}")
        if self.dev_tag and not re.match(r"^[^=\s][^=]*=.+$", self.dev_tag):
            check("dev_tag", f"{self.dev_tag!r} must be Key=Value, e.g. Name=dev-backend")
        if self.dev_instance_id and not INSTANCE_ID_RE.match(self.dev_instance_id):
            check("dev_instance_id", f"{self.dev_instance_id!r} is not an instance id such as i-0123456789abcdef0")
        if self.target == "aws":
            if not ACCOUNT_RE.match(self.aws_account_id):
                check("aws_account_id", "target=aws needs the 12-digit id of the account to act on "
                                        "(the workbook refuses to act on any other)")
        elif self.aws_account_id and not ACCOUNT_RE.match(self.aws_account_id):
            check("aws_account_id", f"{self.aws_account_id!r} is not a 12-digit account id")
        if self.demo_dev_host == "yes" and self.dev_instance_id:
            check("demo_dev_host", f"yes builds a demo dev host, but dev_instance_id={self.dev_instance_id} names "
                                   "your own: empty dev_instance_id, or set demo_dev_host to no (or auto)")
        if not self.builds_demo_dev_host and not (self.dev_instance_id or self.dev_tag):
            why = "target=aws" if self.target == "aws" and self.demo_dev_host == "auto" else \
                f"demo_dev_host={self.demo_dev_host}"
            check("dev_instance_id", f"{why} needs dev_instance_id or dev_tag to find the dev instance")
        if problems:
            raise ParameterError(problems)
        return self


def _shown(value: Any, limit: int = 60) -> str:
    """A value as a message quotes it: its repr, cut to `limit` characters (a 5 MB value is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _subnet_bits(az_count: int) -> int:
    """Bits needed to carve 3 tiers x az_count subnets (rounded to a power of two)."""
    return max(1, (3 * max(az_count, 1) - 1).bit_length())


def _coerce(value: Any, hint: Any) -> Any:
    """Accept what YAML, papermill, the CLI or a form gives; refuse silently lossy conversions."""
    origin = getattr(hint, "__origin__", None)
    if origin is Literal and isinstance(value, bool) and {"yes", "no"} <= set(get_args(hint)):
        return "yes" if value else "no"   # YAML 1.1 reads an unquoted yes / no as a boolean
    if origin is Literal or hint is str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {value!r}")
        return value.strip()
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise TypeError(f"expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise TypeError(f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip().replace("_", "")):
            return int(value.strip().replace("_", ""))
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def state_dir() -> Path:
    """Where the sandbox and the workshop keep their state (ignored by git)."""
    root = os.environ.get("WORKBOOK_STATE_DIR")
    return Path(root) if root else Path(__file__).resolve().parent.parent / ".sandbox"


def saved_path() -> Path:
    return state_dir() / "params.yaml"


def help_text() -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in fields(Params)}
