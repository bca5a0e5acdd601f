"""The scheduler's invariants (one property test each) and its edge cases."""
from __future__ import annotations

import dataclasses
import random

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterRule, PlacementRules, Reason, ReasonCode, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

from strategies import scenarios


def eligible(fleet, intent, unhealthy):
    return {c.name: c for c in fleet
            if c.region == intent.region and not c.cordoned and c.name not in unhealthy
            and c.name not in intent.rules.excluded}


def rule(intent, name):
    return intent.rules.rule_for(name) or ClusterRule(cluster=name)


def cap(intent, cluster, fits):
    limits = [intent.replicas]
    if (fits or {}).get(cluster.name) is not None:
        limits.append(fits[cluster.name])
    if rule(intent, cluster.name).max is not None:
        limits.append(rule(intent, cluster.name).max)
    if cluster.capacity is not None:
        limits.append(cluster.capacity)
    return min(limits)


def weight(intent, cluster):
    override = rule(intent, cluster.name).weight
    return cluster.weight if override is None else override


def floor(intent, cluster, fits):
    return min(rule(intent, cluster.name).min, cap(intent, cluster, fits))


def room(intent, clusters, fits):
    return sum(cap(intent, c, fits) if weight(intent, c) > 0 else floor(intent, c, fits) for c in clusters)


@given(scenarios())
def test_sum(scenario):
    fleet, intent, unhealthy, fits = scenario
    decision = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    assert sum(decision.clusters.values()) + decision.unplaced == intent.replicas
    ok = eligible(fleet, intent, unhealthy)
    if ok and room(intent, ok.values(), fits) >= intent.replicas:
        assert decision.unplaced == 0


@given(scenarios())
def test_caps(scenario):
    fleet, intent, unhealthy, fits = scenario
    decision = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    by_name = {c.name: c for c in fleet}
    for name, count in decision.clusters.items():
        assert count <= cap(intent, by_name[name], fits)
        if weight(intent, by_name[name]) == 0:
            assert count <= floor(intent, by_name[name], fits)


@given(scenarios())
def test_minimums(scenario):
    fleet, intent, unhealthy, fits = scenario
    ok = eligible(fleet, intent, unhealthy)
    decision = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    if sum(floor(intent, c, fits) for c in ok.values()) <= intent.replicas:
        for name, cluster in ok.items():
            assert decision.clusters.get(name, 0) >= floor(intent, cluster, fits)


@given(scenarios())
def test_exclusion(scenario):
    fleet, intent, unhealthy, fits = scenario
    decision = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    assert not set(decision.clusters) & intent.rules.excluded


@given(scenarios())
def test_eligibility(scenario):
    fleet, intent, unhealthy, fits = scenario
    decision = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    assert set(decision.clusters) <= set(eligible(fleet, intent, unhealthy))


@given(scenarios(), st.randoms(use_true_random=False))
def test_determinism_under_permutation(scenario, rnd):
    fleet, intent, unhealthy, fits = scenario
    shuffled_rules = list(intent.rules.clusters)
    rnd.shuffle(shuffled_rules)
    excluded = list(intent.rules.excluded)
    rnd.shuffle(excluded)
    permuted = dataclasses.replace(intent, rules=PlacementRules(excluded=excluded, clusters=tuple(shuffled_rules),
                                                                division=intent.rules.division))
    shuffled_fleet = list(fleet)
    rnd.shuffle(shuffled_fleet)
    first = schedule(intent, fleet, fits=fits, unhealthy=unhealthy)
    second = schedule(permuted, shuffled_fleet, fits=fits, unhealthy=frozenset(sorted(unhealthy, reverse=True)))
    assert first == second
    assert list(first.clusters) == sorted(first.clusters)


def draw_previous(data, fleet, intent, unhealthy, fits):
    """Any placement the rules allow (not only one the scheduler made), so that
    keeping it is a real constraint rather than a side effect of proportionality."""
    previous = {}
    for name, cluster in sorted(eligible(fleet, intent, unhealthy).items()):
        high = cap(intent, cluster, fits) if weight(intent, cluster) > 0 else floor(intent, cluster, fits)
        previous[name] = data.draw(st.integers(floor(intent, cluster, fits), high))
    return previous


@given(scenarios(), st.data())
def test_scale_up_only_adds(scenario, data):
    fleet, intent, unhealthy, fits = scenario
    before = draw_previous(data, fleet, intent, unhealthy, fits)
    bigger = dataclasses.replace(intent, replicas=sum(before.values()) + data.draw(st.integers(0, 200)))
    after = schedule(bigger, fleet, previous=before, fits=fits, unhealthy=unhealthy).clusters
    ok = eligible(fleet, bigger, unhealthy)
    if sum(max(floor(bigger, c, fits), before[n]) for n, c in ok.items()) > bigger.replicas:
        return  # a minimum that the larger count un-clamps takes precedence over keeping replicas
    for name, count in before.items():
        assert after.get(name, 0) >= count


