"""00_setup: the dev environment the article starts from (and 01_assess, which assesses it).

One EC2 instance in the default VPC that runs the API and its database, with a public IP and a
security group open to the whole internet on SSH, HTTP and the database port; no backups.

Whether this step builds that host or finds yours is a parameter, decided once in Params
(`demo_dev_host`, resolved as `p.builds_demo_dev_host`): the demo dev host is built (layout from
p.dev_db_engine, p.dev_elastic_ip, p.dev_split_security_groups) through workbook.engine, tagged with the
stack and this step; otherwise nothing is created and your dev instance is found by p.dev_instance_id or
p.dev_tag. By default the demo host is built only in the sandbox; on a real account only when asked.
"""
from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd

from .. import checks, engine, plan_cost
from ..connect import Context, Resource
from ..inventory import ec2 as inv_ec2
from ..names import DEV_HTTP_PORT, DEV_NAME, dev_sg
from ..params import Params
from ..tagging import tag_spec
from . import Step, destroy_kinds, register

STEP_ID = "00_setup"
INTERNET = "0.0.0.0/0"

STEP = register(Step(
    STEP_ID, "The dev environment",
    "A common development backend is one EC2 server that hosts both the API and the database, exposed "
    "to the internet. It is tempting to copy it to production; this is the starting point we assess "
    "and then move, step by step, to a production architecture.",
    short="Dev environment", module="dev", migration=False,
    kinds=("security_group", "instance", "elastic_ip"),
    permissions=(
        "ssm:GetParameter", "ec2:DescribeInstanceTypes",      # the AL2023 AMI id of the type's architecture
        "ec2:DescribeVpcs", "ec2:DescribeSubnets",            # the default VPC and subnet
        "ec2:CreateTags",                                     # tags on create (instance, root volume)
        # verify / discover: what the dev server uses, and what other steps would have made around it
        "ec2:DescribeVolumes", "ec2:DescribeSnapshots",
        "rds:DescribeDBInstances", "elasticloadbalancing:DescribeLoadBalancers",
        "autoscaling:DescribeAutoScalingGroups", "cloudwatch:DescribeAlarms", "route53:ListHostedZones",
        "route53:ListResourceRecordSets",
    ),
))

ASSESS = register(Step(
    "01_assess", "Assess the dev environment",
    "Before moving anything, measure how far the dev server is from what the article asks of production: "
    "backups, redundancy across availability zones, auto scaling, logging and monitoring, a private network "
    "and least privilege. The same checks run again on the production stack, for a before and after.",
    short="Assess", module="dev", migration=False,
))


# ---- layout ------------------------------------------------------------------------------------------
def security_group_layout(p: Params) -> dict[str, list[int]]:
    """Security group name -> ports open to the internet. One group, or web + db when split."""
    if p.dev_split_security_groups:
        return {dev_sg(p, "web"): [22, DEV_HTTP_PORT], dev_sg(p, "db"): [p.dev_db_port]}
    return {dev_sg(p): [22, DEV_HTTP_PORT, p.dev_db_port]}


def user_data(p: Params) -> str:
    """Boot script of the dev server: the database and the API on one host, as in the article.

    The database password is generated on the instance and never leaves it (no secret in user data).
    """
    if p.dev_db_engine == "postgres":
        db = """\
            dnf install -y postgresql16-server postgresql16
            postgresql-setup --initdb
            sed -i "s/^#listen_addresses.*/listen_addresses = '*'/" /var/lib/pgsql/data/postgresql.conf
            echo "host all all 0.0.0.0/0 scram-sha-256" >> /var/lib/pgsql/data/pg_hba.conf
            systemctl enable --now postgresql
            sudo -u postgres psql -c "CREATE ROLE app LOGIN PASSWORD '$DB_PASSWORD'"
            sudo -u postgres psql -c "CREATE DATABASE app OWNER app"
            DB_URL="postgresql://app:$DB_PASSWORD@127.0.0.1:5432/app"
            """
    else:
        # MariaDB is the MySQL-compatible server that AL2023 ships (AWS's LAMP tutorial uses it).
        db = """\
            dnf install -y mariadb105-server
            echo -e "[mysqld]\\nbind-address=0.0.0.0" > /etc/my.cnf.d/zz-listen.cnf
            systemctl enable --now mariadb
            mysql -e "CREATE DATABASE app; CREATE USER 'app'@'%' IDENTIFIED BY '$DB_PASSWORD'; GRANT ALL ON app.* TO 'app'@'%';"
            DB_URL="mysql://app:$DB_PASSWORD@127.0.0.1:3306/app"
            """
    script = f"""\
        #!/bin/bash
        # {DEV_NAME}: API and {p.dev_db_engine} on one host (workbook 00_setup)
        set -euo pipefail
        DB_PASSWORD=$(openssl rand -hex 16)
{textwrap.indent(textwrap.dedent(db), " " * 8)}
        dnf install -y python3 && mkdir -p /opt/app
        install -m 600 /dev/null /etc/app.env && echo "DATABASE_URL=$DB_URL" > /etc/app.env
        cat > /opt/app/app.py <<'PY'
        import http.server, json, os, socket
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host, port = "127.0.0.1", int(os.environ["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
                try:
                    socket.create_connection((host, port), timeout=1).close(); ok = True
                except OSError:
                    ok = False
                body = json.dumps({{"status": "ok" if ok else "db-down"}}).encode()
                self.send_response(200 if ok else 503); self.end_headers(); self.wfile.write(body)
        http.server.ThreadingHTTPServer(("", {DEV_HTTP_PORT}), H).serve_forever()
        PY
        cat > /etc/systemd/system/app.service <<'UNIT'
        [Unit]
        After=network-online.target
        [Service]
        EnvironmentFile=/etc/app.env
        ExecStart=/usr/bin/python3 /opt/app/app.py
        Restart=always
        [Install]
        WantedBy=multi-user.target
        UNIT
        systemctl daemon-reload && systemctl enable --now app
        """
    return textwrap.dedent(script)


