"""00_setup: the dev environment the article starts from.

One EC2 instance in the default VPC that runs the API and its database, with a public IP and a
security group open to the whole internet on SSH, HTTP and the database port; no backups. In the
sandbox this step creates it (the layout follows p.dev_db_engine, p.dev_elastic_ip,
p.dev_split_security_groups); against a real account it creates nothing and only finds the dev
instance by p.dev_instance_id or p.dev_tag.
"""
from __future__ import annotations

import textwrap
from typing import Any

import pandas as pd

from .. import checks, progress
from ..connect import Context, Resource
from ..inventory import ec2 as inv_ec2
from ..names import DEV_NAME, dev_sg
from ..params import Params
from ..tagging import client_token, ec2_filters, tag_spec, tags
from . import Step, created, exists, frame, register, would_create

STEP = "00_setup"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
INTERNET = "0.0.0.0/0"

register(Step(
    STEP, "The dev environment",
    "A common development backend is one EC2 server that hosts both the API and the database, exposed "
    "to the internet. It is tempting to copy it to production; this is the starting point we assess "
    "and then move, step by step, to a production architecture.",
    permissions=(
        "ssm:GetParameter",
        "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeInstances",
        "ec2:DescribeAddresses", "ec2:DescribeVolumes", "ec2:DescribeSnapshots",
        "ec2:CreateSecurityGroup", "ec2:AuthorizeSecurityGroupIngress", "ec2:CreateTags", "ec2:RunInstances",
        "ec2:AllocateAddress", "ec2:AssociateAddress",
        "ec2:DisassociateAddress", "ec2:ReleaseAddress", "ec2:TerminateInstances", "ec2:DeleteSecurityGroup",
        # verify: the assessment reads what other steps would have made around the dev server
        "rds:DescribeDBInstances", "elasticloadbalancing:DescribeLoadBalancers",
        "autoscaling:DescribeAutoScalingGroups", "cloudwatch:DescribeAlarms", "route53:ListHostedZones",
        "route53:ListResourceRecordSets",
    ),
))


# ---- layout ------------------------------------------------------------------------------------------
def security_group_layout(p: Params) -> dict[str, list[int]]:
    """Security group name -> ports open to the internet. One group, or web + db when split."""
    if p.dev_split_security_groups:
        return {dev_sg(p, "web"): [22, 80], dev_sg(p, "db"): [p.dev_db_port]}
    return {dev_sg(p): [22, 80, p.dev_db_port]}


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
        http.server.ThreadingHTTPServer(("", 80), H).serve_forever()
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


def _find_group(ctx: Context, p: Params, name: str) -> dict[str, Any] | None:
    found = inv_ec2.paginate(ctx, "describe_security_groups", "SecurityGroups",
                             Filters=ec2_filters(p, STEP, name))
    return found[0] if found else None


def _find_instance(ctx: Context, p: Params) -> dict[str, Any] | None:
    found = inv_ec2.describe_instances(ctx, ec2_filters(p, STEP, DEV_NAME) + [
        {"Name": "instance-state-name", "Values": inv_ec2.LIVE_STATES}])
    return found[0] if found else None


def _find_address(ctx: Context, p: Params) -> dict[str, Any] | None:
    found = inv_ec2.describe_addresses(ctx, ec2_filters(p, STEP, DEV_NAME))
    return found[0] if found else None


def find_dev_instance(ctx: Context, p: Params) -> dict[str, Any]:
    """aws mode: the user's dev instance (by dev_instance_id or dev_tag); exactly one must match."""
    items = inv_ec2.find_dev_instances(ctx, p)
    how = f"dev_instance_id={p.dev_instance_id}" if p.dev_instance_id else f"dev_tag={p.dev_tag}"
    if not items:
        raise inv_ec2.DevNotFound(f"no running or stopped instance matches {how} in {p.region}; "
                                  "set dev_instance_id (i-...) or dev_tag (Key=Value) to your dev server")
    if len(items) > 1:
        raise inv_ec2.DevNotFound(f"{how} matches {len(items)} instances ({', '.join(i['InstanceId'] for i in items)}); "
                                  "set dev_instance_id to the one to assess")
    return items[0]


