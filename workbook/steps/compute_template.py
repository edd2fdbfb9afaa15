"""04_compute's launch template: what every app server starts from, and the boot script it runs.

The template: Amazon Linux 2023 from AWS's public SSM parameter for instance_type's architecture (or an
AMI made from the dev instance, `ensure_image_from_dev`, of an architecture that type runs), the app
security group on an interface without a public IP, IMDSv2 required with a hop limit of 1, an encrypted
gp3 root volume, the instance profile, detailed monitoring, and the boot script below. A rerun that would
launch something different (a new AMI, the database now known) adds a template version instead of a
second template; the group launches `$Latest`.

The boot script installs the backend (workbook/backend, started by systemd) and the CloudWatch agent.
No parameter is ever part of its text (issue 13: a value once ended a heredoc early and ran as root):
see `user_data`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from typing import Any

from botocore.exceptions import ClientError

from .. import engine, names, tagging
from ..connect import Context, Resource
from ..inventory import ec2 as ec2_inventory
from ..params import ParameterError, Params
from .compute_prereq import STEP_ID, Network, PrerequisiteMissing, db_endpoint, db_secret_arn, find_network

# The public SSM parameters AWS keeps pointing at the latest Amazon Linux 2023 AMI, one per processor
# architecture: a Graviton type (t4g, m7g ...) boots only the arm64 image, the others only x86_64.
AL2023_PARAMETERS = {arch: f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
                     for arch in ("x86_64", "arm64")}
AL2023_PARAMETER = AL2023_PARAMETERS["x86_64"]   # the default instance type's (t3.micro)
ROOT_VOLUME_GIB = 16
# A hop limit of 1 keeps the IMDSv2 token on the host (no containers forward it).
IMDS_HOP_LIMIT = 1
AGENT_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/app.json"


# The boot script is constant text: no parameter is ever part of it. Each file that carries values
# (the boot settings, the app's environment, the agent's configuration) reaches the instance
# base64-encoded inside single quotes (an alphabet that cannot close a quote, end a heredoc or start a
# command) and is decoded into place. In the two environment files every value is quoted for the shell
# with shlex.quote, which systemd's EnvironmentFile reads the same way (single quotes, no expansion).
USER_DATA = r"""#!/bin/bash
# 04_compute user data: install the backend and the CloudWatch agent, start both.
# Nothing secret lives here: the app reads the database password from Secrets Manager at start,
# with the instance role (which may read only that one secret).
# Parameters are not in this text: they arrive base64-encoded, decoded into the files below.
set -euo pipefail
install -d -m 0755 /etc/app
printf '%s' '@boot_env' | base64 -d > /etc/app/boot.env
printf '%s' '@app_env' | base64 -d > /etc/app/app.env
. /etc/app/boot.env

dnf install -y python3 python3-pip amazon-cloudwatch-agent
id app >/dev/null 2>&1 || useradd --system --home-dir /opt/app --shell /sbin/nologin app
install -d -o app -g app -m 0755 /opt/app /var/log/app

# IMDSv2 only: every metadata read needs a session token first.
IMDS_TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
REGION=$(curl -sS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/placement/region)

# The app artifact (a wheel or sdist of the backend): given at template time, else from an SSM parameter.
if [ -z "$ARTIFACT" ]; then
  ARTIFACT=$(aws ssm get-parameter --region "$REGION" --name "$ARTIFACT_PARAMETER" --query Parameter.Value --output text)
fi
case "$ARTIFACT" in
  s3://*) aws s3 cp --region "$REGION" "$ARTIFACT" /opt/app/ && ARTIFACT="/opt/app/$(basename "$ARTIFACT")" ;;
esac
python3 -m venv /opt/app/venv
/opt/app/venv/bin/pip install --quiet "$ARTIFACT"

cat > /etc/systemd/system/app.service <<'UNIT'
[Unit]
Description=Backend API (workbook 04_compute)
After=network-online.target
Wants=network-online.target

[Service]
User=app
EnvironmentFile=/etc/app/app.env
ExecStart=/opt/app/venv/bin/python -m workbook.backend serve --host 0.0.0.0 --port ${APP_PORT}
Restart=always
RestartSec=2
StandardOutput=append:/var/log/app/app.log
StandardError=append:/var/log/app/app.log

[Install]
WantedBy=multi-user.target
UNIT

