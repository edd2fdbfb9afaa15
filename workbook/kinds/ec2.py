"""EC2 kinds: the network (VPC, subnets, gateways, routes, security groups, flow logs, interfaces) and
the instances (instances, launch templates, AMIs, snapshots, volumes). EC2 filters by tag on the
server, so every kind here is found with `tag:workbook:stack` and checked again on the answer."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from . import STACK, Kept, Kind, declare, hook, tag_dict

LIVE_INSTANCE = ("terminated",)

declare(
    Kind("vpc", "ec2", "describe_vpcs", "Vpcs", "VpcId", title="VPC", find="ec2", by_id="VpcIds[]", arn_type="vpc", tags_key="Tags",
         create="create_vpc", create_tags="spec:vpc", created_key="Vpc",
         waiter="vpc_available", waiter_arg="VpcIds[]", delete="delete_vpc",
         after=("subnet", "internet_gateway", "route_table", "security_group", "flow_log", "vpc_endpoint",
                "network_interface", "nat_gateway")),
    Kind("subnet", "ec2", "describe_subnets", "Subnets", "SubnetId", find="ec2", by_id="SubnetIds[]", arn_type="subnet", tags_key="Tags",
         create="create_subnet", create_tags="spec:subnet", created_key="Subnet",
         waiter="subnet_available", waiter_arg="SubnetIds[]", delete="delete_subnet",
         after=("nat_gateway", "instance", "network_interface", "vpc_endpoint", "load_balancer",
                "auto_scaling_group", "db_instance", "db_subnet_group", "vpc_link")),
    Kind("internet_gateway", "ec2", "describe_internet_gateways", "InternetGateways", "InternetGatewayId",
         find="ec2", by_id="InternetGatewayIds[]", arn_type="internet-gateway", tags_key="Tags", create="create_internet_gateway", create_tags="spec:internet-gateway",
         created_key="InternetGateway", delete="delete_internet_gateway",
         after=("nat_gateway", "elastic_ip", "load_balancer", "instance"),
         extra_permissions=("ec2:AttachInternetGateway", "ec2:DetachInternetGateway")),
    Kind("elastic_ip", "ec2", "describe_addresses", "Addresses", "AllocationId", title="Elastic IP", find="ec2", by_id="AllocationIds[]", arn_type="elastic-ip",
         tags_key="Tags", create="allocate_address", create_tags="spec:elastic-ip", delete="release_address",
         after=("nat_gateway",), extra_permissions=("ec2:DisassociateAddress", "ec2:AssociateAddress"),
         # Right after its NAT gateway is deleted, a release can be refused with AuthFailure or the NAT
         # interface's NotFound (terraform-provider-aws #49299): retried; only its own NotFound is "gone".
         retry_codes=("AuthFailure", "InvalidIPAddress.InUse", "InvalidNetworkInterfaceID.NotFound"),
         not_found=("InvalidAllocationID.NotFound",)),
    Kind("nat_gateway", "ec2", "describe_nat_gateways", "NatGateways", "NatGatewayId", title="NAT gateway",
         find="ec2", by_id="NatGatewayIds[]", arn_type="natgateway", tags_key="Tags", live_key="State", gone_states=("deleted",),
         create="create_nat_gateway", create_tags="spec:natgateway", token="ClientToken",
         created_key="NatGateway", waiter="nat_gateway_available", waiter_arg="NatGatewayIds[]",
         delete="delete_nat_gateway", delete_waiter="nat_gateway_deleted", delete_waiter_arg="NatGatewayIds[]"),
    Kind("route_table", "ec2", "describe_route_tables", "RouteTables", "RouteTableId", find="ec2", by_id="RouteTableIds[]", arn_type="route-table", tags_key="Tags",
         create="create_route_table", create_tags="spec:route-table", token="ClientToken", created_key="RouteTable",
         delete="delete_route_table",
         extra_permissions=("ec2:AssociateRouteTable", "ec2:DisassociateRouteTable", "ec2:ReplaceRouteTableAssociation",
                            "ec2:CreateRoute", "ec2:ReplaceRoute")),
    Kind("security_group", "ec2", "describe_security_groups", "SecurityGroups", "GroupId", find="ec2", by_id="GroupIds[]", arn_type="security-group",
         tags_key="Tags", create="create_security_group", create_tags="spec:security-group",
         waiter="security_group_exists", waiter_arg="GroupIds[]", delete="delete_security_group",
         after=("instance", "load_balancer", "network_interface", "vpc_endpoint", "db_instance", "vpc_link",
                "auto_scaling_group"),
         extra_permissions=("ec2:DescribeSecurityGroupRules", "ec2:AuthorizeSecurityGroupIngress",
                            "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress",
                            "ec2:RevokeSecurityGroupEgress")),
    Kind("flow_log", "ec2", "describe_flow_logs", "FlowLogs", "FlowLogId", find="ec2", by_id="FlowLogIds[]", arn_type="vpc-flow-log", tags_key="Tags",
         create="create_flow_logs", create_tags="spec:vpc-flow-log", token="ClientToken",
         delete="delete_flow_logs", delete_arg="FlowLogIds[]", extra_permissions=("iam:PassRole",)),
    Kind("network_interface", "ec2", "describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId",
         find="ec2", by_id="NetworkInterfaceIds[]", arn_type="network-interface", tags_key="TagSet", delete="delete_network_interface", title="network interface",
         after=("instance", "nat_gateway", "load_balancer", "vpc_link", "vpc_endpoint"),
         extra_permissions=("ec2:DetachNetworkInterface",)),
    Kind("vpc_endpoint", "ec2", "describe_vpc_endpoints", "VpcEndpoints", "VpcEndpointId", title="VPC endpoint",
         find="ec2", by_id="VpcEndpointIds[]", arn_type="vpc-endpoint", tags_key="Tags", live_key="State", gone_states=("deleted", "deleting", "Deleted", "Deleting"),
         delete="delete_vpc_endpoints", delete_arg="VpcEndpointIds[]"),
    Kind("instance", "ec2", "describe_instances", "Reservations.Instances", "InstanceId", find="ec2", by_id="InstanceIds[]", arn_type="instance",
         tags_key="Tags", live_key="State.Name", gone_states=LIVE_INSTANCE, create="run_instances",
         create_tags="spec:instance", token="ClientToken", created_key="Instances.0",
         waiter="instance_running", waiter_arg="InstanceIds[]",
         delete="terminate_instances", delete_arg="InstanceIds[]",
         delete_waiter="instance_terminated", delete_waiter_arg="InstanceIds[]",
         after=("auto_scaling_group",)),
    Kind("launch_template", "ec2", "describe_launch_templates", "LaunchTemplates", "LaunchTemplateId",
         name_key="LaunchTemplateName", find="ec2", by_id="LaunchTemplateIds[]", arn_type="launch-template", tags_key="Tags", create="create_launch_template",
         create_tags="spec:launch-template", token="ClientToken", created_key="LaunchTemplate",
         delete="delete_launch_template", after=("auto_scaling_group",),
         extra_permissions=("ec2:DescribeLaunchTemplateVersions", "ec2:CreateLaunchTemplateVersion")),
    Kind("ami", "ec2", "describe_images", "Images", "ImageId", title="AMI", name_key="Name", find="ec2", by_id="ImageIds[]", arn_type="image",
         tags_key="Tags", describe_args={"Owners": ["self"]}, create="create_image", create_tags="spec:image",
         waiter="image_available", waiter_arg="ImageIds[]", delete="deregister_image",
         after=("launch_template", "instance", "auto_scaling_group"), extra_permissions=("ec2:DeleteSnapshot",)),
    Kind("ebs_snapshot", "ec2", "describe_snapshots", "Snapshots", "SnapshotId", title="EBS snapshot", find="ec2", by_id="SnapshotIds[]", arn_type="snapshot",
         tags_key="Tags", describe_args={"OwnerIds": ["self"]}, delete="delete_snapshot", after=("ami",)),
    Kind("volume", "ec2", "describe_volumes", "Volumes", "VolumeId", find="ec2", by_id="VolumeIds[]", arn_type="volume", tags_key="Tags",
         # in-use volumes go with their instance (DeleteOnTermination); detached tagged ones are leftovers
         describe_args={"Filters": [{"Name": "status", "Values": ["available", "creating", "error"]}]},
         delete="delete_volume", after=("instance",)),
)


def _ignore_missing(fn: Any, **kw: Any) -> None:
    try:
        fn(**kw)
    except ClientError as e:
        c = e.response.get("Error", {}).get("Code", "")
        if not c.endswith(("NotFound", ".NotFound")):
            raise


@hook("internet_gateway", "before_delete")
def _detach_gateway(ctx: Any, kind: Kind, it: Any) -> None:
    from ..calls import retrying
    ec2 = ctx.client("ec2")
    for a in it.raw.get("Attachments", []):
        # DependencyViolation while public addresses in the VPC are still mapped (a NAT being deleted)
        retrying(ctx, lambda a=a: ec2.detach_internet_gateway(InternetGatewayId=it.id, VpcId=a["VpcId"]), it.id)


@hook("elastic_ip", "before_delete")
def _disassociate_address(ctx: Any, kind: Kind, it: Any) -> None:
    """An address the stack associated itself is disassociated first. One a NAT gateway holds is AWS's to
    let go (DisassociateAddress answers AuthFailure, also for a while after the NAT is deleted): the
    release, retried on AuthFailure, waits for that."""
    if it.raw.get("AssociationId"):
        try:
            _ignore_missing(ctx.client("ec2").disassociate_address, AssociationId=it.raw["AssociationId"])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "AuthFailure":
                raise


@hook("nat_gateway", "delete")
def _delete_nat(ctx: Any, kind: Kind, it: Any) -> None:
    from ..calls import wait
    if it.raw.get("State") not in ("deleting", "deleted"):
        ctx.client("ec2").delete_nat_gateway(NatGatewayId=it.id)
    wait(ctx, kind, it.id, deleted=True)


@hook("route_table", "find")
def _route_tables(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """A VPC's main table goes with the VPC; only the others can (and must) be deleted first."""
    from ..calls import _pages, _with_stack_filter
    args = _with_stack_filter(kind, stack, kw) if stack else kw
    return [t for t in _pages(ctx, "ec2", kind.describe, kind.items, **args)
            if not any(a.get("Main") for a in t.get("Associations", []))]


