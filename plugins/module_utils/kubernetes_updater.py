# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local updater (the seed's updateLocal): make one cluster's Deployments match the
placement of the global configuration.

For each service placed on the cluster with n > 0 replicas: a Deployment named after the
service, applied server-side with our field manager, labelled as managed by us for this
fleet member. A managed Deployment that is no longer placed here is deleted. An object
without our labels (a user's, or another fleet member's sharing the apiserver) is never
modified or deleted: it is reported as a conflict. The listener's reconcile
loop and the cluster_update module both call plan() then apply(), with a KubernetesApi: what
the updater needs of a cluster's API and nothing more (a unit test's fake has the same methods).
"""
from __future__ import annotations

import contextlib
import json
import traceback
from dataclasses import dataclass, field

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    ClusterStatus, Service, ServiceStatus)

try:
    from kubernetes import watch as kube_watch
    from kubernetes.client import AppsV1Api, CoreV1Api
    from kubernetes.client.rest import ApiException
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "multicluster-kube"
FIELD_MANAGER = "multicluster-kube"
REGION_ANNOTATION = "multicluster.kube/region"
SERVICE_ANNOTATION = "multicluster.kube/service"
CLUSTER_LABEL = "multicluster.kube/cluster"  # which fleet member manages it: several may share an apiserver
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGER}"


def managed_selector(cluster: str) -> str:
    """The label selector of the Deployments fleet member `cluster` manages."""
    return f"{MANAGED_SELECTOR},{CLUSTER_LABEL}={cluster}"


@dataclass(frozen=True)
class Desired:
    """A Deployment this cluster should run."""

    region: str
    service: str
    namespace: str
    replicas: int
    image: str
    port: int

    @property
    def key(self) -> tuple:
        return (self.namespace, self.service)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.service}"

    def summary(self) -> dict:
        return {"namespace": self.namespace, "name": self.service, "replicas": self.replicas,
                "image": self.image, "port": self.port, "region": self.region}


@dataclass
class Plan:
    """What apply() would do: each entry a Deployment summary; update entries hold before/after."""

    cluster: str
    create: list = field(default_factory=list)
    update: list = field(default_factory=list)
    delete: list = field(default_factory=list)
    conflicts: dict = field(default_factory=dict)  # "namespace/name" -> why it was left alone
    ready: dict = field(default_factory=dict)  # (namespace, name) -> ready replicas, as listed

    @property
    def changed(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def as_dict(self) -> dict:
        return {"create": [d.summary() for d in self.create],
                "update": [{"before": before, "after": d.summary()} for before, d in self.update],
                "delete": list(self.delete), "conflicts": list(self.conflicts.values())}


class ApiError(Exception):
    """The Kubernetes API refused a call: its HTTP `status` and `reason`."""

    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason
        super().__init__(f"{status} {reason}")


class KubernetesApi:
    """The calls the updater makes, over the kubernetes client; ApiException becomes ApiError."""

    def __init__(self, api_client):
        self._client = api_client
        self._apps, self._core = AppsV1Api(api_client), CoreV1Api(api_client)

    def check_ready(self, timeout: float) -> None:
        """Raise unless the apiserver says it is ready to serve (etcd reachable). Through the
        client's own request building (auth, TLS): the generated client has no /readyz call."""
        method, url, headers, body, post = self._client.param_serialize("GET", "/readyz",
                                                                        auth_settings=["BearerToken"])
        response = self._client.call_api(method, url, headers, body, post, _request_timeout=timeout)
        response.read()
        if response.status != 200:
            raise ApiError(response.status, "apiserver /readyz is not ok")

    def list_deployments(self, selector: str, namespace=None) -> tuple:
        """(Deployments matching `selector` as JSON, the list's resourceVersion), in every
        namespace or in one. Plain JSON, not the client's models: the reconcile loop lists on
        every pass, and building models costs many times the parse."""
        with _api_errors():
            if namespace is None:
                response = self._apps.list_deployment_for_all_namespaces(label_selector=selector,
                                                                         _preload_content=False)
            else:
                response = self._apps.list_namespaced_deployment(namespace, label_selector=selector,
                                                                 _preload_content=False)
        listed = json.loads(response.data)
        return listed["items"], listed["metadata"].get("resourceVersion", "")

    def watch_deployments(self, selector: str, namespace, resource_version: str, timeout: int):
        """Yield (event type, resourceVersion) of changes after `resource_version`, for up to
        `timeout` seconds. ApiError 410 when that version is too old to resume from."""
        kwargs = dict(label_selector=selector, resource_version=resource_version, timeout_seconds=timeout,
                      allow_watch_bookmarks=True)
        if namespace is None:
            call, args = self._apps.list_deployment_for_all_namespaces, ()
        else:
            call, args = self._apps.list_namespaced_deployment, (namespace,)
        with _api_errors():
            for event in kube_watch.Watch().stream(call, *args, **kwargs):
                yield event["type"], event["raw_object"]["metadata"].get("resourceVersion", resource_version)

    def deployment_labels(self, namespace: str, name: str):
        """The labels of a Deployment, or None when there is none of that name."""
        with _api_errors():
            try:
                found = self._apps.read_namespaced_deployment(name, namespace)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
        return found.metadata.labels or {}

    def apply_deployment(self, manifest_: dict) -> None:
        """Server-side apply with our field manager, forcing our fields back."""
        metadata = manifest_["metadata"]
        with _api_errors():
            self._apps.patch_namespaced_deployment(metadata["name"], metadata["namespace"], manifest_,
                                                   field_manager=FIELD_MANAGER, force=True,
                                                   _content_type="application/apply-patch+yaml")

    def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete it; one already gone is no error."""
        with _api_errors():
            try:
                self._apps.delete_namespaced_deployment(name, namespace)
            except ApiException as err:
                if err.status != 404:
                    raise

    def ensure_namespace(self, name: str) -> None:
        with _api_errors():
            try:
                self._core.read_namespace(name)
            except ApiException as err:
                if err.status != 404:
                    raise
                try:
                    self._core.create_namespace({"metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGER}}})
                except ApiException as create_err:
                    if create_err.status != 409:
                        raise


@contextlib.contextmanager
def _api_errors():
    try:
        yield
    except ApiException as err:
        raise ApiError(err.status, err.reason) from None


def desired_for(services, region: str, cluster: str) -> list:
    """The Deployments `cluster` of `region` should run, from the services."""
    return sorted((Desired(s.spec.region, s.spec.service, s.spec.namespace, s.placement.clusters[cluster],
                           s.spec.image, s.spec.port)
                   for s in services
                   if isinstance(s, Service) and s.region == region and s.placement.clusters.get(cluster, 0) > 0),
                  key=lambda d: d.key)


def manifest(desired: Desired, cluster: str) -> dict:
    labels = {"app": desired.service, MANAGED_BY_LABEL: MANAGER}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": desired.service, "namespace": desired.namespace, "labels": {**labels, CLUSTER_LABEL: cluster},
            "annotations": {REGION_ANNOTATION: desired.region, SERVICE_ANNOTATION: desired.service},
        },
        "spec": {
            "replicas": desired.replicas,
            "selector": {"matchLabels": {"app": desired.service}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": desired.service, "image": desired.image,
                                         "ports": [{"containerPort": desired.port}]}]},
            },
        },
    }


def observed(deployment: dict) -> dict:
    """The fields we manage, as found on a live Deployment (its JSON)."""
    metadata, spec = deployment["metadata"], deployment.get("spec", {})
    containers = spec.get("template", {}).get("spec", {}).get("containers") or []
    ports = (containers[0].get("ports") or []) if containers else []
    return {"namespace": metadata["namespace"], "name": metadata["name"], "replicas": spec.get("replicas"),
            "image": containers[0].get("image") if containers else None,
            "port": ports[0].get("containerPort") if ports else None,
            "region": (metadata.get("annotations") or {}).get(REGION_ANNOTATION)}


def list_managed(api, cluster: str, namespaces=None) -> list:
    """The Deployments `cluster` manages, as JSON: in every namespace, or only in `namespaces`
    (a listener whose RBAC covers just those)."""
    selector = managed_selector(cluster)
    return [d for namespace in (namespaces if namespaces is not None else [None])
            for d in api.list_deployments(selector, namespace)[0]]


def plan(api, desired, cluster: str, namespaces=None) -> Plan:
    """Compare the desired Deployments with the cluster's; read-only."""
    owned = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in list_managed(api, cluster, namespaces)}
    result = Plan(cluster, ready={key: d.get("status", {}).get("readyReplicas") or 0 for key, d in owned.items()})
    for want in desired:
        if namespaces is not None and want.namespace not in namespaces:
            result.conflicts[want.ref] = (f"Deployment {want.ref} is in a namespace this listener does not "
                                          f"manage (it manages: {', '.join(namespaces)})")
            continue
        current = owned.pop(want.key, None)
        if current is None:
            conflict = _unowned(api, want, cluster)
            if conflict:
                result.conflicts[want.ref] = conflict
            else:
                result.create.append(want)
        elif observed(current) != want.summary():
            result.update.append((observed(current), want))
    result.delete = [observed(owned[key]) for key in sorted(owned)]
    return result


