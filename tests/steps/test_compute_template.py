"""04_compute's launch template (workbook/steps/compute_template.py): the image it launches and its versions.
On in-process moto through the sandbox's seam."""
from __future__ import annotations

import itertools

import pytest

from compute_fixtures import build_network, create_database, moto  # noqa: F401 (moto: a fixture)
from conftest import make_ctx
from workbook.connect import MUTATING
from workbook.steps import compute

_stacks = itertools.count(1)



def _ready(**params):
    ctx = make_ctx(stack_name=f"tpl{next(_stacks)}", **params)
    build_network(ctx, ctx.p)
    create_database(ctx, ctx.p)
    return ctx, ctx.p


def _latest(ctx) -> dict:
    lt = compute.find_launch_template(ctx)
    return ctx.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=lt.id, Versions=["$Latest"])["LaunchTemplateVersions"][0]


def _architecture(ctx, image_id: str) -> str:
    return ctx.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]["Architecture"]


def _al2023(ctx, arch: str) -> str:
    name = f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
    return ctx.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]


@pytest.mark.parametrize("instance_type, arch", [("t4g.micro", "arm64"), ("t3.micro", "x86_64")])
def test_the_app_servers_get_amazon_linux_built_for_their_instance_type(moto, instance_type, arch):
    """A Graviton type (t4g) cannot boot the x86_64 image: the group could never launch a server."""
    ctx, p = _ready(instance_type=instance_type)
    compute.apply(ctx)
    data = _latest(ctx)["LaunchTemplateData"]
    assert (data["InstanceType"], _architecture(ctx, data["ImageId"])) == (instance_type, arch)
    assert compute.find_auto_scaling_group(ctx) is not None


def test_an_image_of_another_architecture_is_refused_before_anything_is_made(moto):
    ctx, p = _ready(instance_type="t4g.micro")
    x86 = _al2023(ctx, "x86_64")
    mark = ctx.calls.mark()
    with pytest.raises(ValueError, match=r"image_id.*x86_64.*instance_type.*t4g\.micro.*arm64"):
        compute.apply(ctx, image_id=x86)
    made = [c.operation for c in ctx.calls.calls[mark:] if c.operation.startswith(MUTATING)]
    assert made == [], made
    assert compute.find_load_balancer(ctx) is None and compute.find_launch_template(ctx) is None


def test_a_template_of_another_architecture_is_refused_by_itself_too(moto):
    """The notebook's cells call ensure_launch_template on their own: it refuses as well, making nothing."""
    ctx, p = _ready(instance_type="t4g.micro")
    with pytest.raises(ValueError, match="image_id"):
        compute.ensure_launch_template(ctx, image_id=_al2023(ctx, "x86_64"))
    assert compute.find_launch_template(ctx) is None
    assert compute.ensure_launch_template(ctx, image_id=_al2023(ctx, "arm64")).action == "created"


def _ec2_client_tokens(ec2) -> None:
    """EC2's documented ClientToken contract, which moto leaves out: a token seen before (EC2 keeps them for
    at least 24 hours) is answered with what it made the first time, and nothing is created."""
    seen: dict[str, dict] = {}

    def token(params, context, **_):
        context["token"] = params.get("ClientToken")

    def answered(context, **_):
        if context.get("token") in seen:
            return type("Ok", (), {"status_code": 200, "headers": {}})(), seen[context["token"]]

    def remember(parsed, context, **_):
        seen.setdefault(context.get("token"), parsed)
    ec2.meta.events.register("provide-client-params.ec2.CreateLaunchTemplateVersion", token)
    ec2.meta.events.register("before-call.ec2.CreateLaunchTemplateVersion", answered)
    ec2.meta.events.register("after-call.ec2.CreateLaunchTemplateVersion", remember)


def test_a_template_changed_back_and_forth_always_launches_what_was_asked_last(moto):
    """A -> B -> A -> B within a day: the fourth version is B again, yet a new version, not EC2's answer to
    the second's request."""
    ctx, p = _ready()
    compute.apply(ctx)
    ec2 = ctx.client("ec2")
    _ec2_client_tokens(ec2)
    a = _latest(ctx)["LaunchTemplateData"]["ImageId"]
    b = next(i["ImageId"] for i in ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])["Images"] if i["ImageId"] != a)
    compute.ensure_launch_template(ctx, image_id=b)    # e.g. apply(image_id=<the AMI made from dev>)
    compute.ensure_launch_template(ctx)                # back to Amazon Linux 2023
    last = compute.ensure_launch_template(ctx, image_id=b)
    assert (_latest(ctx)["LaunchTemplateData"]["ImageId"], _latest(ctx)["VersionNumber"]) == (b, 4)
    assert last.action == "updated (v4)"