@hook("route_table", "before_delete")
def _disassociate_route_table(ctx: Any, kind: Kind, it: Any) -> None:
    ec2 = ctx.client("ec2")
    for a in it.raw.get("Associations", []):
        if a.get("RouteTableAssociationId") and not a.get("Main"):
            _ignore_missing(ec2.disassociate_route_table, AssociationId=a["RouteTableAssociationId"])


@hook("security_group", "find")
def _security_groups(ctx: Any, kind: Kind, stack: str | None, **kw: Any) -> list[dict[str, Any]]:
    """A VPC's default group cannot be deleted; it goes with its VPC."""
    from ..calls import _pages, _with_stack_filter
    args = _with_stack_filter(kind, stack, kw) if stack else kw
    return [g for g in _pages(ctx, "ec2", kind.describe, kind.items, **args) if g.get("GroupName") != "default"]


def revoke_references(ctx: Any, group_id: str, to: str | None = None) -> None:
    """Rules that reference other groups block those groups' deletion (and theirs block this one).
    With `to`, only the rules that reference that one group (another group's other rules stay)."""
    from ..calls import _pages
    ec2 = ctx.client("ec2")
    rules = _pages(ctx, "ec2", "describe_security_group_rules", "SecurityGroupRules",
                   Filters=[{"Name": "group-id", "Values": [group_id]}])
    peer = [r.get("ReferencedGroupInfo", {}).get("GroupId", "") for r in rules]
    refs = [r for r, g in zip(rules, peer) if g and (to is None or g == to)]
    ingress = [r["SecurityGroupRuleId"] for r in refs if not r["IsEgress"]]
    egress = [r["SecurityGroupRuleId"] for r in refs if r["IsEgress"]]
    if ingress:
        _ignore_missing(ec2.revoke_security_group_ingress, GroupId=group_id, SecurityGroupRuleIds=ingress)
    if egress:
        _ignore_missing(ec2.revoke_security_group_egress, GroupId=group_id, SecurityGroupRuleIds=egress)


