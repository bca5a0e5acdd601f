"""Anti-entropy by bucket hashes: replicas holding the same records agree on every bucket
hash, whatever the order the records came in; and one two-step exchange leaves two
replicas identical, sending full (key, stamp) lists only for the buckets that differ."""
from __future__ import annotations

import time

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record
from ansible_collections.multicluster.kube.listener.digest import bucket_of
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replication import Replica
from ansible_collections.multicluster.kube.listener.store import Store

NOW = wall_clock_ms()  # recent stamps: tombstones older than their TTL are treated apart
records = st.builds(
    lambda key, ms, logical, origin: Record(
        f"cluster/c{key}", Stamp(NOW + ms, logical, origin), origin,
        None if (ms + logical) % 4 == 0 else Cluster(name=f"c{key}", region="us", weight=ms * 3 + logical)),
    st.integers(0, 40), st.integers(0, 5), st.integers(0, 2), st.sampled_from(["x", "y"]))


def replica(name, batch=()):
    r = Replica(name, Store(":memory:"), HybridClock(name), Metrics())
    r.receive(list(batch))
    return r


def exchange(asking, answering) -> list:
    """What Peers._sync_with does over gRPC. Returns the buckets that differed."""
    differing = answering.answer_summary(asking.bucket_hashes(), asking.cluster)
    asking.confirm_equal_buckets(answering.cluster, differing)
    if differing:
        digest = asking.digest(differing)
        newer, wanted = answering.answer_digest(digest, asking.cluster, differing)
        asking.confirm_held(answering.cluster, [e.key for e in digest], wanted)
        asking.receive(newer)
        answering.receive([asking.get(k) for k in wanted])
    return differing


@given(st.lists(records, max_size=30), st.randoms(use_true_random=False))
def test_the_same_records_in_any_order_give_the_same_bucket_hashes(batch, rnd):
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    one, other = replica("a"), replica("b")
    for record in batch:
        one.receive([record])
    other.receive(shuffled + batch)
    assert one.bucket_hashes() == other.bucket_hashes()
    assert other.answer_summary(one.bucket_hashes()) == []


@given(st.lists(records, max_size=30), st.lists(records, max_size=30))
def test_one_exchange_makes_two_replicas_identical(mine, theirs):
    a, b = replica("a", mine), replica("b", theirs)
    apart = {k for k in set(a.state) | set(b.state) if a.get(k) != b.get(k)}
    assert exchange(a, b) == sorted({bucket_of(k) for k in apart})
    assert a.state == b.state
    assert a.bucket_hashes() == b.bucket_hashes()
    assert exchange(a, b) == [] and exchange(b, a) == []


@given(st.lists(records, min_size=1, max_size=30))
def test_after_an_exchange_each_side_has_confirmed_the_others_tombstones(batch):
    a, b = replica("a", batch), replica("b")
    exchange(a, b)
    exchange(b, a)
    tombstones = {k for k, r in a.state.items() if r.deleted}
    assert all("b" in a.confirmed.get(k, ()) for k in tombstones)
    assert all("a" in b.confirmed.get(k, ()) for k in tombstones)


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
    behind.receive([first.get(live.key)])  # the promise kept: nothing left to ask
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
