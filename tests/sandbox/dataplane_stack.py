"""Test helper: the prerequisites of the data plane in a sandbox (what steps 00, 03 and 04 create),
made with plain boto3 so the data plane's tests do not depend on other engineers' steps; the group's
release and role come from 04_compute's own units (an instance boots only from those)."""
from __future__ import annotations

import base64
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from workbook import names
from workbook.params import Params


@contextmanager
def private_sandbox(state_dir: Path) -> Iterator[Path]:
    """A moto server and data plane of the test module's own (its state in `state_dir`): stopped, the data
    plane's databases removed and the state folder given back after."""
    old = os.environ.get("WORKBOOK_STATE_DIR")
    os.environ["WORKBOOK_STATE_DIR"] = str(state_dir)
    from workbook.sandbox import dataplane, server
    server.start()
    try:
        yield state_dir
    finally:
        dataplane.forget()   # stops everything and removes the databases' folders
        server.stop()
        if old is None:
            os.environ.pop("WORKBOOK_STATE_DIR", None)
        else:
            os.environ["WORKBOOK_STATE_DIR"] = old


def create_stack(ctx: Any, p: Params, *, dev: bool = True, rds: bool = True, asg: bool = True,
                 managed_secret: bool = False, release: bool = True, engine: str = "postgres",
                 dev_db: str = "postgres", dev_owner: str = "stack") -> dict[str, Any]:
    """managed_secret: the RDS master password in an RDS-managed secret, as step 03 makes it (what the
    move on a real account reads on the instance). release: what the group's instances boot from (the
    sandbox's stand-ins start only from it); a real account's tests need none. engine: the RDS instance's;
    dev_db: what the dev host runs (its `workbook:dev-db` tag, as 00_setup tags the demo host). dev_owner
    "stack": the dev host is the stack's (00_setup made it); "user": a host the workbook did not create."""
    ec2, out = ctx.client("ec2"), {}
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]][:2]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    if dev:
        r = ec2.run_instances(ImageId=ami, InstanceType="t3.small", MinCount=1, MaxCount=1, TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": names.DEV_NAME},
                                                  {"Key": "workbook:dev-db", "Value": dev_db}]
             + ([{"Key": "workbook:stack", "Value": p.stack_name}, {"Key": "workbook:step", "Value": "00_setup"}]
                if dev_owner == "stack" else [])}])
        out["dev"] = r["Instances"][0]["InstanceId"]
    if rds:
        ctx.client("rds").create_db_instance(
            DBInstanceIdentifier=names.db_instance(p), Engine=engine,
            EngineVersion="16.4" if engine == "postgres" else "8.0.39", DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20, DBName="app", MasterUsername="app",
            **({"ManageMasterUserPassword": True} if managed_secret else {"MasterUserPassword": "not-a-secret-123"}))
        out["rds"] = names.db_instance(p)
    if asg:
        elb = ctx.client("elbv2")
        tg = elb.create_target_group(Name=names.target_group(p), Protocol="HTTP", Port=p.app_port, VpcId=vpc,
                                     HealthCheckPath=p.health_check_path, HealthCheckIntervalSeconds=10,
                                     HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]
        lb = elb.create_load_balancer(Name=names.alb(p), Subnets=subnets, Scheme="internet-facing")["LoadBalancers"][0]
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        # What the group's instances boot from, as 04_compute makes it: the release in the stack's bucket,
        # its parameter, the role that may read both, and a template with that role and the boot script.
        # (The role and profile always: the move runs on an app server with the role's permissions.)
        from workbook.steps import compute
        data = {"ImageId": ami, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": names.app_role(p)}}
        if release:
            compute.ensure_release(ctx)
        compute.ensure_instance_role(ctx)
        compute.ensure_instance_profile(ctx)
        if release:   # the app's settings name the database, as 04_compute writes them once it has an address
            host = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=names.db_instance(p))[
                "DBInstances"][0]["Endpoint"]["Address"] if rds else ""
            data.update(UserData=base64.b64encode(compute.user_data(p, db_host=host).encode()).decode())
        ec2.create_launch_template(LaunchTemplateName=names.launch_template(p), LaunchTemplateData=data)
        ctx.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=names.asg(p), LaunchTemplate={"LaunchTemplateName": names.launch_template(p)},
            MinSize=p.min_capacity, MaxSize=p.max_capacity, DesiredCapacity=p.desired_capacity,
            VPCZoneIdentifier=",".join(subnets), TargetGroupARNs=[tg["TargetGroupArn"]])
        out.update(tg=tg["TargetGroupArn"], lb=lb["LoadBalancerArn"])
    return out
