"""The coordinator's decision (failover.next_placement), a pure function: a lost cluster's
replicas move to the survivors and only those; a recovered one gets its replicas back first
(surge) and the surplus goes only once they are ready; unplaced replicas are placed when room
appears. It reads reasons' codes, never their texts."""
from __future__ import annotations

import dataclasses

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, Placement, Reason, ReasonCode, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
from ansible_collections.multicluster.kube.listener.failover import next_placement

CLUSTERS = [Cluster(name="us-east", region="us"), Cluster(name="us-west", region="us"),
            Cluster(name="eu-west", region="eu")]


def placed(replicas=4, down=frozenset()):
    spec = ServiceSpec("us", "web", replicas)
    return Service(spec, schedule(spec, CLUSTERS, unhealthy=down))


def test_nothing_to_do_when_every_cluster_is_healthy():
    assert next_placement(placed(), CLUSTERS, {}, {}, down=set()) == (None, None)


def test_a_lost_clusters_replicas_move_to_the_survivors_and_only_those():
    service = placed()
    assert service.placement.clusters == {"us-east": 2, "us-west": 2}
    placement, why = next_placement(service, CLUSTERS, {}, {}, down={"us-west"})
    assert why == "lost" and placement.clusters == {"us-east": 4}
    assert placement.has_reason("us-west", ReasonCode.UNHEALTHY)


def test_a_recovered_cluster_gets_its_replicas_back_before_the_surplus_goes():
    failed_over = dataclasses.replace(placed(), placement=next_placement(placed(), CLUSTERS, {}, {}, {"us-west"})[0])
    # back, but within the hold-down: nothing yet
    assert next_placement(failed_over, CLUSTERS, {}, {}, down=set(), settling={"us-west"}) == (None, None)
    surge, why = next_placement(failed_over, CLUSTERS, {}, {}, down=set())
    assert why == "surge" and surge.clusters == {"us-east": 4, "us-west": 2}
    assert [r.code for r in surge.reasons] == [ReasonCode.RETURNING]
    surging = dataclasses.replace(failed_over, placement=surge)
    assert next_placement(surging, CLUSTERS, {}, {"us-east": 4, "us-west": 1}, down=set()) == (None, None)
    back, why = next_placement(surging, CLUSTERS, {}, {"us-east": 4, "us-west": 2}, down=set())
    assert why == "back" and back.clusters == {"us-east": 2, "us-west": 2}


def test_return_is_recognised_by_the_code_not_the_text():
    spec = ServiceSpec("us", "web", 4)
    reworded = Service(spec, Placement({"us-east": 4}, 0, (Reason("us-west", ReasonCode.UNHEALTHY, "gone quiet"),)))
    assert next_placement(reworded, CLUSTERS, {}, {}, down=set())[1] == "surge"
    same_text_no_code = Service(spec, Placement({"us-east": 4}, 0, (
        Reason("", ReasonCode.UNSPECIFIED, "us-west: unhealthy (no heartbeat)"),)))
    assert next_placement(same_text_no_code, CLUSTERS, {}, {}, down=set()) == (None, None)


def test_unplaced_replicas_are_placed_when_room_appears():
    full = [dataclasses.replace(c, capacity=1) if c.region == "us" else c for c in CLUSTERS]
    spec = ServiceSpec("us", "web", 4)
    service = Service(spec, schedule(spec, full))
    assert service.placement.unplaced == 2
    assert next_placement(service, full, {}, {}, down=set()) == (None, None)
    placement, why = next_placement(service, CLUSTERS, {}, {}, down=set())
    assert why == "placed" and placement.unplaced == 0 and sum(placement.clusters.values()) == 4


def test_capacity_used_by_other_services_is_respected():
    limited = [dataclasses.replace(c, capacity=3) for c in CLUSTERS]
    spec = ServiceSpec("us", "web", 4)
    service = Service(spec, schedule(spec, limited))
    placement, _why = next_placement(service, limited, {"us-east": 2}, {}, down={"us-west"})
    assert placement.clusters == {"us-east": 1} and placement.unplaced == 3
