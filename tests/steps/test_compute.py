"""04_compute: role, launch template, ALB, target group, listeners, Auto Scaling group, destroy."""
from __future__ import annotations

import base64
import itertools
import json
import re
import shlex
import subprocess

import pytest

from compute_fixtures import build_network, create_database, issue_certificate, moto  # noqa: F401 (moto: a fixture)
from conftest import make_ctx
from workbook import iam_actions, names
from workbook.connect import MUTATING
from workbook.params import Params
from workbook.steps import compute


_stacks = itertools.count(1)
AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/app.json"



@pytest.fixture
def env(moto):
    return None


def _ctx(**params):
    return make_ctx(stack_name=f"cmp{next(_stacks)}", **params)


def _ready(*, database: bool = True, **params):
    ctx = _ctx(**params)
    net = build_network(ctx, ctx.params)
    if database:
        create_database(ctx, ctx.params)
    ctx.calls.new()
    return ctx, ctx.params, net


def _mutations(ctx, since: int) -> list[str]:
    return [c.operation for c in ctx.calls.calls[since:] if c.operation.startswith(MUTATING)]


def test_apply_builds_the_compute_tier(env, capsys):
    ctx, p, net = _ready()
    done = compute.apply(ctx)
    made = done[done.type != "log_retention"]    # a new log group's retention is set right after it is made
    assert set(made.action) == {"created"}
    assert {"iam_role", "instance_profile", "launch_template", "load_balancer", "target_group", "listener",
            "auto_scaling_group", "scaling_policy", "log_group"} <= set(done.type)

    elb, asg, ec2 = ctx.client("elbv2"), ctx.client("autoscaling"), ctx.client("ec2")
    lb = elb.describe_load_balancers(Names=[names.alb(p)])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing"
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(net["public"])
    assert lb["SecurityGroups"] == [net["alb_sg"]]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["deletion_protection.enabled"] == "true"
    assert attrs["routing.http.drop_invalid_header_fields.enabled"] == "true"

    tg = elb.describe_target_groups(Names=[names.target_group(p)])["TargetGroups"][0]
    assert (tg["Port"], tg["HealthCheckPath"], tg["Matcher"]["HttpCode"]) == (p.app_port, p.health_check_path, "200")
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert [(x["Port"], x["DefaultActions"][0]["Type"]) for x in listeners] == [(80, "forward")]

    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[names.asg(p)])["AutoScalingGroups"][0]
    assert (g["MinSize"], g["DesiredCapacity"], g["MaxSize"]) == (p.min_capacity, p.desired_capacity, p.max_capacity)
    assert sorted(g["VPCZoneIdentifier"].split(",")) == sorted(net["app"])
    assert g["HealthCheckType"] == "ELB" and g["HealthCheckGracePeriod"] == compute.GRACE_PERIOD_S
    assert g["TargetGroupARNs"] == [tg["TargetGroupArn"]]
    assert {t["Key"]: t["PropagateAtLaunch"] for t in g["Tags"]}["workbook:stack"] is True
    policies = asg.describe_policies(AutoScalingGroupName=names.asg(p))["ScalingPolicies"]
    metrics = {pol["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]:
               pol["TargetTrackingConfiguration"] for pol in policies}
    assert metrics["ASGAverageCPUUtilization"]["TargetValue"] == 50.0
    label = metrics["ALBRequestCountPerTarget"]["PredefinedMetricSpecification"]["ResourceLabel"]
    assert label.startswith(f"app/{names.alb(p)}/") and f"/targetgroup/{names.target_group(p)}/" in label

    # The instances run with what the template asks for (the sandbox's correction sets what moto leaves
    # out, and says so once), and carry the stack's tags from the group.
    ids = [i["InstanceId"] for i in g["Instances"] if i["LifecycleState"] == "InService"]
    assert len(ids) == p.desired_capacity
    for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
        for i in r["Instances"]:
            assert i["MetadataOptions"]["HttpTokens"] == "required"
            assert [s["GroupId"] for s in i["SecurityGroups"]] == [net["app_sg"]]
            assert "PublicIpAddress" not in i
            assert {t["Key"]: t["Value"] for t in i["Tags"]}["workbook:stack"] == p.stack_name
    profiles = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": ids}])
    assert {a["IamInstanceProfile"]["Arn"].rsplit("/", 1)[1] for a in profiles["IamInstanceProfileAssociations"]} \
        == {names.app_role(p)}
    out = capsys.readouterr().out
    assert "no domain_name" in out
    assert out.count("[sandbox] moto launches Auto Scaling instances without the launch template") == 1


def test_launch_template_is_locked_down(env):
    ctx, p, net = _ready()
    compute.ensure_instance_role(ctx)
    compute.ensure_instance_profile(ctx)
    compute.ensure_launch_template(ctx)
    lt = compute.find_launch_template(ctx)
    data = ctx.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=lt.id, Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] in (1, 2)
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    assert data["NetworkInterfaces"][0]["Groups"] == [net["app_sg"]]
    assert all(m["Ebs"]["Encrypted"] and m["Ebs"]["VolumeType"] == "gp3" for m in data["BlockDeviceMappings"])
    assert data["IamInstanceProfile"]["Name"] == names.app_role(p)
    ami = ctx.client("ssm").get_parameter(Name=compute.AL2023_PARAMETER)["Parameter"]["Value"]
    assert data["ImageId"] == ami
    assert {"instance", "volume"} <= {s["ResourceType"] for s in data["TagSpecifications"]}
    script = base64.b64decode(data["UserData"]).decode()
    assert "dnf install -y python3" in script and "amazon-cloudwatch-agent" in script and "app.service" in script
    agent = json.loads(compute.user_data_files(script)[AGENT_CONFIG])
    shipped = {f["log_group_name"] for f in agent["logs"]["logs_collected"]["files"]["collect_list"]}
    assert shipped == {names.app_log_group(p), names.system_log_group(p)}   # the app's log, the boot's output
    assert "@" not in script  # every placeholder filled