# ---- finding things ----------------------------------------------------------------------------------
def default_subnet(ctx: Context) -> tuple[str, str]:
    """(vpc_id, subnet_id) of the default VPC's default subnet in its first AZ."""
    ec2 = ctx.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise RuntimeError("this region has no default VPC; the dev environment is built in the default VPC "
                           "(create one with `aws ec2 create-default-vpc`)")
    vpc_id = vpcs[0]["VpcId"]
    subnets = inv_ec2.paginate(ctx, "describe_subnets", "Subnets",
                               Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                        {"Name": "default-for-az", "Values": ["true"]}])
    subnet = min(subnets, key=lambda s: s["AvailabilityZone"])
    return vpc_id, subnet["SubnetId"]


def find_dev_instance(ctx: Context) -> dict[str, Any]:
    """Your dev instance (by dev_instance_id or dev_tag); exactly one must match."""
    p = ctx.p
    items = inv_ec2.find_dev_instances(ctx, p)
    how = f"dev_instance_id={p.dev_instance_id}" if p.dev_instance_id else f"dev_tag={p.dev_tag}"
    if not items:
        raise inv_ec2.DevNotFound(f"no running or stopped instance matches {how} in {p.region}; "
                                  "set dev_instance_id (i-...) or dev_tag (Key=Value) to your dev server")
    if len(items) > 1:
        raise inv_ec2.DevNotFound(f"{how} matches {len(items)} instances ({', '.join(i['InstanceId'] for i in items)}); "
                                  "set dev_instance_id to the one to assess")
    return items[0]


def inst_name(inst: dict[str, Any]) -> str:
    return next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == "Name"), inst["InstanceId"])


def _found(ctx: Context, type_: str, name: str, id_: str, item: dict[str, Any]) -> Resource:
    """A resource of the user's dev environment: found, never the stack's (destroy never touches it)."""
    return ctx.note(STEP_ID, type_, name, id_, "exists", item=item)


def _missing_permissions(group: dict[str, Any], ports: list[int]) -> list[dict[str, Any]]:
    """Ingress permissions of the layout that the group lacks (a crash between create and authorize)."""
    have = {(perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort"))
            for perm in group.get("IpPermissions", []) if any(r.get("CidrIp") == INTERNET for r in perm.get("IpRanges", []))}
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": INTERNET, "Description": "dev: open to the internet"}]}
            for port in ports if ("tcp", port, port) not in have]


# ---- ensure_* ----------------------------------------------------------------------------------------
def ensure_dev_security_groups(ctx: Context) -> list[Resource]:
    """The dev security group(s), open to 0.0.0.0/0 on 22, 80 and the database port (demo host); or the
    groups your dev instance uses."""
    p = ctx.p
    if not p.builds_demo_dev_host:
        inst = find_dev_instance(ctx)
        groups = {g["GroupId"]: g.get("GroupName", "") for g in inst.get("SecurityGroups", [])
                  + [g for eni in inst.get("NetworkInterfaces", []) for g in eni.get("Groups", [])]}
        return [_found(ctx, "security_group", name, gid, {}) for gid, name in groups.items()]
    records: list[Resource] = []
    vpc_id = ""
    for name, ports in security_group_layout(p).items():
        found = engine.find_one(ctx, "security_group", name)
        if found is None and not ctx.dry_run:
            vpc_id = vpc_id or default_subnet(ctx)[0]
        # GroupName is unique per VPC and every stack's dev server sits in the default VPC, so the group
        # name carries the stack; the Name tag (how it is found) is names.dev_sg.
        rec = engine.ensure(ctx, "security_group", name, step=STEP_ID, found=found, lookup=False,
                            create=lambda name=name: {"GroupName": p.name(name), "VpcId": vpc_id,
                                                      "Description": f"{DEV_NAME}: open to the internet"})
        records.append(rec)
        # A group made by a run that crashed before the authorize lacks some: added, never opened wider.
        missing = _missing_permissions(rec.item, ports)
        if missing:
            if not (ctx.dry_run or engine.is_placeholder(rec.id)):
                ctx.client("ec2").authorize_security_group_ingress(GroupId=rec.id, IpPermissions=missing)
            ctx.note(STEP_ID, "security_group_rule",
                     f"{name} ingress from {INTERNET} tcp:{', '.join(str(m['FromPort']) for m in missing)}", rec.id,
                     "would create" if ctx.dry_run else "created")
    return records