@hook("security_group", "before_delete")
def _revoke_group_references(ctx: Any, kind: Kind, it: Any) -> None:
    """This group's rules that name other groups, and the stack's other groups' rules that name this one.
    A rule in a group that is not the stack's (a team's group in the shared default VPC that allows the dev
    host) is theirs: the group it names is kept (AWS refuses to delete it meanwhile), and said why."""
    from ..calls import _pages
    vpc = it.raw.get("VpcId")
    naming = [] if not vpc else [
        g for g in _pages(ctx, "ec2", "describe_security_groups", "SecurityGroups",
                          Filters=[{"Name": "vpc-id", "Values": [vpc]}])
        if g["GroupId"] != it.id and any(pair.get("GroupId") == it.id for perm in
                                         g.get("IpPermissions", []) + g.get("IpPermissionsEgress", [])
                                         for pair in perm.get("UserIdGroupPairs", []))]
    stack = ctx.p.stack_name
    foreign = [g["GroupId"] for g in naming if tag_dict(g.get("Tags")).get(STACK) != stack]
    if foreign:
        raise Kept(f"named by a rule of {', '.join(sorted(foreign))} (not this stack's): remove that rule, then "
                   "run the teardown again")
    revoke_references(ctx, it.id)
    for g in naming:
        revoke_references(ctx, g["GroupId"], to=it.id)


@hook("network_interface", "before_delete")
def _detach_interface(ctx: Any, kind: Kind, it: Any) -> None:
    att = it.raw.get("Attachment") or {}
    if att.get("AttachmentId") and att.get("InstanceId"):
        _ignore_missing(ctx.client("ec2").detach_network_interface, AttachmentId=att["AttachmentId"], Force=True)


@hook("ami", "delete")
def _deregister_image(ctx: Any, kind: Kind, it: Any) -> None:
    """An AMI's snapshots outlive it and keep costing: they go too."""
    ec2 = ctx.client("ec2")
    ec2.deregister_image(ImageId=it.id)
    for m in it.raw.get("BlockDeviceMappings", []):
        snap = m.get("Ebs", {}).get("SnapshotId")
        if snap:
            _ignore_missing(ec2.delete_snapshot, SnapshotId=snap)
