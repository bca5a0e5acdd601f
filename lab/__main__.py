"""python -m lab {up,down,status,stop-cluster,start-cluster,kill-cluster}"""
from __future__ import annotations

import argparse
import pathlib
import sys

from lab import topology
from lab.cluster import ROOT, Lab, LabError

DEFAULT_WORKDIR = ROOT / ".cache" / "lab"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="A fleet of real Kubernetes control planes on loopback.")
    parser.add_argument("--workdir", type=pathlib.Path, default=DEFAULT_WORKDIR, help="where the lab keeps its state")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab and wait until every cluster is ready")
    up.add_argument("--topology", help="a topology YAML file or an Ansible YAML inventory (default: us and eu, 2 clusters each)")
    up.add_argument("--nodes", type=int, help="fake nodes per cluster")
    sub.add_parser("down", help="stop every process of the lab and remove its folder")
    sub.add_parser("status", help="say which clusters are up and which are down")
    for verb in ("stop-cluster", "start-cluster", "kill-cluster"):
        sub.add_parser(verb, help=f"{verb.split('-', maxsplit=1)[0]} one cluster").add_argument("name")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LabError as err:
        print(f"lab: {err}", file=sys.stderr)
        return 1


def cmd_up(args) -> int:
    topo = topology.load(args.topology)
    if args.nodes is not None:
        topo = topology.Topology(topo.clusters, topology.NodeShape(**{**vars(topo.nodes), "count": args.nodes}))
    if (args.workdir / "lab.json").exists():
        lab = Lab.existing(args.workdir)
        if all(s == "up" for s in lab.status().values()):
            print(f"lab: already up; kubeconfig {lab.kubeconfig}")
            return 0
        lab.down()
    lab = Lab(args.workdir, topo)
    print(f"lab: starting {len(lab.clusters)} clusters: {', '.join(lab.clusters)}", flush=True)
    try:
        seconds = lab.up()
    except BaseException:
        lab.down()
        raise
    print(f"lab: {len(lab.clusters)} clusters ready in {seconds:.1f}s, {lab.rss_mib():.0f} MiB RSS in all")
    print(f"lab: kubeconfig {lab.kubeconfig} (one context per cluster)")
    print(f"lab: Ansible inventory {lab.workdir / 'inventory.yml'}")
    return 0


def cmd_down(args) -> int:
    if not (args.workdir / "lab.json").exists():
        print("lab: nothing to stop")
        return 0
    Lab.existing(args.workdir).down()
    print("lab: stopped and removed")
    return 0


def cmd_status(args) -> int:
    lab = Lab.existing(args.workdir)
    report = lab.status()
    for name, state in report.items():
        print(f"{name:<20} {lab.clusters[name].region:<8} {state:<50} {lab.clusters[name].server}")
    return 0 if all(s == "up" for s in report.values()) else 3


def cmd_cluster(args) -> int:
    lab = Lab.existing(args.workdir)
    if args.command == "start-cluster":
        print(f"lab: {args.name} ready in {lab.start_cluster(args.name):.1f}s")
    else:
        lab.stop_cluster(args.name, crash=args.command == "kill-cluster")
        print(f"lab: {args.name} {'killed' if args.command == 'kill-cluster' else 'stopped'}")
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status,
            "stop-cluster": cmd_cluster, "start-cluster": cmd_cluster, "kill-cluster": cmd_cluster}

if __name__ == "__main__":
    sys.exit(main())
