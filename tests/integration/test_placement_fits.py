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

from lab import filler, processes
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
            listeners.wait_features(20)
            yield listeners, apis
            for api in apis.values():
                api.close()
    assert not [pid for pid, binary in started if processes.is_ours(pid, binary)], "lab processes left running"


def room_of(listeners, cluster):
    with listeners.client(cluster) as c:
        [status] = [r.value for r in c.records([f"status/{cluster}"])[0]] or [None]
    return status.room if status is not None else None


def cpu_service(name, replicas, division="weighted"):
    labels = {"app": name}
    template = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": name, "image": f"registry.example.com/{name}:1", "resources": {"requests": {"cpu": "1"}}}]}}}}
    return ServiceSpec("us", name, replicas, rules=PlacementRules(division=division),
                       workload=Workload(template=template, expose=False))


def pods_of(apis, name):
    """{cluster: [phase of each pod of the service not being deleted]}, as the apiservers list them."""
    return {c: sorted(p.status.phase for p in client.CoreV1Api(api).list_namespaced_pod(
        "default", label_selector=f"app={name}").items if p.metadata.deletion_timestamp is None)
        for c, api in apis.items()}


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
    # a change of the room alone is written within room_interval (10 s) of the last status
    wait_for(lambda: all([n.cpu_milli for n in room_of(listeners, c)] == cpus for c, cpus in free.items()), 25,
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


def placement_of(listeners, name):
    with listeners.client("us-east") as c:
        records = c.records([f"service/us/{name}"])[0]
    return messages_placement(records)


def messages_placement(records):
    return records[0].value.placement if records else None


def running(apis, name):
    return {c: phases.count("Running") for c, phases in pods_of(apis, name).items()}


def watch_ready(apis, name, until, timeout, what):
    """Poll the clusters' pods until `until(running)`; the least total Running seen meanwhile."""
    least = [None]

    def check():
        now = running(apis, name)
        total = sum(now.values())
        least[0] = total if least[0] is None else min(least[0], total)
        return until(now)
    wait_for(check, timeout, interval=0.2, what=what)
    return least[0]


def test_replicas_that_cannot_run_are_rescued_where_they_fit_and_come_back_after_the_filler_goes(fleet):
    listeners, apis = fleet
    place(listeners, cpu_service("rescue", 4))  # {us-east: 2, us-west: 2}
    # someone else's more important workload takes the whole node: the kube-scheduler preempts our
    # pods there, and their replacements find no room
    filler.fill(apis["us-west"], cpu="16")
    wait_for(lambda: pods_of(apis, filler.NAME)["us-west"] == ["Running"], 30, what="the filler to run")
    wait_for(lambda: pods_of(apis, "rescue")["us-west"] == ["Pending", "Pending"], 30,
             what="the service's us-west pods to be Pending")
    # unschedulable_after (30 s, the default), then the coordinator moves them where they fit
    wait_for(lambda: running(apis, "rescue") == {"us-east": 4, "us-west": 0}, 30 + 30,
             what="the replicas us-west cannot run to run in us-east")
    placement = placement_of(listeners, "rescue")
    assert placement.clusters == {"us-east": 4} and placement.has_reason("us-west", ReasonCode.RESCUED)
    assert pods_of(apis, "rescue")["us-west"] == [], "no pod of ours is left Pending"

    filler.unfill(apis["us-west"])  # the room comes back
    least = watch_ready(apis, "rescue", lambda now: now == {"us-east": 2, "us-west": 2}, 60,
                        "the replicas to come back to us-west after the hold-down")
    assert least >= 4, f"ready replicas fell to {least} while they came back"
    assert not placement_of(listeners, "rescue").has_reason("us-west", ReasonCode.RESCUED)
    remove(listeners, apis, "rescue")


def test_a_same_named_deployment_we_do_not_own_sends_the_share_elsewhere_until_it_is_removed(fleet):
    listeners, apis = fleet
    apps = client.AppsV1Api(apis["us-west"])
    theirs = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blocked"},
              "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "theirs"}},
                       "template": {"metadata": {"labels": {"app": "theirs"}},
                                    "spec": {"containers": [{"name": "theirs", "image": "theirs"}]}}}}
    apps.create_namespaced_deployment("default", theirs)
    with listeners.client("us-east") as c:
        c.set_region_replicas(cpu_service("blocked", 4))
    wait_for(lambda: running(apis, "blocked") == {"us-east": 4, "us-west": 0}, 30,
             what="us-west's share to run in us-east")
    placement = placement_of(listeners, "blocked")
    assert placement.clusters == {"us-east": 4} and placement.has_reason("us-west", ReasonCode.RESCUED)
    assert apps.read_namespaced_deployment("blocked", "default").spec.template.spec.containers[0].image == "theirs"
    apps.delete_namespaced_deployment("blocked", "default")
    least = watch_ready(apis, "blocked", lambda now: now == {"us-east": 2, "us-west": 2}, 60,
                        "the share to return to us-west once the object in the way is gone")
    assert least >= 4, f"ready replicas fell to {least} while they came back"
    remove(listeners, apis, "blocked")
