"""Faults: a partition between the regions' listeners, and a whole cluster lost and back."""
from __future__ import annotations

import threading
import time

from ansible_collections.multicluster.kube.plugins.module_utils.history import histories
from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from lab.listeners import ListenerFleet

from fleet_state import converged, durable_state, intent_of, managed_deployments
from support import wait_for

US, EU = ("us-east", "us-west"), ("eu-central", "eu-west")


def test_both_sides_of_a_partition_accept_writes_and_converge_within_5s_of_healing(lab, tmp_path):
    with ListenerFleet(lab, tmp_path / "partitioned", manage_kubernetes=False, proxies=True) as fleet:
        fleet.wait_features()  # else a listener that has not heard the others yet writes no history
        fleet.partition(US, EU)
        acks = []
        with fleet.client("us-east") as c:
            acks.append(c.set_region_replicas(ServiceSpec("us", "west-side", 3)))
            acks.append(c.set_region_replicas(ServiceSpec("eu", "contested", 2)))
        with fleet.client("eu-west") as c:
            acks.append(c.set_region_replicas(ServiceSpec("eu", "east-side", 4)))
            acks.append(c.set_region_replicas(ServiceSpec("eu", "contested", 6)))
        assert all(a.changed for a in acks)
        time.sleep(2)
        assert "service/eu/east-side" not in durable_state(fleet, "us-west"), "the partition leaked"
        assert "service/us/west-side" not in durable_state(fleet, "eu-central"), "the partition leaked"
        fleet.partition(US, EU, cut=False)
        healed = time.monotonic()
        state = wait_for(lambda: converged(fleet), 5, interval=0.1, what="convergence after healing")
        took = time.monotonic() - healed
        assert {"service/us/west-side", "service/eu/east-side", "service/eu/contested"} <= set(state)
        winner = max(acks[1:4:2], key=lambda a: (a.stamp.physical_ms, a.stamp.logical, a.stamp.origin))
        for name in US + EU:
            assert intent_of(fleet, name, "eu", "contested").spec.replicas == winner.intent.replicas
        print(f"converged {took:.2f}s after healing")
        # Both concurrent writes are in the service's history on every listener, the loser superseded.
        for name in US + EU:
            with fleet.client(name) as c:
                shown = histories(c.records(with_history=True)[0])["eu/contested"]
            assert sorted((e["at"], e["after"]["replicas"], e["superseded"]) for e in shown) == sorted(
                [("us-east", 2, winner.intent.replicas != 2), ("eu-west", 6, winner.intent.replicas != 6)]), shown
            assert all(e["before"] is None and e["by"] == "client" for e in shown)


def region_ready(kube, namespace, service, clusters):
    total = 0
    for cluster in clusters:
        try:
            total += managed_deployments(kube, cluster, namespace).get(service, (0, 0))[1]
        except Exception:  # that cluster's apiserver is down: it counts as nothing ready
            pass
    return total


def test_a_lost_cluster_fails_over_within_30s_and_fails_back_without_dropping_ready(
        lab, listeners, kube, namespace):
    with listeners.client("eu-central") as c:
        first = c.set_region_replicas(ServiceSpec("us", "resilient", 4, namespace=namespace), wait="ready",
                                      wait_timeout=60)
    assert {p.cluster: p.replicas for p in first.intent.placement} == {"us-east": 2, "us-west": 2}

    killed = time.monotonic()
    listeners.kill("us-west")
    lab.stop_cluster("us-west", crash=True)
    try:
        wait_for(lambda: managed_deployments(kube, "us-east", namespace).get("resilient", (0, 0))[1] == 4, 30,
                 interval=0.2, what="us-west's replicas to be ready on us-east")
        failover = time.monotonic() - killed
        assert intent_of(listeners, "us-east", "us", "resilient").placement.clusters == {"us-east": 4}
    finally:
        lab.start_cluster("us-west")
        listeners.start("us-west")
        listeners.wait_serving("us-west")

    lowest, stop = [4], threading.Event()

    def watch_ready():
        while not stop.is_set():
            lowest[0] = min(lowest[0], region_ready(kube, namespace, "resilient", US))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch_ready)
    watcher.start()
    back = time.monotonic()
    try:
        wait_for(lambda: intent_of(listeners, "us-east", "us", "resilient").placement.clusters == {"us-east": 2, "us-west": 2},
                 60, interval=0.2, what="the replicas to move back")
        wait_for(lambda: managed_deployments(kube, "us-west", namespace).get("resilient", (0, 0))[1] == 2, 30,
                 what="2 ready on us-west")
        wait_for(lambda: managed_deployments(kube, "us-east", namespace).get("resilient", (0, 0))[1] == 2, 30,
                 what="us-east back to 2")
    finally:
        stop.set()
        watcher.join()
    assert lowest[0] >= 4, f"ready replicas in region us fell to {lowest[0]} during the fail-back"
    print(f"failover {failover:.1f}s, fail-back {time.monotonic() - back:.1f}s")


def test_a_cluster_whose_apiserver_is_away_stops_heartbeating_while_its_listener_runs(lab, listeners):
    """Between reconcile passes a listener beats only while its apiserver answers /readyz: with
    us-west's apiserver stopped and its listener still running, the region sees us-west
    unhealthy within the failure timeout (5 s), and healthy again once the apiserver is back."""
    def healthy_at_us_east():
        with listeners.client("us-east") as c:
            _records, health, _by = c.records()
        return {name for name, seen in health.items() if seen.healthy}

    assert "us-west" in healthy_at_us_east()
    lab.stop_cluster("us-west")
    try:
        wait_for(lambda: "us-west" not in healthy_at_us_east(), 20, interval=0.5, what="us-west reported unhealthy")
        assert listeners.alive("us-west")
        assert healthy_at_us_east() == {"us-east", "eu-central", "eu-west"}
    finally:
        lab.start_cluster("us-west")
    wait_for(lambda: "us-west" in healthy_at_us_east(), 30, interval=0.5, what="us-west healthy again")
