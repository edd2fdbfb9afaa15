"""CloudWatch -> one tidy pandas frame; the before/after comparison and its charts.

Reading is batched: up to 500 MetricDataQueries per get_metric_data call (the API's limit), each
batch paged through NextToken by botocore's paginator. The stack's AWS metrics are asked for on the
dimensions the stack itself gives (its instances, load balancer, target group, database): ListMetrics
shows a new metric only up to 15 minutes after its first datapoint, so it would find nothing right
after the probe. CloudWatch delivers a datapoint about a minute after it was published: a read right
after the probe waits (bounded, on the target's clock) until the last probed minute has arrived. Only the statistics SampleCount, Sum,
Minimum, Maximum and Average are asked for: percentiles (p99) crash the sandbox's CloudWatch and
are computed in pandas from the probe's raw requests instead. The same code reads AWS/EC2,
AWS/ApplicationELB and AWS/RDS in aws mode, and what the local data plane publishes in the sandbox.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import names, outputs
from .connect import Context
from .params import Params

MAX_QUERIES = 500
STATISTICS = ("SampleCount", "Sum", "Minimum", "Maximum", "Average")
COLUMNS = ["timestamp", "namespace", "metric", "dimensions", "statistic", "value", "phase"]

# What AWS publishes that the comparison uses, with the statistic that makes sense for each.
AWS_METRICS: dict[str, dict[str, str]] = {
    "AWS/EC2": {"CPUUtilization": "Average"},
    "AWS/ApplicationELB": {"RequestCount": "Sum", "TargetResponseTime": "Average", "HTTPCode_Target_5XX_Count": "Sum",
                           "HTTPCode_ELB_5XX_Count": "Sum", "HealthyHostCount": "Minimum",
                           "UnHealthyHostCount": "Maximum"},
    "AWS/RDS": {"DatabaseConnections": "Average", "CPUUtilization": "Average"},
}


@dataclass(frozen=True)
class MetricSpec:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str = "Average"
    period: int = 60

    def query(self, qid: str) -> dict[str, Any]:
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic {self.statistic!r}: use one of {', '.join(STATISTICS)}; "
                             "compute percentiles in pandas")
        return {"Id": qid, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.namespace, "MetricName": self.metric,
                       "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions]},
            "Period": self.period, "Stat": self.statistic}}


def dims_text(dims: Iterable[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in dims)


def discover(ctx: Context, namespace: str, metric: str | None = None) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric name, dimensions) of every metric in a namespace, through list_metrics' paginator."""
    kw: dict[str, Any] = {"Namespace": namespace}
    if metric:
        kw["MetricName"] = metric
    found = set()
    for page in ctx.client("cloudwatch").get_paginator("list_metrics").paginate(**kw):
        for m in page["Metrics"]:
            found.add((m["MetricName"], tuple((d["Name"], d["Value"]) for d in m.get("Dimensions", []))))
    return sorted(found)


def fetch(ctx: Context, specs: list[MetricSpec], start: datetime, end: datetime, phase: str = "") -> pd.DataFrame:
    """Every spec's datapoints between start and end in one tidy frame, 500 queries a call."""
    cw = ctx.client("cloudwatch")
    rows: list[dict[str, Any]] = []
    for b in range(0, len(specs), MAX_QUERIES):
        batch = specs[b:b + MAX_QUERIES]
        by_id = {f"q{b + i}": s for i, s in enumerate(batch)}
        pages = cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=[s.query(q) for q, s in by_id.items()], StartTime=start, EndTime=end,
            ScanBy="TimestampAscending")
        for page in pages:
            for res in page["MetricDataResults"]:
                s = by_id[res["Id"]]
                for ts, v in zip(res.get("Timestamps", []), res.get("Values", [])):
                    rows.append({"timestamp": ts, "namespace": s.namespace, "metric": s.metric,
                                 "dimensions": dims_text(s.dimensions), "statistic": s.statistic,
                                 "value": float(v), "phase": phase})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.sort_values(["namespace", "metric", "dimensions", "statistic", "timestamp"]).reset_index(drop=True)