def test_user_data_carries_no_secret_and_no_parameter_in_its_text():
    p = Params(stack_name="plain")
    arn = "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x"
    script = compute.user_data(p, db_host="db.local", db_secret_arn=arn)
    files = compute.user_data_files(script)
    assert set(files) == {"/etc/app/boot.env", "/etc/app/app.env", AGENT_CONFIG}
    assert f"DB_SECRET_ARN={shlex.quote(arn)}" in files["/etc/app/app.env"]
    everything = script + "".join(files.values())
    assert "PASSWORD=" not in everything.upper() and "MasterUserPassword" not in everything
    # The script's own text is the same whatever the values: they live only in the base64 blocks.
    other = compute.user_data(Params(stack_name="other", health_check_path="/x';$(y)", app_port=9000),
                              db_host="h$(z)", db_name="n`w`", artifact_url="https://example.com/a.whl")
    blocks = re.compile(r"'[A-Za-z0-9+/=]*' \| base64")
    assert blocks.sub("'' | base64", script) == blocks.sub("'' | base64", other)
    with pytest.raises(ValueError, match="artifact_url"):
        compute.user_data(p, artifact_url="x'; rm -rf /")


def test_role_reads_only_the_database_secret(env, capsys):
    ctx, p, _ = _ready(database=False)
    compute.ensure_instance_role(ctx)
    iam = ctx.client("iam")
    attached = {a["PolicyName"] for a in iam.list_attached_role_policies(RoleName=names.app_role(p))["AttachedPolicies"]}
    assert attached == {"AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"}
    trust = iam.get_role(RoleName=names.app_role(p))["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    doc = iam.get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)["PolicyDocument"]
    assert doc["Statement"][0]["Resource"].endswith(":secret:rds!db-*")
    assert "rerun this step after 03_database" in capsys.readouterr().out

    # Once 03_database exists, a rerun narrows the policy to that one secret.
    rds = ctx.client("rds")
    db = rds.create_db_instance(DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass="db.t4g.micro",
                                AllocatedStorage=20, MasterUsername="app", ManageMasterUserPassword=True)["DBInstance"]
    secret = db["MasterUserSecret"]["SecretArn"]
    compute.ensure_instance_role(ctx)
    doc = iam.get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)["PolicyDocument"]
    assert doc["Statement"][0] == {"Sid": "ReadTheDatabaseSecretOnly", "Effect": "Allow",
                                   "Action": "secretsmanager:GetSecretValue", "Resource": secret}

    # The release: the one parameter that names it, and (on S3) that one object, nothing wider.
    assert doc["Statement"][1] == {"Sid": "ReadTheReleaseLocation", "Effect": "Allow", "Action": "ssm:GetParameter",
                                   "Resource": f"arn:aws:ssm:us-east-1:123456789012:parameter/{p.stack_name}/app/artifact-url"}
    compute.ensure_instance_role(ctx, artifact_url="s3://releases/app-1.0-py3-none-any.whl")
    doc = iam.get_role_policy(RoleName=names.app_role(p), PolicyName=compute.SECRET_POLICY_NAME)["PolicyDocument"]
    assert doc["Statement"][2]["Resource"] == "arn:aws:s3:::releases/app-1.0-py3-none-any.whl"
    assert len(doc["Statement"]) == 3


