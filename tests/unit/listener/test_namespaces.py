"""A record of a service in a namespace this listener's settings refuse (written at a listener
with laxer settings, or forged by a peer) is not run in its cluster; the others are."""
from __future__ import annotations

from ansible_collections.multicluster.kube.listener.namespaces import NamespacePolicy
from ansible_collections.multicluster.kube.listener.reconciler import Reconciler, Scope
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Record, Service, ServiceSpec


def record(name, namespace):
    spec = ServiceSpec("us", name, 2, namespace=namespace)
    return Record(spec.key, Stamp(1, 0, "us-west"), "x", Service(spec, Placement({"us-east": 2})))


def test_a_service_in_a_refused_namespace_is_not_run_here():
    scope = Scope("us-east", "us", namespaces_policy=NamespacePolicy(refused=("kube-system",)))
    reconciler = Reconciler(scope, kube=None, replica=None, write=None, beat=None, metrics=None, interval=5,
                            heartbeat_interval=1)
    reconciler.records_changed([record("shop", "default"), record("miner", "kube-system")])
    assert [(d.namespace, d.service) for d in reconciler._desired_now()] == [("default", "shop")]
