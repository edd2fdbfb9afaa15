"""The build's figures from a rehearsal: projected AWS time per notebook, the critical path, their ratio."""
from __future__ import annotations

from workbook import buildtime


def ph(resource, why, start, end, by, state="creating"):
    return {"resource": resource, "why": why, "start": start, "end": end, "by": by, "state": state}


PHASES = [
    ph("nat_gateway:nat-1", "nat_create", 100, 200, "02_network", "pending"),
    ph("db_instance:demo-db", "rds_create_multi", 300, 1380, "03_database"),
    ph("load_balancer:arn", "alb_create", 400, 560, "04_compute", "provisioning"),
    ph("asg_instance:i-1", "asg_in_service", 600, 625, "04_compute", "Pending"),
    ph("db_snapshot:demo-db-manual", "rds_snapshot", 1400, 1650, "08_cutover_compare"),
    ph("db_instance:demo-db-drill", "rds_restore", 1700, 2840, "08_cutover_compare"),
    ph("db_instance:demo-db-drill", "rds_delete", 2850, 3300, "08_cutover_compare", "deleting"),   # not waited for
    ph("db_instance:demo-db", "rds_delete", 4000, 4500, "09_teardown", "deleting"),              # not the build's
]


def test_critical_path_follows_what_aws_imposes():
    seconds, chain = buildtime.critical_path(PHASES, ["02_network", "03_database", "04_compute", "08_cutover_compare"])
    assert [c["why"] for c in chain] == ["rds_create_multi", "rds_snapshot", "rds_restore"]
    assert seconds == 1080 + 250 + 1140          # the waits' own lengths: the gaps between them are the build's


def test_a_phase_that_started_before_the_other_ended_does_not_depend_on_it():
    early = [ph("db_instance:x", "rds_create_single", 0, 600, "03"), ph("db_snapshot:y", "rds_snapshot", 300, 400, "03")]
    seconds, chain = buildtime.critical_path(early, ["03"])
    assert seconds == 600 and len(chain) == 1


def test_figures_project_each_notebook_and_the_ratio():
    notebooks = [{"notebook": "03_database", "seconds": 9.0, "aws_seconds": 120.0, "calls": 40, "status": "ok"},
                 {"notebook": "08_cutover_compare", "seconds": 60.0, "aws_seconds": 2700.0, "calls": 200, "status": "ok",
                  "attempts": 2, "aws_waited_s": 2500.0}]
    rehearsal = {"rehearse": {"time_scale": 60.0, "throttle": 0.0}, "call_s": 0.15, "phases": PHASES,
                 "waits": {"08_cutover_compare": {"seconds": 2500.0}}}
    fig = buildtime.figures(notebooks, rehearsal)
    assert [r["aws_min"] for r in fig["notebooks"]] == [2.0, 45.0]   # the clock counted the calls already
    assert fig["critical_path_min"] == round((1080 + 250 + 1140) / 60, 2)
    assert fig["ratio"] == round(fig["projected_min"] / fig["critical_path_min"], 3)
    text = buildtime.text(fig)
    assert "critical path: db_instance demo-db creating 18.0 min" in text and "ratio" in text
    assert buildtime.figures(notebooks, None) is None   # on AWS itself, or the plain sandbox: no projection


def test_the_report_shows_a_rehearsed_run_in_a_few_lines():
    notebooks = [{"notebook": "03_database", "seconds": 9.0, "aws_seconds": 1500.0, "calls": 40, "status": "ok"}]
    fig = buildtime.figures(notebooks, {"rehearse": {"time_scale": 60.0, "throttle": 0.1}, "call_s": 0.15,
                                        "phases": PHASES, "waits": {}})
    page = buildtime.html_section({"rehearsal": fig})
    assert "Rehearsed AWS time" in page and "10% of calls throttled" in page and "ratio" in page
    assert buildtime.html_section({"rehearsal": None}) == ""