def test_second_apply_changes_nothing(env):
    ctx, p, _ = _ready()
    compute.apply(ctx)
    mark, before = ctx.calls.mark(), len(ctx.resources)
    again = compute.apply(ctx)
    assert set(again.action) == {"exists"}
    assert len(again) == len(ctx.resources) - before
    assert _mutations(ctx, mark) == []


def test_certificate_upgrades_listeners_to_https(env):
    ctx, p, _ = _ready(domain_name="tls.example.com")
    compute.apply(ctx)
    cert = issue_certificate(ctx, "tls.example.com")
    changed = compute.ensure_listeners(ctx)
    assert sorted((r.name, r.action) for r in changed) == [
        (f"{names.alb(p)}:443", "created"), (f"{names.alb(p)}:80", "updated")]
    lb = compute.find_load_balancer(ctx)
    by_port = {x["Port"]: x for x in ctx.client("elbv2").describe_listeners(LoadBalancerArn=lb.id)["Listeners"]}
    assert by_port[443]["Protocol"] == "HTTPS" and by_port[443]["Certificates"][0]["CertificateArn"] == cert
    assert by_port[443]["DefaultActions"][0]["Type"] == "forward"
    assert by_port[80]["DefaultActions"][0]["RedirectConfig"] == {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}
    assert compute.endpoint(ctx) == "https://tls.example.com"
    mark = ctx.calls.mark()
    assert {r.action for r in compute.ensure_listeners(ctx)} == {"exists"}
    assert _mutations(ctx, mark) == []


def test_dry_run_creates_nothing_even_without_network(env):
    ctx = _ctx(dry_run=True)
    mark = ctx.calls.mark()
    planned = compute.apply(ctx)
    assert set(planned[planned.type != "log_retention"].action) == {"would create"}
    assert {"load_balancer", "launch_template", "auto_scaling_group", "iam_role"} <= set(planned.type)
    assert _mutations(ctx, mark) == []


def test_plan_lists_work_without_creating(env):
    ctx, p, _ = _ready()
    mark = ctx.calls.mark()
    planned = compute.plan(ctx)
    assert "would create" in set(planned.action)
    assert _mutations(ctx, mark) == []


def test_missing_network_names_the_step_to_run(env):
    ctx = _ctx()
    with pytest.raises(compute.PrerequisiteMissing, match="02_network"):
        compute.ensure_load_balancer(ctx)
    assert _mutations(ctx, 0) == []


def test_alb_refuses_a_single_availability_zone(env):
    ctx = _ctx()
    build_network(ctx, ctx.params, azs=("a",))
    mark = ctx.calls.mark()
    with pytest.raises(compute.PrerequisiteMissing, match="at least 2 availability zones"):
        compute.ensure_load_balancer(ctx)
    assert _mutations(ctx, mark) == []


def test_api_gateway_entry_makes_an_internal_alb_in_app_subnets(env):
    ctx, p, net = _ready(entry="api_gateway")
    compute.ensure_load_balancer(ctx, wait=True)
    lb = compute.find_load_balancer(ctx)
    assert lb.raw["Scheme"] == "internal"
    assert sorted(z["SubnetId"] for z in lb.raw["AvailabilityZones"]) == sorted(net["app"])
    with pytest.raises(compute.PrerequisiteMissing, match="cannot change"):
        compute.ensure_load_balancer(ctx.replace(entry="alb"))


def test_rerun_with_new_capacity_updates_the_group(env):
    ctx, p, _ = _ready()
    compute.apply(ctx)
    bigger = ctx.replace(min_capacity=3, desired_capacity=3, max_capacity=6)
    rec = compute.ensure_auto_scaling_group(bigger)
    assert rec.action == "updated"
    g = compute.find_auto_scaling_group(bigger).raw
    assert (g["MinSize"], g["DesiredCapacity"], g["MaxSize"]) == (3, 3, 6)
    assert len(compute.wait_for_instances(bigger)) == 3


