"""The sandbox's moto server: moto's own server, with the gaps that no API call can correct afterwards.

moto launches every instance of an Auto Scaling group in the group's first subnet. AWS spreads a group's
instances evenly over its Availability Zones, and launches each new one (a replacement, a scale-out) in
the zone with the fewest; an instance cannot change subnet once launched, so the seam's corrections
(which act through the API) cannot repair it. Here moto's launch is called once per instance, with the
subnet of the zone that runs fewest first in the list it reads. Sandbox only: a real account needs none.

moto keeps the user data of a launch template's later versions (CreateLaunchTemplateVersion) as plain text,
not as it keeps a first version's, and then fails (500) to launch an Auto Scaling instance from such a
version: here a new version's user data is kept as the first version's is. (04_compute makes a new
version when what its servers boot with changes.)

Run as `python -m workbook.sandbox.motoserver -H HOST -p PORT` (moto.server's own arguments).
"""
from __future__ import annotations

from collections import Counter
from typing import Any

# What the journal of a sandbox records with: a journal replays to the same IDs only on the server that
# recorded it (server.py sets aside one of another flavour). Change it with any change that alters IDs.
FLAVOUR = "motoserver-1"
NOTE = ("moto launches every Auto Scaling instance in the group's first subnet: the sandbox's moto server "
        "spreads them over the group's zones, as AWS balances them")


def _spread(launch: Any) -> Any:
    def launch_balanced(group: Any, count_needed: int, propagated_tags: dict[str, str]) -> None:
        subnets = [s for s in (group.vpc_zone_identifier or "").split(",") if s]
        if len(subnets) < 2:
            return launch(group, count_needed, propagated_tags)
        given = group.vpc_zone_identifier
        try:
            for _ in range(count_needed):
                running = Counter(getattr(st.instance, "subnet_id", "") for st in group.instance_states)
                fewest = min(subnets, key=lambda s: (running[s], subnets.index(s)))
                group.vpc_zone_identifier = ",".join([fewest] + [s for s in subnets if s != fewest])
                launch(group, 1, dict(propagated_tags))
        finally:
            group.vpc_zone_identifier = given
    return launch_balanced


def _version_user_data(create_version: Any) -> Any:
    def create_version_kept_as_the_first(self: Any, data: dict[str, Any], description: str) -> Any:
        from moto.ec2.utils import parse_user_data
        if isinstance(data.get("UserData"), (str, bytes)):
            data = {**data, "UserData": parse_user_data(data["UserData"])}
        return create_version(self, data, description)
    return create_version_kept_as_the_first


def patch() -> None:
    from moto.autoscaling import models
    group = models.FakeAutoScalingGroup
    if not getattr(group.replace_autoscaling_group_instances, "workbook_spread", False):
        group.replace_autoscaling_group_instances = _spread(group.replace_autoscaling_group_instances)
        group.replace_autoscaling_group_instances.workbook_spread = True
    patch_launch_template_versions()


def patch_launch_template_versions() -> None:
    """Also for the tests' in-process moto: a group launching from a later version must not crash there."""
    from moto.ec2.models.launch_templates import LaunchTemplate
    if not getattr(LaunchTemplate.create_version, "workbook_user_data", False):
        LaunchTemplate.create_version = _version_user_data(LaunchTemplate.create_version)
        LaunchTemplate.create_version.workbook_user_data = True


def main() -> None:
    patch()
    from moto.server import main as serve
    serve()


if __name__ == "__main__":
    main()
