"""Inventory -> architecture diagrams (mingrammer `diagrams` + Graphviz), never a hard-coded picture.

`draw_before(inv, path)` draws the discovered dev environment; `draw_stack(inv, path, title)` draws
whatever of the production stack the inventory holds (a frame no module provides yet is empty).
Both return the PNG path: `path` itself, or during a pipeline run its copy in the run folder, published to
`path`'s folder when the run ends (workbook/outputs.py: two runs never remove each other's files);
`show(path)` displays it inline in a notebook.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from diagrams import Cluster, Diagram, Edge, Node
from diagrams.aws.compute import EC2, EC2ElasticIpAddress
from diagrams.aws.database import RDS, RDSMysqlInstance, RDSPostgresqlInstance
from diagrams.aws.general import GenericDatabase
from diagrams.aws.integration import SNS
from diagrams.aws.management import Cloudwatch
from diagrams.aws.network import ALB, IGW, NATGateway, APIGateway, Route53
from diagrams.aws.security import ACM, IAMRole
from diagrams.aws.storage import EBS
from diagrams.onprem.client import Users
from diagrams.onprem.database import Mysql, Postgresql

from . import names, outputs

DEV_STEP = "00_setup"
DB_PORTS = {5432: "postgres", 3306: "mysql"}
GRAPH = {"fontsize": "22", "pad": "0.4", "nodesep": "0.6", "ranksep": "0.9", "labelloc": "t"}
NODE = {"fontsize": "12"}
OPEN = {"color": "firebrick", "fontcolor": "firebrick", "style": "bold"}
MUTED = {"color": "gray40", "style": "dashed"}
# The Graphviz source of the last diagram drawn (diagrams deletes its .dot file): what tests and the
# report can read to see which nodes and labels a picture holds.
last_dot_source = ""


def _frame(inv: Any, name: str, drop_dev: bool = False) -> pd.DataFrame:
    """A frame, empty when no module provides it (or it fails to fetch); optionally without the dev env."""
    if not inv.has(name):
        return pd.DataFrame(columns=["id", "name", "stack", "step", "tags"])
    df = inv.frame(name)
    if drop_dev and "step" in df.columns:
        df = df[df.step != DEV_STEP]
    if drop_dev and name == "db_instances" and "stack" in df.columns:   # the restore drill's short-lived
        df = df[df.id != df["stack"].astype(str) + "-" + names.DB_DRILL]  # copy is not the stack's shape
    return df.reset_index(drop=True)


def _diagram(path: str | Path, title: str, direction: str = "LR",
             graph: dict[str, str] | None = None) -> tuple[Diagram, Path]:
    """A Diagram drawn in a private folder (diagrams writes its Graphviz source beside the PNG and removes
    it: two runs drawing the same name in one folder removed each other's); `_rendered` puts the PNG
    where `outputs.place` says (the run folder during a run), atomically."""
    dest = outputs.place(Path(path).with_suffix(".png"))
    work = outputs.private_dir(dest)
    d = Diagram(title, filename=str(work / dest.stem), outformat="png", show=False, direction=direction,
                graph_attr={**GRAPH, **(graph or {})}, node_attr=NODE)
    d.workbook_dest = dest
    return d, work / dest.name


def _port_text(ports: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(set(ports)))


def _open_ports_by_group(inv: Any, group_ids: list[str]) -> list[tuple[str, list[int], list[int]]]:
    """(group name, app ports, db ports) open to the internet, for each of the instance's groups."""
    rules = inv.frame("sg_rules")
    groups = inv.frame("security_groups").set_index("id")
    out = []
    for gid in group_ids:
        mine = rules[(rules.group_id == gid) & (rules.direction == "ingress") & rules.open_to_internet]
        ports: set[int] = set()
        for r in mine.itertuples():
            ports |= {r.from_port} if r.from_port == r.to_port else {r.from_port, r.to_port}
        db = [p for p in ports if p in DB_PORTS]
        name = (groups.at[gid, "name"] or groups.at[gid, "group_name"]) if gid in groups.index else gid
        out.append((name, sorted(ports - set(db)), sorted(db)))
    return out


def _engine(inv: Any, inst: Any) -> str:
    """postgres | mysql | "" : the engine tag 00_setup sets, else the database port the instance opens."""
    if getattr(inst, "dev_db", ""):
        return inst.dev_db
    rules = inv.frame("sg_rules")
    mine = rules[rules.group_id.isin(inst.security_groups) & (rules.direction == "ingress")]
    for port, engine in DB_PORTS.items():
        if ((mine.from_port <= port) & (mine.to_port >= port)).any():
            return engine
    return ""


def draw_before(inv: Any, path: str | Path = "diagrams/before.png") -> Path:
    """The dev environment: internet users -> (EIP) -> instance in its VPC/AZ, with the database drawn
    on the instance, the open ports on the edges (one edge per security group) and the disks."""
    # curved edges: orthogonal ones end on the instance's label and hide the port numbers
    diagram, png = _diagram(path, "Before: the dev environment", graph={"splines": "spline"})
    instances = inv.frame("instances")
    vpcs, subnets = inv.frame("vpcs").set_index("id"), inv.frame("subnets").set_index("id")
    volumes, snapshots, addresses = inv.frame("volumes"), inv.frame("snapshots"), inv.frame("addresses")
    with diagram:
        users = Users("internet users\n0.0.0.0/0")
        if instances.empty:
            Node("no dev instance found", shape="note")
        placed = []
        for vpc_id, in_vpc in instances.groupby("vpc_id"):
            cidr = vpcs.at[vpc_id, "cidr"] if vpc_id in vpcs.index else ""
            default = " (default VPC)" if vpc_id in vpcs.index and vpcs.at[vpc_id, "is_default"] else ""
            with Cluster(f"VPC {vpc_id}\n{cidr}{default}"):
                for az, in_az in in_vpc.groupby("az"):
                    with Cluster(f"AZ {az}"):
                        placed += [(inst, *_draw_dev_instance(inv, inst, subnets, volumes, snapshots))
                                   for inst in in_az.itertuples()]
        # Elastic IPs are regional, outside the VPC: drawn after its cluster is closed
        for inst, app, db in placed:
            source = users
            for a in addresses[addresses.instance_id == inst.id].itertuples():
                source = EC2ElasticIpAddress(f"Elastic IP\n{a.public_ip}")
                users >> Edge(label="public IP") >> source
            for name, app_ports, db_ports in _open_ports_by_group(inv, list(inst.security_groups)):
                if app_ports:
                    source >> Edge(label=f"{name}\nopen {_port_text(app_ports)}", **OPEN) >> app
                if db_ports:
                    source >> Edge(label=f"{name}\nopen {_port_text(db_ports)}", **OPEN) >> db
    return _rendered(diagram, png)


def _draw_dev_instance(inv: Any, inst: Any, subnets: pd.DataFrame, volumes: pd.DataFrame,
                       snapshots: pd.DataFrame) -> tuple[Node, Node]:
    """The instance with the API and the database drawn on it (and its disks); returns (app, db)."""
    subnet = subnets.loc[inst.subnet_id] if inst.subnet_id in subnets.index else None
    sub_label = f"subnet {inst.subnet_id}" + (f"\n{subnet.cidr}" + (" public" if subnet.public else "")
                                              if subnet is not None else "")
    with Cluster(sub_label):
        with Cluster(f"instance {inst.name or inst.id}\n{inst.id} {inst.instance_type}"):
            app = EC2(f"API (port 80)\npublic {inst.public_ip or 'none'}\nIMDS tokens {inst.imds_tokens}")
            engine = _engine(inv, inst)
            db_label = {"postgres": "PostgreSQL", "mysql": "MySQL"}.get(engine, "database (engine unknown)")
            icon = {"postgres": Postgresql, "mysql": Mysql}.get(engine, GenericDatabase)
            db = icon(f"{db_label}\non the same host")
            app >> Edge(label="localhost", **MUTED) >> db
            for v in volumes[volumes.instance_id == inst.id].itertuples():
                n_snap = int((snapshots.volume_id == v.id).sum())
                disk = EBS(f"{v.id}\n{v.size} GiB {'encrypted' if v.encrypted else 'unencrypted'}\n"
                           f"{n_snap} snapshot{'s' if n_snap != 1 else ''}")
                db >> Edge(**MUTED) >> disk
    return app, db


# ---- the production stack ------------------------------------------------------------------------------
def _listish(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, set, pd.Series)) else []


