"""The real replication protocol in simulated fleets (lab/simulation.py): writes reach every
member in two hops, a member's resting calls do not grow with its region, a crash is seen by
the whole region soon after the failure timeout and no live member is ever taken for dead,
loss and partitions are repaired by anti-entropy, and a run is the same every time."""
from __future__ import annotations

import pytest

from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Service, ServiceSpec

from lab.simulation import Settings, Simulation

LATENCY = Settings().latency


def service(region, name, replicas=1):
    spec = ServiceSpec(region, name, replicas)
    return spec.key, Service(spec, Placement())


def resting_calls_per_member_per_second(sim, start, window) -> float:
    sim.run_until(start)
    before = sim.calls()
    sim.run_until(start + window)
    return (sim.calls() - before) / len(sim.members) / window


def test_a_write_reaches_every_member_in_two_hops():
    sim = Simulation(60, 3)
    sim.run_until(3.0)
    [record] = sim.write("m0004", [service("r1", "web")])
    assert sim.run_until(4.0, lambda: sim.held_by_all([record]))
    took = max(sim.arrivals(record).values()) - 3.0
    assert took == pytest.approx(2 * LATENCY), "its region directly, other regions through one relay"


def test_a_members_resting_calls_do_not_grow_with_its_region():
    small = resting_calls_per_member_per_second(Simulation(12, 1), 3.0, 5.0)
    large = resting_calls_per_member_per_second(Simulation(120, 1), 3.0, 5.0)
    # a beat to HEARTBEAT_FANOUT peers (8), anti-entropy with anti_entropy_fanout (3) at most
    # once a second (less while its rounds find nothing new)
    assert small <= 11 and large <= 11 and large == pytest.approx(small, rel=0.15), (small, large)
    # the rule before: a beat to every peer of the region
    to_all = resting_calls_per_member_per_second(Simulation(40, 1, Settings(heartbeat_fanout=10 ** 6)), 3.0, 1.0)
    assert to_all > 3 * small, (to_all, small)


def test_a_crashed_member_is_seen_dead_by_its_whole_region_and_no_live_member_ever_is():
    settings = Settings()
    sim = Simulation(60, 1, settings)
    others = [n for n in sim.members if n != "m0007"]
    for second in range(1, 11):
        sim.run_until(float(second))
        assert not any(sim.members[n].health.unhealthy() for n in others[::7]), f"a false alarm at {second} s"
    sim.crash("m0007")
    crashed_at = sim.time.now
    seen = {}
    while len(seen) < len(others) and sim.time.now < crashed_at + 30:
        sim.run_until(sim.time.now + 0.1)
        for n in others:
            if n not in seen and sim.seen_unhealthy("m0007", n):
                seen[n] = sim.time.now - crashed_at
            assert sim.members[n].health.unhealthy() <= {"m0007"}, "only the crashed member is dead"
    assert len(seen) == len(others)
    # the failure timeout runs from its last beat (up to a beat before the crash), which reached
    # every member within a gossip round or two
    assert settings.failure_timeout - settings.heartbeat_interval <= min(seen.values())
    assert max(seen.values()) <= settings.failure_timeout + 2, sorted(seen.values())


def test_writes_lost_on_the_way_are_brought_by_anti_entropy():
    sim = Simulation(30, 3, Settings(loss=0.2), seed=7)
    sim.run_until(2.0)
    records = [r for i in range(20) for r in sim.write(f"m{i:04d}", [service("r0", f"s{i}")])]
    assert not sim.held_by_all(records), "with a fifth of the calls lost, some member misses a push"
    assert sim.run_until(30.0, lambda: sim.held_by_all(records))


def test_both_sides_of_a_partition_take_writes_and_converge_after_it_heals():
    sim = Simulation(40, 2)
    names = list(sim.members)
    side, other = names[:20], names[20:]
    sim.run_until(2.0)
    sim.partition(side, other)
    records = [r for i in range(100) for r in sim.write((side if i % 2 else other)[i % 20], [service("r0", f"s{i}")])]
    sim.run_until(5.0)
    assert not sim.held_by_all(records)
    sim.heal()
    assert sim.run_until(15.0, lambda: sim.held_by_all(records))


def test_a_run_is_the_same_every_time():
    def run():
        sim = Simulation(30, 2, Settings(loss=0.1), seed=3)
        sim.run_until(2.0)
        [record] = sim.write("m0003", [service("r0", "web")])
        sim.run_until(10.0, lambda: sim.held_by_all([record]))
        return sim.arrivals(record), sim.traffic()
    assert run() == run()
