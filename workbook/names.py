"""Every resource name the workbook gives, in one place, so steps find each other's resources.

Names are `<stack>-<suffix>`; subnets also carry the tag `workbook:tier` = public | app | db.
"""
from __future__ import annotations

from .params import Params

TIER = "workbook:tier"
TIERS = ("public", "app", "db")
DEV_NAME = "dev-backend"          # the dev instance's Name in the sandbox (matches Params.dev_tag)
DEV_HTTP_PORT = 80                 # what the demo dev host's layout serves on (steps/dev.py opens it)


def vpc(p: Params) -> str: return p.name("vpc")
def subnet(p: Params, tier: str, az: str) -> str: return p.name(f"{tier}-{az}")
def igw(p: Params) -> str: return p.name("igw")
def nat(p: Params, az: str) -> str: return p.name(f"nat-{az}")
def route_table(p: Params, tier: str, az: str = "") -> str: return p.name(f"rt-{tier}" + (f"-{az}" if az else ""))
def alb_sg(p: Params) -> str: return p.name("alb-sg")
def app_sg(p: Params) -> str: return p.name("app-sg")
def db_sg(p: Params) -> str: return p.name("db-sg")
def flow_log_group(p: Params) -> str: return f"/{p.stack_name}/vpc-flow-logs"
def db_subnet_group(p: Params) -> str: return p.name("db-subnets")
def db_parameter_group(p: Params) -> str: return p.name("db-params")
def db_instance(p: Params) -> str: return p.name("db")
def db_snapshot(p: Params, label: str) -> str: return p.name(f"db-{label}")
DB_DRILL = "db-drill"              # 03's restore drill: a temporary copy, not part of the stack users keep
def db_drill(p: Params) -> str: return p.name(DB_DRILL)
def app_role(p: Params) -> str: return p.name("app-role")
def launch_template(p: Params) -> str: return p.name("app-lt")
def alb(p: Params) -> str: return p.name("alb")
def target_group(p: Params) -> str: return p.name("app-tg")
def asg(p: Params) -> str: return p.name("app-asg")
def app_log_group(p: Params) -> str: return f"/{p.stack_name}/app"
def system_log_group(p: Params) -> str: return f"/{p.stack_name}/system"
def alarm_topic(p: Params) -> str: return p.name("alarms")
def alarm(p: Params, what: str) -> str: return p.name(f"alarm-{what}")
def dashboard(p: Params) -> str: return p.name("dashboard")
def api(p: Params) -> str: return p.name("api")
def vpc_link(p: Params) -> str: return p.name("vpc-link")
def developers_group(p: Params) -> str: return p.name("developers")
def operators_role(p: Params) -> str: return p.name("operators")
def dump_bucket(p: Params, account_id: str) -> str: return f"{p.stack_name}-dbmove-{account_id}"
# The app's own least-privilege database user's login (username, password), a Secrets Manager secret
# 08 creates with the user; 04 points the app servers' DB_SECRET_ARN at it once it exists.
def app_db_secret(p: Params) -> str: return p.name("app-db-user")
def dev_move_role(p: Params) -> str: return p.name("dev-move")       # role + profile, only while the move runs
def dev_sg(p: Params, kind: str = "") -> str: return f"{DEV_NAME}-sg" + (f"-{kind}" if kind else "")
