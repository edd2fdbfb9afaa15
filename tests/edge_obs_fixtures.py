"""What 02_network, 03_database and 04_compute leave behind, made with plain boto3, for the tests of
05_edge and 06_observability (so they do not depend on the other steps' code): the VPC with public and
app subnets tagged workbook:tier, the ALB and app security groups, an ALB (internet-facing or
internal) in the public subnets with a target group and an HTTP listener, an Auto Scaling group, and
the RDS instance; each tagged with the stack and the step that makes it, as those steps tag them."""
from __future__ import annotations

from typing import Any

from workbook import names, tagging


def build_stack(ctx: Any, p: Any, *, scheme: str = "internet-facing", asg: bool = True,
                rds: bool = True) -> dict[str, Any]:
    ec2, elb = ctx.client("ec2"), ctx.client("elbv2")
    vpc = ec2.create_vpc(CidrBlock=p.vpc_cidr, TagSpecifications=tagging.tag_spec(
        "vpc", p, "02_network", names.vpc(p)))["Vpc"]["VpcId"]
    out: dict[str, Any] = {"vpc": vpc, "public": [], "app": []}
    for n, az in enumerate((f"{p.region}a", f"{p.region}b")):
        for k, tier in enumerate(("public", "app")):
            tags = tagging.tags(p, "02_network", names.subnet(p, tier, az)) + [{"Key": names.TIER, "Value": tier}]
            out[tier].append(ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"10.20.{n * 16 + k}.0/24", AvailabilityZone=az,
                TagSpecifications=[{"ResourceType": "subnet", "Tags": tags}])["Subnet"]["SubnetId"])
    for key, name in (("alb_sg", names.alb_sg(p)), ("app_sg", names.app_sg(p))):
        out[key] = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc, TagSpecifications=
                                             tagging.tag_spec("security-group", p, "02_network", name))["GroupId"]
    tg = elb.create_target_group(Name=names.target_group(p), Protocol="HTTP", Port=p.app_port, VpcId=vpc,
                                 HealthCheckPath=p.health_check_path,
                                 Tags=tagging.tags(p, "04_compute", names.target_group(p)))["TargetGroups"][0]
    lb = elb.create_load_balancer(Name=names.alb(p), Subnets=out["public" if scheme == "internet-facing" else "app"],
                                  SecurityGroups=[out["alb_sg"]], Scheme=scheme,
                                  Tags=tagging.tags(p, "04_compute", names.alb(p)))["LoadBalancers"][0]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])["Listeners"][0]
    out.update(tg=tg["TargetGroupArn"], lb=lb["LoadBalancerArn"], lb_dns=lb["DNSName"],
               listener=listener["ListenerArn"])
    if asg:
        # Any image id does for moto's group; describing its 1,300 AMIs would cost seconds per test.
        ec2.create_launch_template(LaunchTemplateName=names.launch_template(p),
                                   LaunchTemplateData={"ImageId": "ami-12345678", "InstanceType": p.instance_type},
                                   TagSpecifications=tagging.tag_spec("launch-template", p, "04_compute",
                                                                      names.launch_template(p)))
        ctx.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=names.asg(p), LaunchTemplate={"LaunchTemplateName": names.launch_template(p)},
            MinSize=p.min_capacity, MaxSize=p.max_capacity, DesiredCapacity=p.desired_capacity,
            VPCZoneIdentifier=",".join(out["app"]), TargetGroupARNs=[tg["TargetGroupArn"]],
            Tags=[{**t, "ResourceId": names.asg(p), "ResourceType": "auto-scaling-group", "PropagateAtLaunch": True}
                  for t in tagging.tags(p, "04_compute", names.asg(p))])
    if rds:
        ctx.client("rds").create_db_instance(
            DBInstanceIdentifier=names.db_instance(p), Engine="postgres", DBInstanceClass=p.db_instance_class,
            AllocatedStorage=p.db_allocated_storage, MasterUsername="app", MasterUserPassword="not-a-secret-123",
            Tags=tagging.tags(p, "03_database", names.db_instance(p)))
    return out


def load_balancers_frame(ctx: Any, stack: str | None):
    """A minimal stand-in for 04's `load_balancers` frame (contract columns), used only while
    workbook/inventory/compute.py does not exist."""
    import pandas as pd
    from workbook.inventory import BASE_COLUMNS, tag_columns
    elb = ctx.client("elbv2")
    rows = []
    for lb in elb.describe_load_balancers()["LoadBalancers"]:
        tags = tagging.as_dict(elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"])
        if stack is not None and tags.get(tagging.STACK) != stack:
            continue
        rows.append({"id": lb["LoadBalancerArn"], **tag_columns(tags), "scheme": lb["Scheme"], "vpc_id": lb["VpcId"],
                     "subnets": [a["SubnetId"] for a in lb["AvailabilityZones"]],
                     "azs": [a["ZoneName"] for a in lb["AvailabilityZones"]],
                     "security_groups": lb.get("SecurityGroups", []), "dns_name": lb["DNSName"], "type": lb["Type"]})
    return pd.DataFrame(rows, columns=BASE_COLUMNS + ["scheme", "vpc_id", "subnets", "azs", "security_groups",
                                                      "dns_name", "type"])


def ensure_load_balancers_frame(monkeypatch: Any) -> None:
    """Register the stand-in only when 04's fetcher is missing (never shadow the real one)."""
    from workbook import inventory
    inventory.load_all()
    if "load_balancers" not in inventory.FETCHERS:
        monkeypatch.setitem(inventory.FETCHERS, "load_balancers", load_balancers_frame)
