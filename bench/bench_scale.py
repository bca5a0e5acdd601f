"""Scale: 100 listener processes in 10 regions on this machine (replication only: these
simulated clusters run no Deployments). A write's time to reach all 100 listeners, p50/p99,
and the listeners' memory (RSS) once they hold 10,000 services."""
from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import common

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceIntent
from lab import processes
from lab.listeners import ListenerFleet

LISTENERS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
SERVICES = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
WRITES = 30
REGIONS = min(10, LISTENERS)
# A hundred processes share 2 cores: heartbeats every 5 s rather than every second.
SETTINGS = {"heartbeat_interval": 5.0, "failure_timeout": 60.0, "hold_down": 60.0, "anti_entropy_interval": 2.0,
            "anti_entropy_fanout": 2, "peer_timeout": 10.0}


class SimulatedLab:
    """Just enough of a Lab for ListenerFleet: names and regions, no apiservers."""

    def __init__(self, count):
        cluster = type("SimCluster", (), {})
        self.clusters = {}
        for i in range(count):
            c = cluster()
            c.region = f"r{i % REGIONS}"
            self.clusters[f"c{i:03d}"] = c


def main():
    lab = SimulatedLab(LISTENERS)
    with tempfile.TemporaryDirectory() as tmp:
        fleet = ListenerFleet(lab, f"{tmp}/listeners", manage_kubernetes=False, settings=SETTINGS)
        begin = time.monotonic()
        try:
            fleet.start_all(batch=10, timeout=600)  # 100 Python processes starting at once starve 2 cores
            print(f"scale: {LISTENERS} listeners up and knowing each other in {time.monotonic() - begin:.0f}s")
            clients = {n: fleet.client(n, timeout=60) for n in fleet.names}
            with ThreadPoolExecutor(16) as pool:
                reach = time_to_reach_all(fleet, clients, pool)
                loaded, rss = memory_with_services(fleet, clients, pool)
            for c in clients.values():
                c.close()
        finally:
            fleet.stop_all()
    results = {"benchmark": "scale", "listeners": LISTENERS, "regions": REGIONS, "settings": SETTINGS,
               "write_to_all_ms": {"p50": common.percentile(reach, 50), "p99": common.percentile(reach, 99)},
               "services": SERVICES, "seconds_to_write_and_spread_services": loaded,
               "rss_mib_per_listener": {"median": common.percentile(rss, 50), "max": rss[-1]}}
    common.save("scale", results)
    print(f"scale: {SERVICES} services written and held by all {LISTENERS} listeners in {loaded:.0f}s; "
          f"RSS per listener median {common.percentile(rss, 50):.0f} MiB, max {rss[-1]:.0f} MiB")
    print(f"scale: {LISTENERS} listeners: p99 to all {common.percentile(reach, 99):.0f} ms; "
          f"{rss[-1]:.0f} MiB RSS at most per listener with {SERVICES} services")


def time_to_reach_all(fleet, clients, pool) -> list:
    """Milliseconds from each write's acknowledgement until every listener holds it."""
    reach = []
    for i in range(WRITES):
        region = f"r{i % REGIONS}"
        response = clients[fleet.names[(i * 7) % LISTENERS]].set_region_replicas(
            ServiceIntent(region, f"probe-{i}", 3))
        acked = time.perf_counter()
        stamp = (response.stamp.physical_ms, response.stamp.logical, response.stamp.origin)
        key = f"service/{region}/probe-{i}"

        def holds(name, key=key, stamp=stamp):
            return name, any(r.key == key and r.stamp >= stamp for r in clients[name].records()[0])

        pending = set(fleet.names)
        while pending:
            pending -= {n for n, ok in pool.map(holds, sorted(pending)) if ok}
            if time.perf_counter() - acked > 60:
                raise TimeoutError(f"{len(pending)} listeners still lack write {i}")
        reach.append((time.perf_counter() - acked) * 1000)
    print(f"scale: write to all {LISTENERS}: p50 {common.percentile(reach, 50):.0f} ms, "
          f"p99 {common.percentile(reach, 99):.0f} ms")
    return reach


def memory_with_services(fleet, clients, pool):
    """Write SERVICES services at one listener; once all hold them, every listener's RSS."""
    writer = clients[fleet.names[0]]
    begin = time.monotonic()
    for i in range(SERVICES):
        writer.set_region_replicas(ServiceIntent(f"r{i % REGIONS}", f"s{i}", 1 + i % 5))
    last = f"service/r{(SERVICES - 1) % REGIONS}/s{SERVICES - 1}"
    common.wait(lambda: all(pool.map(lambda n: any(r.key == last for r in clients[n].records()[0]), fleet.names)),
                900, interval=1.0)
    loaded = time.monotonic() - begin
    time.sleep(5)
    return loaded, sorted(processes.rss_kib(fleet.pids[n]) / 1024 for n in fleet.names)


if __name__ == "__main__":
    main()
