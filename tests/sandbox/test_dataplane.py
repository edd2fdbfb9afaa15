"""The data plane is real: processes, PostgreSQL servers, a load balancer with health checks, and the
metrics AWS would publish, against a private moto server."""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane_stack import create_stack, private_sandbox  # noqa: E402

from workbook import dbmove, metrics, names, probe  # noqa: E402
from workbook.steps import cutover  # noqa: E402
from workbook.params import Params  # noqa: E402

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    from workbook.connect import connect
    from workbook.sandbox import dataplane
    with private_sandbox(tmp_path_factory.mktemp("dataplane-state")) as d:
        p = Params.from_mapping({"sample_rows": 400, "probe_rate": 20, "probe_seconds": 3})
        ctx = connect(p)
        stack = create_stack(ctx, p, managed_secret=True)
        ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)  # publish only when flushed
        yield {"ctx": ctx, "p": p, "stack": stack, "dp": dataplane, "dir": d}


def get(url: str, timeout: float = 3) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def system_id(uri: str) -> str:
    with psycopg.connect(uri) as conn:
        return str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])


def wait_for(cond, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_stand_ins_follow_the_control_plane(plane):
    st = plane["dp"].status()
    asg_ids = set(plane["ctx"].client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[names.asg(plane["p"])])["AutoScalingGroups"][0]["Instances"][i]["InstanceId"]
        for i in range(plane["p"].desired_capacity))
    assert set(st[st["stands_in_for"] == "ASG instance"]["aws_id"]) == asg_ids
    assert st[st["stands_in_for"] == "dev instance"]["aws_id"].tolist() == [plane["stack"]["dev"]]
    assert st["up"].all()
    rds = st[st["stands_in_for"] == "RDS instance"].iloc[0]
    assert rds["aws_id"] == names.db_instance(plane["p"]) and ".rds.amazonaws.com:5432" in rds["detail"]


def test_move_then_a_request_through_the_lb_reaches_an_app_reading_the_rds_stand_in(plane):
    dp, ctx, p = plane["dp"], plane["ctx"], plane["p"]
    result = dbmove.move(ctx)
    assert result.ok and result.verification["rows_rds"].sum() == 400
    assert result.freeze_held and result.write_during_freeze == "new sessions read-only: on"
    req = urllib.request.Request(dp.endpoint("dev") + "/items", method="POST", data=b'{"name": "x", "price_cents": 1}',
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:   # the dev app refuses writes under the freeze
        urllib.request.urlopen(req, timeout=5)
    assert refused.value.code == 503
    rds_id, dev_id = system_id(dp.database_uri("rds")), system_id(dp.database_uri("dev"))
    assert rds_id != dev_id
    lb = dp.endpoint("lb")
    answers = [get(lb + "/health")[1] for _ in range(4)]
    assert {a["database"] for a in answers} == {rds_id}
    assert {a["instance"] for a in answers} == set(dp.status().query("stands_in_for == 'ASG instance'")["aws_id"])
    status, item = get(lb + "/items/5")
    assert (status, item["name"]) == (200, "item-5")      # the row came from dev, through S3, into RDS
    assert get(dp.endpoint("dev") + "/health")[1]["database"] == dev_id
    # the same, as the cutover shows it through the data-plane interface
    assert (ctx.target.dataplane.database_identity(ctx, "rds"), ctx.target.dataplane.database_identity(ctx, "dev")) \
        == (rds_id, dev_id)
    shown = cutover.cutover(ctx)
    assert shown.database.tolist() == ["dev (on the instance)"] + ["RDS"] * max(2, p.desired_capacity)


def test_starting_again_changes_nothing_that_runs(plane):
    dp = plane["dp"]
    pids = sorted(dp.status()["pid"].dropna().astype(int))
    plane["ctx"].target.dataplane.start(plane["ctx"])   # after the move the dev database is frozen: still fine
    assert sorted(dp.status()["pid"].dropna().astype(int)) == pids


def test_killing_one_app_fails_no_request_once_the_health_check_noticed(plane):
    dp = plane["dp"]
    killed = dp.kill_app_instance()["killed"]

    def marked_unhealthy():
        return any(t["instance_id"] == killed and t["state"] == "unhealthy" for t in dp.daemon_status()["targets"])
    assert wait_for(marked_unhealthy, 10)
    codes = [get(dp.endpoint("lb") + "/items/3")[0] for _ in range(30)]
    assert codes == [200] * 30
    # The group replaces it and the load balancer takes it back.
    assert wait_for(lambda: all(t["state"] == "healthy" for t in dp.daemon_status()["targets"]), 30)
    assert any(e["event"] == "replaced" and e["instance_id"] == killed for e in dp.daemon_status()["events"])


def test_probe_through_lb_with_a_killed_instance_ends_fully_served(plane):
    # 20 req/s, the kill a third of the way in: the checks (every 1 s, 2 failures) take it out before the end;
    # the probe lasts at least probe_seconds, longer when the fault needs it (probe.probe_seconds).
    ctx = plane["ctx"].replace(probe_seconds=5)
    p = ctx.p
    seconds = probe.probe_seconds(ctx, "kill_app_instance")
    assert 5 <= seconds <= 15          # the stand-ins' checks are quick: a short probe still covers the fault
    run = probe.probe(ctx, "lb", "after", fault="kill_app_instance", max_item_id=200)
    s = run.summary()
    assert s["requests"] == p.probe_rate * seconds
    assert run.fault_info["covers_s"] >= run.fault_info["settle_s"]
    assert s["ok_in_last_second"] == 1.0
    assert s["error_rate"] < 0.5
    assert wait_for(lambda: all(t["state"] == "healthy" for t in plane["dp"].daemon_status()["targets"]), 30)


def test_db_failover_is_survived_by_reads(plane):
    dp = plane["dp"]
    down = dp.db_failover()["down_s"]
    assert down > 0
    assert wait_for(lambda: get(dp.endpoint("lb") + "/items/9")[0] == 200, 10)


def test_aws_metrics_read_back_equal_what_the_load_balancer_counted(plane):
    dp, ctx, p = plane["dp"], plane["ctx"], plane["p"]
    journal = Path(plane["dir"]) / "journal.jsonl"
    dp.flush()
    start = datetime.now(timezone.utc) - timedelta(hours=1)

    def lb_requests() -> float:
        df = metrics.read_aws(ctx, p, start, datetime.now(timezone.utc) + timedelta(minutes=5))
        return df[df["metric"] == "RequestCount"]["value"].sum()
    before = lb_requests()
    for _ in range(25):
        get(dp.endpoint("lb") + "/items/1")
    lines = sum(1 for _ in journal.open())
    sent = dp.flush()
    assert sent["calls"] <= 3                       # one put_metric_data per namespace
    assert sum(1 for _ in journal.open()) - lines == sent["calls"]
    assert lb_requests() - before == 25
    df = metrics.read_aws(ctx, p, start, datetime.now(timezone.utc) + timedelta(minutes=5))
    seen = set(zip(df["namespace"], df["metric"]))
    assert {("AWS/EC2", "CPUUtilization"), ("AWS/ApplicationELB", "TargetResponseTime"),
            ("AWS/ApplicationELB", "HealthyHostCount"), ("AWS/RDS", "DatabaseConnections")} <= seen
    lb_dims = set(df[df["namespace"] == "AWS/ApplicationELB"]["dimensions"])
    assert any(d.startswith(f"LoadBalancer=app/{names.alb(p)}/") for d in lb_dims)
    cpu_ids = {d.split("=", 1)[1] for d in df[df["metric"] == "CPUUtilization"]["dimensions"] if d.startswith("InstanceId=")}
    assert plane["stack"]["dev"] in cpu_ids and len(cpu_ids) == 3


def test_stop_leaves_no_process_and_resume_restores_the_data(plane):
    dp = plane["dp"]
    st = dp.status()
    pids = [int(x) for x in st["pid"].dropna()]
    assert dp.stop()["daemon"]
    time.sleep(0.3)
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
             and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]
    assert alive == []
    assert dp.resume()["ready"]
    assert get(dp.endpoint("lb") + "/items/5")[1]["name"] == "item-5"


