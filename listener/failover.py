"""Failover without a hub.

Every listener judges every cluster's health alike (listener/health.py), and the coordinator
of a region is its healthy cluster with the lowest name. The coordinator alone
- moves the replicas of clusters that became ineligible (unhealthy, cordoned, excluded,
  removed) onto the survivors, with the scheduler's minimal movement;
- places replicas that could not be placed before, when room appears;
- rescues replicas a cluster reports it cannot run (pods left Unschedulable, its Deployment
  blocked): lowers its share by them and places them where they fit, and gives the share back
  once the cluster could run more for the hold-down time, as a fail-back;
- advances the rollouts of the region's services, wave by wave (listener/rolling.py);
- moves replicas back to a cluster that was failed over, once that cluster has been
  healthy for the hold-down time: first it adds the returning cluster's replicas (surge),
  and only when they are ready does it remove the surplus, so ready replicas never drop
  below what is desired.
During a partition each side may have a coordinator: both may over-provision, neither
under-provisions, and the highest stamp wins once the partition heals.

next_placement is the decision, a pure function of what it is given; Coordinator gathers
that from the replica and health, and writes what changed.
"""
from __future__ import annotations

import dataclasses
import logging
import time

from ansible_collections.multicluster.kube.listener import rolling
from ansible_collections.multicluster.kube.listener.features import WORKLOADS
from ansible_collections.multicluster.kube.listener.fitting import carrying, fits, held
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Reason, ReasonCode
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

log = logging.getLogger("multicluster.listener.failover")


def next_placement(service, clusters, used, ready, down, settling=frozenset(), unable=frozenset(), fits=None,
                   stuck=None, recovered=frozenset()):
    """The coordinator's decision for one service: (new Placement, why) or (None, None).

    clusters: the members (model.Cluster); used: replicas of other services per cluster;
    ready: {cluster: ready replicas of this service}; down: clusters without heartbeats;
    settling: back, but not yet for the hold-down time; unable: clusters whose listener cannot
    run the service's workload yet; fits: the replicas of the service that fit in each
    cluster (listener/fitting.py); stuck: {cluster: (replicas of its share it reports it
    cannot run, why)}; recovered: clusters replicas were rescued from that have had room again
    for the hold-down time."""
    spec, current = service.spec, service.placement
    placed = current.clusters
    fitting = held(fits or {}, current, recovered)
    eligible = {c.name for c in clusters if c.region == spec.region and not c.cordoned
                and c.name not in spec.rules.excluded and c.name not in down and c.name not in unable}
    unavailable = set(down) | set(settling)

    def decide(spec_, unhealthy, previous, caps=None):
        return carrying(schedule(spec_, clusters, previous=previous, unhealthy=unhealthy, used=used, unable=unable,
                                 fits=fitting if caps is None else caps), current, recovered)

    if any(name not in eligible for name in placed):
        return decide(spec, down, placed), "lost"

    stuck = {c: (n, why) for c, (n, why) in (stuck or {}).items() if n > 0 and placed.get(c, 0) > 0}
    if stuck:
        caps = {**fitting, **{c: min(fitting.get(c, placed[c]), placed[c] - n) for c, (n, _why) in stuck.items()}}
        decision = decide(spec, down, placed, caps)
        rescued = tuple(Reason(c, ReasonCode.RESCUED, f"{c}: {n} replicas could not run there ({why}): moved")
                        for c, (n, why) in sorted(stuck.items()))
        kept = tuple(r for r in decision.reasons if not (r.code == ReasonCode.RESCUED and r.cluster in stuck))
        return Placement(decision.clusters, decision.unplaced, kept + rescued), "rescued"

    fresh = decide(dataclasses.replace(spec, rebalance=True), unavailable, None)
    returning = [c for c in fresh.clusters if fresh.clusters[c] > placed.get(c, 0) and (
        (not placed.get(c) and current.has_reason(c, ReasonCode.UNHEALTHY)) or c in recovered)]
    surging = sum(placed.values()) > spec.replicas
    if returning or surging:
        surge = {c: max(placed.get(c, 0), fresh.clusters.get(c, 0)) for c in set(placed) | set(fresh.clusters)}
        if placed != surge:
            back = tuple(Reason(c, ReasonCode.RETURNING, f"{c}: replicas returning after recovery")
                         for c in sorted(returning))
            return carrying(Placement(surge, 0, back), current, set(recovered) | set(returning)), "surge"
        if all(ready.get(c, 0) >= n for c, n in fresh.clusters.items()):
            return fresh, "back"
        return None, None

    if current.unplaced:
        decision = decide(spec, unavailable, placed)
        if decision.unplaced < current.unplaced:
            return decision, "placed"
    return None, None


