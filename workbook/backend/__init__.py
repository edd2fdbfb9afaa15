"""The backend the workbook migrates: a small real HTTP API over PostgreSQL.

It is what the dev instance runs, what each Auto Scaling instance runs (the launch template's user
data starts `python -m workbook.backend serve`), and what the sandbox's data plane runs as local
processes. Standard library + psycopg 3 only, so user data can install it with one pip line.

Released as a wheel (pyproject.toml here; 04_compute builds and uploads it). The login comes from
the secret DB_SECRET_ARN names and is read again after a rotation (login.py).

Configuration by environment: DATABASE_URL (libpq URI), PORT (default 8080), INSTANCE_ID (default
the host name), BIND_HOST (default 127.0.0.1; an instance behind a load balancer sets 0.0.0.0).
"""
from .app import Backend, Pool, TABLES, make_server, seed, ensure_schema  # noqa: F401