def _missing_permissions(group: dict[str, Any], ports: list[int]) -> list[dict[str, Any]]:
    """Ingress permissions of the layout that the group lacks (a crash between create and authorize)."""
    have = {(perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort"))
            for perm in group.get("IpPermissions", []) if any(r.get("CidrIp") == INTERNET for r in perm.get("IpRanges", []))}
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": INTERNET, "Description": "dev: open to the internet"}]}
            for port in ports if ("tcp", port, port) not in have]


# ---- ensure_* ----------------------------------------------------------------------------------------
def ensure_dev_security_groups(ctx: Context, p: Params) -> list[Resource]:
    """The dev security group(s), open to 0.0.0.0/0 on 22, 80 and the database port."""
    if not ctx.sandbox:
        inst = find_dev_instance(ctx, p)
        groups = {g["GroupId"]: g.get("GroupName", "") for g in inst.get("SecurityGroups", [])
                  + [g for eni in inst.get("NetworkInterfaces", []) for g in eni.get("Groups", [])]}
        return [exists(ctx, STEP, "security-group", name, gid) for gid, name in groups.items()]
    ec2 = ctx.client("ec2")
    records: list[Resource] = []
    vpc_id = None
    for name, ports in security_group_layout(p).items():
        group = _find_group(ctx, p, name)
        if group is None and p.dry_run:
            records.append(would_create(ctx, STEP, "security-group", name))
            continue
        if group is None:
            vpc_id = vpc_id or default_subnet(ctx)[0]
            # GroupName is unique per VPC and every stack's dev server sits in the default VPC, so the
            # group name carries the stack; the Name tag (how it is found) is names.dev_sg.
            gid = ec2.create_security_group(GroupName=p.name(name), Description=f"{DEV_NAME}: open to the internet",
                                            VpcId=vpc_id, TagSpecifications=tag_spec("security-group", p, STEP, name))["GroupId"]
            progress.wait_for(ec2, "security_group_exists", name, GroupIds=[gid])
            group = {"GroupId": gid, "IpPermissions": []}
            record = created(ctx, STEP, "security-group", name, gid)
        else:
            record = exists(ctx, STEP, "security-group", name, group["GroupId"])
        missing = _missing_permissions(group, ports)
        if missing and not p.dry_run:
            ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=missing)
        records.append(record)
    return records


def resolve_ami(ctx: Context) -> str:
    """The latest Amazon Linux 2023 AMI, from AWS's public SSM parameter."""
    return ctx.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]


def ensure_dev_instance(ctx: Context, p: Params) -> Resource:
    """The dev server: API and database on one host, public IP, in the default VPC."""
    if not ctx.sandbox:
        inst = find_dev_instance(ctx, p)
        return exists(ctx, STEP, "instance", inst_name(inst), inst["InstanceId"])
    found = _find_instance(ctx, p)
    if found:
        return exists(ctx, STEP, "instance", DEV_NAME, found["InstanceId"])
    groups = [_find_group(ctx, p, name) for name in security_group_layout(p)]
    if p.dry_run or any(g is None for g in groups):
        if not p.dry_run:
            raise RuntimeError("the dev security groups do not exist yet; run ensure_dev_security_groups first")
        return would_create(ctx, STEP, "instance", DEV_NAME)
    ec2 = ctx.client("ec2")
    _, subnet_id = default_subnet(ctx)
    instance_tags = tags(p, STEP, DEV_NAME) + [{"Key": inv_ec2.DEV_DB_TAG, "Value": p.dev_db_engine}]
    resp = ec2.run_instances(
        ImageId=resolve_ami(ctx), InstanceType=p.dev_instance_type, MinCount=1, MaxCount=1,
        ClientToken=client_token(p, DEV_NAME), UserData=user_data(p),
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet_id, "AssociatePublicIpAddress": True,
                            "Groups": [g["GroupId"] for g in groups if g]}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": instance_tags}]
        + tag_spec("volume", p, STEP, f"{DEV_NAME}-root"))
    iid = resp["Instances"][0]["InstanceId"]
    progress.wait_for(ec2, "instance_running", f"{DEV_NAME} running", InstanceIds=[iid])
    return created(ctx, STEP, "instance", DEV_NAME, iid)


def inst_name(inst: dict[str, Any]) -> str:
    return next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == "Name"), inst["InstanceId"])


