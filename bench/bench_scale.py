"""Scale: 100 listener processes in 10 regions on this machine. The simulated clusters are
namespaces on two real lab apiservers (deployment_namespace); the listeners run in network
namespaces of our own, half of every region on each side of one link (lab/netns.py), the
apiservers and this process in a hub that reaches both sides.

1. a write's time from acknowledgement until all listeners hold it, p50/p99;
2. a 50/50 partition: 1,000 writes (half at each side) while the link is down, then the time
   from healing until every listener holds all 1,000;
3. listener memory (RSS) once every listener holds 10,000 services.

Writers wait for each write to reach the listeners they can reach (wait: propagated) before
the next one: a hundred listeners on 2 cores take about 10 uncoalesced writes a second, and
writes acknowledged faster than that only pile up (see docs/performance.md). The services of
phase 3 are handed to every listener over the Peer service (see memory_with_services).

Usage: bench_scale.py [LISTENERS [SERVICES]] [--partition-only] [--no-kube]
  (root: it creates network namespaces)
  --partition-only  phases 1 and 2 only (results in scale-partition*.json)
  --no-kube         the listeners manage no Deployments: replication alone
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import common

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record, Service, ServiceSpec, service_key
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub
from lab import processes
from lab.cluster import Lab
from lab.listeners import ListenerFleet, Member
from lab.netns import HUB_ADDRESS, LINK_ADDRESS, SIDE_ADDRESS, SIDES, SplitNetwork
from lab.topology import ClusterSpec, NodeShape, Topology

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
PARTITION_ONLY = "--partition-only" in sys.argv
MANAGE_KUBERNETES = "--no-kube" not in sys.argv
LISTENERS = int(ARGS[0]) if ARGS else 100
SERVICES = int(ARGS[1]) if len(ARGS) > 1 else 10_000
PROBES = 50
PARTITION_WRITES = 1000
WRITERS = 2  # clients writing at once during the partition
PACE_LIMIT = 2.0  # seconds a partition write waits at most for its propagation
REGIONS = min(10, LISTENERS)
SETTINGS = common.SCALE_SETTINGS
PUSH_BATCH = 500  # records per push in the memory phase, as a listener coalesces them
# Between two rounds of asking the listeners. The times are the listeners' own (when each took
# a write), so asking less often costs no precision; at 0.25 s, a hundred Health calls up to
# four times a second were about as many calls as the resting fleet makes itself (~280 a second).
POLL_PAUSE = 1.0


def members(net) -> list:
    """Regions r0..r9, each with its clusters alternately on the two sides."""
    placed = []
    for i in range(LISTENERS):
        region, index = i % REGIONS, i // REGIONS
        side = SIDES[(region + index) % 2]
        name = f"c{i:03d}"
        placed.append(Member(name, f"r{region}", f"api-{side}", deployment_namespace=f"sim-{name}",
                             netns=net.namespace(side), listen_host="0.0.0.0",
                             advertise_host=LINK_ADDRESS[side], client_host=SIDE_ADDRESS[side]))
    return placed


def main():
    if os.geteuid() != 0:
        sys.exit("bench_scale.py: needs root, to create its network namespaces (ip netns add)")
    with SplitNetwork() as net:
        net.enter()  # this thread, the lab and our clients live in the hub from here on
        topology = Topology(tuple(ClusterSpec(f"api-{s}", f"sim-{s}", HUB_ADDRESS[s]) for s in SIDES),
                            NodeShape(count=4))
        with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", topology) as lab:
            fleet = ListenerFleet(lab, f"{tmp}/listeners", members=members(net), settings=SETTINGS,
                                  manage_kubernetes=MANAGE_KUBERNETES)
            try:
                results = run(fleet, net)
            finally:
                fleet.stop_all()
    common.save("scale" + ("-partition" if PARTITION_ONLY else "") + ("" if MANAGE_KUBERNETES else "-no-kube"),
                results)
    print(f"scale: {LISTENERS} listeners: write to all p99 {results['write_to_all_ms']['p99']:.0f} ms; "
          f"converged {results['partition']['seconds_to_converge']:.1f} s after a 50/50 partition healed"
          + ("" if PARTITION_ONLY else f"; {results['rss_mib_per_listener']['max']:.0f} MiB RSS at most per "
                                       f"listener with {SERVICES} services"))


def run(fleet, net) -> dict:
    begin = time.monotonic()
    fleet.start_all(batch=10, timeout=600)  # 100 Python processes starting at once starve 2 cores
    started = time.monotonic() - begin
    print(f"scale: {LISTENERS} listeners up and knowing each other in {started:.0f}s")
    resting = Window(fleet)
    idle, _others, machine_busy = common.cpu_at_rest(fleet)
    resting = resting.close()
    print(f"scale: at rest, each listener uses {common.percentile(idle, 50):.1f}% of a core (median), "
          f"{sum(idle):.0f}% in all; the machine is {machine_busy:.0f}% busy; the fleet makes "
          f"{resting['calls_per_s']:.0f} calls a second")
    clients = {n: fleet.client(n, timeout=60) for n in fleet.names}
    side_of = {m.name: m.netns for m in fleet.members.values()}
    try:
        with ThreadPoolExecutor(16) as pool:
            probing = Window(fleet)
            reach = time_to_reach_all(fleet, clients, pool)
            probes = probing.close(resting, PROBES + 1)
            print(f"scale: while writing to all, the machine was {probes['machine_busy_percent']:.0f}% busy, the "
                  f"listeners {probes['listeners_cpu_s']:.0f} CPU-s in {probes['seconds']:.0f}s; each write cost "
                  f"{probes['pushes_per_write']:.0f} pushes beyond the resting ones (a write to all: {LISTENERS - 1})")
            partition = partition_and_heal(fleet, clients, pool, net, side_of)
            memory = {} if PARTITION_ONLY else memory_with_services(fleet, clients, pool)
    finally:
        for c in clients.values():
            c.close()
    return {"benchmark": "scale", "listeners": LISTENERS, "regions": REGIONS, "apiservers": len(SIDES),
            "settings": SETTINGS, "manage_kubernetes": MANAGE_KUBERNETES, "seconds_to_start": started,
            "idle_cpu_percent_per_listener": {"median": common.percentile(idle, 50), "total": sum(idle)},
            "idle_machine_busy_percent": machine_busy, "at_rest": resting,
            "write_to_all_ms": {"p50": common.percentile(reach, 50), "p99": common.percentile(reach, 99),
                                "writes": len(reach)},
            "while_writing_to_all": probes,
            "partition": partition, **memory}


class Window:
    """From its start until close(): the machine's and the listeners' CPU, and the fleet's calls
    and bytes to peers, by method (from the listeners' metrics)."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.traffic = common.fleet_traffic_by_method(fleet)
        self.machine = processes.machine_cpu_seconds()
        self.listeners = processes.total_cpu_seconds(fleet.pids.values())
        self.started = time.monotonic()

    def close(self, resting=None, writes: int = 0) -> dict:
        """The window's figures; with `writes` made in it, the Push calls each cost beyond the
        pushes of `resting` (a closed window at rest: heartbeats), a write to all costing one per
        other listener. (Anti-entropy's Digest calls come with time, not writes.)"""
        seconds = time.monotonic() - self.started
        busy, total = common.machine_seconds_since(self.machine)
        listeners = processes.total_cpu_seconds(self.fleet.pids.values()) - self.listeners
        traffic = common.fleet_traffic_by_method(self.fleet)
        traffic.subtract(self.traffic)
        calls = sum(n for (_method, what), n in traffic.items() if what == "calls")
        row = {"seconds": seconds, "machine_busy_percent": 100 * busy / total, "listeners_cpu_s": listeners,
               "listeners_percent_of_machine": 100 * listeners / total, "calls_per_s": calls / seconds,
               "calls": {f"{method} {what}": n for (method, what), n in sorted(traffic.items())}}
        if writes:
            resting_pushes = resting["calls"].get("Push calls", 0) / resting["seconds"] if resting else 0
            row["pushes_per_write"] = (traffic["Push", "calls"] - resting_pushes * seconds) / writes
        return row


def stamp_of(response):
    return (response.stamp.physical_ms, response.stamp.logical, response.stamp.origin)


def arrival_ms(fleet, client, name, stamps):
    """When listener `name` took the last of `stamps`' keys (at the acknowledged stamp or a
    later one), in ms since the epoch by its own clock (the same machine's as ours), from its
    metrics: the time it last took a record other than a status. None while it lacks one.
    (No other record changes while the benchmark waits: failover is off, nobody else writes.)"""
    records, _health, _by = client.records(sorted(stamps))
    held = {r.key for r in records if r.stamp >= stamps[r.key]}
    if len(held) < len(stamps):
        return None
    return fleet.metrics(name)["multicluster_last_record_received_timestamp_seconds"] * 1000


def wait_for_all(fleet, clients, pool, stamps, limit: float, records_at_least: int = 0) -> dict:
    """Ask every listener, every POLL_PAUSE, until each holds every key; {listener: latest
    arrival among the keys}. The arrival times are the listeners' own, so how often we ask
    changes only the load, not the figures. With records_at_least, a listener is asked for
    the keys only once it holds that many records (a cheap count): fetching a thousand
    records from a hundred listeners four times a second would load the very fleet we time."""
    latest, pending, deadline = {}, set(fleet.names), time.monotonic() + limit

    def check(name):
        if records_at_least and clients[name].health().records < records_at_least:
            return name, None
        return name, arrival_ms(fleet, clients[name], name, stamps)

    while pending:
        time.sleep(POLL_PAUSE)
        for name, arrived in pool.map(check, sorted(pending)):
            if arrived is not None:
                latest[name] = arrived
                pending.discard(name)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} listeners still lack writes after {limit:.0f}s")
    return latest


