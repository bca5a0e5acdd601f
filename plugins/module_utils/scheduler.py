# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement scheduler: a pure function from a service's spec and its region's clusters
to a Placement ({cluster: replicas}, what is unplaced, and why, as coded Reasons).

Rules, in order:
- eligible clusters are those of the region that are healthy, not cordoned, not excluded, and
  whose listener can run the spec;
- each eligible cluster's share is proportional to its weight (division "weighted") or to
  the replicas that fit in its room (division "dynamic", when every eligible cluster's room
  is measured), but never below its minimum nor above its maximum, remaining capacity or
  what fits (minimums are floors, the rest hard caps); weight 0 gets nothing beyond its
  minimum;
- when the minimums alone exceed the replicas, they are served by weight (higher
  first), then name; when the caps leave too little room, the rest is unplaced;
- integer shares by largest remainder, ties broken by cluster name;
- with a previous placement (and rebalance off), scaling up only adds, scaling down
  only removes, and replicas of clusters that became ineligible are the only ones
  that move. Rebalance on ignores the previous placement.
The cost is O(k^2) in the worst case for k clusters and independent of the replica
count: no loop per replica. Integer arithmetic throughout, so every machine agrees.
"""
from __future__ import annotations

from operator import attrgetter
from typing import Mapping, Optional

from ansible_collections.multicluster.kube.plugins.module_utils.model import DYNAMIC, Placement, Reason, ReasonCode


_by_name = attrgetter("name")


def reason(cluster: str, code: str, text: str) -> Reason:
    """A reason about `cluster` ("" for the region), its text prefixed with the cluster's name."""
    return Reason(cluster, code, f"{cluster}: {text}" if cluster else text)


def schedule(spec, clusters, previous: Optional[Mapping[str, int]] = None,
             unhealthy=frozenset(), used: Optional[Mapping[str, int]] = None, unable=frozenset(),
             fits: Optional[Mapping[str, int]] = None) -> Placement:
    """Place `spec.replicas` over the eligible clusters of `spec.region`.

    clusters: model.Cluster values (any order, any region); unhealthy: names of clusters
    whose heartbeats stopped; used: replicas of *other* services already on each cluster,
    taken from its capacity; previous: the placement ({cluster: replicas}) this one replaces;
    unable: clusters whose listener cannot do what the spec asks yet (an older version);
    fits: replicas of this service that fit in each cluster's room, those it runs there
    included (a cluster missing: its room is not measured, or the service requests nothing).
    """
    total = spec.replicas
    rules = {r.cluster: r for r in spec.rules.clusters}
    used, fits = used or {}, fits or {}
    reasons = []
    names, weights, lower, upper = [], [], [], []
    fit_capped = {}  # cluster -> the replicas that fit, where that is below its other caps
    excluded = spec.rules.excluded
    for cluster in sorted(clusters, key=_by_name):
        if cluster.region != spec.region:
            continue
        name = cluster.name
        if name in excluded:
            reasons.append(reason(name, ReasonCode.EXCLUDED, "excluded by the service's rules"))
            continue
        if cluster.cordoned:
            reasons.append(reason(name, ReasonCode.CORDONED, "cordoned"))
            continue
        if name in unhealthy:
            reasons.append(reason(name, ReasonCode.UNHEALTHY, "unhealthy (no heartbeat)"))
            continue
        if name in unable:
            reasons.append(reason(name, ReasonCode.UPGRADE_NEEDED, "its listener cannot run this workload yet: "
                                  "upgrade it (docs/upgrading.md)"))
            continue
        weight, low, cap = cluster.weight, 0, total
        rule = rules.get(name)
        if rule is not None:
            weight = weight if rule.weight is None else rule.weight
            low = rule.min
            cap = cap if rule.max is None else min(cap, rule.max)
        if cluster.capacity is not None:
            cap = min(cap, max(0, cluster.capacity - used.get(name, 0)))
        if fits.get(name) is not None and fits[name] < cap:
            cap = fit_capped[name] = fits[name]
        if low > cap:
            reasons.append(reason(name, ReasonCode.MINIMUM_LOWERED,
                                  f"minimum {low} lowered to the {cap} replicas its maximum, capacity or room allows"))
            low = cap
        names.append(name)
        weights.append(weight)
        lower.append(low)
        upper.append(cap if weight > 0 else low)

    if spec.rules.division == DYNAMIC and names and all(fits.get(n) is not None for n in names):
        weights = [fits[n] if w > 0 else 0 for n, w in zip(names, weights)]
        upper = [cap if w > 0 else low for cap, w, low in zip(upper, weights, lower)]

    if not names:
        if total:
            reasons.append(reason("", ReasonCode.NO_ELIGIBLE_CLUSTER, f"no eligible cluster in region {spec.region}"))
        return Placement({}, total, tuple(reasons))

    if previous and not spec.rebalance:
        lower, upper = _sticky_bounds(total, names, lower, upper, previous)

    if sum(lower) >= total:
        counts = _serve_minimums(total, names, weights, lower)
        if sum(lower) > total:
            reasons.append(reason("", ReasonCode.MINIMUMS_EXCEED,
                                  f"minimums exceed {total} replicas: served by weight, then name"))
        return _placement(names, counts, 0, reasons, fit_capped)

    room = sum(upper)
    if room <= total:
        if room < total:
            reasons.append(reason("", ReasonCode.NO_ROOM, f"{total - room} replicas unplaced: the eligible clusters "
                                  "are at their maximum, capacity, room or minimum (weight 0)"))
        return _placement(names, upper, total - room, reasons, fit_capped)

    return _placement(names, apportion(total, weights, lower, upper, names), 0, reasons, fit_capped)


