"""A listener reads what the previous version stored: data/store-600f4da.sqlite3 was written by
the listener of commit 600f4da (how: data/README.md), before specs
and placements were apart and before reasons had codes."""
from __future__ import annotations

import pathlib
import shutil

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, ReasonCode, Service)
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.store import Store

STORE = pathlib.Path(__file__).parent / "data" / "store-600f4da.sqlite3"


def test_a_store_written_by_the_previous_version_loads_whole(tmp_path):
    path = tmp_path / "us-east.sqlite3"
    shutil.copy(STORE, path)
    replica = Replica("us-east", Store(str(path)), HybridClock("us-east"), Metrics())
    assert replica.load() == 8
    nginx = replica.live("service/us/nginx")
    assert isinstance(nginx, Service)
    spec = nginx.spec
    assert (spec.replicas, spec.image, spec.port, spec.namespace) == (5, "nginx:1.27", 80, "web")
    assert spec.rules.excluded == {"us-north"} and spec.rules.rule_for("us-east").max == 4
    assert nginx.placement.clusters == {"us-east": 5}
    # no codes were stored then: they are read from the texts that version wrote
    assert [(r.cluster, r.code, r.text) for r in nginx.placement.reasons] == [
        ("us-north", ReasonCode.EXCLUDED, "us-north: excluded by the service's rules"),
        ("us-west", ReasonCode.UNHEALTHY, "us-west: unhealthy (no heartbeat)")]
    shop = replica.live("service/eu/shop")
    assert shop.placement.unplaced == 3 and shop.placement.clusters == {}
    assert [(r.cluster, r.code) for r in shop.placement.reasons] == [
        ("eu-west", ReasonCode.CORDONED), ("", ReasonCode.NO_ELIGIBLE_CLUSTER)]
    assert replica.record("service/us/nginx").raw, "a loaded record keeps its stored bytes"
    assert replica.record("service/us/gone").deleted
    assert replica.live("cluster/us-west") == Cluster(name="us-west", region="us", endpoint="127.0.0.1:7444",
                                                      capacity=10)
    assert replica.live("cluster/us-east").labels == {"tier": "gold"} and replica.live("cluster/us-east").weight == 2
    assert isinstance(replica.live("status/us-west"), ClusterStatus)
    assert replica.live("status/us-west").services[0].conflict.startswith("Deployment web/nginx exists")
    assert replica.used_by_others("service/eu/shop") == {"us-east": 5}
