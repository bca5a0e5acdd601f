"""A fake of what the updater asks of a cluster's API (kubernetes_updater.KubernetesApi), for
unit tests of our own logic. Kubernetes itself is the lab's to show (tests/integration)."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError


class FakeKubernetesApi:
    def __init__(self):
        self.deployments = {}  # (namespace, name) -> JSON as the apiserver returns it
        self.namespaces = {"default"}
        self.refuse = {}  # (namespace, name) -> ApiError an apply of it raises
        self.calls = []

    def add(self, namespace, name, labels, replicas=1, ready=0, image="x", port=8080):
        self.deployments[(namespace, name)] = {
            "metadata": {"namespace": namespace, "name": name, "labels": labels, "annotations": {}},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": name, "image": image, "ports": [{"containerPort": port}]}]}}},
            "status": {"readyReplicas": ready}}

    def list_deployments(self, selector, namespace=None):
        self.calls.append(("list", namespace))
        wanted = dict(pair.split("=") for pair in selector.split(","))
        items = [d for (ns, _n), d in sorted(self.deployments.items()) if namespace in (None, ns)
                 and all(d["metadata"]["labels"].get(k) == v for k, v in wanted.items())]
        return items, "1"

    def deployment_labels(self, namespace, name):
        found = self.deployments.get((namespace, name))
        return None if found is None else found["metadata"]["labels"]

    def apply_deployment(self, manifest):
        meta = manifest["metadata"]
        key = (meta["namespace"], meta["name"])
        self.calls.append(("apply", key))
        if key in self.refuse:
            raise self.refuse[key]
        ready = self.deployments.get(key, {}).get("status", {"readyReplicas": 0})
        self.deployments[key] = {**manifest, "status": ready}

    def delete_deployment(self, namespace, name):
        self.calls.append(("delete", (namespace, name)))
        self.deployments.pop((namespace, name), None)

    def ensure_namespace(self, name):
        if name == "terminating":
            raise ApiError(403, "namespace terminating is being deleted")
        self.namespaces.add(name)
