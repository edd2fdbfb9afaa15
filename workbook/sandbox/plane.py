"""The sandbox's side of the data-plane interface (`workbook.dataplane`): the same methods as a real
account's, answered by the local stand-ins that `dataplane.py` runs (processes, PostgreSQL servers, a
load balancer). `SandboxTarget.dataplane` returns this; nothing outside `workbook/sandbox/` asks which
target it is talking to. What differs from AWS is said once per session, labelled sandbox-only.
"""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from ..connect import Context
from ..dataplane import DataPlane
from . import dataplane as local

STAND_INS = ("moto runs nothing: local processes stand in for the dev instance, the RDS instance, the group's "
             "instances and the load balancer (workbook.sandbox.dataplane)")


class SandboxDataPlane(DataPlane):
    local = local   # the stand-ins themselves (status, stop, resume, start_dev ...), for the sandbox's own use

    def start(self, ctx: Context, **options: Any) -> pd.DataFrame:
        """Start the stand-ins for what exists (options: see dataplane.start) and wait until they serve."""
        ctx.say(STAND_INS)
        return local.start(ctx, **options)

    def endpoint_url(self, ctx: Context, kind: str) -> str:
        return local.endpoint(kind)

    def _fault(self, ctx: Context, name: str) -> Callable[[], dict[str, Any]]:
        return {"stop_dev": local.stop_dev, "kill_app_instance": local.kill_app_instance,
                "db_failover": local.db_failover}[name]

    _failover_s = 5.0   # the RDS stand-in restarts in about a second

    def fault_settle_s(self, ctx: Context, name: str) -> float:
        """As on AWS, from the stand-ins' own figures: the load balancer checks as often as `start` set it."""
        h = ((local.config().get("lb") or {}).get("health")) if name == "kill_app_instance" else None
        if h:
            return h.get("unhealthy_threshold", 2) * h.get("interval_s", 1.0) + h.get("timeout_s", 1.0)
        return super().fault_settle_s(ctx, name)

    def _restart_dev(self, ctx: Context, info: dict[str, Any]) -> str:
        """The dev stand-in the fault killed: its database, then its app, back."""
        if not info.get("killed") and not info.get("database_stopped"):
            return ""
        return "the dev stand-in started again" if local.start_dev() else "the dev stand-in did not come back"

    def target_health(self, ctx: Context, params: dict[str, Any], parsed: dict[str, Any]) -> bool:
        """DescribeTargetHealth as the stand-in load balancer sees the booted instances (targets.py)."""
        from . import targets
        return targets.answer(ctx, params, parsed)

    def console_output(self, ctx: Context, instance_id: str) -> str:
        """An instance's boot log, as AWS gives the boot script's output in the console output."""
        from . import targets
        return targets.console_output(ctx, instance_id)

    def flush(self) -> dict[str, int]:
        """Publish the partial minute now instead of at the next period."""
        return local.flush()

    def database_identity(self, ctx: Context, kind: str) -> str:
        """Which database server it is (PostgreSQL: the cluster's system identifier; MariaDB: its host and
        socket): the app reports the same for the database it reads."""
        from . import databases
        cfg = local.config()
        if not cfg.get(kind):
            raise LookupError(f"the data plane runs no {kind!r} database")
        return databases.identity(cfg[kind], kind)
