"""NAT gateways in the sandbox: two of AWS's contracts moto 5.2.5 leaves out.

- Idempotency: EC2 answers a CreateNatGateway whose ClientToken it has seen (for at least 24 hours, the
  NAT deleted or not) with the NAT that token made, and creates nothing (AWS EC2 guide, "Ensure
  idempotency"). moto ignores the token and makes another. Here a token seen in this process is answered
  with its NAT as it is now.
- A deleted NAT gateway's Elastic IP is disassociated, ready for another NAT. moto leaves it associated,
  so a new NAT with the same address is refused (Resource.AlreadyAssociated).
"""
from __future__ import annotations

from typing import Any

from ..connect import Context
from .corrections import correct, plain

_TOKENS: dict[tuple[str | None, str], str] = {}   # (server, client token) -> the NAT it made


@correct("ec2", "CreateNatGateway", when="before",
         note="moto ignores CreateNatGateway's ClientToken: the sandbox answers a token it has seen with the NAT "
              "that token made, as EC2 does")
def a_token_seen_gets_its_nat(ctx: Context, params: dict[str, Any]) -> dict[str, Any] | None:
    nat = _TOKENS.get((ctx.endpoint, params.get("ClientToken", "")))
    if not nat:
        return None
    found = plain(ctx, "ec2").describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"]
    return {"NatGateway": found[0], "ClientToken": params["ClientToken"]} if found else None


@correct("ec2", "CreateNatGateway")
def remember_the_token(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    if params.get("ClientToken") and parsed.get("NatGateway", {}).get("NatGatewayId"):
        _TOKENS[(ctx.endpoint, params["ClientToken"])] = parsed["NatGateway"]["NatGatewayId"]
    return False


@correct("ec2", "DeleteNatGateway",
         note="moto keeps a deleted NAT gateway's Elastic IP associated: the sandbox disassociates it, as AWS does")
def its_address_is_freed(ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
    ec2 = plain(ctx, "ec2")
    nat = ec2.describe_nat_gateways(NatGatewayIds=[params["NatGatewayId"]])["NatGateways"]
    allocations = [a.get("AllocationId") for n in nat for a in n.get("NatGatewayAddresses", []) if a.get("AllocationId")]
    acted = False
    for a in ec2.describe_addresses(AllocationIds=allocations)["Addresses"] if allocations else []:
        if a.get("AssociationId"):
            ec2.disassociate_address(AssociationId=a["AssociationId"])
            acted = True
    return acted
