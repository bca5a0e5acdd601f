"""Failover without a hub.

Every listener judges every cluster's health the same way: a cluster is healthy while its
heartbeats (listener/heartbeats.py) keep arriving within the failure timeout. The coordinator of a
region is its healthy cluster with the lowest name, a rule every survivor computes alike.
The coordinator alone
- moves the replicas of clusters that became ineligible (unhealthy, cordoned, excluded,
  removed) onto the survivors, with the scheduler's minimal movement;
- places replicas that could not be placed before, when room appears;
- moves replicas back to a cluster that was failed over, once that cluster has been
  healthy for the hold-down time: first it adds the returning cluster's replicas (surge),
  and only when they are ready does it remove the surplus, so ready replicas never drop
  below what is desired.
During a partition each side may have a coordinator: both may over-provision, neither
under-provisions, and the highest stamp wins once the partition heals.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceIntent
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

log = logging.getLogger("multicluster.listener.failover")
UNHEALTHY_REASON = ": unhealthy (no heartbeat)"


class Health:
    """This listener's view of every cluster's health, from heartbeat arrival times."""

    def __init__(self, replica, heartbeats, failure_timeout: float, hold_down: float):
        self.replica = replica
        self.heartbeats = heartbeats
        self.failure_timeout = failure_timeout
        self.hold_down = hold_down
        self._down_since = {}   # cluster -> when we saw it fail
        self._back_since = {}   # cluster -> when it came back after a failure

    def _fresh(self, name: str, now: float) -> bool:
        heard = self.heartbeats.heard(name)
        if heard is None:  # not heard from since we started: give it one timeout
            return now - self.heartbeats.started < self.failure_timeout
        return now - heard < self.failure_timeout

    def refresh(self) -> None:
        now = time.monotonic()
        for name in self.clusters():
            if not self._fresh(name, now):
                self._down_since.setdefault(name, now)
                self._back_since.pop(name, None)
            elif name in self._down_since:
                del self._down_since[name]
                self._back_since[name] = now

    def clusters(self) -> dict:
        return {c.name: c for c in self.replica.members()}

    def unhealthy(self) -> set:
        now = time.monotonic()
        return {name for name in self.clusters() if not self._fresh(name, now)}

    def settling(self) -> set:
        """Clusters back from a failure for less than the hold-down time: no new replicas yet."""
        now = time.monotonic()
        return {n for n, since in self._back_since.items() if now - since < self.hold_down}

    def report(self) -> list:
        """[(cluster, healthy, seconds since its last heartbeat or -1)] for the API."""
        now = time.monotonic()
        out = []
        for name in sorted(self.clusters()):
            heard = self.heartbeats.heard(name)
            out.append((name, self._fresh(name, now), -1.0 if heard is None else now - heard))
        return out

    def coordinator(self, region: str):
        healthy = sorted(n for n, c in self.clusters().items() if c.region == region and n not in self.unhealthy())
        return healthy[0] if healthy else None


def ready_counts(replica, intent: ServiceIntent) -> dict:
    """{cluster: ready replicas of the intent's service} from the clusters' latest statuses."""
    ready = {}
    for cluster in intent.placement:
        status = replica.status_of(cluster)
        for svc in status.services if status else ():
            if (svc.region, svc.service) == (intent.region, intent.service):
                ready[cluster] = svc.ready
    return ready


def next_placement(intent: ServiceIntent, replica, down: set, settling: set = frozenset()):
    """The coordinator's decision for one intent: (new intent, why) or (None, None).
    down: clusters without heartbeats; settling: back, but not yet for the hold-down time."""
    clusters = replica.members()
    used = replica.used_by_others(intent.key)
    placed = intent.placement
    eligible = {c.name for c in clusters if c.region == intent.region and not c.cordoned
                and c.name not in intent.rules.excluded and c.name not in down}
    unavailable = set(down) | set(settling)
    replace = dataclasses.replace

    if any(name not in eligible for name in placed):
        decision = schedule(intent, clusters, previous=placed, unhealthy=down, used=used)
        return replace(intent, placement=decision.placement, unplaced=decision.unplaced,
                       reasons=decision.reasons), "lost"

    fresh = schedule(replace(intent, rebalance=True), clusters, unhealthy=unavailable, used=used)
    returning = [c for c in fresh.placement if not placed.get(c) and f"{c}{UNHEALTHY_REASON}" in intent.reasons]
    surging = sum(placed.values()) > intent.replicas
    if returning or surging:
        surge = {c: max(placed.get(c, 0), fresh.placement.get(c, 0)) for c in set(placed) | set(fresh.placement)}
        if placed != surge:
            return replace(intent, placement=surge, unplaced=0,
                           reasons=tuple(f"{c}: replicas returning after recovery" for c in sorted(returning))), "surge"
        ready = ready_counts(replica, intent)
        if all(ready.get(c, 0) >= n for c, n in fresh.placement.items()):
            return replace(intent, placement=fresh.placement, unplaced=fresh.unplaced, reasons=fresh.reasons), "back"
        return None, None

    if intent.unplaced:
        decision = schedule(intent, clusters, previous=placed, unhealthy=unavailable, used=used)
        if decision.unplaced < intent.unplaced:
            return replace(intent, placement=decision.placement, unplaced=decision.unplaced,
                           reasons=decision.reasons), "placed"
    return None, None


class Coordinator:
    """Runs on every listener; acts only while its cluster coordinates its region."""

    def __init__(self, cluster: str, region: str, replica, health: Health, write, metrics):
        self.cluster, self.region = cluster, region
        self.replica, self.health, self.write, self.metrics = replica, health, write, metrics

    def tick(self) -> int:
        self.health.refresh()
        if self.health.coordinator(self.region) != self.cluster:
            return 0
        down, settling = self.health.unhealthy(), self.health.settling()
        moves = []
        for record in self.replica.snapshot():
            intent = record.value
            if not isinstance(intent, ServiceIntent) or intent.region != self.region:
                continue
            new, why = next_placement(intent, self.replica, down, settling)
            if new is not None and new != intent:
                log.info("failover: %s %s -> %s (%s)", record.key, dict(intent.placement), dict(new.placement), why)
                self.metrics.failovers.labels(why).inc()
                moves.append((record.key, new))
        if moves:
            self.write(moves, author=f"failover@{self.cluster}")
        return len(moves)
