"""04_compute: an Application Load Balancer in front of an Auto Scaling group of app servers.

The dev setup is one server that is also reachable from the internet. Here the app moves to
instances in the private app subnets, launched by an Auto Scaling group from a launch template
(IMDSv2 only, no public IP, encrypted gp3 volumes, an instance role that can read only the database's
secret), behind an ALB in the public subnets (or an internal one behind API Gateway).

Prerequisites are found, never created here: the subnets of 02_network by tags
(`workbook:stack`, `workbook:tier` = public | app) and its security groups by Name
(`names.alb_sg`, `names.app_sg`); the database secret of 03_database; the ACM certificate of 05_edge.
Rerunning this step after 05_edge upgrades the listeners to HTTPS.

Local names (names.py has none for them): the instance profile shares `names.app_role`; the scaling
policies are `<stack>-cpu-target` and `<stack>-requests-target`; the inline role policy is
`read-db-secret`; instances are named `<stack>-app`.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError

from .. import names, progress, tagging
from ..iam_cleanup import delete_iam_role
from ..connect import Context, Resource
from ..params import Params
from . import Step, created, dry, exists, frame, register, would_create

STEP = "04_compute"

# The public SSM parameter AWS keeps pointing at the latest Amazon Linux 2023 AMI.
AL2023_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
MANAGED_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",   # Session Manager instead of SSH
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",    # the agent ships logs and metrics
)
SECRET_POLICY_NAME = "read-db-secret"
EC2_TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
ROOT_VOLUME_GIB = 16
# A hop limit of 1 keeps the IMDSv2 token on the host (no containers forward it).
IMDS_HOP_LIMIT = 1
# Boot (dnf install, venv, pip install, agent start) takes about a minute on a t3.micro; ELB health
# checks that count before the app listens would make the group replace healthy-to-be instances in
# a loop. 120 s covers the boot plus two health-check intervals.
GRACE_PERIOD_S = 120
CPU_TARGET_PERCENT = 50.0
# ALBRequestCountPerTarget is a per-minute sum; 1000 requests a minute per instance is a
# comfortable load for a small Python API on a t3.micro and scales out well before CPU saturates.
REQUESTS_PER_TARGET = 1000.0
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
ASG_POLL_DELAY_S = 15           # no botocore waiter exists for Auto Scaling groups
ASG_WAIT_TIMEOUT_S = 600


class PrerequisiteMissing(RuntimeError):
    """A resource of an earlier step is missing; the message names the step to run."""


register(Step(
    STEP, "Load balancer and auto-scaling app servers",
    "Server auto-scaling ensures that production scales up or down when traffic changes, so servers are "
    "never overloaded and the application is always available. The Application Load Balancer is the "
    "primary entry point for the servers and distributes traffic to the two (or more) of them.",
    permissions=(
        "ssm:GetParameter", "rds:DescribeDBInstances", "acm:ListCertificates", "acm:DescribeCertificate",
        "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeImages", "ec2:CreateImage",
        "ec2:DeregisterImage", "ec2:DeleteSnapshot",
        "ec2:DescribeInstances", "ec2:CreateTags", "ec2:RunInstances",
        "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "ec2:CreateLaunchTemplate",
        "ec2:CreateLaunchTemplateVersion", "ec2:DeleteLaunchTemplate",
        "ec2:ModifyInstanceMetadataOptions", "ec2:ModifyInstanceAttribute", "ec2:AssociateIamInstanceProfile",
        "ec2:DescribeIamInstanceProfileAssociations",
        "iam:GetRole", "iam:CreateRole", "iam:DeleteRole", "iam:ListInstanceProfilesForRole", "iam:TagRole", "iam:PassRole",
        "iam:ListAttachedRolePolicies", "iam:AttachRolePolicy", "iam:DetachRolePolicy",
        "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
        "iam:GetInstanceProfile", "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile",
        "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile",
        "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:ModifyLoadBalancerAttributes", "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DeleteListener",
        "elasticloadbalancing:DescribeTags", "elasticloadbalancing:AddTags",
        "elasticloadbalancing:DescribeTargetHealth",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:CreateAutoScalingGroup",
        "autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup",
        "autoscaling:AttachLoadBalancerTargetGroups", "autoscaling:CreateOrUpdateTags",
        "autoscaling:DescribePolicies", "autoscaling:PutScalingPolicy", "autoscaling:DeletePolicy",
    ),
))


# ---- prerequisites ------------------------------------------------------------------------------
@dataclass
class Network:
    """What 02_network made that this step builds on."""
    vpc_id: str = ""
    public_subnets: dict[str, str] = field(default_factory=dict)   # subnet id -> AZ
    app_subnets: dict[str, str] = field(default_factory=dict)
    alb_sg: str = ""
    app_sg: str = ""

    @property
    def complete(self) -> bool:
        return bool(self.vpc_id and self.public_subnets and self.app_subnets and self.alb_sg and self.app_sg)


def find_network(ctx: Context, p: Params, *, required: bool = True) -> Network:
    """Subnets by tier tag, security groups by Name; with required, a clear error when missing."""
    ec2 = ctx.client("ec2")
    net = Network()
    for page in ec2.get_paginator("describe_subnets").paginate(Filters=[
            {"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]},
            {"Name": f"tag:{names.TIER}", "Values": ["public", "app"]}]):
        for s in page["Subnets"]:
            tier = tagging.as_dict(s.get("Tags")).get(names.TIER)
            (net.public_subnets if tier == "public" else net.app_subnets)[s["SubnetId"]] = s["AvailabilityZone"]
            net.vpc_id = s["VpcId"]
    wanted = {names.alb_sg(p): "alb_sg", names.app_sg(p): "app_sg"}
    for page in ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]):
        for g in page["SecurityGroups"]:
            name = tagging.as_dict(g.get("Tags")).get("Name") or g["GroupName"]
            for candidate in (name, g["GroupName"]):
                if candidate in wanted:
                    setattr(net, wanted[candidate], g["GroupId"])
    if required and not net.complete:
        missing = [what for what, ok in (("VPC subnets of tier public", net.public_subnets),
                                         ("VPC subnets of tier app", net.app_subnets),
                                         (f"security group {names.alb_sg(p)}", net.alb_sg),
                                         (f"security group {names.app_sg(p)}", net.app_sg)) if not ok]
        raise PrerequisiteMissing(f"stack {p.stack_name!r} has no {', '.join(missing)}: run 02_network "
                                  f"(notebooks/02_network.ipynb) first")
    return net


def db_secret_arn(ctx: Context, p: Params) -> tuple[str, bool]:
    """The RDS-managed secret of 03_database, else a pattern for any RDS-managed secret of this
    account and region. Returns (arn, exact)."""
    try:
        db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
        arn = db.get("MasterUserSecret", {}).get("SecretArn", "")
        if arn:
            return arn, True
    except ClientError as e:
        if e.response["Error"]["Code"] != "DBInstanceNotFound":
            raise
    return f"arn:aws:secretsmanager:{p.region}:{ctx.account_id}:secret:rds!db-*", False


def db_endpoint(ctx: Context, p: Params) -> tuple[str, int, str]:
    """Address, port and database name of 03_database's instance ("" while it does not exist)."""
    try:
        db = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))["DBInstances"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] != "DBInstanceNotFound":
            raise
        return "", p.db_port, ""
    ep = db.get("Endpoint") or {}
    return ep.get("Address", ""), int(ep.get("Port") or p.db_port), db.get("DBName", "")


