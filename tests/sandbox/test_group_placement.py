"""The sandbox's moto server places an Auto Scaling group's instances as AWS does: spread evenly over the
group's Availability Zones (moto launches them all in its first subnet, so the after diagram showed both
app servers in one AZ beside a Multi-AZ stack)."""
from __future__ import annotations

from collections import Counter


def test_a_groups_instances_are_spread_over_its_zones_and_a_replacement_goes_where_fewer_run(sandbox):
    from workbook.connect import connect
    from workbook.params import Params
    ctx = connect(Params.from_mapping({"stack_name": "spread"}))
    ec2, asg = ctx.client("ec2"), ctx.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    subnets = {az: ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.{n}.0/24", AvailabilityZone=az)["Subnet"]["SubnetId"]
               for n, az in enumerate(("us-east-1a", "us-east-1b", "us-east-1c"))}
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName="spread-lt", LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"})
    asg.create_auto_scaling_group(AutoScalingGroupName="spread-asg", MinSize=0, MaxSize=6, DesiredCapacity=4,
                                  LaunchTemplate={"LaunchTemplateName": "spread-lt", "Version": "$Latest"},
                                  VPCZoneIdentifier=",".join(subnets.values()))

    def zones() -> Counter:
        g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["spread-asg"])["AutoScalingGroups"][0]
        return Counter(i["AvailabilityZone"] for i in g["Instances"])
    assert sorted(zones().values()) == [1, 1, 2]
    asg.set_desired_capacity(AutoScalingGroupName="spread-asg", DesiredCapacity=6)
    assert set(zones().values()) == {2}
