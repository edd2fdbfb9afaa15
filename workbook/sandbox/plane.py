"""The sandbox's side of the data-plane interface (`workbook.dataplane`): the same methods as a real
account's, answered by the local stand-ins that `dataplane.py` runs (processes, PostgreSQL servers, a
load balancer). `SandboxTarget.dataplane` returns this; nothing outside `workbook/sandbox/` asks which
target it is talking to. What differs from AWS is said once per session, labelled sandbox-only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pandas as pd

from ..connect import Context
from ..dataplane import DataPlane
from . import dataplane as local

if TYPE_CHECKING:
    from ..dbmove import MoveResult

STAND_INS = ("moto runs nothing: local processes stand in for the dev instance, the RDS instance, the group's "
             "instances and the load balancer (workbook.sandbox.dataplane)")
LOCAL_MOVE = ("dump and restore run on this machine against the data plane's PostgreSQL servers (SSM Run Command "
              "runs nothing in the sandbox)")


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
        """The PostgreSQL cluster's system identifier: the app reports the same for the database it reads."""
        import psycopg
        with psycopg.connect(local.database_uri(kind)) as conn:
            return str(conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0])

    def move_database(self, ctx: Context) -> "MoveResult":
        """The move as on AWS (freeze, dump, stage in the S3 bucket, restore, fingerprints), run here with
        PostgreSQL's own tools against the two stand-ins."""
        from .. import dbmove
        from . import pg
        ctx.say(LOCAL_MOVE)
        return dbmove.move_between(ctx, local.database_uri("dev"), local.database_uri("rds"),
                                   dev_url=local.endpoint("dev"), pg_dump=pg.bin_path("pg_dump"),
                                   pg_restore=pg.bin_path("pg_restore"))