def find_certificate(ctx: Context, p: Params) -> str:
    """ARN of an ISSUED ACM certificate covering p.domain_name (05_edge requests it), or ""."""
    if not p.domain_name:
        return ""
    wildcard = "*." + p.domain_name.split(".", 1)[1] if "." in p.domain_name else ""
    for page in ctx.client("acm").get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
        for c in page["CertificateSummaryList"]:
            covered = {c.get("DomainName", "")} | set(c.get("SubjectAlternativeNameSummaries", []))
            if p.domain_name in covered or (wildcard and wildcard in covered):
                return c["CertificateArn"]
    return ""


def prerequisites(ctx: Context, p: Params) -> pd.DataFrame:
    """What this step builds on, found by tag/name: a table for the notebook (read-only)."""
    net = find_network(ctx, p, required=False)
    secret, exact = db_secret_arn(ctx, p)
    cert = find_certificate(ctx, p)
    rows = [{"needs": f"{tier} subnets", "from": "02_network", "found": ", ".join(
                f"{s} ({az})" for s, az in sorted(subnets.items(), key=lambda x: x[1])) or "missing"}
            for tier, subnets in (("public", net.public_subnets), ("app", net.app_subnets))]
    rows += [{"needs": f"security group {n}", "from": "02_network", "found": gid or "missing"}
             for n, gid in ((names.alb_sg(p), net.alb_sg), (names.app_sg(p), net.app_sg))]
    rows.append({"needs": "database secret", "from": "03_database",
                 "found": secret if exact else f"not yet: policy uses the pattern {secret}"})
    rows.append({"needs": f"certificate for {p.domain_name or '(no domain_name)'}", "from": "05_edge",
                 "found": cert or ("not yet: HTTP only until 05_edge, then rerun" if p.domain_name else "n/a: HTTP only")})
    return pd.DataFrame(rows, columns=["needs", "from", "found"])


# ---- instance role and profile --------------------------------------------------------------------
def secret_policy(ctx: Context, p: Params, artifact_url: str = "") -> tuple[dict[str, Any], bool]:
    """The inline policy: the database's secret only; plus the one app artifact object when it is
    on S3 (an https:// artifact or the SSM parameter need nothing more than the managed policies)."""
    arn, exact = db_secret_arn(ctx, p)
    statements: list[dict[str, Any]] = [{"Sid": "ReadTheDatabaseSecretOnly", "Effect": "Allow",
                                         "Action": "secretsmanager:GetSecretValue", "Resource": arn}]
    if artifact_url.startswith("s3://"):
        statements.append({"Sid": "ReadTheAppArtifact", "Effect": "Allow", "Action": "s3:GetObject",
                           "Resource": f"arn:aws:s3:::{artifact_url[len('s3://'):]}"})
    return {"Version": "2012-10-17", "Statement": statements}, exact