printf '%s' '@agent_config' | base64 -d > /opt/aws/amazon-cloudwatch-agent/etc/app.json

/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/app.json
systemctl daemon-reload
systemctl enable --now app.service
"""
ARTIFACT_RE = re.compile(r"^(s3|https)://[^\s\x00-\x1f\x7f]+$")


def artifact_parameter(p: Params) -> str:
    """SSM parameter the instances read the app artifact's location from (local name)."""
    return f"/{p.stack_name}/app/artifact-url"


def agent_config(p: Params) -> dict[str, Any]:
    """CloudWatch agent: ship /var/log/app to the app log group and the boot's output (cloud-init, where this
    user data's script writes) to the system log group, plus memory and disk metrics."""
    return {
        "agent": {"metrics_collection_interval": 60, "run_as_user": "root"},
        "logs": {"logs_collected": {"files": {"collect_list": [
            {"file_path": "/var/log/app/*.log", "log_group_name": names.app_log_group(p),
             "log_stream_name": "{instance_id}", "timezone": "UTC"},
            {"file_path": "/var/log/cloud-init-output.log", "log_group_name": names.system_log_group(p),
             "log_stream_name": "{instance_id}", "timezone": "UTC"}]}}},
        "metrics": {
            "namespace": "CWAgent",
            "append_dimensions": {"AutoScalingGroupName": "${aws:AutoScalingGroupName}",
                                  "InstanceId": "${aws:InstanceId}"},
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {"mem": {"measurement": ["mem_used_percent"]},
                                  "disk": {"measurement": ["used_percent"], "resources": ["/"]}}},
    }


def env_file(values: dict[str, Any]) -> str:
    """KEY='value' lines, each value quoted for the shell: `.` in bash and systemd's EnvironmentFile
    both read back exactly the value given, whatever it holds (quotes, $(...), newlines)."""
    out = []
    for key, value in values.items():
        text = str(value)
        if "\0" in text:  # neither a shell variable nor systemd can hold a NUL byte
            raise ValueError(f"{key} must not contain a NUL byte")
        out.append(f"{key}={shlex.quote(text)}\n")
    return "".join(out)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def user_data(p: Params, *, db_host: str = "", db_port: int | None = None, db_name: str = "",
              db_secret_arn: str = "", artifact_url: str = "") -> str:
    """The boot script of every app server (plain text; the launch template carries it base64).
    The app (workbook/backend, `python -m workbook.backend serve`) reads the DB_* variables."""
    if artifact_url and not ARTIFACT_RE.match(artifact_url):
        raise ValueError(f"artifact_url must be an s3:// or https:// URL without spaces or control characters, "
                         f"got {artifact_url[:80]!r}")
    boot = env_file({"ARTIFACT": artifact_url, "ARTIFACT_PARAMETER": artifact_parameter(p)})
    app = env_file({"APP_PORT": p.app_port, "HEALTH_CHECK_PATH": p.health_check_path, "DB_ENGINE": p.rds_engine,
                    "DB_HOST": db_host, "DB_PORT": db_port or p.db_port, "DB_NAME": db_name,
                    "DB_SECRET_ARN": db_secret_arn, "AWS_REGION": p.region})
    agent = json.dumps(agent_config(p), indent=2) + "\n"
    script = USER_DATA
    for key, text in (("boot_env", boot), ("app_env", app), ("agent_config", agent)):
        script = script.replace(f"@{key}", _b64(text))
    return script


_FILE_LINE = re.compile(r"^printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d > (\S+)$", re.M)


def user_data_files(script: str) -> dict[str, str]:
    """The files a boot script writes from its base64 blocks, decoded: path -> text (what a server gets)."""
    return {path: base64.b64decode(blob).decode() for blob, path in _FILE_LINE.findall(script)}


def instance_architectures(ctx: Context, param: str = "instance_type") -> list[str]:
    """What the processors of the instance type `param` names run (DescribeInstanceTypes:
    ProcessorInfo.SupportedArchitectures)."""
    p, type_ = ctx.p, getattr(ctx.p, param)
    try:
        types = ctx.client("ec2").describe_instance_types(InstanceTypes=[type_])["InstanceTypes"]
    except ClientError as e:
        if engine.code(e) != "InvalidInstanceType":
            raise
        types = []
    if not types:
        raise ParameterError({param: f"{type_} is not offered in {p.region}"})
    return list(types[0]["ProcessorInfo"]["SupportedArchitectures"])


