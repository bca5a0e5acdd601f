"""Hybrid logical clock and the merge rule that replication relies on."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import MAX_LOGICAL, HybridClock, Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record, merge


def test_stamps_increase_even_when_the_wall_clock_stands_still_or_goes_back():
    times = iter([100, 100, 90, 101])
    clock = HybridClock("a", now_ms=lambda: next(times))
    stamps = [clock.now() for _tick in range(4)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4
    assert stamps[2] == Stamp(100, 2, "a")


def test_observing_a_later_stamp_orders_local_stamps_after_it():
    clock = HybridClock("a", now_ms=lambda: 5)
    clock.observe(Stamp(50, 3, "b"))
    assert clock.now() > Stamp(50, 3, "b")


def test_the_logical_count_never_passes_what_the_wire_carries():
    clock = HybridClock("a", now_ms=lambda: 5)
    clock.observe(Stamp(50, MAX_LOGICAL, "b"))
    later = clock.now()
    assert later > Stamp(50, MAX_LOGICAL, "b") and later.logical <= MAX_LOGICAL


# A stamp identifies one write, so the value is a function of (key, stamp) here too.
records = st.builds(
    lambda key, ms, logical, origin: Record(
        f"cluster/{key}", Stamp(ms, logical, origin), origin,
        None if (ms + logical) % 3 == 0 else Cluster(name=key, region="us", weight=ms * 3 + logical)),
    st.sampled_from("abc"), st.integers(0, 5), st.integers(0, 2), st.sampled_from(["x", "y"]))


@given(st.lists(records, max_size=12), st.randoms(use_true_random=False))
def test_merge_is_order_independent_and_idempotent(batch, rnd):
    in_order, shuffled, twice = {}, {}, {}
    merge(in_order, batch)
    other = list(batch)
    rnd.shuffle(other)
    merge(shuffled, other)
    merge(twice, batch + batch[::-1])
    assert in_order == shuffled == twice