def _placement(names, counts, unplaced, reasons, fit_capped) -> Placement:
    """The Placement, saying which clusters' shares their room capped."""
    full = [reason(n, ReasonCode.FIT_CAPPED, f"room for {c} replicas: its share is capped there")
            for n, c in zip(names, counts) if n in fit_capped and c == fit_capped[n]]
    return Placement(_positive(names, counts), unplaced, tuple(reasons + full))


def _sticky_bounds(total, names, lower, upper, previous):
    """Bounds that keep the previous placement: scaling up may only add to it, scaling
    down may only take from it. Replicas on clusters no longer eligible are not kept."""
    kept = [min(previous.get(n, 0), max(lo, hi)) for n, lo, hi in zip(names, lower, upper)]
    if sum(kept) <= total:
        sticky_lower = [max(lo, k) for lo, k in zip(lower, kept)]
        sticky_upper = [max(hi, lo) for hi, lo in zip(upper, sticky_lower)]
    else:
        sticky_lower = list(lower)
        sticky_upper = [min(hi, max(k, lo)) for hi, k, lo in zip(upper, kept, lower)]
    if sum(sticky_lower) > total:  # e.g. minimums were raised: start afresh
        return lower, upper
    return sticky_lower, sticky_upper


def _serve_minimums(total, names, weights, lower):
    counts = [0] * len(names)
    left = total
    for i in sorted(range(len(names)), key=lambda i: (-weights[i], names[i])):
        counts[i] = min(lower[i], left)
        left -= counts[i]
    return counts


def apportion(total, weights, lower, upper, names):
    """Integers within [lower, upper], summing to total, as proportional to weights as the
    bounds allow. Requires sum(lower) <= total <= sum(upper).

    Water-filling: find the level L at which sum(clamp(L * w, lower, upper)) == total by
    fixing, each round, the clusters whose bound certainly binds at the final level
    (the side whose violations weigh more), then round by largest remainder.
    """
    counts = list(lower)
    free = [i for i in range(len(weights)) if weights[i] and lower[i] < upper[i]]
    rest = total - sum(lower) + sum(lower[i] for i in free)  # what the free clusters share
    while free:
        weight_sum = sum(weights[i] for i in free)
        # share_i = rest * w_i / weight_sum; compare everything scaled by weight_sum.
        over, under, excess, deficit = [], [], 0, 0
        for i in free:
            scaled = rest * weights[i]
            if scaled > upper[i] * weight_sum:
                over.append(i)
                excess += scaled - upper[i] * weight_sum
            elif scaled < lower[i] * weight_sum:
                under.append(i)
                deficit += lower[i] * weight_sum - scaled
        if not over and not under:
            return _largest_remainder(counts, free, rest, weights, weight_sum, names)
        bound = set(over) if excess >= deficit else set(under)
        for i in bound:
            counts[i] = upper[i] if excess >= deficit else lower[i]
            rest -= counts[i]
        free = [i for i in free if i not in bound]
    return counts


def _largest_remainder(counts, free, rest, weights, weight_sum, names):
    """Floor of each free cluster's share, then one more to the largest remainders (ties: name)."""
    placed = 0
    for i in free:
        counts[i] = rest * weights[i] // weight_sum
        placed += counts[i]
    left = rest - placed
    if left:
        ranked = sorted((-(rest * weights[i] % weight_sum), names[i], i) for i in free)
        for _remainder, _name, i in ranked[:left]:
            counts[i] += 1
    return counts


def _positive(names, counts) -> dict:
    return {name: count for name, count in zip(names, counts) if count > 0}
