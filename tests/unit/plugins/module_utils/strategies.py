"""Hypothesis strategies for the fleet model."""
from __future__ import annotations

from hypothesis import strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    DIVISIONS, Cluster, ClusterRule, PlacementRules, ServiceSpec)

CLUSTER_NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"]
REGIONS = ["us", "eu"]


@st.composite
def clusters(draw, min_size=0, max_size=8):
    names = draw(st.lists(st.sampled_from(CLUSTER_NAMES), min_size=min_size, max_size=max_size, unique=True))
    return [
        Cluster(
            name=name,
            region=draw(st.sampled_from(REGIONS)),
            weight=draw(st.integers(0, 10)),
            capacity=draw(st.none() | st.integers(0, 60)),
            cordoned=draw(st.booleans()),
        )
        for name in names
    ]


@st.composite
def rules(draw, names):
    excluded = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    chosen = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    cluster_rules = []
    for name in chosen:
        low = draw(st.integers(0, 20))
        high = draw(st.none() | st.integers(low, 60))
        cluster_rules.append(ClusterRule(cluster=name, weight=draw(st.none() | st.integers(0, 10)), min=low, max=high))
    return PlacementRules(excluded=frozenset(excluded), clusters=tuple(cluster_rules),
                          division=draw(st.sampled_from(DIVISIONS)))


@st.composite
def intents(draw, fleet, max_replicas=200):
    region = draw(st.sampled_from(REGIONS))
    names = [c.name for c in fleet if c.region == region]
    return ServiceSpec(region=region, service="web", replicas=draw(st.integers(0, max_replicas)),
                       rules=draw(rules(names)), rebalance=False)


@st.composite
def scenarios(draw, max_replicas=200):
    """A fleet, an intent for one of its regions, a set of unhealthy clusters, and the replicas
    of the service that fit in each cluster whose room is measured (the others: no cap)."""
    fleet = draw(clusters())
    intent = draw(intents(fleet, max_replicas))
    unhealthy = frozenset(draw(st.lists(st.sampled_from(CLUSTER_NAMES), unique=True)))
    fits = {c.name: draw(st.integers(0, 80)) for c in fleet if draw(st.booleans())}
    return fleet, intent, unhealthy, fits