def _rds_icon(engine: str) -> type[Node]:
    return RDSPostgresqlInstance if "postgres" in engine else RDSMysqlInstance if "mysql" in engine else RDS


def draw_stack(inv: Any, path: str | Path, title: str) -> Path:
    """Whatever of the production stack exists: VPC with AZs and public/app/db subnets, IGW, NATs, ALB,
    the Auto Scaling group's instances, RDS primary (+ standby when Multi-AZ), Route 53, ACM, API Gateway,
    CloudWatch, SNS and IAM. The dev environment (step 00_setup) is left out."""
    diagram, png = _diagram(path, title, direction="TB")  # AZs side by side, tiers top to bottom
    f = {n: _frame(inv, n, drop_dev=True) for n in (
        "vpcs", "subnets", "instances", "internet_gateways", "nat_gateways", "load_balancers", "auto_scaling_groups",
        "db_instances", "hosted_zones", "certificates", "apis", "alarms", "log_groups", "topics", "iam_roles",
        "security_groups", "sg_rules")}
    with diagram:
        if all(df.empty for df in f.values()):
            Node("nothing of the production stack exists yet", shape="note")
        else:
            _draw_production(f)
    return _rendered(diagram, png)


def _rendered(diagram: Diagram, png: Path) -> Path:
    global last_dot_source
    last_dot_source = diagram.dot.source
    dest = outputs.publish(png, diagram.workbook_dest, move=True)
    shutil.rmtree(png.parent, ignore_errors=True)
    return dest