def test_az_spread_is_reported_not_emulated_in_the_sandbox(env, capsys):
    ctx, p, _ = _ready()
    compute.apply(ctx)
    spread = compute.az_spread(ctx)
    assert list(spread.az) == ["us-east-1a", "us-east-1b"]
    assert spread.configured.all() and set(spread.instances) == {"not emulated"}
    assert "instance spread is not emulated" in capsys.readouterr().out
    # On a real account (same moto, no sandbox seam) the instances are counted per AZ.
    real = make_ctx(stack_name=p.stack_name, target="aws", aws_account_id="123456789012")
    counted = compute.az_spread(real)
    assert sum(counted.instances) == p.desired_capacity and "not emulated" not in capsys.readouterr().out


def test_destroy_removes_everything_and_is_safe_twice(env):
    ctx, p, _ = _ready()
    compute.apply(ctx)
    ids = [i["InstanceId"] for i in compute.find_auto_scaling_group(ctx).raw["Instances"]]
    gone = compute.destroy(ctx)
    assert set(gone.action) == {"deleted"}
    assert set(gone.type) == {"auto_scaling_group", "launch_template", "load_balancer", "target_group",
                              "instance_profile", "iam_role", "s3_bucket", "ssm_parameter"}
    assert list(gone.type).index("auto_scaling_group") < list(gone.type).index("target_group")
    assert compute.find_auto_scaling_group(ctx) is None
    assert compute.find_load_balancer(ctx) is None and compute.find_target_group(ctx) is None
    assert compute.find_launch_template(ctx) is None
    states = {i["State"]["Name"] for r in ctx.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
              for i in r["Instances"]}
    assert states == {"terminated"}
    iam = ctx.client("iam")
    assert names.app_role(p) not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert compute.destroy(ctx).empty


def test_step_declares_the_permissions_it_calls(env):
    ctx, p, _ = _ready(domain_name="perm.example.com")
    start = ctx.calls.mark()
    compute.apply(ctx)
    issue_certificate(ctx, "perm.example.com")  # what 05_edge does; not this step's call
    calls = [c for c in ctx.calls.calls[start:] if c.operation not in ("RequestCertificate", "DescribeCertificate")]
    again = ctx.calls.mark()
    compute.ensure_listeners(ctx)
    compute.destroy(ctx)
    calls += ctx.calls.calls[again:]
    used = iam_actions.actions_for_calls(calls)
    assert sorted(used - set(compute.STEP.all_permissions())) == []


def test_without_the_database_04_says_to_run_03_first_then_names_it(env):
    """An app server booted without the database's address never serves: 04 refuses before any launch."""
    ctx, p, _ = _ready(database=False)
    with pytest.raises(compute.PrerequisiteMissing, match="run 03_database first"):
        compute.ensure_launch_template(ctx)
    assert compute.find_launch_template(ctx) is None
    db = create_database(ctx, p)
    assert compute.ensure_launch_template(ctx).action == "created"
    lt = compute.find_launch_template(ctx)
    data = ctx.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=lt.id, Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    env_file = compute.user_data_files(base64.b64decode(data["UserData"]).decode())["/etc/app/app.env"]
    assert f"DB_SECRET_ARN={shlex.quote(db['MasterUserSecret']['SecretArn'])}" in env_file
    assert f"DB_HOST={shlex.quote(db['Endpoint']['Address'])}" in env_file and "DB_NAME=app" in env_file
    assert compute.ensure_launch_template(ctx).action == "exists"


def test_image_from_the_dev_instance_feeds_the_template(env):
    ctx, p, _ = _ready()
    ec2 = ctx.client("ec2")
    ami = ctx.client("ssm").get_parameter(Name=compute.AL2023_PARAMETER)["Parameter"]["Value"]
    dev = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.small", TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": names.DEV_NAME}]}])["Instances"][0]
    since = len(ctx.calls.calls)
    image = compute.ensure_image_from_dev(ctx)
    assert image.action == "created" and image.id.startswith("ami-")
    # CreateImage reboots the instance unless told not to: the user's dev server keeps running
    made = [c for c in ctx.calls.calls[since:] if c.operation == "CreateImage"]
    assert made and "NoReboot=True" in made[0].args
    assert compute.ensure_image_from_dev(ctx).action == "exists"
    described = ec2.describe_images(ImageIds=[image.id])["Images"][0]
    assert dev["InstanceId"] in described.get("Description", "")
    compute.ensure_launch_template(ctx, image_id=image.id)
    lt = compute.find_launch_template(ctx)
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt.id,
                                                 Versions=["$Latest"])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["ImageId"] == image.id
    gone = compute.destroy(ctx)
    assert "ami" in set(gone.type) and ec2.describe_images(ImageIds=[image.id])["Images"] == []