def read_namespace(ctx: Context, namespace: str, start: datetime, end: datetime, *, period: int = 60,
                   statistics: Iterable[str] = ("Average",), phase: str = "",
                   keep: Any = None) -> pd.DataFrame:
    """Discover a namespace's metrics and read them; `keep(metric, dims) -> bool` filters."""
    specs = [MetricSpec(namespace, m, d, st, period) for m, d in discover(ctx, namespace)
             if keep is None or keep(m, dict(d)) for st in statistics]
    return fetch(ctx, specs, start, end, phase)


def stack_filter(p: Params, instance_ids: Iterable[str] = ()) -> Any:
    """Keep the stack's own metrics: its ALB, target group, database, group and instances."""
    ids = set(instance_ids)

    def keep(metric: str, dims: dict[str, str]) -> bool:
        if "LoadBalancer" in dims:
            return dims["LoadBalancer"].startswith(f"app/{names.alb(p)}/")
        if "DBInstanceIdentifier" in dims:
            return dims["DBInstanceIdentifier"] == names.db_instance(p)
        if "AutoScalingGroupName" in dims:
            return dims["AutoScalingGroupName"] == names.asg(p)
        if "InstanceId" in dims:
            return not ids or dims["InstanceId"] in ids
        return False
    return keep


def known_dimensions(ctx: Context, p: Params, instance_ids: Iterable[str] = ()) -> dict[str, list[tuple[tuple[str, str], ...]]]:
    """namespace -> the dimension sets of the stack's metrics, from the stack itself: the instances
    given, else the stack's, its group's and the dev host's (any state: a stopped dev host published
    before it stopped), the group, the load balancer and its target group, the database."""
    from .dataplane import DataPlane
    found = DataPlane().resolve(ctx)
    ids = sorted(set(instance_ids)) or sorted(set(_instances(ctx, p)) | set((found["asg"] or {}).get("instance_ids", [])))
    ec2: list[tuple[tuple[str, str], ...]] = [(("InstanceId", i),) for i in ids]
    if found["asg"]:
        ec2.append((("AutoScalingGroupName", found["asg"]["name"]),))
    elb: list[tuple[tuple[str, str], ...]] = []
    if found["lb"]:
        lb = ("LoadBalancer", found["lb"]["lb_dimension"])
        elb.append((lb,))
        if found["lb"]["tg_dimension"]:
            elb.append((("TargetGroup", found["lb"]["tg_dimension"]), lb))
    rds = [(("DBInstanceIdentifier", found["rds"]["id"]),)] if found["rds"] else []
    return {"AWS/EC2": ec2, "AWS/ApplicationELB": elb, "AWS/RDS": rds}


def _instances(ctx: Context, p: Params) -> list[str]:
    key, _, value = p.dev_tag.partition("=")
    ids = [p.dev_instance_id] if p.dev_instance_id else []
    for filters in ([{"Name": f"tag:{key}", "Values": [value]}], [{"Name": "tag:workbook:stack", "Values": [p.stack_name]}]):
        for page in ctx.client("ec2").get_paginator("describe_instances").paginate(Filters=filters):
            ids += [i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]]
    return sorted(set(ids))


# Which dimension sets each AWS metric is published on (HealthyHostCount per target group and load balancer).
_ON = {"HealthyHostCount": 2, "UnHealthyHostCount": 2}
DELIVERY_WAIT_S = 180.0   # CloudWatch docs: ALB and EC2 basic metrics arrive about 1 minute late; 3 minutes at most
DELIVERY_POLL_S = 20.0


