"""The rehearsal's machinery: the switch every process sees, AWS time on the clock, the shared
timeline, the figures' sources, and nothing changed when it is off."""
from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import time

from moto import mock_aws
from rehearsal_fixtures import rctx, rehearsing, with_target  # noqa: F401  (rctx is a fixture)

from conftest import make_ctx
from workbook.sandbox import rehearsal, rehearsal_facts
from workbook.sandbox.seam import SandboxClock, SandboxTarget


def test_off_unless_asked(tmp_path):
    assert rehearsal.load(tmp_path) is None
    target = SandboxTarget(None, rehearsal.load(tmp_path))
    assert target.rehearsal is None and isinstance(target.clock, SandboxClock)
    with mock_aws():
        ctx = with_target(make_ctx(), target)
        db = ctx.client("rds").create_db_instance(
            DBInstanceIdentifier="plain", Engine="postgres", EngineVersion="16.4", DBInstanceClass="db.t4g.micro",
            MasterUsername="u", MasterUserPassword="password1", AllocatedStorage=20)["DBInstance"]
    assert db["DBInstanceStatus"] == "available"   # the normal sandbox stays instant and forgiving


def test_switch_is_kept_in_the_state_folder(tmp_path):
    rehearsal.switch(True, time_scale=600, throttle=0.1, state_dir=tmp_path)
    s = rehearsal.load(tmp_path)
    assert s is not None and (s.time_scale, s.throttle) == (600, 0.1)
    assert json.loads((tmp_path / rehearsal.SETTINGS_FILE).read_text())["on"] is True
    rehearsal.switch(False, state_dir=tmp_path)
    assert rehearsal.load(tmp_path) is None


def test_the_plain_sandbox_gives_its_real_processes_time_and_moto_a_token_pause(monkeypatch):
    """moto answers at once, but the data plane's processes do real work: 08's restore into RDS (an hour on
    AWS: 720 looks 5 s apart) ran a real pg_restore that took over 15 s on a loaded machine, and token
    pauses of 0.02 s gave up on it after 14.7 s. A long AWS wait is a minute or more of wall time here;
    one look is still a fraction of a second."""
    from workbook.sandbox import seam
    slept: list[float] = []
    monkeypatch.setattr(seam.time, "sleep", slept.append)
    clock = SandboxClock()
    clock.sleep(5)
    assert 0 < slept[0] <= 0.2
    for _ in range(719):
        clock.sleep(5)
    assert sum(slept) >= 60


def test_cli_switch_reaches_other_processes(tmp_path, monkeypatch):
    """`sandbox start --rehearse` in one process; a later process (a kernel) connects rehearsing."""
    monkeypatch.setenv("WORKBOOK_STATE_DIR", str(tmp_path))
    py = sys.executable
    try:
        out = subprocess.run([py, "-m", "workbook", "sandbox", "start", "--rehearse", "--time-scale", "600"],
                             check=True, capture_output=True, text=True).stdout
        assert json.loads(out)["rehearse"]["on"] is True
        kernel = ("from workbook.connect import connect; from workbook.params import Params; "
                  "ctx = connect(Params.from_mapping({})); print(type(ctx.clock).__name__, ctx.clock.scale)")
        seen = subprocess.run([py, "-c", kernel], check=True, capture_output=True, text=True).stdout.split()
        assert seen == ["RehearsalClock", str(1 / 600)]
        # a start without --time-scale is back at the default scale, as its help says (1 AWS minute = 1 s; at
        # 600 a 5-minute create is half a second: under load it was over before the check):
        # one process creates, another sees it creating
        subprocess.run([py, "-m", "workbook", "sandbox", "start", "--rehearse"], check=True, capture_output=True)
        seen = subprocess.run([py, "-c", kernel], check=True, capture_output=True, text=True).stdout.split()
        assert seen == ["RehearsalClock", str(1 / 60)]
        create = ("from workbook.connect import connect; from workbook.params import Params; "
                  "ctx = connect(Params.from_mapping({})); print(ctx.client('rds').create_db_instance("
                  "DBInstanceIdentifier='shared', Engine='postgres', EngineVersion='16.11', "
                  "DBInstanceClass='db.t4g.micro', MasterUsername='u', MasterUserPassword='password1', "
                  "AllocatedStorage=20)['DBInstance']['DBInstanceStatus'])")
        assert subprocess.run([py, "-c", create], check=True, capture_output=True, text=True).stdout.split()[-1] \
            == "creating"
        from workbook.connect import connect
        from workbook.params import Params
        db = connect(Params.from_mapping({})).client("rds").describe_db_instances(
            DBInstanceIdentifier="shared")["DBInstances"][0]
        assert db["DBInstanceStatus"] == "creating" and "Endpoint" not in db
        subprocess.run([py, "-m", "workbook", "sandbox", "start"], check=True, capture_output=True)
        seen = subprocess.run([py, "-c", kernel], check=True, capture_output=True, text=True).stdout.split()
        assert seen[0] == "SandboxClock"
        bad = subprocess.run([py, "-m", "workbook", "sandbox", "start", "--throttle", "0.1"], capture_output=True)
        assert bad.returncode == 2
        zero = subprocess.run([py, "-m", "workbook", "sandbox", "start", "--rehearse", "--time-scale", "0"],
                              capture_output=True, text=True)
        assert zero.returncode == 2 and "--time-scale" in zero.stderr and "> 0" in zero.stderr
    finally:
        subprocess.run([py, "-m", "workbook", "sandbox", "stop"], capture_output=True)


