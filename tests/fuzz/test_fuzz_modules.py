"""Random module arguments: a clear failure or a legal change, never a traceback, and a
failure changes nothing."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inprocess import TOKEN, run_module

from ansible_collections.multicluster.kube.plugins.modules import cluster, region_replicas

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Not inf: ansible-core's own int check raises OverflowError on it, before any module code runs.
anything = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=70), st.lists(st.text(max_size=10), max_size=3),
                     st.dictionaries(st.text(max_size=8), st.integers(), max_size=3))
names = st.one_of(st.sampled_from(["us", "eu", "us-east", "us-west", "web"]), st.text(max_size=70))


def run(module, listener, args, capsys):
    return run_module(module, {"endpoint": listener.config.network.listen, "token": TOKEN, **args}, capsys)


def durable(listener):
    return {r.key: r for r in listener.replica.snapshot() if not r.key.startswith("status/")}


@pytest.mark.tries("placed", "refused")
@FUZZ
@given(region=st.one_of(st.just("us"), names), service=st.one_of(st.just("web"), names),
       replicas=st.one_of(st.integers(0, 50), anything), port=st.one_of(st.just(8080), anything),
       excluded=st.one_of(st.just([]), anything), clusters=st.one_of(st.just([]), anything),
       division=st.one_of(st.sampled_from(["weighted", "dynamic"]), anything))
def test_region_replicas_with_random_arguments(listener, tried, capsys, region, service, replicas, port, excluded,
                                               clusters, division):
    before = durable(listener)
    result = run(region_replicas, listener, {"region": region, "service": service, "replicas": replicas,
                                             "port": port, "excluded": excluded, "clusters": clusters,
                                             "division": division}, capsys)
    assert "Traceback" not in result.get("msg", "") and "exception" not in result.get("msg", "").lower()
    tried["refused" if result.get("failed") else "placed"] += 1
    if result.get("failed"):
        assert result["msg"]
        assert durable(listener) == before
    else:
        assert sum(result["placement"].values()) + result["unplaced"] == int(replicas)


@FUZZ
@given(name=names, region=names, weight=anything, capacity=anything, labels=anything,
       state=st.sampled_from(["present", "cordoned", "absent", "bogus"]))
def test_cluster_with_random_arguments(listener, tried, capsys, name, region, weight, capacity, labels, state):
    before = durable(listener)
    result = run(cluster, listener, {"name": name, "region": region, "weight": weight, "capacity": capacity,
                                     "labels": labels, "state": state}, capsys)
    tried["cluster"] += 1
    assert "Traceback" not in result.get("msg", "")
    if result.get("failed"):
        assert result["msg"] and durable(listener) == before


@pytest.mark.tries("placed", "refused")
@FUZZ
@given(definition=st.one_of(st.none(), anything, st.text(max_size=200),
                            st.lists(st.dictionaries(st.sampled_from(["apiVersion", "kind", "metadata", "spec"]),
                                                     anything, max_size=4), max_size=3)),
       overrides=st.one_of(st.just([]), anything, st.lists(st.dictionaries(
           st.sampled_from(["clusters", "cluster_labels", "images", "patches", "other"]), anything, max_size=3),
           max_size=2)))
def test_region_replicas_with_random_workloads(listener, tried, capsys, definition, overrides):
    before = durable(listener)
    args = {"region": "us", "service": "web", "replicas": 2, "overrides": overrides}
    if definition is not None:
        args["definition"] = definition
    result = run(region_replicas, listener, args, capsys)
    assert "Traceback" not in result.get("msg", "") and "exception" not in result.get("msg", "").lower(), result
    tried["refused" if result.get("failed") else "placed"] += 1
    if result.get("failed"):
        assert result["msg"] and durable(listener) == before
