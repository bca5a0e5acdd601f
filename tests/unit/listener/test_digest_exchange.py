"""Anti-entropy by bucket hashes, run as the protocol runs it (Replication.sync_with over the
in-memory network): replicas holding the same records agree on every bucket hash, whatever
the order the records came in; one exchange leaves two replicas identical; replicas in sync
exchange one call."""
from __future__ import annotations

import time

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record
from ansible_collections.multicluster.kube.listener.digest import bucket_of
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.store import Store

from memory_fleet import node, state

NOW = wall_clock_ms()  # recent stamps: tombstones older than their TTL are treated apart
records = st.builds(
    lambda key, ms, logical, origin: Record(
        f"cluster/c{key}", Stamp(NOW + ms, logical, origin), origin,
        None if (ms + logical) % 4 == 0 else Cluster(name=f"c{key}", region="us", weight=ms * 3 + logical)),
    st.integers(0, 40), st.integers(0, 5), st.integers(0, 2), st.sampled_from(["x", "y"]))


def pair(mine=(), theirs=()):
    network = MemoryNetwork()
    return network, node(network, "a", mine, peers=["b"]), node(network, "b", theirs, peers=["a"])


@given(st.lists(records, max_size=30), st.randoms(use_true_random=False))
def test_the_same_records_in_any_order_give_the_same_bucket_hashes(batch, rnd):
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    network, one, other = pair()
    for record in batch:
        one.replica.receive([record])
    other.replica.receive(shuffled + batch)
    assert one.replica.bucket_hashes() == other.replica.bucket_hashes()
    calls = network.calls
    assert one.replication.sync_with("b") == (0, 0)
    assert network.calls == calls + 1, "replicas in sync exchange more than the bucket hashes"


@given(st.lists(records, max_size=30), st.lists(records, max_size=30))
def test_one_exchange_makes_two_replicas_identical(mine, theirs):
    _network, a, b = pair(mine, theirs)
    apart = {k for k in set(state(a)) | set(state(b)) if state(a).get(k) != state(b).get(k)}
    differing = b.replica.answer_summary(a.replica.bucket_hashes())
    assert differing == sorted({bucket_of(k) for k in apart})
    repaired, _news = a.replication.sync_with("b")
    assert repaired == len(apart)
    assert state(a) == state(b)
    assert a.replica.bucket_hashes() == b.replica.bucket_hashes()
    assert a.replication.sync_with("b") == (0, 0) and b.replication.sync_with("a") == (0, 0)


@given(st.lists(records, min_size=1, max_size=30))
def test_after_an_exchange_each_side_has_confirmed_the_others_tombstones(batch):
    _network, a, b = pair(batch)
    a.replication.sync_with("b")
    b.replication.sync_with("a")
    tombstones = {k for k, r in state(a).items() if r.deleted}
    assert all("b" in a.replica.confirmed_by(k) for k in tombstones)
    assert all("a" in b.replica.confirmed_by(k) for k in tombstones)


def test_an_exchange_swaps_heartbeat_tables_both_ways():
    _network, a, b = pair()
    a.heartbeats.beat()
    b.heartbeats.beat()
    _repaired, news = a.replication.sync_with("b")
    assert news == 1
    assert {c for c, _ms in a.heartbeats.table()} == {c for c, _ms in b.heartbeats.table()} == {"a", "b"}


def test_an_unreachable_peer_repairs_nothing_and_is_marked_down():
    network, a, _b = pair()
    network.partition(["a"], ["b"])
    assert a.replication.sync_with("b") == (0, 0)
    assert a.replication.transport.is_up("b") is False
    network.heal()
    assert a.replication.sync_with("b") == (0, 0)
    assert a.replication.transport.is_up("b") is True


def replica(name, batch=()):
    r = Replica(name, Store(":memory:"), HybridClock(name), Metrics())
    r.receive(list(batch))
    return r


def test_a_live_record_is_asked_of_one_peer_at_a_time_and_a_tombstone_of_every_peer():
    """After a heal every peer across offers the same records: the first asked sends them, the
    others are not asked for them until the promise lapses. Tombstones are asked of all (a peer
    takes one we did not ask for as held, and garbage collection relies on that)."""
    live = Record("cluster/c1", Stamp(NOW, 0, "x"), "x", Cluster(name="c1", region="us"))
    gone = Record("cluster/c2", Stamp(NOW, 0, "x"), "x", None)
    first, second, behind = replica("a1", [live, gone]), replica("a2", [live, gone]), replica("b")
    buckets = sorted({bucket_of(live.key), bucket_of(gone.key)})
    _newer, wanted = behind.answer_digest(first.digest(buckets), "a1", buckets, promise_for=60)
    assert sorted(wanted) == [live.key, gone.key]
    _newer, wanted = behind.answer_digest(second.digest(buckets), "a2", buckets, promise_for=60)
    assert wanted == [gone.key]
    behind.receive([first.record(live.key)])  # the promise kept: nothing left to ask
    newer_record = Record(live.key, Stamp(NOW + 1, 0, "y"), "y", Cluster(name="c1", region="us", weight=2))
    second.receive([newer_record])  # a newer one than promised is asked for at once
    _newer, wanted = behind.answer_digest(second.digest(buckets), "a2", buckets, promise_for=60)
    assert sorted(wanted) == [live.key, gone.key]


def test_a_promise_not_kept_lapses():
    live = Record("cluster/c1", Stamp(NOW, 0, "x"), "x", Cluster(name="c1", region="us"))
    offering, behind = replica("a", [live]), replica("b")
    buckets = [bucket_of(live.key)]
    assert behind.answer_digest(offering.digest(buckets), "a", buckets, promise_for=0.05)[1] == [live.key]
    assert behind.answer_digest(offering.digest(buckets), "a", buckets, promise_for=0.05)[1] == []
    time.sleep(0.06)
    assert behind.answer_digest(offering.digest(buckets), "a", buckets, promise_for=0.05)[1] == [live.key]
