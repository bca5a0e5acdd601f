"""What a resting fleet costs each member as the fleet grows: 10, 30 and 100 real listeners on
loopback, all in one region (the case where heartbeats grew with the square of the fleet),
with the listener's default timing, managing no Kubernetes.

For each size, in one run: each listener's CPU-seconds per second (user + system, from /proc),
the calls and bytes each sends to peers per second at rest (its metrics endpoint:
multicluster_peer_calls_total, multicluster_peer_bytes_total); what a write costs in calls
is counted exactly by bench_simulation.py (one per other member). Baseline in the same run: the same
fleets with every beat pushed to the whole region (heartbeat_fanout=1000, the rule before).
The ratios of the largest fleet's per-member figures to the smallest's are the last lines.

Usage: bench_idle.py [SIZE ...] [--no-baseline] [setting=value ...]   (sizes: 10 30 100)
"""
from __future__ import annotations

import sys
import tempfile
import time

import common

from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError

from lab import processes
from lab.cluster import Lab
from lab.listeners import ListenerFleet, Member
from lab.topology import ClusterSpec, NodeShape, Topology

SETTLE, WINDOW = 20.0, 20.0


def measure(lab, tmp, size: int, settings: dict) -> dict:
    members = [Member(f"c{i:03d}", "r0", "api") for i in range(size)]
    fleet = ListenerFleet(lab, f"{tmp}/listeners-{size}-{settings.get('heartbeat_fanout', 8)}", members=members,
                          settings=settings, manage_kubernetes=False)
    try:
        fleet.start_all(batch=10, timeout=600)
        time.sleep(SETTLE)
        cpu_before = {n: processes.cpu_seconds(p) for n, p in fleet.pids.items()}
        calls_before, sent_before = common.fleet_traffic(fleet)
        machine_before, started = processes.machine_cpu_seconds(), time.monotonic()
        time.sleep(WINDOW)
        calls, sent = common.fleet_traffic(fleet)
        elapsed = time.monotonic() - started
        cpu = sorted(processes.cpu_seconds(p) - cpu_before[n] for n, p in fleet.pids.items())
        busy, total = common.machine_seconds_since(machine_before)
        rest_calls, rest_sent = (calls - calls_before) / elapsed, (sent - sent_before) / elapsed
        return {"listeners": size, "heartbeat_fanout": settings.get("heartbeat_fanout", 8),
                "cpu_per_listener_percent_median": round(100 * common.percentile(cpu, 50) / elapsed, 2),
                "cpu_per_listener_percent_max": round(100 * cpu[-1] / elapsed, 2),
                "fleet_cpu_seconds_per_second": round(sum(cpu) / elapsed, 2),
                "machine_busy_percent": round(100 * busy / total),
                "calls_per_member_per_s": round(rest_calls / size, 2),
                "bytes_per_member_per_s": round(rest_sent / size)}
    finally:
        fleet.stop_all()


def main():
    args = sys.argv[1:]
    sizes = [int(a) for a in args if a.isdigit()] or [10, 30, 100]
    settings = dict(a.split("=", 1) for a in args if "=" in a)
    runs = [dict(settings)] + ([] if "--no-baseline" in args else [{**settings, "heartbeat_fanout": 1000}])
    topology = Topology((ClusterSpec("api", "sim"),), NodeShape(count=1))
    results = []
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", topology) as lab:
        for size in sizes:
            for run in runs:
                try:
                    row = measure(lab, tmp, size, run)
                except (TimeoutError, FleetError) as error:  # the machine could not carry that fleet
                    print(f"idle: {size} listeners, {run}: did not start and settle: {error}")
                    continue
                results.append(row)
                print(f"idle: {size} listeners in one region, heartbeat_fanout {row['heartbeat_fanout']}: each "
                      f"{row['cpu_per_listener_percent_median']} % of a core (median, max "
                      f"{row['cpu_per_listener_percent_max']} %), the fleet {row['fleet_cpu_seconds_per_second']} "
                      f"CPU-s/s, the machine {row['machine_busy_percent']} % busy; each sends "
                      f"{row['calls_per_member_per_s']} calls and {row['bytes_per_member_per_s'] / 1000:.1f} kB a "
                      "second")
    common.save("idle", {"sizes": sizes, "settings": settings, "results": results})
    for fanout in sorted({r["heartbeat_fanout"] for r in results}):
        rows = {r["listeners"]: r for r in results if r["heartbeat_fanout"] == fanout}
        if len(rows) < 2:
            continue
        small, large = rows[min(rows)], rows[max(rows)]
        print(f"idle: heartbeat_fanout {fanout}: per member at {max(rows)} / at {min(rows)} listeners: CPU "
              f"{large['cpu_per_listener_percent_median'] / small['cpu_per_listener_percent_median']:.2f}x, calls "
              f"{large['calls_per_member_per_s'] / small['calls_per_member_per_s']:.2f}x (goal: at most 1.5x)")


if __name__ == "__main__":
    main()