def _way_in(f: dict[str, pd.DataFrame]) -> bool:
    """Something the internet reaches: users are drawn only when an edge will connect them."""
    rules = f["sg_rules"]
    open_rules = not rules.empty and bool((rules.open_to_internet & (rules.direction == "ingress")).any())
    return open_rules or not (f["hosted_zones"].empty and f["apis"].empty and f["load_balancers"].empty)


def _draw_production(f: dict[str, pd.DataFrame]) -> None:
    """users -> Route 53 -> API Gateway -> (VPC: ALB -> app instances -> RDS) and the side services."""
    drawn: dict[str, Node] = {}
    users = Users("users") if _way_in(f) else None
    drawn["users"] = users
    front: Node = users
    if not f["hosted_zones"].empty:
        zones = f["hosted_zones"]
        domains = zones["domain"] if "domain" in zones.columns else zones["id"]
        front = Route53("Route 53\n" + "\n".join(str(d) for d in domains))
        users >> front
    if not f["apis"].empty:
        a = f["apis"].iloc[0]
        api = APIGateway(f"API Gateway\n{a.get('protocol', '')} {a['id']}")
        front >> api
        front = api
    for vpc in f["vpcs"].itertuples():
        _draw_vpc(f, vpc, front, drawn)
    _draw_outside_vpc(f, front, drawn)
    _connect(f, drawn)
    _draw_side_services(f, drawn)


