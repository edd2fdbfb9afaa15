"""The build's time on AWS, measured in a rehearsal: per notebook, for the whole build, its critical path.

Rehearsing (`sandbox start --rehearse`), the target's clock keeps AWS time: what the workbook waits
for passes at AWS time, everything else (calls, kernels, local work) at wall time
(sandbox/rehearsal.py). So:

- a notebook's projected AWS time is the AWS time that passed on that clock while it ran: its waits,
  its local work, and its API calls at a typical AWS round trip each (`call_s`: the sandbox answers in
  milliseconds, so the clock adds the difference as each call is made, and later waits are that much
  shorter, as on AWS);
- the build's projected wall time is the sum over its notebooks (they run one after the other);
- its critical path is the longest chain of modelled AWS waits that depend on each other (DEPENDS: a
  snapshot needs its instance available, a restore needs its snapshot, an app server its instance
  profile and its NAT ...). No order of the notebooks can build faster than that chain; the ratio
  of the two says how much of the build queued behind waits that could have overlapped.

The pipeline stores the figures in run.json (`rehearsal`); `python -m workbook.buildtime RUN...` prints
them (`make rehearse` does, last) and checks what `make rehearse` promises.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

MIN = 60.0
# A phase (named by the fact that timed it) can only start once a phase it needs has ended: what AWS
# itself imposes, not the order the notebooks happen to use.
DEPENDS: dict[str, tuple[str, ...]] = {
    "rds_create_single": (), "rds_create_multi": (), "nat_create": (), "alb_create": (),
    "iam_propagation": (), "route53_insync": (),
    "rds_modify": ("rds_create_single", "rds_create_multi"),
    "rds_reboot": ("rds_create_single", "rds_create_multi", "rds_modify"),
    "rds_snapshot": ("rds_create_single", "rds_create_multi", "rds_modify"),
    "rds_restore": ("rds_snapshot",),
    "ec2_running": ("iam_propagation",),
    "asg_in_service": ("iam_propagation", "nat_create"),       # app servers boot through the NAT
    "target_first_check": ("alb_create", "asg_in_service", "ec2_running"),
    "acm_validation": ("route53_insync",),
    # tearing down: draining, then the instance's shutdown; a deleted NAT's, ALB's or VPC link's network
    # interfaces linger from their owner's delete on, holding its subnets and security groups (so the VPC)
    "deregistration_delay": (), "ec2_shutting_down": ("deregistration_delay",), "nat_delete": (),
    "rds_delete": (), "eni_nat": (), "eni_alb": (), "eni_vpc_link": (),
}
TOLERANCE_S = 1.0     # a phase that started within a second of another's end may have waited for it
RATIO_GOAL = 1.1      # issue 9: the projected build at most 1.1 x its critical path


def critical_path(phases: list[dict[str, Any]], by: Iterable[str]) -> tuple[float, list[dict[str, Any]]]:
    """The longest chain of dependent waits among the phases started by the notebooks `by`: (seconds,
    the chain's phases in order). A phase depends on an earlier one when its fact needs the other's
    (DEPENDS) and it started after that one ended."""
    notebooks = set(by)
    todo = sorted((ph for ph in phases if ph.get("why") in DEPENDS and ph.get("by") in notebooks),
                  key=lambda ph: (ph["start"], ph["end"]))
    best: list[tuple[float, int | None]] = []   # per phase: longest chain ending with it, previous phase
    for i, ph in enumerate(todo):
        length = ph["end"] - ph["start"]
        prev = max(((best[j][0], j) for j, q in enumerate(todo[:i])
                    if q["why"] in DEPENDS[ph["why"]] and q["end"] <= ph["start"] + TOLERANCE_S),
                   default=(0.0, None))
        best.append((length + prev[0], prev[1]))
    if not best:
        return 0.0, []
    end = max(range(len(best)), key=lambda i: best[i][0])
    chain, at = [], end
    while at is not None:
        chain.append(todo[at])
        at = best[at][1]
    return best[end][0], chain[::-1]


def figures(notebooks: list[dict[str, Any]], rehearsal: dict[str, Any] | None,
            since: float = 0.0) -> dict[str, Any] | None:
    """The run's figures from its notebook records (notebook, seconds, aws_seconds, calls) and what
    the rehearsal recorded since the run started (AWS time `since`); None when nothing was rehearsed
    (AWS time is then the wall clock's)."""
    if not rehearsal:
        return None
    call_s = float(rehearsal.get("call_s") or 0.0)
    rows = []
    for nb in notebooks:
        if nb.get("aws_seconds") is None:
            continue
        aws = nb["aws_seconds"]
        rows.append({"notebook": nb["notebook"], "status": nb.get("status", ""), "sandbox_s": nb.get("seconds", 0.0),
                     "calls": nb.get("calls", 0), "attempts": nb.get("attempts", 1),
                     "aws_waited_min": round(nb.get("aws_waited_s", 0.0) / MIN, 2),
                     "aws_min": round(aws / MIN, 2)})
    projected = sum(r["aws_min"] for r in rows)
    phases = [ph for ph in rehearsal.get("phases", []) if ph["start"] >= since - TOLERANCE_S]
    cp_s, chain = critical_path(phases, [r["notebook"] for r in rows])
    cp = round(cp_s / MIN, 2)
    return {"time_scale": rehearsal.get("rehearse", {}).get("time_scale"),
            "throttle": rehearsal.get("rehearse", {}).get("throttle"), "call_s": call_s,
            "created": sum(nb.get("created", 0) for nb in notebooks),
            "notebooks": rows, "sandbox_s": round(sum(r["sandbox_s"] for r in rows), 1),
            "projected_min": round(projected, 2), "critical_path_min": cp,
            "ratio": round(projected / cp, 3) if cp else None,
            "critical_path": [{"resource": ph["resource"], "state": ph["state"], "why": ph["why"], "by": ph["by"],
                               "minutes": round((ph["end"] - ph["start"]) / MIN, 2)} for ph in chain]}


def made_of(fig: dict[str, Any]) -> str:
    """The critical path in one line: what it is made of."""
    return " -> ".join(f"{c['resource'].split(':', 1)[0]} {c['resource'].split(':', 1)[1].rsplit('/', 1)[-1][:28]} "
                       f"{c['state']} {c['minutes']:.1f} min ({c['why']}, {c['by']})" for c in fig["critical_path"])


def text(fig: dict[str, Any], title: str = "build") -> str:
    """The figures as a small table and three lines (for the terminal, the bench and the closing note)."""
    lines = [f"{title}: rehearsed at 1 AWS minute waited = {60 / fig['time_scale']:g} s"
             + (f", {fig['throttle']:.0%} of calls throttled" if fig.get("throttle") else ""),
             f"  {'notebook':<22} {'status':<7} {'sandbox s':>9} {'API calls':>9} {'AWS waits min':>13} "
             f"{'projected AWS min':>17} {'attempts':>8}"]
    for r in fig["notebooks"]:
        lines.append(f"  {r['notebook']:<22} {r['status']:<7} {r['sandbox_s']:>9.1f} {r['calls']:>9} "
                     f"{r['aws_waited_min']:>13.1f} {r['aws_min']:>17.1f} {r['attempts']:>8}")
    lines.append(f"  {'total':<22} {'':<7} {fig['sandbox_s']:>9.1f} {sum(r['calls'] for r in fig['notebooks']):>9} "
                 f"{sum(r['aws_waited_min'] for r in fig['notebooks']):>13.1f} {fig['projected_min']:>17.1f}")
    if fig["critical_path_min"]:
        lines.append(f"  projected AWS wall time {fig['projected_min']:.1f} min; critical path "
                     f"{fig['critical_path_min']:.1f} min; ratio {fig['ratio']:.2f}"
                     + (f" (goal <= {RATIO_GOAL})" if fig.get("created") else ""))   # the goal is a build's
        lines.append(f"  critical path: {made_of(fig)}")
    else:
        lines.append(f"  projected AWS wall time {fig['projected_min']:.1f} min; no modelled AWS wait was on a chain")
    return "\n".join(lines)


def html_section(rec: dict[str, Any]) -> str:
    """The report's few lines on a rehearsed run ("" for any other): per notebook the sandbox seconds and
    projected AWS minutes, then the build's projected time, critical path and ratio."""
    import html
    fig = rec.get("rehearsal")
    if not fig:
        return ""
    rows = "".join(f"<tr><td>{html.escape(r['notebook'])}</td><td>{r['sandbox_s']:.1f}</td><td>{r['calls']}</td>"
                   f"<td>{r['aws_waited_min']:.1f}</td><td>{r['aws_min']:.1f}</td><td>{r['attempts']}</td></tr>"
                   for r in fig["notebooks"])
    cp = (f"<p>Projected AWS wall time <b>{fig['projected_min']:.1f} min</b>; critical path "
          f"<b>{fig['critical_path_min']:.1f} min</b>; ratio <b>{fig['ratio']:.2f}</b>"
          + (f" (goal &le; {RATIO_GOAL})" if fig.get("created") else "") + ". "
          f"The critical path: {html.escape(made_of(fig))}.</p>") if fig.get("critical_path_min") else ""
    return (f"<h3>Rehearsed AWS time</h3><p class='wb-note'>The sandbox rehearsed AWS: waits at AWS time (1 AWS "
            f"minute waited = {60 / fig['time_scale']:g} s), each call at {fig['call_s']:g} s, everything else at wall time"
            + (f", {fig['throttle']:.0%} of calls throttled" if fig.get("throttle") else "") + ".</p>"
            "<table class='wb-table'><tr><th>notebook</th><th>sandbox s</th><th>API calls</th><th>AWS waits min</th>"
            f"<th>projected AWS min</th><th>attempts</th></tr>{rows}</table>{cp}")


def load(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "run.json").read_text())


def main(argv: list[str] | None = None) -> int:
    """`python -m workbook.buildtime [--goal] RUN [RUN ...]`: print each run's figures; with --goal,
    fail (exit 1) unless the first run (the build) meets the ratio goal."""
    args = list(sys.argv[1:] if argv is None else argv)
    goal = "--goal" in args
    runs = [a for a in args if a != "--goal"]
    status = 0
    for i, run_dir in enumerate(runs):
        rec = load(run_dir)
        fig = rec.get("rehearsal")
        title = f"{Path(rec['run_dir']).name} ({', '.join(n['notebook'][:2] for n in rec['notebooks'])})"
        if not fig:
            print(f"{title}: not rehearsed (no AWS time to project)")
            continue
        print(text(fig, title))
        if goal and i == 0 and (not fig.get("ratio") or fig["ratio"] > RATIO_GOAL):
            print(f"  the build's ratio {fig.get('ratio')} misses the goal {RATIO_GOAL}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
