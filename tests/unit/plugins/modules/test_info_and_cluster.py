from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.modules import cluster, global_config_info, region_replicas


def test_global_config_info_shows_the_tree_and_who_changed_it(run_module):
    run_module(region_replicas, {"region": "us", "service": "nginx", "replicas": 3})
    info = run_module(global_config_info, {})
    assert info["changed"] is False and info["answered_by"] == "us-east"
    us = info["regions"]["us"]
    assert us["services"]["nginx"]["placement"] == {"us-east": 2, "us-west": 1}
    assert us["services"]["nginx"]["changed"]["by"] == "client", "the token's identity, not what the module says"
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


def test_update_cluster_changes_only_the_fields_given_to_what_the_listener_holds(listener):
    from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient, FleetError
    from inprocess import TOKEN

    with FleetClient(listener.config.network.listen, token=TOKEN) as client:
        client.update_cluster("us-west", "us", labels={"tier": "gold"}, capacity=9)
        client.update_cluster("us-west", "us", weight=4)  # another task, another field
        held = listener.replica.live("cluster/us-west")
        assert (held.weight, held.capacity, held.labels, held.cordoned) == (4, 9, {"tier": "gold"}, False)
        planned = client.update_cluster("us-west", "us", dry_run=True, cordoned=True)
        assert planned.changed and listener.replica.live("cluster/us-west").cordoned is False
        assert client.update_cluster("us-west", "us", weight=4).changed is False
        new = client.update_cluster("us-north", "us", endpoint="10.0.0.9:7443")
        assert new.changed and listener.replica.live("cluster/us-north").weight == 1
        try:
            client.update_cluster("us-west", "eu", weight=1)
        except FleetError as refused:
            assert refused.code == "FAILED_PRECONDITION" and refused.detail.startswith("region:")
        else:
            raise AssertionError("a cluster moved region without being removed")
        try:
            client.update_cluster("us-west", "us", labels={"bad key": "x"})
        except FleetError as refused:
            assert refused.code == "INVALID_ARGUMENT" and refused.detail.startswith("labels[bad key]")
        else:
            raise AssertionError("a bad label was taken")
    assert listener.replica.live("cluster/us-west").labels == {"tier": "gold"}


def test_global_config_info_shows_each_services_history_who_for_whom_and_before_after(run_module):
    run_module(region_replicas, {"region": "us", "service": "nginx", "replicas": 3})
    run_module(region_replicas, {"region": "us", "service": "nginx", "replicas": 3})  # the same: no change
    run_module(region_replicas, {"region": "us", "service": "nginx", "replicas": 4, "acting_for": "awx:bob"})
    run_module(region_replicas, {"region": "us", "service": "nginx", "state": "absent"})
    assert "history" not in run_module(global_config_info, {})
    shown = run_module(global_config_info, {"history": True})["history"]["us/nginx"]
    assert [(e["what"], e["by"], e["at"], e["superseded"]) for e in shown] == [
        ("delete_service", "client", "us-east", False), ("set_region_replicas", "client", "us-east", False),
        ("set_region_replicas", "client", "us-east", False)]
    assert shown[1]["for"] == "awx:bob" and shown[2]["for"].startswith("ansible:")
    assert (shown[2]["before"], shown[2]["after"]["replicas"]) == (None, 3)
    assert (shown[1]["before"]["replicas"], shown[1]["after"]["replicas"]) == (3, 4)
    assert shown[1]["after"]["placement"] == {"us-east": 2, "us-west": 2}
    assert (shown[0]["before"]["replicas"], shown[0]["after"]) == (4, None)
    assert run_module(global_config_info, {"history": True, "region": "eu"})["history"] == {}


def test_a_listener_keeps_the_last_hundred_changes_of_a_service(listener):
    import inprocess
    from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient
    from ansible_collections.multicluster.kube.plugins.module_utils.history import MAX_CHANGES
    from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
    with FleetClient(listener.config.network.listen, token=inprocess.TOKEN) as c:
        for replicas in range(1, MAX_CHANGES + 6):
            c.set_region_replicas(ServiceSpec("us", "web", replicas))
    changes = listener.replica.history("service/us/web")
    assert len(changes) == MAX_CHANGES
    assert [c.after_state.replicas for c in changes] == list(range(6, MAX_CHANGES + 6)), "the oldest went first"
