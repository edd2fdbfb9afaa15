"""python -m workbook.backend [serve | init-db | seed ROWS] [--host H] [--port P]

Configured by the environment: DATABASE_URL (or DB_HOST, DB_PORT, DB_NAME, DB_SECRET_ARN: the login
is read from that Secrets Manager secret, and again when the database refuses it after a rotation), PORT or APP_PORT, INSTANCE_ID (default: the EC2
instance id over IMDSv2, else the host name), BIND_HOST, HEALTH_PATH or HEALTH_CHECK_PATH.
--host/--port override BIND_HOST/PORT (04_compute's systemd unit passes them).
"""
from __future__ import annotations

import argparse
import json
import signal
import sys

from .app import config_from_env, ensure_schema, seed, serve_forever


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m workbook.backend", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="serve", choices=["serve", "init-db", "seed"])
    ap.add_argument("rows", nargs="?", type=int, default=1000, help="seed: rows to create")
    ap.add_argument("--host", help="address to listen on (0.0.0.0 behind a load balancer)")
    ap.add_argument("--port", type=int, help="TCP port")
    args = ap.parse_args(argv)
    cfg = config_from_env()
    if args.host:
        cfg["host"] = args.host
    if args.port:
        cfg["port"] = args.port
    if args.command == "serve":
        # SIGTERM (systemd, the data plane) ends serve_forever cleanly through SystemExit.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        serve_forever(cfg)
    elif args.command == "init-db":
        ensure_schema(cfg["url"])
    else:
        print(json.dumps(seed(cfg["url"], args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
