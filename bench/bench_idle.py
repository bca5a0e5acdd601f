"""What a resting fleet costs: N listeners on loopback (one lab apiserver, which they do not
manage unless --kube), nothing written; each listener's CPU over a window, and the lab's
(its apiserver serves the reconcilers' reads).

Settings default to those of bench_scale.py and may be overridden to see what each activity
costs, e.g. heartbeats off:  bench_idle.py 100 heartbeat_interval=600 failure_timeout=1200

Usage: bench_idle.py [LISTENERS] [--kube] [setting=value ...]
"""
from __future__ import annotations

import sys
import tempfile

import common

from lab.cluster import Lab
from lab.listeners import ListenerFleet, Member
from lab.topology import ClusterSpec, NodeShape, Topology

WINDOW = 20.0


def main():
    args = sys.argv[1:]
    listeners = int(args.pop(0)) if args and args[0].isdigit() else 100
    kube = "--kube" in args
    settings = {**common.SCALE_SETTINGS, **dict(a.split("=", 1) for a in args if "=" in a)}
    topology = Topology((ClusterSpec("api", "sim"),), NodeShape(count=4))
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", topology) as lab:
        members = [Member(f"c{i:03d}", f"r{i % 10}", "api", deployment_namespace=f"sim-c{i:03d}")
                   for i in range(listeners)]
        fleet = ListenerFleet(lab, f"{tmp}/listeners", members=members, settings=settings, manage_kubernetes=kube)
        try:
            fleet.start_all(batch=10, timeout=600)
            cpu, lab_cpu, machine_busy = common.cpu_at_rest(fleet, lab.pids(), window=WINDOW)
        finally:
            fleet.stop_all()
    print(f"idle: {listeners} listeners (kubernetes {'managed' if kube else 'not managed'}), {settings}: "
          f"each uses {common.percentile(cpu, 50):.2f}% of a core (median), {cpu[-1]:.2f}% at most, "
          f"{sum(cpu):.0f}% in all; the lab's apiserver, etcd and controllers {lab_cpu:.0f}% meanwhile; "
          f"the machine {machine_busy:.0f}% busy")


if __name__ == "__main__":
    main()