def ensure_instance_role(ctx: Context, p: Params, *, artifact_url: str = "") -> Resource:
    """Role the app servers assume: SSM + CloudWatch agent managed policies, and read access to the
    database's secret only. IAM has no tag filter on list, so it is found by its exact name."""
    iam, name = ctx.client("iam"), names.app_role(p)
    doc, exact = secret_policy(ctx, p, artifact_url)
    if not exact:
        print(f"note: no database {names.db_instance(p)} yet, so the role may read RDS-managed secrets matching "
              f"{doc['Statement'][0]['Resource']}; rerun this step after 03_database to narrow it to the one secret.")
    try:
        role = iam.get_role(RoleName=name)["Role"]
        record = exists(ctx, STEP, "iam-role", name, role["Arn"])
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        if dry(p):
            return would_create(ctx, STEP, "iam-role", name)
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
                               Description=f"App servers of stack {p.stack_name} (workbook 04_compute)",
                               Tags=tagging.tags(p, STEP, name))["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
        record = created(ctx, STEP, "iam-role", name, role["Arn"])
    if dry(p):
        return record
    attached = {a["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
                for a in page["AttachedPolicies"]}
    for arn in MANAGED_POLICIES:
        if arn not in attached:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName=SECRET_POLICY_NAME)["PolicyDocument"]
        if isinstance(current, str):
            current = json.loads(current)
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        current = None
    if current != doc:
        iam.put_role_policy(RoleName=name, PolicyName=SECRET_POLICY_NAME, PolicyDocument=json.dumps(doc))
    return record


def ensure_instance_profile(ctx: Context, p: Params) -> Resource:
    """The instance profile (same name as the role) that hands the role to the instances."""
    iam, name = ctx.client("iam"), names.app_role(p)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        record = exists(ctx, STEP, "instance-profile", name, profile["Arn"])
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
        if dry(p):
            return would_create(ctx, STEP, "instance-profile", name)
        profile = iam.create_instance_profile(InstanceProfileName=name, Tags=tagging.tags(p, STEP, name))["InstanceProfile"]
        iam.get_waiter("instance_profile_exists").wait(InstanceProfileName=name)
        record = created(ctx, STEP, "instance-profile", name, profile["Arn"])
    if not dry(p) and name not in {r["RoleName"] for r in profile.get("Roles", [])}:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return record


# ---- launch template ------------------------------------------------------------------------------
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
    """CloudWatch agent: ship /var/log/app to the app log group, plus memory and disk metrics."""
    return {
        "agent": {"metrics_collection_interval": 60, "run_as_user": "root"},
        "logs": {"logs_collected": {"files": {"collect_list": [{
            "file_path": "/var/log/app/*.log", "log_group_name": names.app_log_group(p),
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
    app = env_file({"APP_PORT": p.app_port, "HEALTH_CHECK_PATH": p.health_check_path, "DB_ENGINE": p.db_engine,
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


def latest_al2023_ami(ctx: Context) -> str:
    return ctx.client("ssm").get_parameter(Name=AL2023_PARAMETER)["Parameter"]["Value"]


def ensure_image_from_dev(ctx: Context, p: Params) -> Resource:
    """Option: an AMI of the dev instance (found by p.dev_instance_id or p.dev_tag), so the app
    servers start from what runs today. Default is the AL2023 AMI plus the user data."""
    ec2, name = ctx.client("ec2"), p.name("app-ami")
    found = ec2.describe_images(Owners=["self"], Filters=tagging.ec2_filters(p, name=name))["Images"]
    if found:
        return exists(ctx, STEP, "image", name, found[0]["ImageId"])
    if p.dev_instance_id:
        dev_id = p.dev_instance_id
    else:
        key, value = p.dev_tag.split("=", 1)
        reservations = [r for page in ec2.get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{key}", "Values": [value]},
            {"Name": "instance-state-name", "Values": ["running", "stopped"]}]) for r in page["Reservations"]]
        ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
        if not ids:
            raise PrerequisiteMissing(f"no dev instance tagged {p.dev_tag} (parameter dev_tag): run 00_setup first "
                                      f"or use the default AL2023 image")
        dev_id = ids[0]
    if dry(p):
        return would_create(ctx, STEP, "image", name)
    image_id = ec2.create_image(InstanceId=dev_id, Name=name, Description=f"App image from dev instance {dev_id}",
                                TagSpecifications=tagging.tag_spec("image", p, STEP, name))["ImageId"]
    progress.wait_for(ec2, "image_available", f"image {name}", ImageIds=[image_id])
    return created(ctx, STEP, "image", name, image_id)


def launch_template_data(ctx: Context, p: Params, net: Network, *, image_id: str = "",
                         artifact_url: str = "") -> dict[str, Any]:
    """Everything an app server is launched with; a change here becomes a new template version."""
    ec2 = ctx.client("ec2")
    image_id = image_id or latest_al2023_ami(ctx)
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    root = images[0].get("RootDeviceName", "/dev/xvda") if images else "/dev/xvda"
    host, port, db_name = db_endpoint(ctx, p)
    secret, exact = db_secret_arn(ctx, p)
    script = user_data(p, db_host=host, db_port=port, db_name=db_name, db_secret_arn=secret if exact else "",
                       artifact_url=artifact_url)
    profile = names.app_role(p)
    return {
        "ImageId": image_id,
        "InstanceType": p.instance_type,
        "IamInstanceProfile": {"Name": profile},
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": IMDS_HOP_LIMIT,
                            "HttpEndpoint": "enabled", "InstanceMetadataTags": "disabled"},
        # Security groups go on the interface: an ASG with subnets cannot mix both forms.
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": False,
                               "Groups": [net.app_sg], "DeleteOnTermination": True}],
        "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {
            "VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "Monitoring": {"Enabled": True},
        "UserData": base64.b64encode(script.encode()).decode(),
        "TagSpecifications": (tagging.tag_spec("instance", p, STEP, p.name("app"))
                              + tagging.tag_spec("volume", p, STEP, p.name("app-volume"))),
    }


def _same_launch_data(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    keys = ("ImageId", "InstanceType", "IamInstanceProfile", "MetadataOptions", "UserData", "BlockDeviceMappings")
    norm = lambda d: json.dumps({k: d.get(k) for k in keys}, sort_keys=True, default=str)  # noqa: E731
    groups = lambda d: sorted(g for n in d.get("NetworkInterfaces", []) for g in n.get("Groups", []))  # noqa: E731
    return norm(current) == norm(wanted) and groups(current) == groups(wanted)


def find_launch_template(ctx: Context, p: Params) -> dict[str, Any] | None:
    ec2 = ctx.client("ec2")
    for page in ec2.get_paginator("describe_launch_templates").paginate(
            Filters=tagging.ec2_filters(p, name=names.launch_template(p))):
        for lt in page["LaunchTemplates"]:
            return lt
    return None


def ensure_launch_template(ctx: Context, p: Params, *, image_id: str = "", artifact_url: str = "") -> Resource:
    """Launch template: AL2023 from SSM (or `image_id`, e.g. from ensure_image_from_dev), IMDSv2
    required, no public IP, encrypted gp3, the instance profile and the app security group.
    When what the template should hold changed (new AMI, database now known), a new version."""
    ec2, name = ctx.client("ec2"), names.launch_template(p)
    lt = find_launch_template(ctx, p)
    net = find_network(ctx, p, required=not dry(p))
    if dry(p) and (lt is None or not net.complete):
        return exists(ctx, STEP, "launch-template", name, lt["LaunchTemplateId"]) if lt else \
            would_create(ctx, STEP, "launch-template", name)
    wanted = launch_template_data(ctx, p, net, image_id=image_id, artifact_url=artifact_url)
    if lt is None:
        lt = ec2.create_launch_template(
            LaunchTemplateName=name, LaunchTemplateData=wanted, ClientToken=tagging.client_token(p, name),
            VersionDescription="04_compute",
            TagSpecifications=tagging.tag_spec("launch-template", p, STEP, name))["LaunchTemplate"]
        return created(ctx, STEP, "launch-template", name, lt["LaunchTemplateId"])
    current = ec2.describe_launch_template_versions(
        LaunchTemplateId=lt["LaunchTemplateId"], Versions=["$Latest"])["LaunchTemplateVersions"][0]
    if _same_launch_data(current["LaunchTemplateData"], wanted):
        return exists(ctx, STEP, "launch-template", name, lt["LaunchTemplateId"])
    if dry(p):
        return ctx.note(STEP, "launch-template", name, lt["LaunchTemplateId"], "would update")
    version = ec2.create_launch_template_version(
        LaunchTemplateId=lt["LaunchTemplateId"], LaunchTemplateData=wanted, VersionDescription="04_compute rerun",
        ClientToken=tagging.client_token(p, f"{name}/{hash_of(wanted)}"))["LaunchTemplateVersion"]
    print(f"launch template {name}: new version {version['VersionNumber']}; the group launches it from now on "
          f"(existing instances keep theirs until replaced or an instance refresh)")
    return ctx.note(STEP, "launch-template", name, lt["LaunchTemplateId"], f"updated (v{version['VersionNumber']})")


def hash_of(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


# ---- load balancer --------------------------------------------------------------------------------
def find_load_balancer(ctx: Context, p: Params) -> dict[str, Any] | None:
    try:
        return ctx.client("elbv2").describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] != "LoadBalancerNotFound":
            raise
        return None


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


ALB_ATTRIBUTES = {"deletion_protection.enabled": "true", "routing.http.drop_invalid_header_fields.enabled": "true"}


def ensure_load_balancer(ctx: Context, p: Params, *, wait: bool = False) -> Resource:
    """Start creating the ALB (2-3 minutes on AWS) and return at once unless wait; call
    wait_for_load_balancer later so the target group and template are made meanwhile."""
    elb, name = ctx.client("elbv2"), names.alb(p)
    lb = find_load_balancer(ctx, p)
    if lb is None:
        net = find_network(ctx, p, required=not dry(p))
        if dry(p):
            return would_create(ctx, STEP, "load-balancer", name)
        subnets = alb_subnets(p, net)
        lb = elb.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[net.alb_sg], Scheme=alb_scheme(p),
                                      Type="application", IpAddressType="ipv4",
                                      Tags=tagging.tags(p, STEP, name))["LoadBalancers"][0]
        record = created(ctx, STEP, "load-balancer", name, lb["LoadBalancerArn"])
    else:
        if lb["Scheme"] != alb_scheme(p):
            raise PrerequisiteMissing(
                f"load balancer {name} exists as {lb['Scheme']} but entry={p.entry!r} needs {alb_scheme(p)}; the scheme "
                f"of a load balancer cannot change: run destroy of 04_compute, then apply again")
        record = exists(ctx, STEP, "load-balancer", name, lb["LoadBalancerArn"])
    if not dry(p):
        ensure_load_balancer_attributes(ctx, lb["LoadBalancerArn"])
    if wait and not dry(p):
        wait_for_load_balancer(ctx, p)
    return record


def ensure_load_balancer_attributes(ctx: Context, arn: str) -> None:
    elb = ctx.client("elbv2")
    current = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
    change = [{"Key": k, "Value": v} for k, v in ALB_ATTRIBUTES.items() if current.get(k) != v]
    if change:
        elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=change)


def wait_for_load_balancer(ctx: Context, p: Params) -> str:
    """Block until the ALB is active (botocore waiter load_balancer_available); returns its DNS name."""
    lb = find_load_balancer(ctx, p)
    if lb is None:
        return ""
    if lb["State"]["Code"] != "active":
        progress.wait_for(ctx.client("elbv2"), "load_balancer_available", f"load balancer {names.alb(p)}",
                           LoadBalancerArns=[lb["LoadBalancerArn"]])
    return lb["DNSName"]


# ---- target group and listeners -------------------------------------------------------------------
def find_target_group(ctx: Context, p: Params) -> dict[str, Any] | None:
    try:
        return ctx.client("elbv2").describe_target_groups(Names=[names.target_group(p)])["TargetGroups"][0]
    except ClientError as e:
        if e.response["Error"]["Code"] != "TargetGroupNotFound":
            raise
        return None


def ensure_target_group(ctx: Context, p: Params) -> Resource:
    """HTTP on p.app_port, health check on p.health_check_path expecting 200. 15 s interval, healthy
    after 2 passes, unhealthy after 2 failures: a new instance serves after ~30 s, a dead one is out
    after ~30 s (the defaults, 30 s x 5, take 150 s to bring one back)."""
    elb, name = ctx.client("elbv2"), names.target_group(p)
    tg = find_target_group(ctx, p)
    if tg:
        return exists(ctx, STEP, "target-group", name, tg["TargetGroupArn"])
    net = find_network(ctx, p, required=not dry(p))
    if dry(p):
        return would_create(ctx, STEP, "target-group", name)
    tg = elb.create_target_group(
        Name=name, Protocol="HTTP", Port=p.app_port, VpcId=net.vpc_id, TargetType="instance",
        HealthCheckProtocol="HTTP", HealthCheckPath=p.health_check_path, HealthCheckPort="traffic-port",
        HealthCheckIntervalSeconds=15, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=2,
        UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"},
        Tags=tagging.tags(p, STEP, name))["TargetGroups"][0]
    return created(ctx, STEP, "target-group", name, tg["TargetGroupArn"])


def _listeners(ctx: Context, lb_arn: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for page in ctx.client("elbv2").get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn):
        for listener in page["Listeners"]:
            out[listener["Port"]] = listener
    return out


REDIRECT_TO_HTTPS = [{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443",
                                                              "StatusCode": "HTTP_301"}}]


def ensure_listeners(ctx: Context, p: Params) -> list[Resource]:
    """With an ISSUED certificate for p.domain_name: HTTPS 443 forwarding to the target group and
    HTTP 80 redirecting to it (an existing plain HTTP listener is upgraded). Without: HTTP 80 forwards,
    and verify reports HTTPS as missing."""
    elb = ctx.client("elbv2")
    lb, tg = find_load_balancer(ctx, p), find_target_group(ctx, p)
    if lb is None or tg is None:
        if dry(p):
            return [would_create(ctx, STEP, "listener", f"{names.alb(p)}:80")]
        raise PrerequisiteMissing("create the load balancer and target group first (ensure_load_balancer, "
                                  "ensure_target_group)")
    lb_arn, forward = lb["LoadBalancerArn"], [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
    cert = find_certificate(ctx, p)
    current = _listeners(ctx, lb_arn)
    records: list[Resource] = []

    def put(port: int, protocol: str, actions: list[dict[str, Any]], **extra: Any) -> None:
        label = f"{names.alb(p)}:{port}"
        have = current.get(port)
        if have is None:
            if dry(p):
                records.append(would_create(ctx, STEP, "listener", label))
                return
            arn = elb.create_listener(LoadBalancerArn=lb_arn, Port=port, Protocol=protocol, DefaultActions=actions,
                                      Tags=tagging.tags(p, STEP, label), **extra)["Listeners"][0]["ListenerArn"]
            records.append(created(ctx, STEP, "listener", label, arn))
            return
        same_cert = [c["CertificateArn"] for c in have.get("Certificates", [])] == \
            [c["CertificateArn"] for c in extra.get("Certificates", [])]
        if _actions_key(have["DefaultActions"]) == _actions_key(actions) and have["Protocol"] == protocol and same_cert:
            records.append(exists(ctx, STEP, "listener", label, have["ListenerArn"]))
            return
        if dry(p):
            records.append(ctx.note(STEP, "listener", label, have["ListenerArn"], "would update"))
            return
        elb.modify_listener(ListenerArn=have["ListenerArn"], Port=port, Protocol=protocol, DefaultActions=actions,
                            **extra)
        records.append(ctx.note(STEP, "listener", label, have["ListenerArn"], "updated"))

    if cert:
        put(443, "HTTPS", forward, Certificates=[{"CertificateArn": cert}], SslPolicy=SSL_POLICY)
        put(80, "HTTP", REDIRECT_TO_HTTPS)
    else:
        if p.domain_name:
            print(f"note: no ISSUED ACM certificate for {p.domain_name} yet (05_edge requests it): the load balancer "
                  f"serves plain HTTP on port 80. Rerun this step after 05_edge to switch to HTTPS.")
        else:
            print("note: no domain_name, so no certificate: the load balancer serves plain HTTP on port 80.")
        if 80 in current and _actions_key(current[80]["DefaultActions"]) == _actions_key(REDIRECT_TO_HTTPS) \
                and 443 in current:
            records.append(exists(ctx, STEP, "listener", f"{names.alb(p)}:80", current[80]["ListenerArn"]))
        else:
            put(80, "HTTP", forward)
    return records


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


# ---- auto scaling group ---------------------------------------------------------------------------
def find_auto_scaling_group(ctx: Context, p: Params) -> dict[str, Any] | None:
    """By the stack tag (a documented describe filter), then the exact name: the tagging API does not
    cover Auto Scaling groups."""
    for page in ctx.client("autoscaling").get_paginator("describe_auto_scaling_groups").paginate(
            Filters=[{"Name": f"tag:{tagging.STACK}", "Values": [p.stack_name]}]):
        for g in page["AutoScalingGroups"]:
            if g["AutoScalingGroupName"] == names.asg(p) and \
                    tagging.as_dict(g.get("Tags")).get(tagging.STACK) == p.stack_name:
                return g
    return None


def asg_tags(p: Params) -> list[dict[str, Any]]:
    """Stack and step propagate to the instances; the group's Name does not (instances get theirs,
    <stack>-app, from the launch template)."""
    name = names.asg(p)
    return [{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": t["Key"], "Value": t["Value"],
             "PropagateAtLaunch": t["Key"] != "Name"} for t in tagging.tags(p, STEP, name)]


def ensure_auto_scaling_group(ctx: Context, p: Params) -> Resource:
    """Group over the private app subnets (one per AZ), min/desired/max from the parameters, launch
    template $Latest, the target group attached, ELB health checks after a grace period."""
    asg, name = ctx.client("autoscaling"), names.asg(p)
    group = find_auto_scaling_group(ctx, p)
    lt, tg = find_launch_template(ctx, p), find_target_group(ctx, p)
    net = find_network(ctx, p, required=not dry(p))
    if group is None:
        if dry(p):
            return would_create(ctx, STEP, "auto-scaling-group", name)
        if lt is None or tg is None:
            raise PrerequisiteMissing("create the launch template and target group first (ensure_launch_template, "
                                      "ensure_target_group)")
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "$Latest"},
            MinSize=p.min_capacity, DesiredCapacity=p.desired_capacity, MaxSize=p.max_capacity,
            VPCZoneIdentifier=",".join(sorted(net.app_subnets)), TargetGroupARNs=[tg["TargetGroupArn"]],
            HealthCheckType="ELB", HealthCheckGracePeriod=GRACE_PERIOD_S, DefaultInstanceWarmup=GRACE_PERIOD_S,
            Tags=asg_tags(p))
        return created(ctx, STEP, "auto-scaling-group", name, name)
    # A rerun with other sizes or a new target group updates the group in place.
    changes: dict[str, Any] = {}
    for key, value in (("MinSize", p.min_capacity), ("DesiredCapacity", p.desired_capacity),
                       ("MaxSize", p.max_capacity), ("HealthCheckType", "ELB"),
                       ("HealthCheckGracePeriod", GRACE_PERIOD_S)):
        if group.get(key) != value:
            changes[key] = value
    wanted_subnets = ",".join(sorted(net.app_subnets))
    if net.app_subnets and sorted(group.get("VPCZoneIdentifier", "").split(",")) != sorted(net.app_subnets):
        changes["VPCZoneIdentifier"] = wanted_subnets
    missing_tg = tg is not None and tg["TargetGroupArn"] not in group.get("TargetGroupARNs", [])
    if not changes and not missing_tg:
        return exists(ctx, STEP, "auto-scaling-group", name, name)
    if dry(p):
        return ctx.note(STEP, "auto-scaling-group", name, name, "would update")
    if changes:
        asg.update_auto_scaling_group(AutoScalingGroupName=name, **changes)
    if missing_tg:
        asg.attach_load_balancer_target_groups(AutoScalingGroupName=name, TargetGroupARNs=[tg["TargetGroupArn"]])
    return ctx.note(STEP, "auto-scaling-group", name, name, "updated")


def scaling_policies(p: Params, lb_arn: str, tg_arn: str) -> dict[str, dict[str, Any]]:
    """Target tracking on CPU and on requests per target (resource label from the LB and TG ARNs)."""
    label = f"{lb_arn.split(':loadbalancer/', 1)[1]}/{tg_arn.split(':', 5)[5]}"
    return {
        p.name("cpu-target"): {"PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                               "TargetValue": CPU_TARGET_PERCENT},
        p.name("requests-target"): {"PredefinedMetricSpecification": {
            "PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label},
            "TargetValue": REQUESTS_PER_TARGET},
    }


def ensure_scaling_policies(ctx: Context, p: Params) -> list[Resource]:
    asg, group_name = ctx.client("autoscaling"), names.asg(p)
    lb, tg, group = find_load_balancer(ctx, p), find_target_group(ctx, p), find_auto_scaling_group(ctx, p)
    if group is None or lb is None or tg is None:
        if dry(p):
            return [would_create(ctx, STEP, "scaling-policy", n) for n in (p.name("cpu-target"), p.name("requests-target"))]
        raise PrerequisiteMissing("create the Auto Scaling group, load balancer and target group first")
    have = {pol["PolicyName"]: pol for page in asg.get_paginator("describe_policies").paginate(
        AutoScalingGroupName=group_name) for pol in page["ScalingPolicies"]}
    records = []
    for name, config in scaling_policies(p, lb["LoadBalancerArn"], tg["TargetGroupArn"]).items():
        current = have.get(name, {}).get("TargetTrackingConfiguration")
        if current and current.get("PredefinedMetricSpecification") == config["PredefinedMetricSpecification"] \
                and float(current.get("TargetValue", -1)) == config["TargetValue"]:
            records.append(exists(ctx, STEP, "scaling-policy", name, have[name]["PolicyARN"]))
            continue
        if dry(p):
            records.append(would_create(ctx, STEP, "scaling-policy", name))
            continue
        # PolicyARN is in the documented response; moto 5.2.5 leaves it out, so "" is tolerated.
        arn = asg.put_scaling_policy(AutoScalingGroupName=group_name, PolicyName=name,
                                     PolicyType="TargetTrackingScaling", TargetTrackingConfiguration=config,
                                     EstimatedInstanceWarmup=GRACE_PERIOD_S).get("PolicyARN", "")
        records.append((ctx.note(STEP, "scaling-policy", name, arn, "updated") if current
                        else created(ctx, STEP, "scaling-policy", name, arn)))
    return records


def apply_sandbox_instance_settings(ctx: Context, p: Params, instance_ids: list[str]) -> None:
    """moto launches group instances without the template's metadata options, security groups and
    instance profile; set them per instance as AWS would have at launch."""
    if not ctx.sandbox or not instance_ids:
        return
    net = find_network(ctx, p)
    ec2 = ctx.client("ec2")
    ctx.workaround(f"moto ignores the launch template's MetadataOptions, security groups and instance profile for "
                   f"Auto Scaling instances: setting IMDSv2 required, {names.app_sg(p)} and {names.app_role(p)} on "
                   f"{len(instance_ids)} instance(s) directly")
    associated = {a["InstanceId"] for page in ec2.get_paginator("describe_iam_instance_profile_associations").paginate(
        Filters=[{"Name": "instance-id", "Values": instance_ids}]) for a in page["IamInstanceProfileAssociations"]
        if a.get("State") in ("associating", "associated")}
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=instance_ids):
        for r in page["Reservations"]:
            for i in r["Instances"]:
                if i.get("MetadataOptions", {}).get("HttpTokens") != "required":
                    ec2.modify_instance_metadata_options(InstanceId=i["InstanceId"], HttpTokens="required",
                                                         HttpPutResponseHopLimit=IMDS_HOP_LIMIT, HttpEndpoint="enabled")
                if [g["GroupId"] for g in i.get("SecurityGroups", [])] != [net.app_sg]:
                    ec2.modify_instance_attribute(InstanceId=i["InstanceId"], Groups=[net.app_sg])
                if i["InstanceId"] not in associated:
                    ec2.associate_iam_instance_profile(InstanceId=i["InstanceId"],
                                                       IamInstanceProfile={"Name": names.app_role(p)})


def wait_for_instances(ctx: Context, p: Params, *, timeout_s: float = ASG_WAIT_TIMEOUT_S,
                       delay_s: float = ASG_POLL_DELAY_S) -> pd.DataFrame:
    """Poll until the group has its desired number of InService instances (no botocore waiter exists
    for Auto Scaling groups); bounded by timeout_s. Returns the instances."""
    if dry(p):
        return pd.DataFrame(columns=["instance_id", "az", "lifecycle", "health"])
    group = find_auto_scaling_group(ctx, p)
    if group is None:
        raise PrerequisiteMissing(f"no Auto Scaling group {names.asg(p)}: run ensure_auto_scaling_group first")
    state = {"group": group}

    def all_in_service() -> bool:
        state["group"] = find_auto_scaling_group(ctx, p) or state["group"]
        g = state["group"]
        return sum(i["LifecycleState"] == "InService" for i in g["Instances"]) >= g["DesiredCapacity"]

    try:
        progress.poll(all_in_service, f"{names.asg(p)}: {group['DesiredCapacity']} instances InService",
                      delay=delay_s, max_attempts=max(1, int(timeout_s // delay_s)))
    except TimeoutError:
        g = state["group"]
        raise TimeoutError(f"{names.asg(p)}: {sum(i['LifecycleState'] == 'InService' for i in g['Instances'])} of "
                           f"{g['DesiredCapacity']} instances InService after {timeout_s:.0f} s; see the group's "
                           f"activities (describe_scaling_activities) for launch errors") from None
    in_service = [i for i in state["group"]["Instances"] if i["LifecycleState"] == "InService"]
    apply_sandbox_instance_settings(ctx, p, [i["InstanceId"] for i in in_service])
    return pd.DataFrame([{"instance_id": i["InstanceId"], "az": i["AvailabilityZone"],
                          "lifecycle": i["LifecycleState"], "health": i["HealthStatus"]} for i in in_service],
                        columns=["instance_id", "az", "lifecycle", "health"])


def az_spread(ctx: Context, p: Params) -> pd.DataFrame:
    """AZs the group is configured for versus where its instances run. In the sandbox every instance
    lands in the first subnet, so the instance spread is not emulated there."""
    group = find_auto_scaling_group(ctx, p)
    if group is None:
        return pd.DataFrame(columns=["az", "configured", "instances"])
    configured = set(group.get("AvailabilityZones", []))
    counts: dict[str, int] = {}
    for i in group["Instances"]:
        counts[i["AvailabilityZone"]] = counts.get(i["AvailabilityZone"], 0) + 1
    rows = [{"az": az, "configured": az in configured,
             "instances": "not emulated" if ctx.sandbox else counts.get(az, 0)}
            for az in sorted(configured | set(counts))]
    return pd.DataFrame(rows, columns=["az", "configured", "instances"])


# ---- the step -------------------------------------------------------------------------------------
def apply(ctx: Context, p: Params, *, image_id: str = "", artifact_url: str = "") -> pd.DataFrame:
    """Everything in dependency order; the ALB is started first and waited for late."""
    mark = len(ctx.resources)
    ensure_load_balancer(ctx, p)                      # takes minutes on AWS: start it now
    ensure_instance_role(ctx, p, artifact_url=artifact_url)
    ensure_instance_profile(ctx, p)
    ensure_launch_template(ctx, p, image_id=image_id, artifact_url=artifact_url)
    ensure_target_group(ctx, p)
    ensure_listeners(ctx, p)
    ensure_auto_scaling_group(ctx, p)
    ensure_scaling_policies(ctx, p)
    if not dry(p):
        wait_for_load_balancer(ctx, p)
        wait_for_instances(ctx, p)
    return ctx.resources_frame(mark)


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do; creates nothing."""
    return apply(ctx, p.replace(dry_run=True))


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    from .. import checks, inventory
    return checks.run(inventory.Inventory(ctx, p.stack_name), p, groups=["compute"])


def endpoint(ctx: Context, p: Params) -> str:
    """The URL clients use: https://<domain> when HTTPS is set up, else the ALB's DNS name."""
    lb = find_load_balancer(ctx, p)
    if lb is None:
        return ""
    if 443 in _listeners(ctx, lb["LoadBalancerArn"]) and p.domain_name:
        return f"https://{p.domain_name}"
    return f"http://{lb['DNSName']}"


# ---- destroy --------------------------------------------------------------------------------------
def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """Reverse dependency order; safe to run twice (what is gone is skipped)."""
    records: list[Resource] = []

    def gone(type_: str, name: str, id_: str) -> None:
        records.append(ctx.note(STEP, type_, name, id_, "would delete" if dry(p) else "deleted"))

    asg, elb, ec2, iam = (ctx.client(s) for s in ("autoscaling", "elbv2", "ec2", "iam"))
    group = find_auto_scaling_group(ctx, p)
    if group is not None:
        for page in asg.get_paginator("describe_policies").paginate(AutoScalingGroupName=group["AutoScalingGroupName"]):
            for pol in page["ScalingPolicies"]:
                if not dry(p):
                    asg.delete_policy(AutoScalingGroupName=pol["AutoScalingGroupName"], PolicyName=pol["PolicyName"])
                gone("scaling-policy", pol["PolicyName"], pol["PolicyARN"])
        ids = [i["InstanceId"] for i in group["Instances"]]
        if not dry(p):
            asg.delete_auto_scaling_group(AutoScalingGroupName=names.asg(p), ForceDelete=True)
            if ids:
                progress.wait_for(ec2, "instance_terminated", "app instances terminating", InstanceIds=ids)
            _wait_group_gone(ctx, p)
        gone("auto-scaling-group", names.asg(p), names.asg(p))
    lb, tg = find_load_balancer(ctx, p), find_target_group(ctx, p)
    if lb is not None:
        for port, listener in sorted(_listeners(ctx, lb["LoadBalancerArn"]).items()):
            if not dry(p):
                elb.delete_listener(ListenerArn=listener["ListenerArn"])
            gone("listener", f"{names.alb(p)}:{port}", listener["ListenerArn"])
    if tg is not None:
        if not dry(p):
            elb.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
        gone("target-group", names.target_group(p), tg["TargetGroupArn"])
    if lb is not None:
        if not dry(p):
            # Deletion protection is on by design: switch it off only here, on purpose.
            elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
                {"Key": "deletion_protection.enabled", "Value": "false"}])
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
            progress.wait_for(elb, "load_balancers_deleted", f"load balancer {names.alb(p)} deleting",
                               LoadBalancerArns=[lb["LoadBalancerArn"]])
        gone("load-balancer", names.alb(p), lb["LoadBalancerArn"])
    lt = find_launch_template(ctx, p)
    if lt is not None:
        if not dry(p):
            ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
        gone("launch-template", names.launch_template(p), lt["LaunchTemplateId"])
    for image in ec2.describe_images(Owners=["self"], Filters=tagging.ec2_filters(p, name=p.name("app-ami")))["Images"]:
        snapshots = [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]
        if not dry(p):
            ec2.deregister_image(ImageId=image["ImageId"])
            for snap in snapshots:  # an AMI's snapshots outlive it and keep costing
                ec2.delete_snapshot(SnapshotId=snap)
        gone("image", p.name("app-ami"), image["ImageId"])
    role = names.app_role(p)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        if not dry(p):
            for r in profile.get("Roles", []):
                iam.remove_role_from_instance_profile(InstanceProfileName=role, RoleName=r["RoleName"])
            iam.delete_instance_profile(InstanceProfileName=role)
        gone("instance-profile", role, profile["Arn"])
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
    try:
        arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        if not dry(p):
            delete_iam_role(ctx, role)
        gone("iam-role", role, arn)
    except ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchEntity":
            raise
    return frame(records)


def _wait_group_gone(ctx: Context, p: Params, timeout_s: float = ASG_WAIT_TIMEOUT_S) -> None:
    """A force-deleted group stays listed ("Delete in progress") until its instances are gone."""
    asg = ctx.client("autoscaling")
    progress.poll(lambda: not asg.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"],
                  f"{names.asg(p)} deleted", delay=ASG_POLL_DELAY_S, max_attempts=max(1, int(timeout_s // ASG_POLL_DELAY_S)))
