"""Reading the fleet's state from listeners and clusters, for assertions."""
from __future__ import annotations

from kubernetes import client

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import MANAGED_SELECTOR
from ansible_collections.multicluster.kube.plugins.module_utils.model import ClusterStatus


def durable_state(fleet, name):
    """{key: stamp} of every record but the status heartbeats, the services' histories
    included, as listener `name` holds them."""
    with fleet.client(name) as c:
        records, _health, _by = c.records(with_history=True)
    return {r.key: r.stamp for r in records if not isinstance(r.value, ClusterStatus)}


def converged(fleet, names=None):
    """The common state if every listener holds the same one, else None."""
    states = [durable_state(fleet, n) for n in (names or fleet.names)]
    return states[0] if all(s == states[0] for s in states) else None


def intent_of(fleet, name, region, service):
    with fleet.client(name) as c:
        records, _health, _by = c.records()
    for r in records:
        if r.key == f"service/{region}/{service}":
            return r.value
    return None


def managed_deployments(kube, cluster, namespace):
    """{name: (spec replicas, ready replicas)} of our Deployments in a cluster's namespace."""
    apps = client.AppsV1Api(kube(cluster))
    return {d.metadata.name: (d.spec.replicas, d.status.ready_replicas or 0)
            for d in apps.list_namespaced_deployment(namespace, label_selector=MANAGED_SELECTOR).items}
