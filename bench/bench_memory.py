"""Memory: what one listener holds with 10,000 services whose Deployment templates are 4.5 KiB,
beside (in the same run, one after the other) one holding 10,000 services of the original
workload.

One listener process at a time, alone, no Kubernetes (the memory is the replica's and the
store's); the services reach it over the Peer service in pushes of 500, as a relay sends them.
RSS from /proc once it has taken them all and settled.

  .venv/bin/python bench/bench_memory.py [SERVICES]
"""
from __future__ import annotations

import json
import sys
import tempfile
import time

import common

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record, Service, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload
from lab import processes
from lab.listeners import ListenerFleet, Member

import bench_propagation

SERVICES = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
PUSH = 500


def services(workload: Workload, clusters) -> list:
    clock = HybridClock("bench")
    records = []
    for i in range(SERVICES):
        spec = ServiceSpec("r0", f"s{i}", 2, workload=workload)
        service = Service(spec, schedule(spec, clusters))
        records.append(messages.record_bytes(Record(service.key, clock.now(), "bench", service)))
    return records


def hand_over(fleet, name, records) -> None:
    channel = open_channel(fleet.endpoint(name))
    try:
        push = channel.unary_unary("/multicluster.kube.v1.Peer/Push")
        for first in range(0, len(records), PUSH):
            push(pb.PushRequestWire(from_cluster="bench", records=records[first:first + PUSH]).SerializeToString(),
                 metadata=call_metadata(fleet.token), timeout=300)
    finally:
        channel.close()


def held(workload: Workload, name: str, tmp: str) -> tuple:
    """(RSS MiB at start, RSS MiB holding SERVICES services of `workload`) of one listener alone."""
    clusters = [Cluster(name=name, region="r0")]
    with ListenerFleet(None, f"{tmp}/{name}", manage_kubernetes=False, members=[Member(name, "r0", "")],
                       settings={"failure_timeout": 600.0, "hold_down": 600.0}) as fleet:
        start = processes.rss_kib(fleet.pids[name]) / 1024
        hand_over(fleet, name, services(workload, clusters))
        with fleet.client(name) as client:
            common.wait(lambda: client.health().records >= SERVICES, 600, interval=1.0)
        time.sleep(10)
        return start, processes.rss_kib(fleet.pids[name]) / 1024


def main():
    big = bench_propagation.workload_of_4kib()
    template_bytes = len(json.dumps(big.template))
    with tempfile.TemporaryDirectory() as tmp:
        plain = held(Workload(), "plain", tmp)
        templated = held(big, "templated", tmp)
    results = {"benchmark": "memory", "services": SERVICES, "template_bytes": template_bytes,
               "rss_mib": {"original_workload": {"start": plain[0], "holding": plain[1]},
                           "with_template": {"start": templated[0], "holding": templated[1]}}}
    common.save("memory", results)
    print(f"memory: one listener holding {SERVICES} services: {plain[1]:.0f} MiB with the original workload "
          f"(baseline), {templated[1]:.0f} MiB with {template_bytes} B templates (goal <= 250 MB); "
          f"{plain[0]:.0f} and {templated[0]:.0f} MiB at start")


if __name__ == "__main__":
    main()