@given(scenarios(), st.data())
def test_scale_down_only_removes(scenario, data):
    fleet, intent, unhealthy, fits = scenario
    before = draw_previous(data, fleet, intent, unhealthy, fits)
    smaller = dataclasses.replace(intent, replicas=data.draw(st.integers(0, sum(before.values()))))
    after = schedule(smaller, fleet, previous=before, fits=fits, unhealthy=unhealthy).clusters
    ok = eligible(fleet, smaller, unhealthy)
    if any(floor(smaller, c, fits) > before[n] for n, c in ok.items()):
        return  # a minimum that the new count un-clamps takes precedence over keeping replicas
    for name, count in after.items():
        assert count <= before.get(name, 0)


@given(scenarios(), st.data())
def test_only_lost_clusters_replicas_move(scenario, data):
    fleet, intent, unhealthy, fits = scenario
    before = draw_previous(data, fleet, intent, unhealthy, fits)
    intent = dataclasses.replace(intent, replicas=sum(before.values()))
    lost = frozenset(data.draw(st.lists(st.sampled_from(sorted(before)), unique=True))) if before else frozenset()
    after = schedule(intent, fleet, previous=before, fits=fits, unhealthy=unhealthy | lost).clusters
    survivors = eligible(fleet, intent, unhealthy | lost)
    if sum(max(floor(intent, c, fits), before[n]) for n, c in survivors.items()) > intent.replicas:
        return  # a minimum that the new count un-clamps takes precedence over keeping replicas
    for name, count in before.items():
        if name in lost:
            assert name not in after
        else:
            assert after.get(name, 0) >= count, "a surviving cluster lost replicas"


@given(st.lists(st.integers(1, 20), min_size=1, max_size=8), st.integers(0, 10_000))
def test_within_one_replica_of_proportional_share(weights, replicas):
    fleet = [Cluster(name=f"c{i}", region="us", weight=w) for i, w in enumerate(weights)]
    decision = schedule(ServiceSpec(region="us", service="web", replicas=replicas), fleet)
    total_weight = sum(weights)
    for cluster in fleet:
        share = replicas * cluster.weight / total_weight
        assert abs(decision.clusters.get(cluster.name, 0) - share) < 1


def us(*clusters):
    return [Cluster(name=n, region="us", **kw) for n, kw in clusters]


def test_minimums_above_total_served_by_weight_then_name():
    fleet = us(("a", {"weight": 1}), ("b", {"weight": 3}), ("c", {"weight": 1}))
    rules = PlacementRules(clusters=(ClusterRule("a", min=3), ClusterRule("b", min=3), ClusterRule("c", min=3)))
    decision = schedule(ServiceSpec("us", "web", 5, rules=rules), fleet)
    assert decision.clusters == {"a": 2, "b": 3}
    assert decision.unplaced == 0
    assert [r.code for r in decision.reasons] == [ReasonCode.MINIMUMS_EXCEED]


def test_every_cluster_excluded():
    rules = PlacementRules(excluded=frozenset({"a", "b"}))
    decision = schedule(ServiceSpec("us", "web", 4, rules=rules), us(("a", {}), ("b", {})))
    assert decision.clusters == {}
    assert decision.unplaced == 4
    assert ReasonCode.NO_ELIGIBLE_CLUSTER in [r.code for r in decision.reasons]


def test_weight_zero_gets_only_its_minimum():
    fleet = us(("a", {"weight": 0}), ("b", {}))
    assert schedule(ServiceSpec("us", "web", 7), fleet).clusters == {"b": 7}
    rules = PlacementRules(clusters=(ClusterRule("a", min=2),))
    assert schedule(ServiceSpec("us", "web", 7, rules=rules), fleet).clusters == {"a": 2, "b": 5}


def test_all_weights_zero_leaves_replicas_unplaced():
    decision = schedule(ServiceSpec("us", "web", 3), us(("a", {"weight": 0})))
    assert decision.clusters == {} and decision.unplaced == 3


def test_capacity_below_minimum():
    fleet = us(("a", {"capacity": 2}), ("b", {}))
    rules = PlacementRules(clusters=(ClusterRule("a", min=5),))
    decision = schedule(ServiceSpec("us", "web", 10, rules=rules), fleet)
    assert decision.clusters == {"a": 2, "b": 8}
    assert any((r.cluster, r.code) == ("a", ReasonCode.MINIMUM_LOWERED) and "minimum 5 lowered" in r.text
               for r in decision.reasons)


def test_capacity_counts_other_services():
    fleet = us(("a", {"capacity": 5}), ("b", {}))
    decision = schedule(ServiceSpec("us", "web", 10), fleet, used={"a": 4})
    assert decision.clusters == {"a": 1, "b": 9}


def test_one_replica_over_four_clusters_goes_to_the_first_name():
    fleet = us(("d", {}), ("b", {}), ("c", {}), ("a", {}))
    assert schedule(ServiceSpec("us", "web", 1), fleet).clusters == {"a": 1}


