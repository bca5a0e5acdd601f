"""Room as a listener keeps it from its watches: the free room of schedulable nodes after the
requests of the pods bound to them, nodes alike grouped; a Deployment's pods bound and
unschedulable for longer than unschedulable_after; and a pod's requests as Kubernetes counts
them (the scheduler's fit is only as good as these)."""
from __future__ import annotations

from ansible_collections.multicluster.kube.listener.room import Room
from ansible_collections.multicluster.kube.plugins.module_utils.fit import (
    NodeRoom, Requests, pod_requests, replicas_that_fit)

GI = 2**30


def node(name, cpu="4", memory="8Gi", ready="True", **spec):
    return {"metadata": {"name": name}, "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def pod(uid, node_name="", cpu="1", deployment="web", phase="Running", unschedulable_at=None):
    status = {"phase": phase}
    if unschedulable_at:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "lastTransitionTime": unschedulable_at}]
    return {"metadata": {"uid": uid, "namespace": "default", "labels": {"pod-template-hash": "abc12"},
                         "ownerReferences": [{"kind": "ReplicaSet", "name": f"{deployment}-abc12"}]},
            "spec": {"nodeName": node_name, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
            "status": status}


def room_with(nodes, pods, now=0.0):
    room = Room(kube=None, unschedulable_after=30, clock=lambda: now)
    room._replace("nodes", nodes, room._node)  # what a LIST of each gives it
    room._replace("pods", pods, room._pod)
    return room


def test_free_room_is_what_the_bound_pods_leave_on_schedulable_nodes_alike_grouped():
    nodes = [node("a"), node("b"), node("c"), node("cordoned", unschedulable=True), node("not-ready", ready="False"),
             node("tainted", taints=[{"key": "gpu", "effect": "NoSchedule"}])]
    pods = [pod("1", "a"), pod("2", "a", cpu="500m"), pod("3", "cordoned"), pod("4", "b", phase="Succeeded"),
            pod("5")]
    assert room_with(nodes, pods).report() == (NodeRoom(4000, 8 * GI, 110, 2), NodeRoom(2500, 8 * GI, 108, 1))


def test_events_keep_the_tables_a_deleted_pod_gives_its_room_back():
    room = room_with([node("a")], [pod("1", "a")])
    room._event("ADDED", pod("2", "a"), room._pod)
    assert room.report() == (NodeRoom(2000, 8 * GI, 108),)
    room._event("DELETED", pod("1", "a"), room._pod)
    room._event("MODIFIED", node("a", cpu="8"), room._node)
    assert room.report() == (NodeRoom(7000, 8 * GI, 109),)
    room._event("MODIFIED", node("a", ready="False"), room._node)
    assert room.report() == ()


def test_a_deployments_pods_bound_and_unschedulable_for_longer_than_the_setting():
    pods = [pod("1", "a"), pod("2", "a"), pod("3", unschedulable_at="1970-01-01T00:00:10Z"),
            pod("4", unschedulable_at="1970-01-01T00:00:50Z"), pod("5", "a", deployment="api"),
            pod("6", unschedulable_at="1970-01-01T00:00:10Z", deployment="web-canary")]
    room = room_with([node("a", cpu="16")], pods, now=60.0)
    pods = room.pods_by_deployment()
    assert pods[("default", "web")] == (2, 1), "the pod unschedulable since 50 s is not yet 30 s so"
    assert pods[("default", "api")] == (1, 0)
    assert ("other", "web") not in pods


def test_a_pods_requests_count_sidecars_the_largest_init_container_and_the_overhead():
    spec = {"initContainers": [{"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}},
                               {"name": "proxy", "restartPolicy": "Always",
                                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}},
                           {"name": "log", "resources": {"requests": {"cpu": "0.1"}}}],
            "overhead": {"cpu": "10m"}}
    assert pod_requests(spec) == Requests(2000 + 10, GI), "the init container outweighs what runs after it"
    del spec["initContainers"][0]
    assert pod_requests(spec) == Requests(100 + 500 + 100 + 10, (64 + 256) * 2**20)
    assert not pod_requests({"containers": [{"name": "app"}]})


def test_replicas_fit_node_by_node_not_in_the_sum_of_the_room():
    two_half_empty = (NodeRoom(2000, 8 * GI, 110, 2),)
    assert replicas_that_fit(two_half_empty, Requests(3000, 0)) == 0, "3 CPUs fit on neither node"
    assert replicas_that_fit(two_half_empty, Requests(1000, 3 * GI)) == 4
    assert replicas_that_fit((NodeRoom(64000, 64 * GI, 3),), Requests(100, 0)) == 3, "pods are room too"