def ensure_dev_address(ctx: Context, p: Params) -> Resource | None:
    """An Elastic IP on the dev server (layout p.dev_elastic_ip); None when the layout has none."""
    if not ctx.sandbox:
        inst = find_dev_instance(ctx, p)
        found = inv_ec2.describe_addresses(ctx, [{"Name": "instance-id", "Values": [inst["InstanceId"]]}])
        return exists(ctx, STEP, "elastic-ip", found[0]["PublicIp"], found[0]["AllocationId"]) if found else None
    if not p.dev_elastic_ip:
        return None
    ec2 = ctx.client("ec2")
    address = _find_address(ctx, p)
    instance = _find_instance(ctx, p)
    if address is None and p.dry_run:
        return would_create(ctx, STEP, "elastic-ip", DEV_NAME)
    if address is None:
        address = ec2.allocate_address(Domain="vpc", TagSpecifications=tag_spec("elastic-ip", p, STEP, DEV_NAME))
        record = created(ctx, STEP, "elastic-ip", DEV_NAME, address["AllocationId"])
    else:
        record = exists(ctx, STEP, "elastic-ip", DEV_NAME, address["AllocationId"])
    if instance and address.get("InstanceId") != instance["InstanceId"] and not p.dry_run:
        ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=instance["InstanceId"])
    return record


# ---- plan / apply / verify / destroy -----------------------------------------------------------------
def apply(ctx: Context, p: Params) -> pd.DataFrame:
    records = ensure_dev_security_groups(ctx, p)
    records.append(ensure_dev_instance(ctx, p))
    address = ensure_dev_address(ctx, p)
    return frame(records + ([address] if address else []))


def plan(ctx: Context, p: Params) -> pd.DataFrame:
    """What apply would do: the same finds, with nothing created."""
    return apply(ctx, p.replace(dry_run=True))


def discover(ctx: Context, p: Params) -> inv_ec2.DevInventory:
    """The dev environment as an Inventory (what 01_assess and 07_access assess); in a dry run before
    anything exists, an empty one."""
    return inv_ec2.discover_dev(ctx, p, missing_ok=p.dry_run)


def verify(ctx: Context, p: Params) -> pd.DataFrame:
    """The dev environment's findings (the checks of 01_assess); none while it does not exist (dry run)."""
    inv = inv_ec2.discover_dev(ctx, p, missing_ok=p.dry_run)
    if inv.instances.empty:
        return pd.DataFrame(columns=checks.COLUMNS)
    return checks.run(inv, p, groups=["dev"])


def destroy(ctx: Context, p: Params) -> pd.DataFrame:
    """Remove what this step created, by tag only: a dev server found in aws mode is never ours.
    Safe to run twice; with p.dry_run only notes "would delete"."""
    ec2 = ctx.client("ec2")
    records: list[Resource] = []
    action = "would delete" if p.dry_run else "deleted"
    for address in inv_ec2.describe_addresses(ctx, ec2_filters(p, STEP)):
        if not p.dry_run:
            if address.get("AssociationId"):
                ec2.disassociate_address(AssociationId=address["AssociationId"])
            ec2.release_address(AllocationId=address["AllocationId"])
        records.append(ctx.note(STEP, "elastic-ip", address.get("PublicIp", ""), address["AllocationId"], action))
    instances = [i for i in inv_ec2.describe_instances(ctx, ec2_filters(p, STEP))
                 if i["State"]["Name"] in inv_ec2.LIVE_STATES]
    ids = [i["InstanceId"] for i in instances]
    if ids and not p.dry_run:
        ec2.terminate_instances(InstanceIds=ids)
        progress.wait_for(ec2, "instance_terminated", "dev instance terminated", InstanceIds=ids)
    records += [ctx.note(STEP, "instance", inst_name(i), i["InstanceId"], action) for i in instances]
    for group in inv_ec2.paginate(ctx, "describe_security_groups", "SecurityGroups", Filters=ec2_filters(p, STEP)):
        if not p.dry_run:
            ec2.delete_security_group(GroupId=group["GroupId"])
        records.append(ctx.note(STEP, "security-group", group["GroupName"], group["GroupId"], action))
    return frame(records)


__all__ = ["ensure_dev_security_groups", "ensure_dev_instance", "ensure_dev_address", "plan", "apply", "verify",
           "destroy", "discover", "user_data", "security_group_layout", "resolve_ami"]
