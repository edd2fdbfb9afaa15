"""Shared fixtures: an in-process moto for unit tests, a real sandbox server for notebook tests."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("MOTO_ACM_VALIDATION_WAIT", "0")
# What the tests' runs draw and write (diagrams/, build/) goes to a folder of this process's own, never over
# the diagrams, runs and report a user's `make report` left in the checkout (workbook.outputs.home).
os.environ["WORKBOOK_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="workbook-test-output-")
atexit.register(shutil.rmtree, os.environ["WORKBOOK_OUTPUT_DIR"], True)


def _in_process_moto_launches_from_later_template_versions() -> None:
    """The sandbox's server carries this fix of moto (motoserver.py); the in-process mock gets it too, so
    an instance refresh or a replacement from a later launch template version works there as well."""
    from workbook.sandbox import motoserver
    motoserver.patch_launch_template_versions()


def _only_the_managed_policies_the_workbook_attaches() -> None:
    """With MOTO_IAM_LOAD_MANAGED_POLICIES on, every in-process mock parses all of AWS's managed policies
    (about 1 s each time, dozens of times a session); the workbook attaches three. A test that needs
    another one fails with NoSuchEntity naming it: add it here. (The sandbox's server loads them all.)"""
    import moto.iam.models as iam_models
    used = ("AdministratorAccess", "AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy")
    every = json.loads(iam_models.aws_managed_policies_data)
    assert set(used) <= set(every), set(used) - set(every)
    iam_models.aws_managed_policies_data = json.dumps({k: v for k, v in every.items() if k in used})


_only_the_managed_policies_the_workbook_attaches()


def _only_the_amis_the_workbook_reads() -> None:
    """moto fills each region's EC2 backend with about 1,300 AMIs, each built with random ids (0.14 s per
    backend; a session makes hundreds of backends, in-process and in the sandbox servers it starts). The
    workbook reads the Amazon Linux 2023 images that SSM's public parameters name (x86_64, and arm64 for
    Graviton instance types). MOTO_AMIS_PATH (moto's own setting, read when moto.ec2 is imported, inherited
    by servers) gives moto its base list plus those images of every region, taken from moto's own files so
    an upgrade stays consistent."""
    import atexit
    import tempfile
    import moto
    from moto.utilities.utils import load_resource
    assert "moto.ec2.models.amis" not in sys.modules, "set before moto.ec2 is imported"
    amis = load_resource("ec2/resources/amis.json")
    for path in sorted((Path(moto.__file__).parent / "ssm/resources/ami-amazon-linux-latest").glob("*.json*")):
        region = path.name.split(".json")[0]
        named = {p["Value"] for p in load_resource(f"ssm/resources/ami-amazon-linux-latest/{region}.json")
                 if p["Name"].endswith(("/al2023-ami-kernel-default-x86_64", "/al2023-ami-kernel-default-arm64"))}
        amis += [a for a in load_resource(f"ec2/resources/latest_amis/{region}.json") if a["ami_id"] in named]
    fd, name = tempfile.mkstemp(prefix="workbook-test-amis-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(amis, f)
    atexit.register(os.unlink, name)
    os.environ["MOTO_AMIS_PATH"] = name


_only_the_amis_the_workbook_reads()
_in_process_moto_launches_from_later_template_versions()   # after: it imports moto.ec2


def _default_sessions_share_the_models() -> None:
    """Tests that call boto3.client() directly get boto3's default session, which moto's mock_aws resets
    at each start, so each test parsed the service models again. The default session is made on the
    workbook's shared loader (workbook/boto_models.py), as the workbook's own sessions are."""
    from workbook import boto_models

    def setup_default_session(**kwargs):
        boto3.DEFAULT_SESSION = boto_models.session(**kwargs)
    boto3.setup_default_session = setup_default_session


_default_sessions_share_the_models()


# Unit tests start from the smallest stack (no domain, no API Gateway, no alarm address, one NAT gateway)
# and name what they add. The defaults, the whole article in the sandbox, are what `make report` and
# tests/test_full_run.py build.
MINIMAL = {"domain_name": "", "alarm_email": "", "entry": "alb", "nat_per_az": False}


def make_ctx(**overrides):
    """A Context on moto's in-process mock (call inside mock_aws), through the sandbox's seam as the
    notebooks get it (the in-process mock has moto's gaps too). Parameters: MINIMAL, then `overrides`."""
    from workbook.aws import AwsTarget
    from workbook.connect import Context
    from workbook.params import Params
    from workbook.sandbox.seam import ACCOUNT, SandboxTarget
    p = Params.from_mapping({**MINIMAL, **overrides})
    # target=aws: the real-account code path, against the same in-process moto (no sandbox corrections)
    return Context(p, SandboxTarget(endpoint=None) if p.target == "sandbox" else AwsTarget(), ACCOUNT)


@pytest.fixture
def ctx():
    from moto import mock_aws
    with mock_aws():
        yield make_ctx()


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """A private sandbox state folder (and so a private moto server) for one test."""
    d = tmp_path / "state"
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(d))
    yield d
    from workbook.sandbox import server
    server.stop()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One running sandbox for the notebook tests of a session; its state folder is private."""
    d = tmp_path_factory.mktemp("sandbox")
    old = os.environ.get("WORKBOOK_STATE_DIR")
    os.environ["WORKBOOK_STATE_DIR"] = str(d)
    from workbook.sandbox import server
    info = server.start()
    yield {"endpoint": info["endpoint"], "state_dir": d}
    server.stop()
    if old is None:
        os.environ.pop("WORKBOOK_STATE_DIR", None)
    else:
        os.environ["WORKBOOK_STATE_DIR"] = old


# Debian's Chromium driven by Playwright; never a downloaded browser (.ci/run installs chromium).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    import shutil
    if not shutil.which("chromium"):
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does this)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


from workbook.connect import Clock  # noqa: E402  (after moto's settings above)


class AccountClock(Clock):
    """The account's time, passing only when the workbook waits on it (a real account's clock, without
    the real waits): where a TTL or a retry budget is spent, in no wall time."""
    scale = 1.0

    def __init__(self) -> None:
        self.t, self.slept = 1.8e9, 0.0

    def sleep(self, aws_seconds: float) -> None:
        self.t += max(aws_seconds, 0.0)
        self.slept += max(aws_seconds, 0.0)

    def now(self) -> float:
        return self.t

    def stamp(self) -> float:
        return self.t