def read_aws(ctx: Context, p: Params, start: datetime, end: datetime, phase: str = "", period: int = 60,
             instance_ids: Iterable[str] = (), delivered_by: datetime | None = None) -> pd.DataFrame:
    """AWS/EC2, AWS/ApplicationELB and AWS/RDS metrics of the stack (same code in both modes), asked for
    on their known dimensions. `delivered_by`: the last moment the read must include (the end of the
    probe); CloudWatch delivers about a minute late, so the read is repeated every DELIVERY_POLL_S on
    the target's clock until a datapoint of that minute is there, for at most DELIVERY_WAIT_S (and the
    cell's time): then what has arrived is what is shown."""
    dims = known_dimensions(ctx, p, instance_ids)
    # periods on the period's boundaries (a datapoint's timestamp is its period's start)
    start = pd.Timestamp(start).floor(f"{period}s").to_pydatetime()
    specs = [MetricSpec(ns, m, d, stat, period) for ns, metrics_ in AWS_METRICS.items() for m, stat in metrics_.items()
             for d in dims[ns] if len(d) == _ON.get(m, 1) and not (ns == "AWS/EC2" and m != "CPUUtilization")]
    df = fetch(ctx, specs, start, end, phase)
    if delivered_by is None:
        return df
    # the period that holds the probe's last second, or the one before (a stand-in's or AWS's period
    # need not start on the minute)
    due = pd.Timestamp(delivered_by).floor(f"{period}s") - pd.Timedelta(seconds=period)
    t0 = ctx.clock.now()
    from . import progress
    while (df.empty or df["timestamp"].max() < due) and ctx.clock.now() - t0 + DELIVERY_POLL_S <= DELIVERY_WAIT_S:
        left = progress.remaining()
        if left is not None and left < DELIVERY_POLL_S:
            break
        progress.pause(ctx.clock, DELIVERY_POLL_S, "CloudWatch to deliver the datapoints")
        df = fetch(ctx, specs, start, end, phase)
    if df.empty or df["timestamp"].max() < due:
        print(f"CloudWatch had not delivered the minute of {due:%H:%M} UTC after {(ctx.clock.now() - t0) / 60:.1f} "
              f"min of waiting (it is usually about a minute late): what has arrived is shown")
    return df


def read_probe(ctx: Context, start: datetime, end: datetime, phase: str | None = None) -> pd.DataFrame:
    """What probe.publish() sent (Workbook/Probe), per second; `phase` from the Phase dimension."""
    from .probe import NAMESPACE
    specs = []
    for m, d in discover(ctx, NAMESPACE):
        dd = dict(d)
        if phase and dd.get("Phase") != phase:
            continue
        stats = ("SampleCount", "Sum", "Minimum", "Maximum") if m == "Latency" else ("Sum",)
        specs += [MetricSpec(NAMESPACE, m, d, s, 1) for s in stats]
    df = fetch(ctx, specs, start, end)
    df["phase"] = df["dimensions"].str.extract(r"Phase=([^,]*)", expand=False)
    return df


def window(*runs: Any, pad_s: int = 60) -> tuple[datetime, datetime]:
    """A start/end that covers the given probe runs (with their `started` and `seconds`)."""
    start = min(r.started for r in runs) - pad_s
    end = max(r.started + r.seconds for r in runs) + pad_s
    return (datetime.fromtimestamp(start, tz=timezone.utc), datetime.fromtimestamp(end, tz=timezone.utc))


# ---- comparison -------------------------------------------------------------------------------------
ROWS = [("p50 latency, served (ms)", "p50_ms", 1), ("p95 latency, served (ms)", "p95_ms", 1),
        ("p99 latency, served (ms)", "p99_ms", 1),
        ("error rate (%)", "error_rate", 100), ("error rate after the fault (%)", "error_rate_after_fault", 100),
        ("availability (% of seconds >= 95% ok)", "availability", 100),
        ("served in the last second (%)", "ok_in_last_second", 100),
        ("failing after the fault for (s)", "disruption_s", 1), ("throughput (ok req/s)", "throughput_rps", 1),
        ("requests", "requests", 1)]