def al2023_parameter(ctx: Context, param: str = "instance_type") -> str:
    """The AL2023 parameter of the architecture the instance type `param` names runs (the app servers',
    or the demo dev host's dev_instance_type)."""
    archs = instance_architectures(ctx, param)
    for arch in AL2023_PARAMETERS:
        if arch in archs:
            return AL2023_PARAMETERS[arch]
    raise ParameterError({param: f"{getattr(ctx.p, param)} runs {' or '.join(archs)}; Amazon Linux 2023 "
                                 f"has images for {' and '.join(AL2023_PARAMETERS)} only"})


def latest_al2023_ami(ctx: Context) -> str:
    return ctx.client("ssm").get_parameter(Name=al2023_parameter(ctx))["Parameter"]["Value"]


def check_image(ctx: Context, image_id: str = "") -> dict[str, Any]:
    """Refuse, before anything is made, an image instance_type cannot boot (AWS would refuse every launch
    only once the group exists): `image_id` must exist and be built for an architecture the instance type
    runs; without one, AL2023 must have an image for it. Returns the given image's description."""
    if not image_id:
        al2023_parameter(ctx)
        return {}
    p = ctx.p
    try:
        images = ctx.client("ec2").describe_images(ImageIds=[image_id])["Images"]
    except ClientError as e:
        if not engine.missing(e):
            raise
        images = []
    if not images:
        raise ParameterError({"image_id": f"{image_id} is no AMI this account can launch in {p.region}"})
    arch, archs = images[0].get("Architecture", ""), instance_architectures(ctx)
    if arch not in archs:
        raise ParameterError({"image_id": (
            f"{image_id} is an {arch} image, but instance_type {p.instance_type} runs {' or '.join(archs)}: give "
            f"an image built for {archs[0]}, or an instance_type that runs {arch}")})
    return images[0]


def image_name(p: Params) -> str:
    return p.name("app-ami")


def ensure_image_from_dev(ctx: Context) -> Resource:
    """Option: an AMI of the dev instance (dev_instance_id, else the dev_tag), so the app servers start
    from what runs today. The default is the AL2023 AMI plus the boot script."""
    p, name = ctx.p, image_name(ctx.p)
    found = engine.find_one(ctx, "ami", name)
    if found is not None:
        return engine.ensure(ctx, "ami", name, step=STEP_ID, found=found, create={})
    dev = ec2_inventory.find_dev_instances(ctx, p)
    if not dev:
        raise PrerequisiteMissing(f"no dev instance {p.dev_instance_id or 'tagged ' + p.dev_tag} (parameters "
                                  f"dev_instance_id, dev_tag): run 00_setup first or use the default AL2023 image")
    dev_id = dev[0]["InstanceId"]
    # NoReboot: CreateImage otherwise reboots the instance, and the dev server is the user's (it may be serving)
    return engine.ensure(ctx, "ami", name, step=STEP_ID, lookup=False, create={
        "InstanceId": dev_id, "Name": name, "Description": f"App image from dev instance {dev_id}", "NoReboot": True})


def launch_template_data(ctx: Context, net: Network, *, image_id: str = "") -> dict[str, Any]:
    """Everything an app server is launched with; a change here becomes a new template version. The
    release is not in it: the boot script reads its location from the SSM parameter at boot, so a new
    release (compute_release) reaches the next instances without a new template version."""
    p, ec2 = ctx.p, ctx.client("ec2")
    if image_id:
        image = check_image(ctx, image_id)
    else:
        image_id = latest_al2023_ami(ctx)
        image = next(iter(ec2.describe_images(ImageIds=[image_id])["Images"]), {})
    root = image.get("RootDeviceName", "/dev/xvda")
    host, port, db_name = db_endpoint(ctx)
    secret, exact = db_secret_arn(ctx)
    script = user_data(p, db_host=host, db_port=port, db_name=db_name, db_secret_arn=secret if exact else "")
    return {
        "ImageId": image_id,
        "InstanceType": p.instance_type,
        "IamInstanceProfile": {"Name": names.app_role(p)},
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": IMDS_HOP_LIMIT,
                            "HttpEndpoint": "enabled", "InstanceMetadataTags": "disabled"},
        # Security groups go on the interface: an ASG with subnets cannot mix both forms.
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False,
                               "Groups": [net.app_sg], "DeleteOnTermination": True}],
        "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {
            "VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "Monitoring": {"Enabled": True},
        "UserData": base64.b64encode(script.encode()).decode(),
        "TagSpecifications": (tagging.tag_spec("instance", p, STEP_ID, p.name("app"))
                              + tagging.tag_spec("volume", p, STEP_ID, p.name("app-volume"))),
    }