def _draw_vpc(f: dict[str, pd.DataFrame], vpc: Any, front: Node, drawn: dict[str, Node]) -> None:
    subnets = f["subnets"][f["subnets"].vpc_id == vpc.id]
    with Cluster(f"VPC {vpc.name or vpc.id}\n{vpc.cidr}"):
        igws = f["internet_gateways"]
        for g in (igws[igws.vpc_id == vpc.id].itertuples() if not igws.empty else []):
            drawn["igw"] = IGW(f"Internet gateway\n{g.id}")
        protocol = "HTTPS" if not f["certificates"].empty else "HTTP"
        lbs = f["load_balancers"]
        for lb in (lbs[lbs.vpc_id == vpc.id].itertuples() if not lbs.empty else []):
            node = ALB(f"{lb.name or 'load balancer'}\n{lb.scheme}")
            drawn[f"lb:{lb.id}"] = node
            if lb.scheme == "internal":
                front >> Edge(label="VPC link") >> node
            elif "igw" in drawn:
                front >> Edge(label=protocol) >> drawn["igw"] >> node
            else:
                front >> Edge(label=protocol) >> node
        azs = sorted(set(subnets.az) | set(_rds_azs(f, vpc.id)))
        tall = {tier: _tier_has_content(f, subnets, tier) for tier in ("public", "app", "db")}
        tops: list[Node] = []
        for az in azs:
            with Cluster(f"AZ {az}"):
                anchors = []
                for tier in ("public", "app", "db"):
                    in_tier = subnets[(subnets.az == az) & (subnets.tier == tier)]
                    for s in in_tier.itertuples():
                        with Cluster(f"{tier} subnet\n{s.cidr}"):
                            anchors.append(_draw_subnet_contents(f, tier, s, az, drawn, tall[tier]))
                for upper, lower in zip(anchors, anchors[1:]):
                    upper >> Edge(style="invis") >> lower  # public above app above db
                tops += anchors[:1]
                if anchors and "igw" in drawn:
                    # every AZ's public tier one rank below the gateway: the AZ columns line up
                    drawn["igw"] >> Edge(style="invis") >> anchors[0]
                # instances whose subnet carries no tier tag (an untiered VPC) still belong in their AZ
                inst = f["instances"]
                loose = inst[(inst.vpc_id == vpc.id) & (inst.az == az) & ~inst.subnet_id.isin(subnets[subnets.tier != ""].id)]
                for i in loose.itertuples():
                    drawn[f"i:{i.id}"] = EC2(f"{i.name or i.id}\n{i.private_ip}")
        _in_az_order(tops)
        _draw_security_groups(f, vpc.id, drawn.get("users"))


def _in_az_order(tops: list[Node]) -> None:
    """The AZ columns left to right in name order: Graphviz otherwise places them where edges from
    outside (an internal ALB's) cross least, us-east-1b before us-east-1a. Their top subnets share a
    rank, chained by invisible edges (newrank lets a rank span clusters)."""
    if len(tops) < 2:
        return
    from diagrams import getdiagram
    dot = getdiagram().dot
    dot.graph_attr["newrank"] = "true"
    chain = " -> ".join(f'"{n._id}"' for n in tops)
    dot.body.append(f"\t{{rank=same; {chain} [style=invis]}}\n")


def _tier_has_content(f: dict[str, pd.DataFrame], subnets: pd.DataFrame, tier: str) -> bool:
    """Whether any AZ draws something in this tier (then the empty subnets of the tier are as tall, so the
    AZ columns line up)."""
    ids = set(subnets[subnets.tier == tier].id)
    if tier == "public":
        nats = f["nat_gateways"]
        return not nats.empty and bool(nats.subnet_id.isin(ids).any())
    if tier == "app":
        inst, groups = f["instances"], f["auto_scaling_groups"]
        return (not inst.empty and bool(inst.subnet_id.isin(ids).any())) or any(
            set(_listish(g.subnets)) & ids for g in (groups.itertuples() if not groups.empty else []))
    db = f["db_instances"]
    return any(set(_listish(d.subnet_ids)) & ids for d in (db.itertuples() if not db.empty else []))


def _rds_azs(f: dict[str, pd.DataFrame], vpc_id: str) -> list[str]:
    db = f["db_instances"]
    if db.empty:
        return []
    db = db[db.vpc_id == vpc_id]
    return [az for d in db.itertuples() for az in (d.az, d.secondary_az if d.multi_az else "") if az]


def _standby_az(f: dict[str, pd.DataFrame], d: Any) -> str:
    """Where a Multi-AZ standby lives: SecondaryAvailabilityZone, else (moto reports none) the first other
    AZ of the DB subnet group."""
    if not d.multi_az:
        return ""
    if d.secondary_az:
        return d.secondary_az
    subnets = f["subnets"]
    others = sorted(set(subnets[subnets.id.isin(_listish(d.subnet_ids))].az) - {d.az})
    return others[0] if others else ""


