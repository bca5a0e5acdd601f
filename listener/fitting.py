"""What fits where, for the scheduler: from the room each cluster of a region last reported in
its status, the replicas of a service that fit there, those it runs there already included.

A cluster whose status reports no room (not measured: a listener without Kubernetes, or one
before room was reported) is left out, so its share is not capped. A service whose pods request
nothing (the seed's default workload among them) fits anywhere: no caps at all.
"""
from __future__ import annotations

import functools

from ansible_collections.multicluster.kube.plugins.module_utils.fit import replicas_that_fit, template_requests
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError
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


@functools.lru_cache(maxsize=4096)
def _requests(spec, cluster: str, labels: tuple):
    """One replica's requests as `cluster` renders the service (an override may change them);
    cached, as the coordinator asks for every service at every tick."""
    try:
        return template_requests(render(spec, cluster, 1, dict(labels))[-1])
    except ValidationError:  # an override that does not apply there: the reconciler says so
        return None