def test_destroy_in_dry_run_deletes_nothing(env):
    ctx, p, _ = _ready()
    compute.apply(ctx)
    mark = ctx.calls.mark()
    planned = compute.destroy(ctx.replace(dry_run=True))
    assert set(planned.action) == {"would delete"} and "load_balancer" in set(planned.type)
    assert _mutations(ctx, mark) == []
    assert compute.find_load_balancer(ctx) is not None


# ---- the boot script with hostile values (issue 13) ------------------------------------------------
# Every value that reaches the user data is rendered with hostile content and the script is run for
# real, as root would run it at boot, in a temporary root with stand-ins for the commands that would
# touch the machine (dnf, useradd, curl, aws, pip, systemctl, the CloudWatch agent). A value that
# escapes its quoting runs `touch <root>/PWNED-...`; none may, and each must arrive in the app's
# environment byte for byte.
BOOT_PATHS = ("/etc/app", "/etc/systemd/system", "/opt/app", "/opt/aws", "/var/log/app")
STUB = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
name = os.path.basename(sys.argv[0])
if name == "curl":
    print("us-east-1")
elif name == "aws" and "ssm" in sys.argv:
    print("https://example.com/app-from-ssm.whl")
elif name == "python3" and sys.argv[1:3] == ["-m", "venv"]:
    os.makedirs(os.path.join(sys.argv[3], "bin"), exist_ok=True)
    pip = os.path.join(sys.argv[3], "bin", "pip")
    with open(pip, "w") as f:
        f.write(open(sys.argv[0]).read())
    os.chmod(pip, 0o755)
elif name == "install":  # no user "app" here: drop -o/-g, install the rest for real
    args, it = [], iter(sys.argv[1:])
    for a in it:
        if a in ("-o", "-g"):
            next(it)
        else:
            args.append(a)
    os.execv("/usr/bin/install", ["install"] + args)
"""


def unchecked(p, **changes):
    """p with values set past Params' validation: the boot script must be safe on its own."""
    import copy
    q = copy.copy(p)
    for k, v in changes.items():
        object.__setattr__(q, k, v)
    return q


