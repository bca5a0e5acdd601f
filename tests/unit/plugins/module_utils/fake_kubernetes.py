"""A fake of what the updater asks of a cluster's API (kubernetes_updater.KubernetesApi), for
unit tests of our own logic. Kubernetes itself is the lab's to show (tests/integration)."""
from __future__ import annotations

import copy

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError


def matches(obj, selector):
    wanted = dict(pair.split("=") for pair in selector.split(","))
    return all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in wanted.items())


class FakeKubernetesApi:
    def __init__(self):
        self.objects = {}  # (apiVersion, kind, namespace, name) -> JSON as the apiserver returns it
        self.namespaces = {"default"}
        self.refuse = {}  # (kind, namespace, name) -> ApiError an apply of it raises
        self.calls = []

    def add(self, obj, status=None):
        """A live object, with the defaults an apiserver adds."""
        live = copy.deepcopy(obj)
        live["metadata"].setdefault("namespace", "default")
        live["metadata"].setdefault("generation", 1)
        live["status"] = status or {}
        self.objects[self._key(live)] = live
        return live

    @staticmethod
    def _key(obj):
        return (obj["apiVersion"], obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])

    def list_deployments(self, selector, namespace=None):
        self.calls.append(("list", "Deployment", namespace))
        return self.list_objects("apps/v1", "Deployment", selector, namespace, record=False), "1"

    def list_objects(self, api_version, kind, selector, namespace=None, record=True):
        if record:
            self.calls.append(("list", kind, namespace))
        return [copy.deepcopy(o) for key, o in sorted(self.objects.items())
                if key[:2] == (api_version, kind) and namespace in (None, key[2]) and matches(o, selector)]

    def labels_of(self, obj):
        found = self.objects.get(self._key(obj))
        return None if found is None else dict(found["metadata"].get("labels") or {})

    def apply(self, obj, dry_run=False):
        key = self._key(obj)
        self.calls.append(("apply", obj["kind"], key[2], key[3]))
        if (obj["kind"], key[2], key[3]) in self.refuse:
            raise self.refuse[(obj["kind"], key[2], key[3])]
        before = self.objects.get(key, {})
        live = copy.deepcopy(obj)
        live["metadata"]["generation"] = before.get("metadata", {}).get("generation", 0) + 1
        live["status"] = before.get("status", {})
        self.objects[key] = live
        return live

    def delete(self, obj):
        key = self._key(obj)
        self.calls.append(("delete", obj["kind"], key[2], key[3]))
        self.objects.pop(key, None)

    def ensure_namespace(self, name):
        if name == "terminating":
            raise ApiError(403, "namespace terminating is being deleted")
        self.namespaces.add(name)