def _placeholder(tall: bool = False) -> Node:
    # Graphviz drops an empty cluster: an invisible node of an icon's size keeps the subnet (no stray dot)
    return Node("", shape="plaintext", width="1.4", height="2.3" if tall else "0.4", fixedsize="true")


def _draw_subnet_contents(f: dict[str, pd.DataFrame], tier: str, s: Any, az: str, drawn: dict[str, Node],
                          tall: bool = False) -> Node:
    """What runs in one subnet; returns a node of it (to order the tiers top to bottom)."""
    nodes: list[Node] = []
    if tier == "public":
        nats = f["nat_gateways"]
        for n in (nats[nats.subnet_id == s.id].itertuples() if not nats.empty else []):
            nodes.append(drawn.setdefault(f"nat:{n.id}", NATGateway(f"NAT gateway\n{n.id}")))
    elif tier == "app":
        inst = f["instances"]
        for i in inst[inst.subnet_id == s.id].itertuples():
            label = f"{i.name or i.id}\n{i.private_ip}" + (f"\nASG {i.asg_name}" if i.asg_name else "")
            nodes.append(drawn.setdefault(f"i:{i.id}", EC2(label)))
        nodes += _asg_spread(f, s, inst)
    else:
        db = f["db_instances"]
        for d in (db[db.subnet_ids.apply(lambda ids: s.id in _listish(ids))].itertuples() if not db.empty else []):
            icon = _rds_icon(str(d.engine))
            if d.az == az and f"db:{d.id}" not in drawn:
                nodes.append(drawn.setdefault(f"db:{d.id}", icon(f"{d.id}\nprimary, backups {d.backup_retention} d")))
            elif _standby_az(f, d) == az and f"standby:{d.id}" not in drawn:
                nodes.append(drawn.setdefault(f"standby:{d.id}", icon(f"{d.id}\nstandby (Multi-AZ)")))
    return nodes[0] if nodes else _placeholder(tall)


def _asg_spread(f: dict[str, pd.DataFrame], s: Any, inst: pd.DataFrame) -> list[Node]:
    """An Auto Scaling group configured for this subnet with none of its instances running here says so:
    the instances are drawn where they run, the group's AZ spread as configured."""
    out = []
    groups = f["auto_scaling_groups"]
    for g in (groups.itertuples() if not groups.empty else []):
        if s.id not in _listish(g.subnets):
            continue
        here = inst[(inst.subnet_id == s.id) & (inst.asg_name == g.id)] if "asg_name" in inst.columns else inst[:0]
        if here.empty:
            out.append(Node(f"Auto Scaling group {g.id}\nspans this AZ;\nno instance runs here now",
                            shape="note", fixedsize="false", labelloc="c", fontcolor="#8a4b00"))
    return out


def _draw_security_groups(f: dict[str, pd.DataFrame], vpc_id: str, users: Node | None) -> None:
    """The stack's security groups and who may connect to whom (ports on the edges): the chain
    internet -> load balancer -> app -> database, as the rules say, not as the plan meant."""
    groups, rules = f["security_groups"], f["sg_rules"]
    mine = groups[groups.vpc_id == vpc_id] if not groups.empty else groups
    if mine.empty:
        return
    nodes: dict[str, Node] = {}
    with Cluster("security groups: who may connect, on which ports"):
        for g in mine.itertuples():
            nodes[g.id] = Node(g.group_name or g.id, shape="box", style="rounded,filled", fillcolor="#fff8e1",
                               labelloc="c", fixedsize="false", width="1.6", height="0.5")
    ingress = rules[(rules.direction == "ingress") & rules.group_id.isin(nodes)] if not rules.empty else rules
    edges: dict[tuple[str, str], set[str]] = {}
    for r in ingress.itertuples():
        src = r.source if r.source in nodes else ("internet" if r.open_to_internet and users is not None else "")
        if src:
            ports = "all" if (r.from_port, r.to_port) == (0, 65535) else (
                str(r.from_port) if r.from_port == r.to_port else f"{r.from_port}-{r.to_port}")
            edges.setdefault((src, r.group_id), set()).add(ports)
    for (src, dst), ports in edges.items():
        label = ", ".join(sorted(ports, key=lambda x: (len(x), x)))
        (users if src == "internet" else nodes[src]) >> Edge(label=label, color="#b26a00") >> nodes[dst]


