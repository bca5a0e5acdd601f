"""Progressive rollout, the listener's part (the state machine is module_utils/rollout.py).

A write of a new release (image, port or workload) to a service with a rollout strategy starts
a rollout in the record it writes, from the region's clusters as they are, and releases the
first wave at once; the region's coordinator advances it from the clusters' statuses at every
tick. Both read the same record and statuses, so whichever listener coordinates next goes on
from where the record says. Replicas are never held back: the placement changes as it always
does, and a cluster a rollout holds runs its share on the revision it holds.
"""
from __future__ import annotations

import dataclasses

from ansible_collections.multicluster.kube.plugins.module_utils import rollout as ro


def begun(replica, previous, spec, now_ms: int):
    """The rollout state the write of `spec` over `previous` (a Service, or None) records."""
    if spec.rollout is None or previous is None:
        return None  # everywhere at once, as without a strategy; a new service runs nowhere yet
    if previous.spec.release.revision == spec.release.revision:
        return previous.rollout  # replicas or rules: not a new revision
    clusters = replica.region_clusters(spec.region)
    started = ro.superseding(previous.rollout, previous.spec.release, spec.release, clusters, now_ms)
    return step(replica, dataclasses.replace(previous, spec=spec, rollout=started), now_ms)


def rolled_back(replica, service, now_ms: int):
    """(spec, rollout) of `service` back on its last good release, every cluster at once; None
    when there is none to go back to."""
    rollout = service.rollout
    release = rollout.release_of(rollout.last_good) if rollout is not None else None
    if release is None:
        return None
    spec = service.spec.running(release)
    started = ro.superseding(rollout, service.spec.release, release, replica.region_clusters(spec.region), now_ms,
                             all_at_once=True)
    return spec, step(replica, dataclasses.replace(service, spec=spec, rollout=started), now_ms)


def step(replica, service, now_ms: int):
    """The service's rollout advanced from the latest statuses of its region's clusters."""
    rollout = service.rollout
    if rollout is None or rollout.ended:
        return rollout
    strategy = service.spec.rollout or ro.Strategy()
    weights = {c.name: c.weight for c in replica.members() if c.region == service.region}
    order = strategy.ordered(weights)
    return ro.advance(rollout, strategy, order, reports(replica, service), now_ms)


def reports(replica, service) -> dict:
    """{cluster: rollout.Report} of the region's clusters whose status says where they are. A
    cluster the placement gives no replicas has nothing to roll out."""
    spec, rollout = service.spec, service.rollout
    out = {}
    for cluster in replica.region_clusters(spec.region):
        placed = service.placement.clusters.get(cluster, 0)
        if placed == 0:
            out[cluster] = ro.Report(rollout.expected(cluster), True)
            continue
        status = replica.status_of(cluster)
        entry = status.entry(spec.region, spec.service) if status else None
        if entry is not None and entry.release:
            out[cluster] = ro.Report(entry.release, entry.desired == placed and entry.rolled_out)
    return out
