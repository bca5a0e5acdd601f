"""The region's coordinator at rest: when nothing it decides from has changed since a tick
found nothing to do, it does not walk the region's services again (each costs tens of
microseconds, every tick: 12 % of a core for 5,000 services before); yet it acts at the next
tick on whatever changes - a member falling silent - and on what changes with time alone: a
rollout's wave past its deadline. Real replica, heartbeats, health and features on a clock of
the test's own."""
from __future__ import annotations

import dataclasses

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, Placement, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import HALTED, Strategy
from ansible_collections.multicluster.kube.listener import rolling
from ansible_collections.multicluster.kube.listener.failover import Coordinator
from ansible_collections.multicluster.kube.listener.features import Features, advertised
from ansible_collections.multicluster.kube.listener.health import Health
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.store import Store

from lab.simulation import SimTime

FAILURE_TIMEOUT = 5.0


class Region:
    """us-east (this listener, the coordinator: the lowest name) and us-west, both beating."""

    def __init__(self):
        self.time = SimTime()  # moved by the test alone
        self.clock = HybridClock("us-east", self.time.wall_ms)
        self.replica = Replica("us-east", Store(":memory:"), self.clock, Metrics(), timesource=self.time)
        version, features = advertised()
        self.heartbeats = Heartbeats("us-east", version, features, timesource=self.time,
                                     failure_timeout=FAILURE_TIMEOUT)
        self.coordinator = Coordinator("us-east", "us", self.replica,
                                       Health(self.replica, self.heartbeats, FAILURE_TIMEOUT, hold_down=10.0),
                                       Features(self.replica, self.heartbeats), self.write, Metrics(),
                                       clock=self.time.monotonic, wall=self.time.wall_ms)
        self.write([(f"cluster/{name}", Cluster(name=name, region="us")) for name in ("us-east", "us-west")], "test")
        self.walks = 0
        services = self.replica.services

        def counted(region):
            self.walks += 1
            return services(region)
        self.replica.services = counted
        self.silent = set()

    def write(self, changes, author):
        self.replica.commit([Record(key, self.clock.now(), author, value) for key, value in changes])

    def later(self, seconds: float) -> None:
        """Time goes on; the members not silent beat (us-west's beat as a peer would pass it on)."""
        self.time.now += seconds
        self.heartbeats.beat()
        if "us-west" not in self.silent:
            self.heartbeats.observe([("us-west", self.time.wall_ms(), *advertised())], sender="us-west")

    def service(self):
        return self.replica.live("service/us/web")


def test_at_rest_no_walk_yet_a_silent_member_is_acted_on_at_the_next_tick():
    region = Region()
    spec = ServiceSpec("us", "web", 4)
    region.write([(spec.key, Service(spec, Placement({"us-east": 2, "us-west": 2})))], "client")
    region.later(1)
    assert region.coordinator.tick() == 0
    walks = region.walks
    for _second in range(3):
        region.later(1)
        assert region.coordinator.tick() == 0
    assert region.walks == walks  # nothing it decides from changed: no walk

    region.silent.add("us-west")
    region.later(FAILURE_TIMEOUT + 1)
    assert region.coordinator.tick() == 1
    assert region.service().placement.clusters == {"us-east": 4}


def test_a_rollout_past_its_deadline_ends_with_no_record_changing():
    region = Region()
    old = ServiceSpec("us", "web", 2, image="web:1")
    region.write([(old.key, Service(old, Placement({"us-east": 1, "us-west": 1})))], "client")
    new = dataclasses.replace(old, image="web:2", rollout=Strategy(max_parallel=1, progress_deadline_s=30))
    before = region.service()
    started = rolling.begun(region.replica, before, new, region.time.wall_ms())
    region.write([(new.key, dataclasses.replace(before, spec=new, rollout=started))], "client")
    assert not region.service().rollout.ended
    region.later(1)
    region.coordinator.tick()
    region.later(1)
    region.coordinator.tick()  # no cluster reports the new revision: the wave waits
    assert not region.service().rollout.ended

    for _second in range(30):  # only the clock moves
        region.later(1)
        region.coordinator.tick()
    assert region.service().rollout.state == HALTED
