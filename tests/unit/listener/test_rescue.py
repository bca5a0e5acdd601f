"""Rescue (failover.next_placement with what clusters report they cannot run): a cluster's
share is lowered by the replicas it cannot run, which go where they fit; it keeps the lowered
share, whoever writes next, until the coordinator says it recovered (room again for the
hold-down); then it surges back, and the surplus goes once the returning replicas are ready.
Property: over random sequences of room and demand, a rescued cluster's share never grows
before it recovered, and every decision accounts for every replica."""
from __future__ import annotations

import dataclasses

from hypothesis import given, settings, strategies as st

from ansible_collections.multicluster.kube.listener.failover import next_placement
from ansible_collections.multicluster.kube.listener.fitting import carrying, held
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import desired_for
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, Placement, PlacementRules, ReasonCode, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

CLUSTERS = [Cluster(name=n, region="us") for n in ("us-east", "us-west", "us-south")]
UNSCHEDULABLE = "pods the kube-scheduler found no node for"


def service(placement, replicas=None):
    spec = ServiceSpec("us", "web", replicas if replicas is not None else sum(placement.values()))
    return Service(spec, Placement(placement))


def decide(svc, **kwargs):
    return next_placement(svc, CLUSTERS, {}, kwargs.pop("ready", {}), set(), **kwargs)


def test_what_a_cluster_cannot_run_moves_where_it_fits_and_says_why():
    svc = service({"us-east": 2, "us-west": 4})
    two = [Cluster(name="us-east", region="us"), Cluster(name="us-west", region="us")]
    placement, why = next_placement(svc, two, {}, {}, set(), fits={"us-east": 20, "us-west": 2},
                                    stuck={"us-west": (2, UNSCHEDULABLE)})
    assert why == "rescued" and placement.clusters == {"us-east": 4, "us-west": 2}
    [rescued] = [r for r in placement.reasons if r.code == ReasonCode.RESCUED]
    assert rescued.cluster == "us-west" and rescued.text == f"us-west: 2 replicas could not run there ({UNSCHEDULABLE}): moved"


def test_the_lowered_share_is_kept_until_recovered_then_surges_back_then_the_surplus_goes():
    rescued = dataclasses.replace(service({"us-east": 3, "us-west": 3}), placement=decide(
        service({"us-east": 3, "us-west": 3}), stuck={"us-west": (3, "its Deployment cannot be applied")})[0])
    assert rescued.placement.clusters == {"us-east": 3, "us-south": 3}
    assert decide(rescued) == (None, None), "not recovered: it keeps the share it has (none)"
    surge, why = decide(rescued, recovered={"us-west"})
    assert why == "surge" and surge.clusters == {"us-east": 3, "us-south": 3, "us-west": 2}
    assert surge.has_reason("us-west", ReasonCode.RETURNING) and not surge.has_reason("us-west", ReasonCode.RESCUED)
    surging = dataclasses.replace(rescued, placement=surge)
    assert decide(surging, ready={"us-east": 3, "us-south": 3, "us-west": 1}) == (None, None), "not ready yet"
    back, why = decide(surging, ready={"us-east": 3, "us-south": 3, "us-west": 2})
    assert why == "back" and back.clusters == {"us-east": 2, "us-south": 2, "us-west": 2}


def test_a_users_write_keeps_a_rescued_clusters_share_and_the_reason():
    before = Placement({"us-east": 6, "us-west": 1},
                       reasons=decide(service({"us-east": 4, "us-west": 3}),
                                      stuck={"us-west": (2, UNSCHEDULABLE)})[0].reasons)
    spec = ServiceSpec("us", "web", 12, rules=PlacementRules(excluded=frozenset({"us-south"})))
    after = carrying(schedule(spec, CLUSTERS, previous=before.clusters, fits=held({}, before)), before)
    assert after.clusters == {"us-east": 11, "us-west": 1}
    assert after.has_reason("us-west", ReasonCode.RESCUED)


def test_a_cluster_rescued_of_all_its_replicas_still_checks_what_was_in_the_way():
    placement = decide(service({"us-east": 2, "us-west": 2}), stuck={"us-west": (2, "blocked")})[0]
    assert "us-west" not in placement.clusters
    [probe] = desired_for([Service(ServiceSpec("us", "web", 4), placement)], "us", "us-west")
    assert probe.replicas == 0 and probe.objects[-1]["kind"] == "Deployment"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["us-east", "us-west", "us-south"]), st.integers(0, 6), st.booleans(),
                          st.integers(0, 12)), min_size=1, max_size=12))
def test_a_rescued_clusters_share_never_grows_before_it_recovered(steps):
    """Each step: one cluster reports it cannot run some of its share, or recovers; the
    demand changes by a user's write. The coordinator decides after each."""
    svc = service({"us-east": 2, "us-west": 2, "us-south": 2})
    for cluster, cannot, recovers, demand in steps:
        before = svc.placement
        if demand != svc.spec.replicas:  # a user's write: the scheduler with the rescues carried
            spec = dataclasses.replace(svc.spec, replicas=demand)
            svc = Service(spec, carrying(schedule(spec, CLUSTERS, previous=before.clusters, fits=held({}, before)),
                                         before))
            before = svc.placement
        stuck = {cluster: (min(cannot, before.clusters.get(cluster, 0)), UNSCHEDULABLE)}
        recovered = {cluster} if recovers and not cannot else set()
        ready = dict(before.clusters)
        placement, _why = decide(svc, stuck=stuck, recovered=recovered, ready=ready)
        after = placement or before
        assert sum(after.clusters.values()) + after.unplaced >= svc.spec.replicas
        for name in CLUSTERS:
            rescued_before = before.has_reason(name.name, ReasonCode.RESCUED)
            if rescued_before and name.name not in recovered:
                assert after.clusters.get(name.name, 0) <= before.clusters.get(name.name, 0), (before, after)
        svc = Service(svc.spec, after)


def test_what_cannot_run_and_fits_nowhere_else_is_reported_unplaced():
    svc = service({"us-east": 2, "us-west": 2})
    two = [Cluster(name="us-east", region="us"), Cluster(name="us-west", region="us")]
    placement, why = next_placement(svc, two, {}, {}, set(), fits={"us-east": 2, "us-west": 0},
                                    stuck={"us-west": (2, UNSCHEDULABLE)})
    assert why == "rescued" and placement.clusters == {"us-east": 2} and placement.unplaced == 2
    assert {r.code for r in placement.reasons} >= {ReasonCode.NO_ROOM, ReasonCode.RESCUED}