def test_a_million_replicas():
    fleet = us(("a", {"weight": 1}), ("b", {"weight": 2}), ("c", {"weight": 3}), ("d", {"weight": 4}))
    decision = schedule(ServiceSpec("us", "web", 1_000_000), fleet)
    assert decision.clusters == {"a": 100_000, "b": 200_000, "c": 300_000, "d": 400_000}


def test_region_with_no_clusters():
    decision = schedule(ServiceSpec("ap", "web", 3), us(("a", {})))
    assert decision.clusters == {} and decision.unplaced == 3
    assert decision.reasons == (Reason("", ReasonCode.NO_ELIGIBLE_CLUSTER, "no eligible cluster in region ap"),)


def test_caps_leave_replicas_unplaced_with_a_reason():
    fleet = us(("a", {"capacity": 2}), ("b", {}))
    rules = PlacementRules(clusters=(ClusterRule("b", max=3),))
    decision = schedule(ServiceSpec("us", "web", 10, rules=rules), fleet)
    assert decision.clusters == {"a": 2, "b": 3}
    assert decision.unplaced == 5
    assert any(r.code == ReasonCode.NO_ROOM and "5 replicas unplaced" in r.text for r in decision.reasons)


def test_weight_change_waits_for_rebalance():
    fleet = us(("a", {"weight": 1}), ("b", {"weight": 3}))
    previous = {"a": 2, "b": 2}
    intent = ServiceSpec("us", "web", 4)
    assert schedule(intent, fleet, previous=previous).clusters == previous
    rebalanced = dataclasses.replace(intent, rebalance=True)
    assert schedule(rebalanced, fleet, previous=previous).clusters == {"a": 1, "b": 3}


def test_cordoned_cluster_loses_only_its_replicas():
    fleet = us(("a", {}), ("b", {}), ("c", {}))
    before = schedule(ServiceSpec("us", "web", 9), fleet).clusters
    fleet[1] = dataclasses.replace(fleet[1], cordoned=True)
    after = schedule(ServiceSpec("us", "web", 9), fleet, previous=before).clusters
    assert before == {"a": 3, "b": 3, "c": 3}
    assert after == {"a": 5, "c": 4}


def test_cost_does_not_loop_per_replica():
    # A million replicas over 100 clusters must not take a million steps: if it looped per
    # replica this would run for seconds; random inputs check it still sums exactly.
    rnd = random.Random(7)
    fleet = [Cluster(name=f"c{i:03d}", region="us", weight=rnd.randint(1, 9)) for i in range(100)]
    decision = schedule(ServiceSpec("us", "web", 1_000_000), fleet)
    assert sum(decision.clusters.values()) == 1_000_000


def test_shares_are_capped_by_what_fits_and_the_rest_is_unplaced_saying_why():
    fleet, fits = us(("us-east", {}), ("us-west", {})), {"us-east": 4, "us-west": 16}
    assert schedule(ServiceSpec("us", "web", 14), fleet, fits=fits).clusters == {"us-east": 4, "us-west": 10}
    full = schedule(ServiceSpec("us", "web", 30), fleet, fits=fits)
    assert (full.clusters, full.unplaced) == ({"us-east": 4, "us-west": 16}, 10)
    assert [r.code for r in full.reasons] == [ReasonCode.NO_ROOM, ReasonCode.FIT_CAPPED, ReasonCode.FIT_CAPPED]
    assert full.reasons[0].text == ("10 replicas unplaced: the eligible clusters are at their maximum, capacity, "
                                    "room or minimum (weight 0)")
    assert full.reasons[1].text == "us-east: room for 4 replicas: its share is capped there"


def test_dynamic_division_shares_in_proportion_to_what_fits():
    fleet, fits = us(("us-east", {}), ("us-west", {})), {"us-east": 4, "us-west": 16}
    dynamic = PlacementRules(division="dynamic")
    assert schedule(ServiceSpec("us", "web", 10, rules=dynamic), fleet, fits=fits).clusters == {
        "us-east": 2, "us-west": 8}
    assert schedule(ServiceSpec("us", "web", 10), fleet, fits=fits).clusters == {"us-east": 4, "us-west": 6}, \
        "weighted: equal weights, capped by fit"
    unmeasured = {"us-east": 4}
    assert schedule(ServiceSpec("us", "web", 10, rules=dynamic), fleet, fits=unmeasured).clusters == {
        "us-east": 4, "us-west": 6}, "a cluster whose room is not measured: by weight, as weighted"


def test_a_cluster_without_room_keeps_only_what_fits_and_the_rest_moves():
    fleet = us(("us-east", {}), ("us-west", {}))
    after = schedule(ServiceSpec("us", "web", 8), fleet, previous={"us-east": 4, "us-west": 4},
                     fits={"us-east": 2, "us-west": 20})
    assert after.clusters == {"us-east": 2, "us-west": 6}
