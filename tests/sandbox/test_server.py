"""The sandbox server: state survives a restart; one server at a time; stale state is handled."""
from __future__ import annotations

import json
import subprocess
import sys

import boto3

from workbook.sandbox import server


def _ec2(endpoint: str):
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_restart_keeps_resource_ids(state_dir):
    info = server.start()
    ec2 = _ec2(info["endpoint"])
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    server.stop()
    assert not server.status()["running"]
    again = server.start()
    assert again["replayed_calls"] >= 3  # seed + the two creates
    ec2 = _ec2(again["endpoint"])
    found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    assert [s["SubnetId"] for s in found] == [subnet]
    # created after the restart: still works, and survives a second restart
    vpc2 = ec2.create_vpc(CidrBlock="10.51.0.0/16")["Vpc"]["VpcId"]
    server.stop()
    ids = {v["VpcId"] for v in _ec2(server.start()["endpoint"]).describe_vpcs()["Vpcs"]}
    assert {vpc, vpc2} <= ids


def test_starting_twice_runs_one_server(state_dir):
    first = server.start()
    second = server.start()
    assert second["already_running"] and second["pid"] == first["pid"]
    out = subprocess.run(["pgrep", "-f", f"motoserver -H 127.0.0.1 -p {first['port']}"],
                         capture_output=True, text=True).stdout.split()
    assert len(out) == 1


def test_stale_pid_file_is_replaced(state_dir):
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "moto.json").write_text(json.dumps(
        {"pid": 999999, "port": 1, "endpoint": "http://127.0.0.1:1", "started": 0, "journal": ""}))
    st = server.status()
    assert not st["running"] and st["stale_state"]
    info = server.start()
    assert not info["already_running"] and info["pid"] != 999999
    assert server.status()["running"]


def test_a_journal_another_server_recorded_is_set_aside_not_replayed_into_a_broken_state(state_dir):
    """A journal recreates the same IDs only on the server that recorded it. One recorded before the
    sandbox's server changed (as it did when it began to spread group instances over zones) replayed
    into security groups of VPCs that no longer existed, and 03 failed. Such a journal is set aside and
    the sandbox starts empty, saying so."""
    from pathlib import Path
    ep = server.start()["endpoint"]
    vpc = _ec2(ep).create_vpc(CidrBlock="10.53.0.0/16")["Vpc"]["VpcId"]
    server.stop()
    (Path(state_dir) / "journal.flavour").write_text("moto.server")   # what journals before the change were
    cli = subprocess.run([sys.executable, "-m", "workbook", "sandbox", "start"], capture_output=True, text=True,
                         check=True)   # as make sandbox-start runs it: its JSON is not shown, the note is
    again = json.loads(cli.stdout)
    assert again["replayed_calls"] == 0 and vpc not in {v["VpcId"] for v in _ec2(again["endpoint"]).describe_vpcs()["Vpcs"]}
    assert "starts empty" in cli.stderr and Path(again["journal_set_aside"]).exists()
    server.stop()
    assert server.start()["replayed_calls"] >= 1          # what was recorded since replays again


def test_reset_forgets_everything(state_dir):
    ep = server.start()["endpoint"]
    vpc = _ec2(ep).create_vpc(CidrBlock="10.52.0.0/16")["Vpc"]["VpcId"]
    ep = server.reset()["endpoint"]
    assert vpc not in {v["VpcId"] for v in _ec2(ep).describe_vpcs()["Vpcs"]}


def test_cli_status_and_stop(state_dir):
    env_py = sys.executable
    subprocess.run([env_py, "-m", "workbook", "sandbox", "start"], check=True, capture_output=True)
    st = json.loads(subprocess.run([env_py, "-m", "workbook", "sandbox", "status"], check=True,
                                   capture_output=True, text=True).stdout)
    assert st["running"]
    subprocess.run([env_py, "-m", "workbook", "sandbox", "stop"], check=True, capture_output=True)
    assert not server.status()["running"]
