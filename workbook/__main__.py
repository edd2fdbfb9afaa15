"""python -m workbook sandbox start [--rehearse [--time-scale N] [--throttle SHARE]]|status|stop|reset · run ·
report · params · rollback [--leave-writes-in-rds] · unlock STACK."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .params import ParameterError, Params
from .params_io import load_yaml


def _params_from_args(args: argparse.Namespace) -> Params:
    """A YAML file, then --set key=value on top; validated together, once, before anything runs (a file
    that needs a --set to be complete is fine)."""
    values: dict[str, Any] = {}
    if getattr(args, "params", None):
        values.update(load_yaml(args.params, label="--params"))
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise ParameterError({item: "use --set name=value"})
        k, v = item.split("=", 1)
        values[k.strip()] = v
    return Params.from_mapping(values)


def _unlock(args: argparse.Namespace) -> int:
    """Release a stale lock: says who holds it, asks for its id, refuses any other id."""
    from . import lock
    from .connect import connect
    p = _params_from_args(argparse.Namespace(params=args.params, set=[*(args.set or []), f"stack_name={args.stack}"]))
    ctx = connect(p)
    held = lock.read(ctx)
    if held is None:
        nothing = f"stack {p.stack_name!r} holds no lock in {lock.looked_in(ctx)}: nothing to release"
        if args.lock_id is None:
            print(nothing)
            return 0
        # a given lock that is not here is most likely elsewhere (another target, region, profile)
        print(f"error: {nothing}; lock {args.lock_id.strip()} was not found here (--set target=, region= "
              f"and aws_profile= say where to look)", file=sys.stderr)
        return 1
    print(f"stack {p.stack_name!r} is locked by {held.holder()}")
    lock_id = args.lock_id
    if lock_id is None:
        print("lock id to release (printed in the message that stopped you): ", end="", flush=True)
        lock_id = sys.stdin.readline().strip()
    try:
        gone = lock.unlock(ctx, lock_id)
    except (lock.WrongLockId, lock.NoLock) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"released the lock {gone.id} on stack {p.stack_name!r}")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    """08's way back as one command (an incident is no time to open a notebook): clients to the dev host,
    its database writable, under the stack's lock (taken at once: nobody builds while it runs)."""
    from . import lock
    from .connect import connect
    from .steps import cutover
    ctx = connect(_params_from_args(args))
    try:
        with lock.holding(ctx, cutover.STEP_ID, via="rollback", eager=True):
            done = cutover.rollback(ctx, leave_writes_in_rds=args.leave_writes_in_rds)
    except (cutover.RollbackRefused, lock.StackLocked) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for row in done.itertuples():
        print(f"{row.what}: {row.detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workbook", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sb = sub.add_parser("sandbox", help="the local moto server")
    sb.add_argument("action", choices=["start", "status", "stop", "reset"])
    sb.add_argument("--rehearse", action="store_true",
                    help="start: rehearse real AWS (its timings, eventual consistency, refusals, throttling) for "
                         "every process that connects; without it, start turns the rehearsal off")
    sb.add_argument("--time-scale", type=float, default=None, metavar="N",
                    help="with --rehearse: AWS seconds per sandbox second (default 60: 1 AWS minute = 1 s)")
    sb.add_argument("--throttle", type=float, default=None, metavar="SHARE",
                    help="with --rehearse: share of calls answered with the service's throttling error, e.g. 0.1")
    run = sub.add_parser("run", help="run the notebooks headless with papermill")
    run.add_argument("--params", help="YAML file of parameters")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="one parameter (repeatable)")
    run.add_argument("--only", help="comma-separated notebook prefixes, e.g. 00,01")
    run.add_argument("--timeout", type=int, default=600, help="per-cell execution timeout, seconds")
    run.add_argument("--runs-dir", default=None, metavar="DIR",
                     help="where the run folder goes (default build/runs; report --run names a run elsewhere)")
    rep = sub.add_parser("report", help="merge the last run into build/report.html")
    rep.add_argument("--run", help="run folder (default: the newest under build/runs)")
    rep.add_argument("--with-code", action="store_true", help="keep the code cells")
    rep.add_argument("--out", default=None, help="output HTML path (default build/report.html)")
    pa = sub.add_parser("params", help="validate parameters and print them")
    pa.add_argument("--params", help="YAML file of parameters")
    pa.add_argument("--set", action="append", metavar="NAME=VALUE")
    rb = sub.add_parser("rollback", help="08's way back: clients to the dev host, its database writable again")
    rb.add_argument("--leave-writes-in-rds", action="store_true",
                    help="roll back even when production wrote since the cutover (those writes stay in RDS, listed)")
    rb.add_argument("--params", help="YAML file of parameters (the stack's, as the run had them)")
    rb.add_argument("--set", action="append", metavar="NAME=VALUE")
    un = sub.add_parser("unlock", help="release a stack's stale lock (asks for the lock id its refusal printed)")
    un.add_argument("stack", help="the stack_name whose lock to release")
    un.add_argument("--id", dest="lock_id", help="the lock id (asked for when not given)")
    un.add_argument("--params", help="YAML file of parameters (target, region, profile, account)")
    un.add_argument("--set", action="append", metavar="NAME=VALUE")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "sandbox":
            from .sandbox import rehearsal, server
            if (args.time_scale is not None or args.throttle is not None) and not args.rehearse:
                raise ParameterError({"--time-scale/--throttle": "only with sandbox start --rehearse"})
            if args.action == "start":
                try:
                    # Every start says the whole switch: what is not given takes its default.
                    result = server.start(args.rehearse, throttle=args.throttle or 0.0, time_scale=(
                        rehearsal.DEFAULT_SCALE if args.time_scale is None else args.time_scale))
                except ValueError as e:
                    raise ParameterError({"--time-scale/--throttle": str(e)}) from None
            elif args.rehearse:
                raise ParameterError({"--rehearse": "only with sandbox start"})
            else:
                result = getattr(server, args.action)()
            print(json.dumps(result, indent=2, default=str))
            if result.get("note"):   # what a user must know even when the JSON is not read (make sandbox-start)
                print(f"note: {result['note']}", file=sys.stderr)
            return 0
        if args.cmd == "params":
            print(json.dumps(_params_from_args(args).to_dict(), indent=2))
            return 0
        if args.cmd == "run":
            from . import lock, pipeline
            p = _params_from_args(args)
            only = [s.strip() for s in args.only.split(",")] if args.only else None
            try:
                pipeline.run(p, only=only, timeout=args.timeout,
                             runs_dir=Path(args.runs_dir) if args.runs_dir else None)
            except (pipeline.RunFailed, lock.StackLocked) as e:  # says where it failed, or who holds the stack
                print(f"error: {e}", file=sys.stderr)
                return 1
            return 0
        if args.cmd == "unlock":
            return _unlock(args)
        if args.cmd == "rollback":
            return _rollback(args)
        if args.cmd == "report":
            from . import report
            try:
                out = report.build(run_dir=args.run, with_code=args.with_code, out=args.out)
            except report.ReportError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            print(f"report: {out.resolve()}")
            return 0
    except ParameterError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