def _same_launch_data(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("ImageId", "InstanceType", "IamInstanceProfile", "MetadataOptions", "UserData", "BlockDeviceMappings")
    norm = lambda d: json.dumps({k: d.get(k) for k in keys}, sort_keys=True, default=str)  # noqa: E731
    groups = lambda d: sorted(g for n in d.get("NetworkInterfaces", []) for g in n.get("Groups", []))  # noqa: E731
    return norm(current) == norm(wanted) and groups(current) == groups(wanted)


def hash_of(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def wait_for_db_address(ctx: Context) -> None:
    """The app servers' settings name the database (DB_HOST), and AWS gives an RDS instance its address
    only once it exists: while it is `creating` (15-20 minutes Multi-AZ, which 03 starts and does not
    wait for) there is none, and a server booted without one never serves. So wait for it here, bounded
    by the cell (progress.StillWaiting: a rerun picks the wait up); with no instance at all, say so."""
    if db_endpoint(ctx)[0]:
        return
    from . import database
    if database.describe_db(ctx, names.db_instance(ctx.p)) is None:
        raise PrerequisiteMissing(f"no RDS instance {names.db_instance(ctx.p)}: the app servers need its address "
                                  "(run 03_database first)")
    print(f"the app servers need {names.db_instance(ctx.p)}'s address, which AWS gives once it is created: "
          "waiting for it (the load balancer goes on provisioning meanwhile)")
    database.wait_db_available(ctx, needed=True)


def find_launch_template(ctx: Context) -> engine.Item | None:
    return engine.find_one(ctx, "launch_template", names.launch_template(ctx.p))


def ensure_launch_template(ctx: Context, *, image_id: str = "") -> Resource:
    """Launch template: AL2023 from SSM (or `image_id`, e.g. from ensure_image_from_dev), IMDSv2
    required, no public IP, encrypted gp3, the instance profile and the app security group.
    When what the template should hold changed (new AMI, database now known), a new version."""
    p, name = ctx.p, names.launch_template(ctx.p)
    lt = find_launch_template(ctx)
    net = find_network(ctx, required=not ctx.dry_run)
    if not ctx.dry_run:
        wait_for_db_address(ctx)
    if lt is None or (ctx.dry_run and not net.complete):
        return engine.ensure(ctx, "launch_template", name, step=STEP_ID, found=lt, lookup=False, create=lambda: {
            "LaunchTemplateName": name, "VersionDescription": STEP_ID,
            "LaunchTemplateData": launch_template_data(ctx, net, image_id=image_id)})
    wanted = launch_template_data(ctx, net, image_id=image_id)
    ec2 = ctx.client("ec2")
    current = ec2.describe_launch_template_versions(LaunchTemplateId=lt.id, Versions=["$Latest"])["LaunchTemplateVersions"][0]
    if _same_launch_data(current["LaunchTemplateData"], wanted):
        return ctx.note(STEP_ID, "launch_template", name, lt.id, "exists", item=lt.raw)
    if ctx.dry_run:
        return ctx.note(STEP_ID, "launch_template", name, lt.id, "would update", item=lt.raw)
    # The version it follows is part of the token: EC2 answers a token it has seen (for at least 24 hours)
    # with the version that token made, so data that comes back (A, B, A, B) would get the old B, not a
    # new $Latest. A retry of this same create still sends the same token.
    version = ec2.create_launch_template_version(
        LaunchTemplateId=lt.id, LaunchTemplateData=wanted, VersionDescription=f"{STEP_ID} rerun",
        ClientToken=engine.client_token(ctx, f"{name}/after-v{current['VersionNumber']}/{hash_of(wanted)}"),
    )["LaunchTemplateVersion"]
    print(f"launch template {name}: new version {version['VersionNumber']}; the group launches it from now on "
          f"(the servers running now are replaced at the end of this step: an instance refresh)")
    return ctx.note(STEP_ID, "launch_template", name, lt.id, f"updated (v{version['VersionNumber']})", item=lt.raw)