def _draw_outside_vpc(f: dict[str, pd.DataFrame], front: Node, drawn: dict[str, Node]) -> None:
    """An ALB or RDS that the stack has but whose VPC is not in the inventory still shows."""
    vpc_ids = set(f["vpcs"].id)
    lbs = f["load_balancers"]
    for lb in (lbs[~lbs.vpc_id.isin(vpc_ids)].itertuples() if not lbs.empty else []):
        drawn[f"lb:{lb.id}"] = ALB(f"{lb.name or 'load balancer'}\n{lb.scheme}")
        front >> drawn[f"lb:{lb.id}"]
    db = f["db_instances"]
    for d in (db[~db.vpc_id.isin(vpc_ids)].itertuples() if not db.empty else []):
        drawn[f"db:{d.id}"] = _rds_icon(str(d.engine))(f"{d.id}\n{'Multi-AZ' if d.multi_az else 'single-AZ'}")
    if not vpc_ids:
        for i in f["instances"].itertuples():
            drawn[f"i:{i.id}"] = EC2(f"{i.name or i.id}\n{i.az}")


def _connect(f: dict[str, pd.DataFrame], drawn: dict[str, Node]) -> None:
    """Edges between what was drawn: LB -> instances -> primary; primary - standby; NAT -> IGW."""
    lbs = [n for k, n in drawn.items() if k.startswith("lb:")]
    apps = [n for k, n in drawn.items() if k.startswith("i:")]
    dbs = [n for k, n in drawn.items() if k.startswith("db:")]
    for lb in lbs:
        for app in apps:
            lb >> app
    for app in apps:
        for db in dbs:
            app >> Edge(label="SQL") >> db
    for k, standby in drawn.items():
        if k.startswith("standby:") and apps:
            apps[-1] >> Edge(style="invis") >> standby  # rank the standby in the database row
        if k.startswith("standby:") and f"db:{k.split(':', 1)[1]}" in drawn:
            drawn[f"db:{k.split(':', 1)[1]}"] - Edge(label="sync replication", constraint="false", **MUTED) - standby
    if "igw" in drawn:
        for k, nat in drawn.items():
            if k.startswith("nat:"):
                # the invisible edge ranks NATs beside the load balancer; egress must not re-rank them
                drawn["igw"] >> Edge(style="invis") >> nat
                nat >> Edge(label="egress", constraint="false", **MUTED) >> drawn["igw"]


def _draw_side_services(f: dict[str, pd.DataFrame], drawn: dict[str, Node]) -> None:
    alarms, logs, topics, certs, roles = f["alarms"], f["log_groups"], f["topics"], f["certificates"], f["iam_roles"]
    if not certs.empty:
        domains = certs["domain"] if "domain" in certs.columns else certs["id"]
        cert = ACM("ACM\n" + "\n".join(str(d) for d in domains))
        for k, lb in drawn.items():
            if k.startswith("lb:"):
                cert >> Edge(constraint="false", **MUTED) >> lb
    if not alarms.empty or not logs.empty:
        with Cluster("observability"):
            cw = Cloudwatch(f"CloudWatch\n{len(alarms)} alarm(s), {len(logs)} log group(s)")
            if not topics.empty:
                cw >> Edge(label="alarm actions") >> SNS(f"SNS\n{len(topics)} topic(s)")
    elif not topics.empty:
        SNS(f"SNS\n{len(topics)} topic(s)")
    if not roles.empty:
        IAMRole("IAM\n" + "\n".join(str(n) for n in roles.id[:4]) + (" ..." if len(roles) > 4 else ""))


def show(path: str | Path) -> None:
    """Display a PNG inline (a notebook cell)."""
    from IPython.display import Image, display
    display(Image(filename=str(path)))
