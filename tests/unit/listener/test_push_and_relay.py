"""Pushes as the protocol makes them, over the in-memory network: one call per member of the
writer's region and one per other region, relayed there to the rest; the region called
directly when its relay is away; a partition healed by anti-entropy."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Placement, Record, Service, ServiceSpec
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork

from memory_fleet import node, state

MEMBERS = {"us-a": "us", "us-b": "us", "eu-a": "eu", "eu-b": "eu", "eu-c": "eu"}


def fleet():
    network = MemoryNetwork()
    registered = [Record(f"cluster/{n}", Stamp(wall_clock_ms(), 0, n), n, Cluster(name=n, region=r, endpoint=n))
                  for n, r in MEMBERS.items()]
    return network, {n: node(network, n, registered) for n in MEMBERS}


def write(n, service="web", replicas=1):
    """Commit and push a service at member n; (record, {peer: acknowledged}) once all answered."""
    spec = ServiceSpec("us", service, replicas)
    record = Record(spec.key, Stamp(wall_clock_ms(), 0, n.name), "test", Service(spec, Placement()))
    n.replica.commit([record])
    return record, {peer: ack.result(timeout=5) for peer, ack in n.replication.push([record]).items()}


def test_a_write_reaches_every_member_with_one_call_per_other_region():
    network, nodes = fleet()
    record, acks = write(nodes["us-a"])
    assert acks == {"eu-a": True, "eu-b": True, "eu-c": True, "us-b": True}
    assert all(state(n)[record.key] == record for n in nodes.values())
    assert network.calls == 4, "us-b, one eu relay, and the relay's two calls"


def test_when_the_relay_is_away_its_region_is_called_directly():
    network, nodes = fleet()
    network.partition(["us-a"], ["eu-a"])  # the first relay of region eu (they take turns by name)
    record, acks = write(nodes["us-a"])
    assert acks == {"eu-a": False, "eu-b": True, "eu-c": True, "us-b": True}
    assert record.key in state(nodes["eu-b"]) and record.key in state(nodes["eu-c"])
    assert record.key not in state(nodes["eu-a"])


def test_anti_entropy_brings_what_a_partition_kept_from_a_member():
    network, nodes = fleet()
    network.partition(["eu-c"], [n for n in MEMBERS if n != "eu-c"])
    records = [write(nodes["us-a"], f"s{i}")[0] for i in range(5)]
    assert all(r.key not in state(nodes["eu-c"]) for r in records)
    network.heal()
    repaired, _news = nodes["eu-c"].replication.sync_with("eu-a")
    assert repaired == 5
    assert state(nodes["eu-c"]) == state(nodes["us-a"])
