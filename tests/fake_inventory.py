"""Test helper: an Inventory made of given frames, to test checks and diagrams over a production-like
stack without the other engineers' steps (frame columns follow the CONTRACT in the brief)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from workbook.aws import AwsTarget
from workbook.inventory import BASE_COLUMNS
from workbook.inventory.ec2 import COLUMNS
from workbook.sandbox.seam import SandboxTarget


class FakeContext:
    """What checks ask an inventory's context: what its target cannot show (`gap`), the account."""

    def __init__(self, target: str = "sandbox"):
        self.target = SandboxTarget() if target == "sandbox" else AwsTarget()

    def gap(self, name: str) -> str:
        return self.target.gap(name)

    def masked_account(self) -> str:
        return "********9012"


class FakeInventory:
    """`has(name)` is True only for the frames given (plus the EC2 frames, empty unless given).
    target="aws": the context of a real account, where every check evaluates for real."""

    def __init__(self, target: str = "sandbox", **frames: list[dict[str, Any]] | pd.DataFrame):
        self.ctx = FakeContext(target)
        self.frames: dict[str, pd.DataFrame] = {}
        for name, cols in COLUMNS.items():
            self.frames[name] = pd.DataFrame(columns=BASE_COLUMNS + cols)
        for name, rows in frames.items():
            df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
            for c in BASE_COLUMNS:
                if c not in df.columns:
                    df[c] = [{} for _ in range(len(df))] if c == "tags" else ""
            self.frames[name] = df

    def has(self, name: str) -> bool:
        return name in self.frames

    def frame(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name in ("frames", "ctx"):
            raise AttributeError(name)
        return self.frames[name]


def production_stack(multi_az: bool = True) -> FakeInventory:
    """Two AZs with public/app/db subnets, IGW, a NAT per AZ, an ALB, two ASG instances, RDS, edge, alarms."""
    azs = ["us-east-1a", "us-east-1b"]
    subnets = [{"id": f"subnet-{t}{i}", "vpc_id": "vpc-prod", "az": az, "cidr": f"10.20.{n}.0/24", "tier": t,
                "public": t == "public", "step": "02_network"}
               for i, az in enumerate(azs) for n, t in enumerate(("public", "app", "db"), start=3 * i)]
    return FakeInventory(
        vpcs=[{"id": "vpc-prod", "name": "demo-vpc", "cidr": "10.20.0.0/16", "is_default": False}],
        subnets=subnets,
        security_groups=[{"id": "sg-alb", "vpc_id": "vpc-prod", "group_name": "demo-alb-sg", "description": ""},
                         {"id": "sg-app", "vpc_id": "vpc-prod", "group_name": "demo-app-sg", "description": ""},
                         {"id": "sg-db", "vpc_id": "vpc-prod", "group_name": "demo-db-sg", "description": ""}],
        sg_rules=[
            {"id": "r1", "group_id": "sg-alb", "group_name": "demo-alb-sg", "vpc_id": "vpc-prod", "direction": "ingress",
             "protocol": "tcp", "from_port": 443, "to_port": 443, "source": "0.0.0.0/0", "open_to_internet": True},
            {"id": "r2", "group_id": "sg-app", "group_name": "demo-app-sg", "vpc_id": "vpc-prod", "direction": "ingress",
             "protocol": "tcp", "from_port": 8080, "to_port": 8080, "source": "sg-alb", "open_to_internet": False},
            {"id": "r3", "group_id": "sg-db", "group_name": "demo-db-sg", "vpc_id": "vpc-prod", "direction": "ingress",
             "protocol": "tcp", "from_port": 5432, "to_port": 5432, "source": "sg-app", "open_to_internet": False}],
        instances=[{"id": f"i-app{i}", "name": "demo-app", "vpc_id": "vpc-prod", "subnet_id": f"subnet-app{i}",
                    "az": az, "state": "running", "public_ip": "", "private_ip": f"10.20.{3 * i + 1}.10",
                    "instance_type": "t3.micro", "security_groups": ["sg-app"], "imds_tokens": "required",
                    "image_id": "ami-1", "asg_name": "demo-app-asg", "dev_db": "", "step": "04_compute"}
                   for i, az in enumerate(azs)],
        volumes=[{"id": f"vol-{i}", "instance_id": f"i-app{i}", "size": 8, "encrypted": True, "az": az,
                  "volume_type": "gp3"} for i, az in enumerate(azs)],
        internet_gateways=[{"id": "igw-1", "vpc_id": "vpc-prod"}],
        nat_gateways=[{"id": f"nat-{i}", "vpc_id": "vpc-prod", "subnet_id": f"subnet-public{i}", "az": az,
                       "state": "available"} for i, az in enumerate(azs)],
        load_balancers=[{"id": "arn:alb", "name": "demo-alb", "scheme": "internet-facing", "vpc_id": "vpc-prod",
                         "subnets": ["subnet-public0", "subnet-public1"], "azs": azs, "security_groups": ["sg-alb"],
                         "dns_name": "demo-alb.elb", "type": "application"}],
        auto_scaling_groups=[{"id": "demo-app-asg", "min": 2, "desired": 2, "max": 4,
                              "subnets": ["subnet-app0", "subnet-app1"], "azs": azs,
                              "instance_ids": ["i-app0", "i-app1"], "target_group_arns": [],
                              "health_check_type": "ELB", "grace_period": 60, "launch_template_id": "lt-1"}],
        db_instances=[{"id": "demo-db", "arn": "arn:db", "engine": "postgres", "engine_version": "16.4",
                       "instance_class": "db.t4g.micro", "multi_az": multi_az, "az": "us-east-1a",
                       "secondary_az": "us-east-1b" if multi_az else "", "vpc_id": "vpc-prod",
                       "subnet_ids": ["subnet-db0", "subnet-db1"], "publicly_accessible": False, "encrypted": True,
                       "backup_retention": 7, "deletion_protection": True, "endpoint": "demo-db.rds", "port": 5432,
                       "status": "available", "security_groups": ["sg-db"], "secret_arn": "arn:secret"}],
        hosted_zones=[{"id": "Z123", "domain": "example.com"}],
        certificates=[{"id": "arn:cert", "domain": "api.example.com", "status": "ISSUED"}],
        alarms=[{"id": "demo-alarm-5xx", "metric": "HTTPCode_Target_5XX_Count", "namespace": "AWS/ApplicationELB",
                 "state": "OK", "actions": ["arn:sns"]}],
        log_groups=[{"id": "/demo/app", "retention_days": 30}],
        topics=[{"id": "arn:sns", "subscriptions": ["o***@example.com"], "confirmed": [True]}],
        iam_roles=[{"id": "demo-app-role", "policies": ["AmazonSSMManagedInstanceCore"], "arn": "arn:role"}],
    )
