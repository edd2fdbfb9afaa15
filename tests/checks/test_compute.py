"""checks/compute.py: each control on hand-made frames (pass and fail), then on a real apply."""
from __future__ import annotations

import pandas as pd
from moto import mock_aws

from compute_fixtures import build_network, create_database, issue_certificate
from conftest import MINIMAL, make_ctx
from fake_inventory import FakeContext
from workbook import checks, inventory
from workbook.checks import compute as cc
from workbook.inventory import compute as inv_compute
from workbook.params import Params
from workbook.steps import compute

P = Params(**MINIMAL)
LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/demo-alb/1"


class FakeInventory:
    """Just the frames a check reads; a frame not given does not exist (inv.has is False).
    target="aws": a real account's context, where nothing is NOT_EMULATED."""

    def __init__(self, target: str = "sandbox", **frames: pd.DataFrame):
        self.frames = frames
        self.ctx = FakeContext(target)

    def has(self, name: str) -> bool:
        return name in self.frames

    def frame(self, name: str) -> pd.DataFrame:
        return self.frames[name]


def _base(id_: str, name: str) -> dict:
    return {"id": id_, **inventory.tag_columns({"Name": name, "workbook:stack": "demo"})}


def lt(**kw) -> pd.DataFrame:
    row = {**_base("lt-1", "demo-app-lt"), "version": 1, "imds_tokens": "required", "image_id": "ami-1",
           "instance_type": "t3.micro", "associate_public_ip": False, "encrypted_volumes": True,
           "security_groups": ["sg-app"], "instance_profile": "demo-app-role", **kw}
    return pd.DataFrame([row], columns=inv_compute.LT_COLUMNS)


def lb(**kw) -> pd.DataFrame:
    row = {**_base(LB_ARN, "demo-alb"), "scheme": "internet-facing", "vpc_id": "vpc-1", "subnets": ["s1", "s2"],
           "azs": ["us-east-1a", "us-east-1b"], "security_groups": ["sg-alb"], "dns_name": "x", "type": "application",
           "state": "active", "deletion_protection": True, "drop_invalid_headers": True, **kw}
    return pd.DataFrame([row], columns=inv_compute.LB_COLUMNS)


def listeners(*specs: tuple[int, str, str, str]) -> pd.DataFrame:
    rows = [{**_base(f"{LB_ARN}/l{port}", ""), "lb_arn": LB_ARN, "port": port, "protocol": proto, "action": action,
             "redirect_to": to, "certificates": []} for port, proto, action, to in specs]
    return pd.DataFrame(rows, columns=inv_compute.LISTENER_COLUMNS)


def asg(**kw) -> pd.DataFrame:
    row = {**_base("demo-app-asg", "demo-app-asg"), "min": 2, "desired": 2, "max": 4, "subnets": ["a1", "a2"],
           "azs": ["us-east-1a", "us-east-1b"], "instance_ids": ["i-1", "i-2"],
           "instance_azs": ["us-east-1a", "us-east-1b"], "target_group_arns": ["tg"], "health_check_type": "ELB",
           "grace_period": 120, "launch_template_id": "lt-1",
           "policies": ["ASGAverageCPUUtilization", "ALBRequestCountPerTarget"], **kw}
    return pd.DataFrame([row], columns=inv_compute.ASG_COLUMNS)


def statuses(func, inv, p: Params = P) -> list[str]:
    return [f.status for f in func(inv, p)]


def test_imdsv2_fails_an_optional_template_and_instance():
    instances = pd.DataFrame([{"id": "i-1", "state": "running", "asg_name": "demo-app-asg", "imds_tokens": "optional",
                               "public_ip": ""}])
    assert statuses(cc.imdsv2_required, FakeInventory(launch_templates=lt(), instances=instances)) == ["PASS", "FAIL"]
    assert statuses(cc.imdsv2_required, FakeInventory(launch_templates=lt(imds_tokens="optional"))) == [
        "FAIL", "NOT_APPLICABLE"]


def test_public_ip_on_template_or_instance_fails():
    instances = pd.DataFrame([{"id": "i-1", "state": "running", "asg_name": "demo-app-asg", "imds_tokens": "required",
                               "public_ip": "3.3.3.3"},
                              {"id": "i-9", "state": "running", "asg_name": "", "imds_tokens": "optional",
                               "public_ip": "4.4.4.4"}])  # not the group's: not this check's business
    found = cc.no_public_ip(FakeInventory(launch_templates=lt(associate_public_ip=True), instances=instances), P)
    assert [(f.resource, f.status) for f in found] == [("demo-app-lt", "FAIL"), ("i-1", "FAIL")]


def test_unencrypted_instance_volume_is_not_emulated_in_the_sandbox_but_fails_on_aws():
    instances = pd.DataFrame([{"id": "i-1", "state": "running", "asg_name": "demo-app-asg", "imds_tokens": "required",
                               "public_ip": ""}])
    volumes = pd.DataFrame([{"id": "vol-1", "instance_id": "i-1", "encrypted": False}])
    inv = FakeInventory(launch_templates=lt(), instances=instances, volumes=volumes)
    assert statuses(cc.volumes_encrypted, inv) == ["PASS", "NOT_EMULATED"]
    on_aws = FakeInventory("aws", launch_templates=lt(), instances=instances, volumes=volumes)
    assert statuses(cc.volumes_encrypted, on_aws) == ["PASS", "FAIL"]
    assert statuses(cc.volumes_encrypted, FakeInventory(launch_templates=lt(encrypted_volumes=False))) == [
        "FAIL", "NOT_APPLICABLE"]