def run_boot_script(script: str, root) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run the user data under bash in `root` (its absolute paths moved there), commands stubbed."""
    import re
    import sys
    for path in BOOT_PATHS:  # absolute paths only (not .../amazon-cloudwatch-agent/etc/app.json)
        script = re.sub(rf"(?<![\w./-]){re.escape(path)}", f"{root}{path}", script)
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    stubs, log = root / "stubs", root / "commands.jsonl"
    stubs.mkdir()
    agent = root / "opt/aws/amazon-cloudwatch-agent"
    (agent / "bin").mkdir(parents=True)
    (agent / "etc").mkdir(parents=True)
    for name in ("dnf", "id", "useradd", "install", "curl", "aws", "python3", "systemctl"):
        (stubs / name).write_text(STUB.format(python=sys.executable, log=str(log)))
        (stubs / name).chmod(0o755)
    ctl = agent / "bin" / "amazon-cloudwatch-agent-ctl"
    ctl.write_text(STUB.format(python=sys.executable, log=str(log)))
    ctl.chmod(0o755)
    path = root / "user-data.sh"
    path.write_text(script)
    syntax = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, cwd=root, timeout=60,
                          env={"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"})
    commands = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, commands


def read_env_file(path, *keys: str) -> dict[str, str]:
    """The values a shell (and systemd's EnvironmentFile, which reads single quotes alike) gets."""
    out = subprocess.run(["bash", "-c", 'set -a; . "$1"; shift; for k in "$@"; do printf "%s\\0" "${!k}"; done',
                          "_", str(path), *keys], capture_output=True, text=True, check=True).stdout
    return dict(zip(keys, out.split("\0")[:-1]))


HOSTILE = {
    "heredoc terminator": {"health_check_path": "/h\nENV\ntouch\t{root}/PWNED-heredoc"},
    "command substitution": {"health_check_path": "/$(touch${{IFS}}{root}/PWNED-subst)"},
    "backticks": {"health_check_path": "/`touch {root}/PWNED-tick`"},
    "quotes": {"health_check_path": "/a'b\"c\\d'$(touch${{IFS}}{root}/PWNED-quote)'\n"},
    "database answers": {"db_host": "db.local$(touch${{IFS}}{root}/PWNED-host)",
                         "db_name": "app`touch {root}/PWNED-name`",
                         "db_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:rds!db-x;touch {root}/PWNED-arn"},
    "artifact url": {"artifact_url": "https://example.com/app.whl?$(touch${{IFS}}{root}/PWNED-art)&`touch${{IFS}}"
                                     "{root}/PWNED-art2`"},
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_stay_inert_in_the_boot_script(case, tmp_path):
    values = {k: v.format(root=tmp_path) for k, v in HOSTILE[case].items()}
    params = {k: v for k, v in values.items() if k == "health_check_path"}
    p = unchecked(Params(stack_name="hostile"), **params)
    kw = {k: v for k, v in values.items() if k != "health_check_path"}
    script = compute.user_data(p, **{"db_host": "db.local", "db_name": "app", **kw})

    done, commands = run_boot_script(script, tmp_path)
    assert sorted(x.name for x in tmp_path.glob("PWNED*")) == [], "a value ran as a command"
    assert done.returncode == 0, done.stderr
    env = read_env_file(tmp_path / "etc/app/app.env", "HEALTH_CHECK_PATH", "DB_HOST", "DB_NAME", "DB_SECRET_ARN",
                        "APP_PORT", "AWS_REGION")
    assert env["HEALTH_CHECK_PATH"] == p.health_check_path
    assert (env["DB_HOST"], env["DB_NAME"]) == (kw.get("db_host", "db.local"), kw.get("db_name", "app"))
    assert env["DB_SECRET_ARN"] == kw.get("db_secret_arn", "")
    assert (env["APP_PORT"], env["AWS_REGION"]) == (str(p.app_port), p.region)
    pip = [c for c in commands if c[0] == "pip"]
    assert pip and pip[-1][-1] == kw.get("artifact_url", "https://example.com/app-from-ssm.whl")
    assert {c[0] for c in commands} <= {"dnf", "id", "useradd", "install", "curl", "aws", "python3", "pip",
                                        "systemctl", "amazon-cloudwatch-agent-ctl"}
    assert ["systemctl", "enable", "--now", "app.service"] in commands


def test_the_apply_button_routes_the_app_subnets_through_the_nat_02_left_pending(env):
    """On AWS a NAT gateway is pending for 1.5-2 minutes, so 02 leaves the app route tables without their
    0.0.0.0/0 route and 04 adds it. Only 04's notebook did: the step panel's Apply (compute.apply) built
    servers that could reach neither dnf, SSM nor S3, and the group replaced them in a loop."""
    from workbook.steps import network
    ctx = _ctx()
    ec2, pending = ctx.client("ec2"), [True]

    def as_pending(parsed, **_):
        for n in parsed.get("NatGateways", []) if pending[0] else []:
            n["State"] = "pending"
    ec2.meta.events.register("after-call.ec2.DescribeNatGateways", as_pending)
    azs = network.pick_azs(ctx)
    network.ensure_vpc(ctx)
    network.ensure_subnets(ctx, azs)
    network.ensure_internet_gateway(ctx)
    network.start_nat_gateways(ctx, azs)
    network.ensure_route_tables(ctx, azs)
    network.ensure_security_groups(ctx)
    network.ensure_nat_routes(ctx, azs, wait=False)     # as 02's notebook runs it
    pending[0] = False                                  # minutes later, the NAT is available
    create_database(ctx, ctx.params)
    compute.apply(ctx)
    for az in azs:
        (table,) = ec2.describe_route_tables(Filters=[{"Name": "tag:Name",
                                                       "Values": [names.route_table(ctx.params, "app", az)]}])["RouteTables"]
        assert any(r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("NatGatewayId") for r in table["Routes"]), az


def test_a_rerun_keeps_the_servers_target_tracking_added(env):
    """A rerun set DesiredCapacity back to the parameter: under load, a group scaled out to 4 was scaled
    in to 2 by the rerun (its termination policy picks which). The parameter is the size a new group
    starts with; a running group keeps its size, moved only into [min, max]."""
    ctx, p, _ = _ready()
    compute.apply(ctx)
    asg = ctx.client("autoscaling")
    asg.set_desired_capacity(AutoScalingGroupName=names.asg(p), DesiredCapacity=4)   # scaled out
    compute.ensure_auto_scaling_group(ctx)
    assert compute.find_auto_scaling_group(ctx).raw["DesiredCapacity"] == 4
    smaller = ctx.replace(max_capacity=3, desired_capacity=2)
    compute.ensure_auto_scaling_group(smaller)
    assert compute.find_auto_scaling_group(ctx).raw["DesiredCapacity"] == 3   # within the new bounds