def resolve_ami(ctx: Context) -> str:
    """The latest Amazon Linux 2023 AMI of the architecture dev_instance_type runs (a Graviton t4g is
    arm64), from AWS's public SSM parameter."""
    from .compute_template import al2023_parameter
    return ctx.client("ssm").get_parameter(Name=al2023_parameter(ctx, "dev_instance_type"))["Parameter"]["Value"]


def ensure_dev_instance(ctx: Context) -> Resource:
    """The dev server: API and database on one host, public IP, in the default VPC (demo host); or your
    dev instance."""
    p = ctx.p
    if not p.builds_demo_dev_host:
        inst = find_dev_instance(ctx)
        return _found(ctx, "instance", inst_name(inst), inst["InstanceId"], inst)
    found = engine.find_one(ctx, "instance", DEV_NAME)
    groups: list[engine.Item | None] = []
    if found is None and not ctx.dry_run:
        groups = [engine.find_one(ctx, "security_group", name) for name in security_group_layout(p)]
        if any(g is None for g in groups):
            raise RuntimeError("the dev security groups do not exist yet; run ensure_dev_security_groups first")

    def create() -> dict[str, Any]:
        _, subnet_id = default_subnet(ctx)
        return {"ImageId": resolve_ami(ctx), "InstanceType": p.dev_instance_type, "MinCount": 1, "MaxCount": 1,
                "UserData": user_data(p),
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": subnet_id, "AssociatePublicIpAddress": True,
                                       "Groups": [g.id for g in groups if g]}],
                # the root volume carries the step's tags too (the engine adds the instance's)
                "TagSpecifications": tag_spec("volume", p, STEP_ID, f"{DEV_NAME}-root")}
    return engine.ensure(ctx, "instance", DEV_NAME, step=STEP_ID, found=found, lookup=False, create=create,
                         extra_tags={inv_ec2.DEV_DB_TAG: p.dev_db_engine})


def ensure_dev_address(ctx: Context) -> Resource | None:
    """An Elastic IP on the dev server (demo layout p.dev_elastic_ip; None when the layout has none), or
    the one your dev instance has (None when it has none)."""
    p = ctx.p
    if not p.builds_demo_dev_host:
        inst = find_dev_instance(ctx)
        found = inv_ec2.describe_addresses(ctx, [{"Name": "instance-id", "Values": [inst["InstanceId"]]}])
        return _found(ctx, "elastic_ip", found[0]["PublicIp"], found[0]["AllocationId"], found[0]) if found else None
    if not p.dev_elastic_ip:
        return None
    # AllocateAddress takes no client token: finding it by tag first is what keeps a rerun from a twin.
    rec = engine.ensure(ctx, "elastic_ip", DEV_NAME, step=STEP_ID, create={"Domain": "vpc"})
    instance = engine.find_one(ctx, "instance", DEV_NAME)
    if instance and rec.item.get("InstanceId") != instance.id:
        if not ctx.dry_run:
            ctx.client("ec2").associate_address(AllocationId=rec.id, InstanceId=instance.id)
        ctx.note(STEP_ID, "address_association", f"{DEV_NAME} -> {instance.id}", rec.id,
                 "would create" if ctx.dry_run else "created")
    return rec


# ---- plan / apply / verify / destroy -----------------------------------------------------------------
def apply(ctx: Context) -> pd.DataFrame:
    mark = len(ctx.resources)
    ensure_dev_security_groups(ctx)
    ensure_dev_instance(ctx)
    ensure_dev_address(ctx)
    return ctx.resources_frame(mark)


def plan(ctx: Context) -> pd.DataFrame:
    """What apply would do: the same finds, with nothing created."""
    return plan_cost.plan(ctx, apply)  # priced: each row, new and running, the total


def discover(ctx: Context) -> inv_ec2.DevInventory:
    """The dev environment as an Inventory (what 01_assess and 07_access assess); in a dry run before
    anything exists, an empty one."""
    return inv_ec2.discover_dev(ctx, ctx.p, missing_ok=ctx.dry_run)


def verify(ctx: Context) -> pd.DataFrame:
    """The dev environment's findings (the checks of 01_assess); none while it does not exist (dry run)."""
    inv = discover(ctx)
    if inv.instances.empty:
        return pd.DataFrame(columns=checks.COLUMNS)
    return checks.run(inv, ctx.p, groups=["dev"])


def destroy(ctx: Context) -> pd.DataFrame:
    """Remove what this step created, by its tags only: a dev server that was found (yours) is never the
    stack's. Safe to run twice; in a dry run only notes "would delete"."""
    return destroy_kinds(ctx, STEP)


__all__ = ["ensure_dev_security_groups", "ensure_dev_instance", "ensure_dev_address", "plan", "apply", "verify",
           "destroy", "discover", "find_dev_instance", "user_data", "security_group_layout", "resolve_ami"]
