"""Checks at the boundary that need a read of the target: done once a connection exists and before
anything is created, on every path (`connect()` runs them; the pipeline connects once before its first
notebook). Reads only: a value the account cannot serve is a parameter problem, said before any write.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .params import ParameterError

if TYPE_CHECKING:
    from .connect import Context


def zones(ctx: "Context") -> list[str]:
    """The region's availability zones open to this account (Local and Wavelength Zones are not for a
    VPC's core subnets), sorted: the same list network.pick_azs takes its first az_count from."""
    found = ctx.client("ec2").describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in found if z.get("ZoneType", "availability-zone") == "availability-zone")


def check(ctx: "Context") -> None:
    p = ctx.p
    have = zones(ctx)
    if len(have) < p.az_count:
        raise ParameterError({"az_count": f"{p.az_count} is more than {p.region} has: {len(have)} available AZs "
                                          f"({', '.join(have) or 'none'}); use az_count <= {len(have)}"})
