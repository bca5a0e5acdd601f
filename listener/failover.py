"""Failover without a hub.

Every listener judges every cluster's health alike (listener/health.py), and the coordinator
of a region is its healthy cluster with the lowest name. The coordinator alone
- moves the replicas of clusters that became ineligible (unhealthy, cordoned, excluded,
  removed) onto the survivors, with the scheduler's minimal movement;
- places replicas that could not be placed before, when room appears;
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

from ansible_collections.multicluster.kube.listener.fitting import fits
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Reason, ReasonCode
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

log = logging.getLogger("multicluster.listener.failover")


def next_placement(service, clusters, used, ready, down, settling=frozenset(), unable=frozenset(), fits=None):
    """The coordinator's decision for one service: (new Placement, why) or (None, None).

    clusters: the members (model.Cluster); used: replicas of other services per cluster;
    ready: {cluster: ready replicas of this service}; down: clusters without heartbeats;
    settling: back, but not yet for the hold-down time; unable: clusters whose listener cannot
    run the service's workload yet; fits: the replicas of the service that fit in each
    cluster (listener/fitting.py)."""
    spec, current = service.spec, service.placement
    placed = current.clusters
    eligible = {c.name for c in clusters if c.region == spec.region and not c.cordoned
                and c.name not in spec.rules.excluded and c.name not in down and c.name not in unable}
    unavailable = set(down) | set(settling)

    if any(name not in eligible for name in placed):
        return schedule(spec, clusters, previous=placed, unhealthy=down, used=used, unable=unable, fits=fits), "lost"

    fresh = schedule(dataclasses.replace(spec, rebalance=True), clusters, unhealthy=unavailable, used=used,
                     unable=unable, fits=fits)
    returning = [c for c in fresh.clusters if not placed.get(c) and current.has_reason(c, ReasonCode.UNHEALTHY)]
    surging = sum(placed.values()) > spec.replicas
    if returning or surging:
        surge = {c: max(placed.get(c, 0), fresh.clusters.get(c, 0)) for c in set(placed) | set(fresh.clusters)}
        if placed != surge:
            return Placement(surge, 0, tuple(Reason(c, ReasonCode.RETURNING, f"{c}: replicas returning after recovery")
                                             for c in sorted(returning))), "surge"
        if all(ready.get(c, 0) >= n for c, n in fresh.clusters.items()):
            return fresh, "back"
        return None, None

    if current.unplaced:
        decision = schedule(spec, clusters, previous=placed, unhealthy=unavailable, used=used, unable=unable,
                            fits=fits)
        if decision.unplaced < current.unplaced:
            return decision, "placed"
    return None, None


class Coordinator:
    """Runs on every listener; acts only while its cluster coordinates its region."""

    def __init__(self, cluster: str, region: str, replica, health, features, write, metrics):
        self.cluster, self.region = cluster, region
        self._replica, self._health, self._features = replica, health, features
        self._write, self._metrics = write, metrics

    def tick(self) -> int:
        self._health.refresh()
        if self._health.coordinator(self.region) != self.cluster:
            return 0
        down, settling = self._health.unhealthy(), self._health.settling()
        clusters = self._replica.members()
        moves = []
        for key, service in sorted(self._replica.services(self.region)):
            placement, why = next_placement(service, clusters, self._replica.used_by_others(key),
                                            self._ready(service), down, settling,
                                            self._features.unable(service.spec, self.region),
                                            fits(self._replica, service.spec))
            if placement is not None and placement != service.placement:
                log.info("failover: %s %s -> %s (%s)", key, service.placement.clusters, placement.clusters, why)
                self._metrics.failovers.labels(why).inc()
                moves.append((key, dataclasses.replace(service, placement=placement)))
        if moves:
            self._write(moves, author=f"failover@{self.cluster}")
        return len(moves)

    def _ready(self, service) -> dict:
        """{cluster: ready replicas of the service} from the clusters' latest statuses."""
        ready = {}
        for cluster in service.placement.clusters:
            status = self._replica.status_of(cluster)
            for entry in status.services if status else ():
                if (entry.region, entry.service) == (service.spec.region, service.spec.service):
                    ready[cluster] = entry.ready
        return ready