def _unowned(api, want: Desired, cluster: str) -> str:
    labels = api.deployment_labels(want.namespace, want.service)
    if labels is None:
        return ""
    if labels.get(MANAGED_BY_LABEL) == MANAGER and labels.get(CLUSTER_LABEL) not in (None, cluster):
        return (f"Deployment {want.ref} exists and is managed by fleet member {labels[CLUSTER_LABEL]}, "
                f"which shares this apiserver: left untouched")
    return (f"Deployment {want.ref} exists and is not managed by {MANAGER} for {cluster} "
            f"(no {MANAGED_BY_LABEL}={MANAGER} and {CLUSTER_LABEL}={cluster} labels): left untouched")


def apply(api, result: Plan) -> dict:
    """Carry out a plan: server-side apply creates and updates (forcing our fields back
    when someone changed them by hand), then deletes. One Deployment's failure (say, its
    namespace is being deleted) does not stop the others: returns {"ns/name": error}."""
    failures = {}
    for want in result.create + [want for _before, want in result.update]:
        try:
            if want in result.create:
                api.ensure_namespace(want.namespace)
            api.apply_deployment(manifest(want, result.cluster))
        except ApiError as err:
            failures[want.ref] = f"apply failed: {err}"
    for gone in result.delete:
        try:
            api.delete_deployment(gone["namespace"], gone["name"])
        except ApiError as err:
            failures[f"{gone['namespace']}/{gone['name']}"] = f"apply failed: {err}"
    return failures


def status(desired, result: Plan, region: str, reported_ms: int, failures=None) -> ClusterStatus:
    """Ready replicas per service placed here (as the plan listed them: a change of readiness
    wakes the next reconcile), with any conflict or failure, for the status record."""
    conflicts = {**(failures or {}), **result.conflicts}
    services = tuple(
        ServiceStatus(region=d.region, service=d.service, namespace=d.namespace, desired=d.replicas,
                      ready=result.ready.get(d.key, 0), conflict=conflicts.get(d.ref, ""))
        for d in desired)
    return ClusterStatus(cluster=result.cluster, region=region, reported_ms=reported_ms, services=services)