def test_load_balancer_attributes_and_zones():
    good, bad = FakeInventory(load_balancers=lb()), FakeInventory(load_balancers=lb(
        deletion_protection=False, drop_invalid_headers=False, azs=["us-east-1a"]))
    for func in (cc.drop_invalid_headers, cc.deletion_protection, cc.alb_multi_az):
        assert statuses(func, good) == ["PASS"] and statuses(func, bad) == ["FAIL"]


def test_https_redirect_passes_only_with_https_and_redirect():
    redirected = listeners((443, "HTTPS", "forward", ""), (80, "HTTP", "redirect", "HTTPS:443"))
    plain = listeners((80, "HTTP", "forward", ""))
    assert statuses(cc.http_redirects_to_https, FakeInventory(load_balancers=lb(), listeners=redirected)) == ["PASS"]
    with_domain = cc.http_redirects_to_https(FakeInventory(load_balancers=lb(), listeners=plain),
                                             P.replace(domain_name="api.example.com"))
    assert with_domain[0].status == "FAIL" and "run 05_edge" in with_domain[0].detail
    no_domain = cc.http_redirects_to_https(FakeInventory(load_balancers=lb(), listeners=plain), P)
    assert no_domain[0].status == "FAIL" and "no domain_name" in no_domain[0].detail
    both = listeners((443, "HTTPS", "forward", ""), (80, "HTTP", "forward", ""))
    assert statuses(cc.http_redirects_to_https, FakeInventory(load_balancers=lb(), listeners=both)) == ["FAIL"]


def test_auto_scaling_health_checks_zones_and_policies():
    good = FakeInventory(auto_scaling_groups=asg())
    assert statuses(cc.elb_health_checks, good) == ["PASS"]
    assert statuses(cc.elb_health_checks, FakeInventory(auto_scaling_groups=asg(health_check_type="EC2"))) == ["FAIL"]
    assert statuses(cc.asg_multi_az, good) == ["PASS", "NOT_EMULATED"]
    lopsided = FakeInventory("aws", auto_scaling_groups=asg(instance_azs=["us-east-1a", "us-east-1a"]))
    assert statuses(cc.asg_multi_az, lopsided) == ["PASS", "FAIL"]
    assert statuses(cc.asg_multi_az, FakeInventory("aws", auto_scaling_groups=asg(azs=["us-east-1a"]))) == [
        "FAIL", "PASS"]
    assert statuses(cc.scales_with_load, good) == ["PASS"]
    fixed = cc.scales_with_load(FakeInventory(auto_scaling_groups=asg(min=1, max=1, policies=[])), P)
    assert fixed[0].status == "FAIL" and "cannot scale out" in fixed[0].detail and "no scaling policy" in fixed[0].detail


def test_app_security_group_only_from_the_alb():
    groups = pd.DataFrame([{"id": "sg-app", "name": "demo-app-sg", "group_name": "demo-app-sg"},
                           {"id": "sg-alb", "name": "demo-alb-sg", "group_name": "demo-alb-sg"}])
    rule = {"group_id": "sg-app", "direction": "ingress", "protocol": "tcp", "from_port": 8080, "to_port": 8080,
            "source": "sg-alb"}
    ok = FakeInventory(security_groups=groups, sg_rules=pd.DataFrame([rule]))
    assert statuses(cc.app_only_from_alb, ok) == ["PASS"]
    ssh = {**rule, "from_port": 22, "to_port": 22, "source": "0.0.0.0/0"}
    open_ = cc.app_only_from_alb(FakeInventory(security_groups=groups, sg_rules=pd.DataFrame([rule, ssh])), P)
    assert open_[0].status == "FAIL" and "0.0.0.0/0" in open_[0].detail
    assert statuses(cc.app_only_from_alb, FakeInventory()) == ["NOT_APPLICABLE"]


def test_nothing_built_yet_is_not_a_pass():
    empty = FakeInventory(launch_templates=lt().iloc[0:0], load_balancers=lb().iloc[0:0], listeners=listeners(),
                          auto_scaling_groups=asg().iloc[0:0])
    for c in checks.REGISTRY.values():
        if c.group == "compute":
            assert "PASS" not in statuses(c.func, empty), c.id


def test_verify_after_apply_and_after_https(monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        ctx = make_ctx(domain_name="api.example.com")
        p = ctx.params
        build_network(ctx, p)
        create_database(ctx, p)
        compute.apply(ctx)
        found = compute.verify(ctx)
        assert set(found.group) == {"compute"}
        by_id = found.groupby("id").status.apply(set).to_dict()
        for id_ in ("ELB.4", "ELB.6", "ELB.13", "AutoScaling.1", "ARTICLE.SERVER_AUTOSCALING"):
            assert by_id[id_] == {"PASS"}, id_
        assert by_id["ELB.1"] == {"FAIL"}
        assert "NOT_EMULATED" in by_id["AutoScaling.2"] and "FAIL" not in by_id["AutoScaling.2"]
        assert "FAIL" not in by_id["EC2.8"] | by_id["EC2.9"]
        issue_certificate(ctx, "api.example.com")
        compute.ensure_listeners(ctx)
        again = compute.verify(ctx)
        assert set(again[again.id == "ELB.1"].status) == {"PASS"}