def test_a_new_rds_instance_of_the_same_name_starts_empty(plane):
    """A teardown, then a new build in the same sandbox (the workshop's `make teardown; make report`): on AWS
    the new instance is empty. The stand-in was kept by name, so the new instance had the old one's rows and
    08 refused its move ("already holds rows and no move ledger says a move put them there")."""
    ctx, dp, p = plane["ctx"], plane["dp"], plane["p"]
    with psycopg.connect(dp.database_uri("rds"), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS left_behind (id int)")
    rds, ident = ctx.client("rds"), names.db_instance(p)
    rds.delete_db_instance(DBInstanceIdentifier=ident, SkipFinalSnapshot=True)
    rds.create_db_instance(DBInstanceIdentifier=ident, Engine="postgres", EngineVersion="16.11",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20, DBName="app", MasterUsername="app",
                           ManageMasterUserPassword=True)
    ctx.target.dataplane.start(ctx, period_s=3600, publish_every_s=3600)
    with psycopg.connect(dp.database_uri("rds")) as conn:
        assert conn.execute("SELECT to_regclass('left_behind')").fetchone()[0] is None


def _running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_stack_switched_away_from_leaves_no_database_running_after_stop(plane):
    """The workshop's sandbox serves one stack's data plane at a time (the prebuilt "demo", then an attendee's
    own): starting it for another stack forgot the first stack's RDS stand-in without stopping it, so a
    PostgreSQL server ran on after `sandbox stop`, recorded nowhere (seen after `make test`)."""
    from workbook.connect import connect
    dp = plane["dp"]
    st = dp.status()
    first = int(st[st["stands_in_for"] == "RDS instance"]["pid"].iloc[0])
    p2 = Params.from_mapping({"stack_name": "other", "sample_rows": 100})
    ctx2 = connect(p2)
    create_stack(ctx2, p2, dev=False, asg=False)
    ctx2.target.dataplane.start(ctx2, period_s=3600, publish_every_s=3600)
    dp.stop()
    assert wait_for(lambda: not _running(first), timeout=10), "the first stack's RDS stand-in still runs"
