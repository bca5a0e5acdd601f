from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.modules import region_replicas


def test_places_idempotently_with_check_and_diff(run_module, listener):
    args = {"region": "us", "service": "nginx", "replicas": 5}
    planned = run_module(region_replicas, args, check=True, diff=True)
    assert planned["changed"] and planned["placement"] == {"us-east": 3, "us-west": 2}
    assert listener.replica.record("service/us/nginx") is None, "check mode wrote"
    assert planned["diff"]["before"] == {} and planned["diff"]["after"]["placement"] == planned["placement"]

    first = run_module(region_replicas, args)
    assert first["changed"] and first["placement"] == {"us-east": 3, "us-west": 2}
    assert first["stamp"].endswith("@us-east")
    again = run_module(region_replicas, args)
    assert again["changed"] is False and again["placement"] == first["placement"]

    scaled = run_module(region_replicas, {**args, "replicas": 7}, diff=True)
    assert scaled["previous_placement"] == {"us-east": 3, "us-west": 2}
    assert scaled["diff"]["before"]["placement"] == {"us-east": 3, "us-west": 2}
    assert scaled["diff"]["after"]["placement"] == scaled["placement"]
    assert sum(scaled["placement"].values()) == 7


def test_rules_and_absent(run_module, listener):
    args = {"region": "us", "service": "api", "replicas": 4, "excluded": ["us-west"]}
    assert run_module(region_replicas, args)["placement"] == {"us-east": 4}
    args = {"region": "us", "service": "api", "replicas": 4, "clusters": [{"name": "us-west", "min": 3}]}
    assert run_module(region_replicas, args)["placement"]["us-west"] >= 3
    gone = run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"}, check=True)
    assert gone["changed"] and listener.replica.record("service/us/api").value is not None
    gone = run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"})
    assert gone["changed"] and listener.replica.record("service/us/api").deleted
    assert run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"})["changed"] is False


def test_bad_input_names_the_field_and_changes_nothing(run_module, listener):
    before = {r.key: r for r in listener.replica.snapshot()}
    cases = [({"replicas": -1}, "replicas"), ({"service": "Nginx"}, "service"),
             ({"region": "mars"}, "region"), ({"clusters": [{"name": "eu-west", "min": 1}]}, "rules.clusters[eu-west]"),
             ({"clusters": [{"name": "us-east", "min": 3, "max": 1}]}, "rules.clusters[us-east].min")]
    for change, field in cases:
        result = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 2, **change})
        assert result["failed"] and field in result["msg"], result["msg"]
    assert {r.key: r for r in listener.replica.snapshot()} == before


def test_wrong_token_fails_with_a_hint(run_module):
    result = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 1, "token": "nope"})
    assert result["failed"] and "UNAUTHENTICATED" in result["grpc_status"] and "token" in result["msg"]
