"""What fits where, for the scheduler: from the room each cluster of a region last reported in
its status, the replicas of a service that fit there, those it runs there already included.

A cluster whose status reports no room (not measured: a listener without Kubernetes, or one
before room was reported) is left out, so its share is not capped. A service whose pods request
nothing (the seed's default workload among them) fits anywhere: no caps at all.

A cluster the coordinator rescued replicas from (reason `rescued` in the placement: they could
not run there) keeps at most the share it has until the coordinator says it recovered: every
placement, a user's write included, is capped so and carries the reason on.
"""
from __future__ import annotations

import functools

from ansible_collections.multicluster.kube.plugins.module_utils.fit import replicas_that_fit, template_requests
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, ReasonCode, ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.workload import render


def fits(replica, spec) -> dict:
    """{cluster: replicas of `spec`'s service that fit in its room} over the spec's region."""
    if spec.workload.default:
        return {}
    labels = {c.name: c.labels for c in replica.members()}
    out = {}
    for cluster in replica.region_clusters(spec.region):
        status = replica.status_of(cluster)
        if status is None or status.room is None:
            continue
        requests = _requests(spec, cluster, tuple(sorted((labels.get(cluster) or {}).items())))
        if not requests:
            continue
        running = next((s.scheduled for s in status.services if (s.region, s.service) == (spec.region, spec.service)),
                       0)
        out[cluster] = replicas_that_fit(status.room, requests) + running
    return out


def held(fitting: dict, placement, recovered=frozenset()) -> dict:
    """`fitting` with each cluster rescued from (and not recovered) capped at its share now."""
    capped = dict(fitting)
    for reason in placement.reasons if placement is not None else ():
        if reason.code == ReasonCode.RESCUED and reason.cluster not in recovered:
            share = placement.clusters.get(reason.cluster, 0)
            capped[reason.cluster] = min(capped.get(reason.cluster, share), share)
    return capped


def carrying(new, previous, recovered=frozenset()) -> Placement:
    """`new` with the `rescued` reasons of `previous` it does not have, but for recovered clusters."""
    if previous is None:
        return new
    have = {(r.cluster, r.code) for r in new.reasons}
    kept = tuple(r for r in previous.reasons if r.code == ReasonCode.RESCUED and r.cluster not in recovered
                 and (r.cluster, r.code) not in have)
    return Placement(new.clusters, new.unplaced, new.reasons + kept) if kept else new


@functools.lru_cache(maxsize=4096)
def _requests(spec, cluster: str, labels: tuple):
    """One replica's requests as `cluster` renders the service (an override may change them);
    cached, as the coordinator asks for every service at every tick."""
    try:
        return template_requests(render(spec, cluster, 1, dict(labels))[-1])
    except ValidationError:  # an override that does not apply there: the reconciler says so
        return None
