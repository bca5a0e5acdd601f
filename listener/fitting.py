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

from ansible_collections.multicluster.kube.plugins.module_utils.fit import replicas_of_spec_that_fit
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, ReasonCode


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
        entry = status.entry(spec.region, spec.service)
        fitting = replicas_of_spec_that_fit(spec, cluster, labels.get(cluster), status.room,
                                            entry.scheduled if entry else 0)
        if fitting is not None:
            out[cluster] = fitting
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
