"""The replica keeps members, the latest status of each cluster and the replicas placed on
each cluster up to date as records arrive, so writes and the failover coordinator never
scan every record. Whatever arrives, in whatever order, with deletes and stale copies
among it, those maps must equal what a scan of the state computes."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, Placement, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.store import Store

NOW = wall_clock_ms()
CLUSTERS = ["c0", "c1", "c2"]


def value(kind: int, n: int, placement: dict):
    name = CLUSTERS[n % len(CLUSTERS)]
    if kind == 0:
        return Cluster(name=name, region="us")
    if kind == 1:
        return ClusterStatus(cluster=name, region="us", reported_ms=n)
    return Service(ServiceSpec("us", f"s{n % 4}", sum(placement.values())), Placement(placement))


records = st.builds(
    lambda kind, n, placement, ms, origin, deleted: Record(
        value(kind, n, placement).key, Stamp(NOW + ms, 0, origin), origin,
        None if deleted else value(kind, n, placement)),
    st.integers(0, 2), st.integers(0, 7),
    st.dictionaries(st.sampled_from(CLUSTERS), st.integers(0, 9), max_size=3),
    st.integers(0, 50), st.sampled_from(["x", "y"]), st.booleans())


def scanned(state: dict):
    live = [r.value for r in state.values() if not r.deleted]
    placed = {}
    for service in (v for v in live if isinstance(v, Service)):
        for cluster, count in service.placement.clusters.items():
            placed[cluster] = placed.get(cluster, 0) + count
    return ({v.name: v for v in live if isinstance(v, Cluster)},
            {v.cluster: v for v in live if isinstance(v, ClusterStatus)}, placed)


@given(st.lists(st.lists(records, max_size=6), max_size=12))
def test_maintained_maps_equal_a_scan_of_the_state(batches):
    replica = Replica("a", Store(":memory:"), HybridClock("a"), Metrics())
    for batch in batches:
        replica.receive(batch)
        state = {r.key: r for r in replica.snapshot()}
        members, statuses, placed = scanned(state)
        assert {m.name: m for m in replica.members()} == members
        assert {c: replica.status_of(c) for c in statuses} == statuses
        assert all(replica.status_of(c) is None for c in CLUSTERS if c not in statuses)
        assert replica.used_by_others("service/none/none") == {c: n for c, n in placed.items() if n}
        for key, record in state.items():
            if isinstance(record.value, Service):
                own = record.value.placement.clusters
                others = {c: n - own.get(c, 0) for c, n in placed.items() if n - own.get(c, 0)}
                assert replica.used_by_others(key) == others
