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


TEARDOWN = [   # what `make rehearse` recorded for 09_teardown (AWS seconds)
    ph("asg_instance:i-1", "deregistration_delay", 3177, 3308, "09_teardown", "Terminating"),
    ph("instance:i-1", "ec2_shutting_down", 3207, 3308, "09_teardown", "shutting-down"),
    ph("nat_gateway:nat-1", "nat_delete", 3315, 3375, "09_teardown", "deleting"),
    ph("r53_change:C1", "route53_insync", 3440, 3500, "09_teardown", "PENDING"),
    ph("eni:vpc_link:abc", "eni_vpc_link", 3563, 5176, "09_teardown", "in-use"),
    ph("eni:load_balancer:arn", "eni_alb", 3564, 3700, "09_teardown", "in-use"),
    ph("db_instance:demo-db", "rds_delete", 3581, 4066, "09_teardown", "deleting"),
]


def test_a_teardowns_critical_path_is_what_held_it_longest_and_it_is_held_to_no_build_goal():
    """`make rehearse` printed the teardown's critical path as a 1-minute Route 53 change and "ratio 32.85
    (goal <= 1.1)": the deletes' waits were on no chain, and the build's goal was shown for a run that
    builds nothing. The VPC link's interfaces, which hold the subnets and so the VPC for 27 minutes, are
    what a 33-minute teardown waits on."""
    notebooks = [{"notebook": "09_teardown", "seconds": 50.0, "aws_seconds": 1970.0, "calls": 780, "status": "ok",
                  "created": 0}]
    fig = buildtime.figures(notebooks, {"rehearse": {"time_scale": 60.0, "throttle": 0.0}, "call_s": 0.15,
                                        "phases": TEARDOWN, "waits": {}})
    assert [c["why"] for c in fig["critical_path"]] == ["eni_vpc_link"]
    text = buildtime.text(fig, "teardown")
    assert "critical path: eni vpc_link:abc in-use 26.9 min" in text and "goal" not in text
    assert "goal <= 1.1" in buildtime.text(buildtime.figures(
        [{"notebook": "03_database", "seconds": 9.0, "aws_seconds": 1500.0, "calls": 40, "status": "ok", "created": 9}],
        {"rehearse": {"time_scale": 60.0}, "call_s": 0.15, "phases": PHASES, "waits": {}}))