def compare(before: Any, after: Any, cloudwatch: pd.DataFrame | None = None) -> pd.DataFrame:
    """The before/after table from two probe runs (client-side, exact percentiles from every request),
    plus CPU from CloudWatch when given."""
    sb, sa = before.summary(), after.summary()
    rows = [{"measure": label, "before": sb.get(k, float("nan")) * f, "after": sa.get(k, float("nan")) * f}
            for label, k, f in ROWS]
    rows.insert(0, {"measure": "fault injected", "before": before.fault, "after": after.fault})
    rows.insert(1, {"measure": "endpoint", "before": before.endpoint, "after": after.endpoint})
    if cloudwatch is not None and not cloudwatch.empty:
        cpu = cloudwatch[(cloudwatch["metric"] == "CPUUtilization") & (cloudwatch["namespace"] == "AWS/EC2")
                         & cloudwatch["dimensions"].str.startswith("InstanceId=")]
        by_phase = cpu.groupby("phase")["value"].mean()
        rows.append({"measure": "mean instance CPU (%)", "before": by_phase.get("before", float("nan")),
                     "after": by_phase.get("after", float("nan"))})
    df = pd.DataFrame(rows, columns=["measure", "before", "after"])
    return df


def plot(before: Any, after: Any, path: str | Path, cloudwatch: pd.DataFrame | None = None) -> Path:
    """Four panels: latency p50/p99 per second, errors per second, share served per second (fault
    marked), instance CPU from CloudWatch. Saved as PNG; returns the path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(12, 7), constrained_layout=True)
    for run_, color in ((before, "tab:red"), (after, "tab:blue")):
        df = run_.frame.assign(sec=run_.frame["due_s"].astype(int))
        g = df.groupby("sec")
        served = df[df["ok"]].groupby("sec")["latency_ms"]
        label = f"{run_.phase}: {run_.endpoint} ({run_.fault})"
        axes[0, 0].plot(served.quantile(0.5), color=color, marker=".", label=f"{label} p50")
        axes[0, 0].plot(served.quantile(0.99), color=color, linestyle="--", label=f"{label} p99")
        axes[0, 1].bar(g.size().index + (0.2 if run_ is after else -0.2), g["ok"].apply(lambda s: (~s).sum()),
                       width=0.4, color=color, label=label)
        axes[1, 0].plot(g["ok"].mean() * 100, color=color, marker="o", label=label)
        if run_.fault_info.get("at"):
            axes[1, 0].axvline(run_.fault_info["at"] - run_.started, color=color, linestyle=":")
    axes[0, 0].set(title="latency of served requests per second (client side)", xlabel="s into the run", ylabel="ms", yscale="log")
    axes[0, 1].set(title="failed requests per second", xlabel="s into the run", ylabel="requests")
    axes[1, 0].set(title="requests served per second (dotted: fault)", xlabel="s into the run", ylabel="%",
                   ylim=(-5, 105))
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
        ax.legend(fontsize=7)
    ax = axes[1, 1]
    if cloudwatch is not None and not cloudwatch.empty:
        cpu = cloudwatch[(cloudwatch["metric"] == "CPUUtilization") & cloudwatch["dimensions"].str.startswith("InstanceId=")]
        if len(cpu):
            # A probe run is seconds long and CloudWatch periods are a minute: one bar per instance.
            by = cpu.groupby(["phase", "dimensions"])["value"].mean().reset_index()
            colors = by["phase"].map({"before": "tab:red", "after": "tab:blue"}).fillna("tab:gray")
            ax.bar([d.split("=", 1)[1] for d in by["dimensions"]], by["value"], color=colors)
    ax.set(title="instance CPU, AWS/EC2 CPUUtilization (red: dev, blue: app)", ylabel="%")
    ax.tick_params(axis="x", labelsize=7)
    dest = outputs.place(path)          # the run folder during a run (published when it ends)
    tmp = outputs.private_dir(dest) / dest.name
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    outputs.publish(tmp, dest, move=True)
    tmp.parent.rmdir()
    return dest