class Coordinator:
    """Runs on every listener; acts only while its cluster coordinates its region."""

    def __init__(self, cluster: str, region: str, replica, health, features, write, metrics, clock=time.monotonic,
                 wall=wall_clock_ms):
        self.cluster, self.region = cluster, region
        self._replica, self._health, self._features = replica, health, features
        self._write, self._metrics, self._clock, self._wall = write, metrics, clock, wall
        self._room_since = {}  # (service key, cluster rescued from) -> since when it could run more (monotonic)
        self._settled = None  # what the last walk decided from, when it found nothing to do and no clock to wait on

    def tick(self) -> int:
        self._health.refresh()
        if self._health.coordinator(self.region) != self.cluster:
            self._room_since.clear()  # a coordinator again later starts its hold-downs afresh
            self._settled = None
            return 0
        down, settling = self._health.unhealthy(), self._health.settling()
        # Everything a decision is made from but the clock: the records (members, services,
        # statuses), health, and which members can run workloads. While it is as it was when a
        # walk found nothing to do, and no decision waited on the clock, a walk would find the
        # same again: skipped (each service costs tens of microseconds, every tick).
        inputs = (self._replica.generation(), frozenset(down), frozenset(settling),
                  tuple(self._features.lacking(WORKLOADS, self.region)))
        if inputs == self._settled:
            return 0
        clusters = self._replica.members()
        moves, timed = [], False
        for key, service in sorted(self._replica.services(self.region)):
            fitting = fits(self._replica, service.spec)
            stuck, recovered = self._stuck_and_recovered(key, service, fitting)
            placement, why = next_placement(service, clusters, self._replica.used_by_others(key),
                                            self._ready(service), down, settling,
                                            self._features.unable(service.spec, self.region), fitting,
                                            stuck, recovered)
            changed = service
            if placement is not None and placement != service.placement:
                log.info("failover: %s %s -> %s (%s)", key, service.placement.clusters, placement.clusters, why)
                self._metrics.failovers.labels(why).inc()
                changed = dataclasses.replace(changed, placement=placement)
            rollout = rolling.step(self._replica, changed, self._wall())
            timed = timed or (rollout is not None and not rollout.ended)  # may advance with time alone
            if rollout != service.rollout:
                log.info("rollout: %s to %s: %s, released %s %s", key, rollout.target, rollout.state,
                         list(rollout.released), rollout.why)
                changed = dataclasses.replace(changed, rollout=rollout)
            if changed != service:
                moves.append((key, changed))
        if moves:
            self._write(moves, author=f"coordinator@{self.cluster}")
        # hold-downs running (_room_since) end with time alone too
        self._settled = None if moves or timed or self._room_since else inputs
        return len(moves)

    def _entries(self, service) -> dict:
        """{cluster: the service's entry in the cluster's latest status}, for its clusters."""
        current = service.placement
        entries = {}
        for cluster in set(current.clusters) | {r.cluster for r in current.reasons if r.code == ReasonCode.RESCUED}:
            status = self._replica.status_of(cluster)
            entry = status.entry(service.spec.region, service.spec.service) if status else None
            if entry is not None:
                entries[cluster] = entry
        return entries

    def _ready(self, service) -> dict:
        """{cluster: ready replicas of the service} from the clusters' latest statuses."""
        return {cluster: entry.ready for cluster, entry in self._entries(service).items()}

    def _stuck_and_recovered(self, key, service, fitting) -> tuple:
        """({cluster: (replicas it cannot run, why)}, {clusters rescued from that could run more
        for the hold-down time}), from statuses that report on the share the placement gives."""
        current, now = service.placement, self._clock()
        rescued = {r.cluster for r in current.reasons if r.code == ReasonCode.RESCUED}
        stuck, recovered = {}, set()
        for cluster, entry in self._entries(service).items():
            if entry.desired != current.clusters.get(cluster, 0):
                continue  # not yet reporting on its share now
            if entry.cannot_run:
                stuck[cluster] = (entry.cannot_run, f"its Deployment cannot be applied: {entry.conflict}"
                                  if entry.blocked else "pods the kube-scheduler found no node for")
            if cluster in rescued:
                more_fits = fitting.get(cluster) is None or fitting[cluster] > entry.desired
                if entry.cannot_run or not more_fits:
                    self._room_since.pop((key, cluster), None)
                elif now - self._room_since.setdefault((key, cluster), now) >= self._health.hold_down:
                    recovered.add(cluster)
        return stuck, recovered
