"""The target architecture, drawn from the parameters alone (no AWS call): where the workshop is going, and
"you are here" for each step (what this step builds framed in colour, what later steps build greyed).

`draw_target(p, path, current="03_database")` returns the PNG path. Every node names the step that
builds it, so the one picture is also the workshop's map.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from diagrams import Cluster, Diagram, Edge, Node
from diagrams.aws.compute import EC2
from diagrams.aws.database import RDS
from diagrams.aws.integration import SNS
from diagrams.aws.management import Cloudwatch
from diagrams.aws.network import ALB, IGW, NATGateway, APIGateway, Route53
from diagrams.aws.security import IAMRole
from diagrams.onprem.client import Users

from .params import Params

ORDER = ["00_setup", "01_assess", "02_network", "03_database", "04_compute", "05_edge", "06_observability",
         "07_access", "08_cutover_compare", "09_teardown"]
HERE = {"shape": "box", "style": "rounded,bold,filled", "color": "#d35400", "penwidth": "3", "fontcolor": "#d35400",
        "width": "1.5", "height": "2.2", "imagepos": "tc", "fillcolor": "#fff3e0"}
LATER = {"fontcolor": "#9e9e9e"}
GRAPH = {"fontsize": "20", "pad": "0.3", "nodesep": "0.45", "ranksep": "0.55", "labelloc": "t"}
NODE = {"fontsize": "11"}


def _drawer(current: str | None):
    here = ORDER.index(current) if current in ORDER else len(ORDER)

    def node(icon: type[Node], label: str, step: str) -> Node:
        n = ORDER.index(step)
        tag = step[:2]
        if n == here:
            return icon(f"▶ {label}\n(step {tag}: this one)", **HERE)
        return icon(f"{label}\n(step {tag})", **(LATER if n > here else {}))
    return node


def draw_target(p: Params, path: str | Path, current: str | None = None) -> Path:
    """The production stack these parameters build, each part labelled with its step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    builds = {"02_network", "03_database", "04_compute", "06_observability", "07_access"} | (
        {"05_edge"} if p.domain_name or p.entry == "api_gateway" else set())
    if current in (None, "00_setup"):
        title = "Where the workshop is going: the production stack, each part with the step that builds it"
    elif current in builds:
        title = f"You are here: step {current[:2]} builds what is framed; later steps greyed"
    else:
        title = f"You are here: step {current[:2]} adds nothing to this picture; later steps greyed"
    node = _drawer(current)
    with Diagram(title, filename=str(path.with_suffix("")), outformat="png", show=False, direction="LR",
                 graph_attr=GRAPH, node_attr=NODE):
        users = Users("users")
        front: Any = users
        if p.domain_name:
            front = node(Route53, f"Route 53 + ACM\n{p.domain_name} (HTTPS)", "05_edge")
            users >> front
        if p.entry == "api_gateway":
            api = node(APIGateway, "API Gateway\nthe only way in", "05_edge")
            front >> api
            front = api
        azs = [f"AZ {i + 1}" for i in range(p.az_count)]
        with Cluster(f"VPC {p.vpc_cidr} (step 02): public, app and db subnets in {p.az_count} AZs"):
            igw = node(IGW, "internet gateway", "02_network")
            alb = node(ALB, "load balancer" + (" (internal)" if p.entry == "api_gateway" else ""), "04_compute")
            if p.entry == "api_gateway":
                front >> Edge(label="VPC link") >> alb
            else:
                front >> igw >> alb
            apps: list[Node] = []
            dbs: list[Node] = []
            for i, az in reversed(list(enumerate(azs))):   # drawn last is placed on top: AZ 1 first
                with Cluster(az):
                    if p.nat_per_az or i == 0:
                        nat = node(NATGateway, "NAT gateway", "02_network")
                        igw >> Edge(style="invis") >> nat
                    apps.insert(0, node(EC2, "app server\n(Auto Scaling group)", "04_compute"))
                    if i == 0:
                        dbs.insert(0, node(RDS, f"RDS {p.rds_engine}\nprimary", "03_database"))
                    elif i == 1 and p.multi_az:
                        dbs.append(node(RDS, f"RDS {p.rds_engine}\nstandby (Multi-AZ)", "03_database"))
            for app in apps:
                alb >> Edge(label=str(p.app_port)) >> app
                if dbs:
                    app >> Edge(label=str(p.db_port)) >> dbs[0]
            if len(dbs) > 1:
                apps[1] >> Edge(style="invis") >> dbs[1]   # the standby in the database column
                dbs[0] - Edge(label="sync", style="dashed", constraint="false") - dbs[1]
        with Cluster("around it"):
            cw = node(Cloudwatch, "CloudWatch\nlogs, metrics, alarms", "06_observability")
            cw >> node(SNS, "SNS\nalarm e-mail", "06_observability")
            node(IAMRole, "IAM\nleast privilege", "07_access")
    return path.with_suffix(".png")
