"""04_compute's load balancer (workbook/steps/compute_alb.py): waiting for it. On in-process moto through the
sandbox's seam; the states moto never reports (failed, active_impaired) are put into its answers."""
from __future__ import annotations

import itertools

import pytest

from compute_fixtures import build_network, moto  # noqa: F401 (moto: a fixture)
from conftest import make_ctx
from workbook import names
from workbook.steps import compute

_stacks = itertools.count(1)



def _started():
    ctx = make_ctx(stack_name=f"alb{next(_stacks)}")
    build_network(ctx, ctx.p)
    compute.ensure_load_balancer(ctx)
    return ctx


def _reports(ctx, *states: dict) -> list[int]:
    """DescribeLoadBalancers answers these states one after the other, the last one from then on."""
    looks: list[int] = []

    def answer(parsed, **_):
        looks.append(1)
        for lb in parsed.get("LoadBalancers", []):
            lb["State"] = dict(states[min(len(looks), len(states)) - 1])
    ctx.client("elbv2").meta.events.register("after-call.elastic-load-balancing-v2.DescribeLoadBalancers", answer)
    return looks


@pytest.mark.parametrize("provisioning_looks", [0, 2], ids=["failed-when-found", "failed-while-waited-for"])
def test_a_failed_load_balancer_is_reported_with_its_reason_not_waited_for(moto, provisioning_looks):
    """botocore's load_balancer_available knows only active and provisioning: a failed one was polled 40
    times (10 minutes on AWS), then 'Max attempts exceeded', again on every rerun."""
    ctx = _started()
    why = "Insufficient free IP addresses in subnet"
    looks = _reports(ctx, *[{"Code": "provisioning"}] * provisioning_looks, {"Code": "failed", "Reason": why})
    with pytest.raises(RuntimeError, match=f"{names.alb(ctx.p)}.*failed.*{why}"):
        compute.wait_for_load_balancer(ctx)
    assert len(looks) <= provisioning_looks + 2, len(looks)


def test_an_impaired_load_balancer_serves_and_says_why(moto, capsys):
    """active_impaired: routing traffic, short of what it needs to scale. Usable, so not waited for; said."""
    ctx = _started()
    looks = _reports(ctx, {"Code": "provisioning"}, {"Code": "active_impaired", "Reason": "scaling capacity short"})
    assert compute.wait_for_load_balancer(ctx).endswith(".elb.amazonaws.com")
    assert len(looks) <= 3 and "scaling capacity short" in capsys.readouterr().out