def test_clock_sleeps_aws_time_scaled(tmp_path):
    clock = rehearsal.RehearsalClock(rehearsal.Settings(on=True, time_scale=60_000, origin_wall=time.time(),
                                                        state_dir=str(tmp_path)))
    assert clock.scale == 1 / 60_000
    t0 = clock.now()
    clock.sleep(600)                 # ten AWS minutes: 10 ms of sandbox time
    assert clock.now() - t0 >= 600
    assert clock.slept == 600


def test_frozen_clock_moves_only_when_slept(tmp_path):
    clock = rehearsing(tmp_path).clock
    t0 = clock.now()
    time.sleep(0.01)
    assert clock.now() == t0
    clock.sleep(90)
    assert clock.now() == t0 + 90


def test_time_stays_continuous_when_the_scale_changes(tmp_path):
    rehearsal.switch(True, time_scale=60, state_dir=tmp_path)
    before = rehearsal.load(tmp_path).aws_now()
    rehearsal.switch(True, time_scale=6000, state_dir=tmp_path)
    after = rehearsal.load(tmp_path).aws_now()
    assert before <= after < before + 60   # no jump by the new scale


def _append(folder: str, who: str, n: int) -> None:
    tl = rehearsal.Timeline(__import__("pathlib").Path(folder))
    for i in range(n):
        tl.begin(f"{who}:{i}", "creating", float(i), 1.0, "test")


def test_timeline_is_shared_by_processes(tmp_path):
    procs = [multiprocessing.Process(target=_append, args=(str(tmp_path), who, 25)) for who in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    keys = set(rehearsal.Timeline(tmp_path).read())
    assert keys == {f"{w}:{i}" for w in "ab" for i in range(25)}   # no write lost under the lock


def test_timeline_states_and_frame(tmp_path):
    tl = rehearsal.Timeline(tmp_path)
    end = tl.begin("db_instance:x", "creating", 100, 600, "rds_create_single")
    tl.begin("db_instance:x", "modifying", 800, 300, "rds_modify")
    assert end == 700
    assert [tl.state("db_instance:x", t) for t in (50, 100, 699, 700, 900, 1100)] == \
        [None, "creating", "creating", None, "modifying", None]
    assert [r["why"] for r in tl.frame()] == ["rds_create_single", "rds_modify"]


def test_every_figure_has_a_source_and_stays_in_its_range():
    for name, fact in rehearsal_facts.FACTS.items():
        assert fact.source and fact.low <= fact.high, name
        for key in ("a", "b", "nat-123"):
            assert fact.low <= rehearsal_facts.point(name, key) <= fact.high
    assert rehearsal_facts.point("rds_create_multi", "db1") == rehearsal_facts.point("rds_create_multi", "db1")


def test_modelled_gap_is_no_gap_while_rehearsing(rctx):
    assert rctx.gap("sns_email_confirmation") == ""
    assert rctx.gap("alarm_evaluation")     # what the model does not show stays a named gap
    assert "rehearsing AWS" in rctx.target.where(rctx)


def test_figures_say_what_was_waited_for_and_by_whom(rctx):
    """What the pipeline reads: each phase with the notebook that started it, each notebook's waits."""
    from workbook import progress
    rctx.step = "03_database"
    rds = rctx.client("rds")
    rds.create_db_instance(DBInstanceIdentifier="db1", Engine="postgres", EngineVersion="16.11",
                           DBInstanceClass="db.t4g.micro", MasterUsername="u", MasterUserPassword="password1",
                           AllocatedStorage=20, MultiAZ=True)
    progress.wait_for(rds, "db_instance_available", "db", sleep=rctx.clock.sleep, DBInstanceIdentifier="db1")
    figures = rehearsal.figures(rctx.target.rehearsal.settings.folder())
    phase = next(p for p in figures["phases"] if p["resource"] == "db_instance:db1")
    assert (phase["state"], phase["why"], phase["by"]) == ("creating", "rds_create_multi", "03_database")
    assert figures["waits"]["03_database"]["seconds"] >= phase["end"] - phase["start"]


def test_a_phase_is_in_force_from_the_moment_it_begins(tmp_path):
    """A create is `creating` in the very answer that starts it: a phase's start was rounded to the
    millisecond, so a check made within half a millisecond after a start that rounded up found no phase,
    and the new RDS instance read `available` (test_cli_switch_reaches_other_processes, 1 run in 5-20)."""
    tl = rehearsal.Timeline(tmp_path)
    for start in (100.0006, 100.0004, 7.123456789):
        end = tl.begin("db_instance:a", "creating", start, 300.0, "rds_create_single", reset=True)
        assert tl.state("db_instance:a", start) == "creating"
        assert tl.state("db_instance:a", end - 1e-6) == "creating" and tl.state("db_instance:a", end) is None
