"""python -m workbook sandbox start|status|stop|reset · run · report · params."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from .params import ParameterError, Params


def _params_from_args(args: argparse.Namespace) -> Params:
    """A YAML file, then --set key=value on top; validated before anything runs."""
    values: dict[str, Any] = {}
    if getattr(args, "params", None):
        try:
            values.update(Params.from_yaml(args.params).to_dict())
        except (OSError, yaml.YAMLError) as e:  # a missing or broken file: say which, no traceback
            raise ParameterError({"--params": f"cannot read {args.params}: {e}"}) from None
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise ParameterError({item: "use --set name=value"})
        k, v = item.split("=", 1)
        values[k.strip()] = v
    return Params.from_mapping(values)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m workbook", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sb = sub.add_parser("sandbox", help="the local moto server")
    sb.add_argument("action", choices=["start", "status", "stop", "reset"])
    run = sub.add_parser("run", help="run the notebooks headless with papermill")
    run.add_argument("--params", help="YAML file of parameters")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="one parameter (repeatable)")
    run.add_argument("--only", help="comma-separated notebook prefixes, e.g. 00,01")
    run.add_argument("--timeout", type=int, default=600, help="per-cell execution timeout, seconds")
    rep = sub.add_parser("report", help="merge the last run into build/report.html")
    rep.add_argument("--run", help="run folder (default: the newest under build/runs)")
    rep.add_argument("--with-code", action="store_true", help="keep the code cells")
    rep.add_argument("--out", default=None, help="output HTML path (default build/report.html)")
    pa = sub.add_parser("params", help="validate parameters and print them")
    pa.add_argument("--params", help="YAML file of parameters")
    pa.add_argument("--set", action="append", metavar="NAME=VALUE")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "sandbox":
            from .sandbox import server
            result = getattr(server, args.action)()
            print(json.dumps(result, indent=2, default=str))
            return 0
        if args.cmd == "params":
            print(json.dumps(_params_from_args(args).to_dict(), indent=2))
            return 0
        if args.cmd == "run":
            from . import pipeline
            p = _params_from_args(args)
            only = [s.strip() for s in args.only.split(",")] if args.only else None
            try:
                pipeline.run(p, only=only, timeout=args.timeout)
            except pipeline.RunFailed as e:  # the message names notebook, cell and error
                print(f"error: {e}", file=sys.stderr)
                return 1
            return 0
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