def time_to_reach_all(fleet, clients, pool) -> list:
    """Milliseconds from each write's acknowledgement until the last listener took it. The
    first write is a warm-up, not counted: channels to peers that were not up yet when a
    listener started are dialled again only when next used."""
    reach = []
    for i in range(-1, PROBES):
        region = f"r{i % REGIONS}"
        response = clients[fleet.names[(i * 7) % LISTENERS]].set_region_replicas(
            ServiceSpec(region, f"probe-{i}", 3))
        acked_ms = time.time() * 1000
        latest = wait_for_all(fleet, clients, pool, {service_key(region, f"probe-{i}"): stamp_of(response)}, 60)
        if i >= 0:
            reach.append(max(0.0, max(latest.values()) - acked_ms))
    print(f"scale: write to all {LISTENERS}: p50 {common.percentile(reach, 50):.0f} ms, "
          f"p99 {common.percentile(reach, 99):.0f} ms ({PROBES} writes)")
    return reach


def record_counts(clients, pool, names) -> dict:
    return dict(pool.map(lambda n: (n, clients[n].health().records), names))


def partition_and_heal(fleet, clients, pool, net, side_of) -> dict:
    """Cut the sides apart, write PARTITION_WRITES services (alternately at each side), heal,
    and time until every listener holds every one of them."""
    by_side = [[n for n in fleet.names if side_of[n] == side] for side in sorted(set(side_of.values()))]
    held_before = max(record_counts(clients, pool, fleet.names).values())
    net.cut()
    cut_at = time.monotonic()
    stamps = {}

    def write(i):
        side = by_side[i % 2]
        writer = side[(i // 2) % len(side)]
        key = service_key(f"r{i % REGIONS}", f"split-{i}")
        # Acknowledged once committed; waited for (at most PACE_LIMIT) until the listeners it can
        # reach hold it. The other side never acknowledges, and a peer across the cut is found
        # unreachable only when its connection's keepalive or a call's deadline runs out.
        stamps[key] = stamp_of(clients[writer].set_region_replicas(
            ServiceSpec(f"r{i % REGIONS}", f"split-{i}", 1), wait="propagated", wait_timeout=PACE_LIMIT))
        if (i + 1) % 100 == 0:
            print(f"scale: {i + 1} writes while cut, {time.monotonic() - cut_at:.0f}s")

    with ThreadPoolExecutor(WRITERS) as writers:
        list(writers.map(write, range(PARTITION_WRITES)))
    written = time.monotonic() - cut_at
    healing = Window(fleet)
    net.heal()
    healed_ms = time.time() * 1000
    # and every write at its acknowledged stamp
    latest = wait_for_all(fleet, clients, pool, stamps, 300, records_at_least=held_before + len(stamps))
    after_heal = healing.close()
    each = sorted((ms - healed_ms) / 1000 for ms in latest.values())
    converged = each[-1]
    print(f"scale: 50/50 partition: {PARTITION_WRITES} writes in {written:.1f}s while cut; "
          f"every listener held all of them {converged:.2f}s after healing (half of them after "
          f"{common.percentile(each, 50):.2f}s); from the heal until we saw that, the machine was "
          f"{after_heal['machine_busy_percent']:.0f}% busy, the listeners {after_heal['listeners_cpu_s']:.0f} CPU-s "
          f"({after_heal['listeners_percent_of_machine']:.0f}% of it); calls {after_heal['calls']}")
    return {"writes": PARTITION_WRITES, "seconds_writing_while_cut": written, "seconds_to_converge": converged,
            "median_listener_seconds_to_converge": common.percentile(each, 50),
            "after_heal_machine_busy_percent": after_heal["machine_busy_percent"],
            "after_heal_listeners_percent_of_machine": after_heal["listeners_percent_of_machine"],
            "after_heal": after_heal}


def memory_with_services(fleet, clients, pool):
    """Bring the fleet to SERVICES services in all and measure every listener's RSS once it
    holds them and its reconciler has had a minute to apply its share.

    The benchmark hands the services to every listener itself, over the Peer service in
    pushes of PUSH_BATCH records, as a relay does. Written one by one through the Fleet API,
    each would cost a fan-out to 99 listeners: a hundred listeners on 2 cores, busy at rest,
    take 2-4 such writes a second (see docs/performance.md)."""
    records, _health, _by = clients[fleet.names[0]].records()
    clusters = [r.value for r in records if isinstance(r.value, Cluster)]
    services_now = sum(1 for r in records if isinstance(r.value, Service))
    clock = HybridClock("bench")
    extra = [messages.record_to_message(Record(service.key, clock.now(), "bench", service))
             for service in (placed(ServiceSpec(f"r{i % REGIONS}", f"s{i}", 1), clusters)
                             for i in range(max(0, SERVICES - services_now)))]
    held = record_counts(clients, pool, fleet.names)

    def hand_over(name):
        channel = open_channel(fleet.endpoint(name))
        try:
            for first in range(0, len(extra), PUSH_BATCH):
                Stub(channel, "Peer").Push(pb.PushRequest(from_cluster="bench", records=extra[first:first + PUSH_BATCH]),
                                           metadata=call_metadata(fleet.token), timeout=300)
        finally:
            channel.close()

    begin = time.monotonic()
    list(pool.map(hand_over, fleet.names))
    counts = record_counts(clients, pool, fleet.names)
    assert all(counts[n] >= held[n] + len(extra) for n in fleet.names), counts
    loaded = time.monotonic() - begin
    print(f"scale: {len(extra)} more services handed to each of the {LISTENERS} listeners in {loaded:.0f}s")
    time.sleep(60)  # the reconcilers apply their share of the new services
    rss = sorted(processes.rss_kib(fleet.pids[n]) / 1024 for n in fleet.names)
    print(f"scale: {SERVICES} services held by all {LISTENERS} listeners: "
          f"RSS per listener median {common.percentile(rss, 50):.0f} MiB, max {rss[-1]:.0f} MiB")
    return {"services": SERVICES, "seconds_to_hand_services_to_every_listener": loaded,
            "rss_mib_per_listener": {"median": common.percentile(rss, 50), "max": rss[-1]}}


def placed(spec, clusters):
    return Service(spec, schedule(spec, clusters))


if __name__ == "__main__":
    main()
