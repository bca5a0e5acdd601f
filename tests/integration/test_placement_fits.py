"""Placement that knows what fits, on a lab of its own: region us with us-east's one node of 4
CPUs and us-west's of 16, the real kube-scheduler binding pods to kwok nodes. Replicas asking
1 CPU each are placed where they fit, whichever the division; what fits nowhere is unplaced,
saying why; and no pod of ours is ever left Pending."""
from __future__ import annotations

import pytest
from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.model import PlacementRules, ReasonCode, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

from lab import processes
from lab.cluster import Lab
from lab.listeners import ListenerFleet
from lab.topology import from_mapping
from support import wait_for

CLUSTERS = ("us-east", "us-west")
SHAPES = {"regions": {"us": list(CLUSTERS)}, "nodes": {"count": 1},
          "cluster_nodes": {"us-east": {"cpu": "4"}, "us-west": {"cpu": "16"}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("fits-lab"), from_mapping(SHAPES))
    with lab:
        started = [(pid, str(lab.bin_dir / component)) for c in lab.clusters.values()
                   for component, pid in c.pids.items()]
        with ListenerFleet(lab, tmp_path_factory.mktemp("fits-listeners")) as listeners:
            apis = {c: config.new_client_from_config(config_file=str(lab.kubeconfig), context=c) for c in CLUSTERS}
            wait_for(lambda: all(room_of(listeners, c) for c in CLUSTERS), 30,
                     what="both clusters to report their room")
            wait_for(lambda: not held_back(listeners), 20, what="every listener to hear every member's version")
            yield listeners, apis
            for api in apis.values():
                api.close()
    assert not [pid for pid, binary in started if processes.is_ours(pid, binary)], "lab processes left running"


def room_of(listeners, cluster):
    with listeners.client(cluster) as c:
        [status] = [r.value for r in c.records([f"status/{cluster}"])[0]] or [None]
    return status.room if status is not None else None


def held_back(listeners):
    with listeners.client(CLUSTERS[0]) as c:
        return c.view().held_back


def cpu_service(name, replicas, division="weighted"):
    labels = {"app": name}
    template = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": name, "image": f"registry.example.com/{name}:1", "resources": {"requests": {"cpu": "1"}}}]}}}}
    return ServiceSpec("us", name, replicas, rules=PlacementRules(division=division),
                       workload=Workload(template=template, expose=False))


def pods_of(apis, name):
    """{cluster: [phase of each pod of the service]}, as the apiservers list them."""
    return {c: sorted(p.status.phase for p in client.CoreV1Api(api).list_namespaced_pod(
        "default", label_selector=f"app={name}").items) for c, api in apis.items()}


def place(listeners, spec):
    with listeners.client("us-west") as c:
        response = c.set_region_replicas(spec, wait="ready", wait_timeout=90)
    assert response.waited, response.wait_detail
    return response.intent


def remove(listeners, apis, name):
    with listeners.client("us-east") as c:
        c.delete_service("us", name, wait="applied", wait_timeout=30)
    wait_for(lambda: not any(pods_of(apis, name).values()), 30, what=f"the pods of {name} to go")
    free = {"us-east": [4000], "us-west": [16000]}  # millicores, of each one node
    wait_for(lambda: all([n.cpu_milli for n in room_of(listeners, c)] == cpus for c, cpus in free.items()), 10,
             what="both clusters to report their room free again")


@pytest.mark.parametrize("division, expected", [("weighted", {"us-east": 4, "us-west": 10}),
                                                ("dynamic", {"us-east": 3, "us-west": 11})])
def test_replicas_are_placed_where_they_fit_and_none_is_left_pending(fleet, division, expected):
    listeners, apis = fleet
    name = f"fit-{division}"
    intent = place(listeners, cpu_service(name, 14, division))
    assert {p.cluster: p.replicas for p in intent.placement} == expected
    assert pods_of(apis, name) == {c: ["Running"] * n for c, n in expected.items()}
    remove(listeners, apis, name)


def test_what_fits_nowhere_is_unplaced_with_the_reason_and_nothing_pends(fleet):
    listeners, apis = fleet
    with listeners.client("us-east") as c:  # check mode: what fits where, before anything is placed
        plan = c.set_region_replicas(cpu_service("fit-all", 30), dry_run=True)
        assert c.records(["service/us/fit-all"])[0] == [], "a dry run placed it"
    assert dict(plan.fits) == {"us-east": 4, "us-west": 16}
    assert {p.cluster: p.replicas for p in plan.intent.placement} == {"us-east": 4, "us-west": 16}
    place(listeners, cpu_service("fit-all", 14))
    intent = place(listeners, cpu_service("fit-all", 30))  # its 14 running pods are added back to the room
    assert {p.cluster: p.replicas for p in intent.placement} == {"us-east": 4, "us-west": 16}
    placement = messages.service_from_message(intent).placement
    assert placement.unplaced == 10
    assert [(r.cluster, r.code) for r in placement.reasons] == [
        ("", ReasonCode.NO_ROOM), ("us-east", ReasonCode.FIT_CAPPED), ("us-west", ReasonCode.FIT_CAPPED)]
    assert placement.reasons[0].text == ("10 replicas unplaced: the eligible clusters are at their maximum, "
                                         "capacity, room or minimum (weight 0)")
    assert pods_of(apis, "fit-all") == {"us-east": ["Running"] * 4, "us-west": ["Running"] * 16}
    for cluster in CLUSTERS:
        [node] = room_of(listeners, cluster)
        assert (node.cpu_milli, node.count) == (0, 1), f"{cluster}'s node is full: {node}"
    remove(listeners, apis, "fit-all")
