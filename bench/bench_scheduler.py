"""Scheduler benchmark: decisions per second, and the speed-up over the seed's algorithm.

Run with `make bench` (or: .venv/bin/python bench/bench_scheduler.py). Both schedulers
are timed in the same run on the same machine; the last line is the summary.
"""
from __future__ import annotations

import json
import pathlib
import random
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".cache" / "collections"))
sys.path.insert(0, str(ROOT / "bench"))  # seed_scheduler

from ansible_collections.multicluster.kube.plugins.module_utils.model import (  # noqa: E402
    Cluster, ClusterRule, PlacementRules, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule  # noqa: E402
import seed_scheduler as seed  # noqa: E402


def best_rate(run, repeat=5, min_seconds=0.2):
    """Calls per second of the best of `repeat` timed batches (the least disturbed)."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _call in range(calls):
            run()
        if time.perf_counter() - start >= min_seconds / 4:
            break
        calls *= 2
    best = 0.0
    for _round in range(repeat):
        start = time.perf_counter()
        for _call in range(calls):
            run()
        best = max(best, calls / (time.perf_counter() - start))
    return best


def region(size, rnd):
    return [Cluster(name=f"c{i:03d}", region="us", weight=rnd.randint(1, 5),
                    capacity=rnd.choice([None, None, 5000])) for i in range(size)]


def decisions_per_second(size, rnd):
    fleet = region(size, rnd)
    rules = PlacementRules(excluded={fleet[0].name}, clusters=(ClusterRule(fleet[-1].name, min=2, max=400),))
    intent = ServiceSpec("us", "web", 1000, rules=rules)
    previous = schedule(ServiceSpec("us", "web", 900), fleet).clusters
    return best_rate(lambda: schedule(intent, fleet, previous=previous))


def with_and_without_fit_caps(size, rnd):
    """Decisions/s at `size` clusters, capped by what fits (half the clusters' caps binding,
    division dynamic) beside the same decision without fits, in the same run."""
    fleet = region(size, rnd)
    fits = {c.name: rnd.randint(10, 80) for c in fleet}
    weighted = ServiceSpec("us", "web", 1000)
    dynamic = ServiceSpec("us", "web", 1000, rules=PlacementRules(division="dynamic"))
    previous = schedule(ServiceSpec("us", "web", 900), fleet, fits=fits).clusters
    return (best_rate(lambda: schedule(weighted, fleet, previous=previous)),
            best_rate(lambda: schedule(weighted, fleet, previous=previous, fits=fits)),
            best_rate(lambda: schedule(dynamic, fleet, previous=previous, fits=fits)))


def seed_vs_ours(replicas, size):
    fleet = [Cluster(name=f"c{i:03d}", region="us") for i in range(size)]
    intent = ServiceSpec("us", "web", replicas)

    # The seed mutates its configuration: alternate between scaling the same tree up to
    # `replicas` and back down to 0, so no set-up is timed and every call does the full walk.
    config = seed.GlobalConfigLocal([seed.RegionConfigLocal("us", [seed.ClusterConfigLocal(c.name) for c in fleet])])
    targets = [replicas, 0]

    def run_seed():
        targets.reverse()
        seed.schedule(config, "us", "web", targets[0])

    return best_rate(run_seed, repeat=3), best_rate(lambda: schedule(intent, fleet))


def main():
    rnd = random.Random(42)
    results = {"benchmark": "scheduler"}
    for size in (3, 20, 100):
        rate = decisions_per_second(size, rnd)
        results[f"decisions_per_second_{size}_clusters"] = round(rate)
        print(f"scheduler: {rate:,.0f} decisions/s for a region of {size} clusters")
    plain, capped, dynamic = with_and_without_fit_caps(20, rnd)
    results.update(fit_caps_20_clusters={"without": round(plain), "weighted_capped": round(capped),
                                         "dynamic_capped": round(dynamic)})
    print(f"scheduler: 20 clusters, 1,000 replicas: {plain:,.0f}/s without fits, {capped:,.0f}/s capped by what fits "
          f"(weighted), {dynamic:,.0f}/s dynamic (goal >= 10,000/s)")
    seed_rate, our_rate = seed_vs_ours(10_000, 20)
    results.update(seed_decisions_per_second=round(seed_rate, 1), our_decisions_per_second=round(our_rate),
                   speedup_over_seed=round(our_rate / seed_rate, 1))
    out = ROOT / "bench" / "results" / "scheduler.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"scheduler: seed {seed_rate:,.1f}/s vs ours {our_rate:,.0f}/s at 10,000 replicas over 20 clusters")
    print(f"scheduler: {our_rate / seed_rate:,.0f}x faster than the seed's algorithm "
          "(10,000 replicas over 20 clusters)")


if __name__ == "__main__":
    main()
