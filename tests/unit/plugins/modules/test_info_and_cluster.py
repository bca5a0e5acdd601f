from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.modules import cluster, global_config_info, region_replicas


def test_global_config_info_shows_the_tree_and_who_changed_it(run_module):
    run_module(region_replicas, {"region": "us", "service": "nginx", "replicas": 3})
    info = run_module(global_config_info, {})
    assert info["changed"] is False and info["answered_by"] == "us-east"
    us = info["regions"]["us"]
    assert us["services"]["nginx"]["placement"] == {"us-east": 2, "us-west": 1}
    assert us["services"]["nginx"]["changed"]["by"].startswith("ansible:")
    assert us["services"]["nginx"]["changed"]["where"] == "us-east"
    assert us["clusters"]["us-west"]["services"]["nginx"]["desired"] == 1
    assert info["totals"]["us"]["desired"] == 3
    assert set(run_module(global_config_info, {"region": "eu"})["regions"]) == {"eu"}


def test_cluster_weight_cordon_and_remove(run_module, listener):
    args = {"name": "us-west", "region": "us", "weight": 3}
    assert run_module(cluster, args, check=True)["changed"]
    assert listener.replica.record("cluster/us-west").value.weight == 1
    changed = run_module(cluster, args, diff=True)
    assert changed["changed"] and changed["diff"]["before"]["weight"] == 1 and changed["diff"]["after"]["weight"] == 3
    assert run_module(cluster, args)["changed"] is False
    cordoned = run_module(cluster, {"name": "us-west", "region": "us", "state": "cordoned"})
    assert cordoned["cluster"]["cordoned"] and cordoned["cluster"]["weight"] == 3
    placed = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 4})
    assert placed["placement"] == {"us-east": 4}
    assert run_module(cluster, {"name": "us-west", "state": "absent"})["changed"]
    assert listener.replica.record("cluster/us-west").deleted


def test_cluster_bad_input(run_module, listener):
    result = run_module(cluster, {"name": "us-west", "region": "us", "weight": -2})
    assert result["failed"] and "weight" in result["msg"]
    result = run_module(cluster, {"name": "us-west", "region": "eu"})
    assert result["failed"] and "region" in result["msg"]
    assert listener.replica.record("cluster/us-west").value.weight == 1
