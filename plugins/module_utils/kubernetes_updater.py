# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local updater (the seed's updateLocal): make one cluster's objects match the placement
of the global configuration.

For each service placed on the cluster with n > 0 replicas, its workload rendered for this
cluster (plugins/module_utils/workload.py): companions first, then a Deployment of n replicas,
applied server-side with our field manager and labelled as managed by us for this fleet
member and service. What we manage and no longer want is deleted, companions included (a
Deployment's annotation remembers the kinds of its companions, so a companion left out of the
spec is found and removed). An object without our labels (a user's, or another fleet
member's sharing the apiserver) is never modified or deleted: it is reported as a conflict.
The listener's reconcile loop and the cluster_update module both call plan() then apply(),
with a KubernetesApi: what the updater needs of a cluster's API and nothing more (a unit
test's fake has the same methods).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import traceback
from dataclasses import dataclass, field

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    ClusterStatus, ObjectProblem, ReasonCode, Service, ServiceStatus, problems_summary)
from ansible_collections.multicluster.kube.plugins.module_utils.workload import (
    CLUSTER_LABEL, MANAGED_BY_LABEL, MANAGER, SERVICE_LABEL, render, revision)

try:
    from kubernetes import watch as kube_watch
    from kubernetes.client import AppsV1Api, CoreV1Api
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None

FIELD_MANAGER = "multicluster-kube"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGER}"
COMPANIONS_ANNOTATION = "multicluster.kube/companions"  # on a Deployment: apiVersion/kind of its companions
DEPLOYMENT = ("apps/v1", "Deployment")


def managed_selector(cluster: str) -> str:
    """The label selector of the objects fleet member `cluster` manages."""
    return f"{MANAGED_SELECTOR},{CLUSTER_LABEL}={cluster}"


def type_of(obj: dict) -> tuple:
    return obj["apiVersion"], obj["kind"]


def ref_of(obj: dict) -> str:
    """kind namespace/name, as reports name an object."""
    metadata = obj["metadata"]
    return f"{obj['kind']} {metadata['namespace']}/{metadata['name']}"


@dataclass(frozen=True)
class Desired:
    """One service as this cluster should run it: its rendered objects, the Deployment last."""

    region: str
    service: str
    namespace: str
    replicas: int
    objects: tuple
    release: str = ""  # the revision of the release the objects are of (model.Release)

    @property
    def key(self) -> tuple:
        return (self.namespace, self.service)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.service}"

    @property
    def revision(self) -> str:
        return revision(self.objects[-1])


@dataclass
class Plan:
    """What apply() would do, object by object: create and update hold the desired objects
    (update as (live, desired)), delete the live objects; conflicts say what was left alone,
    object by object."""

    cluster: str
    create: list = field(default_factory=list)
    update: list = field(default_factory=list)
    delete: list = field(default_factory=list)
    conflicts: dict = field(default_factory=dict)  # "namespace/service" -> [ObjectProblem]: what was left alone
    deployments: dict = field(default_factory=dict)  # (namespace, name) -> our live Deployment, as listed

    @property
    def changed(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def as_dict(self) -> dict:
        return {"create": [summary(o) for o in self.create],
                "update": [{"before": summary(live), "after": summary(want)} for live, want in self.update],
                "delete": [summary(o) for o in self.delete],
                "conflicts": [str(p) for problems in self.conflicts.values() for p in problems]}


def summary(obj: dict) -> dict:
    """What a report shows of an object: its kind, namespace, name, and a Deployment's replicas and images."""
    metadata = obj["metadata"]
    out = {"kind": obj["kind"], "namespace": metadata["namespace"], "name": metadata["name"]}
    if obj["kind"] == "Deployment":
        spec = obj.get("spec", {})
        out["replicas"] = spec.get("replicas")
        out["images"] = [c.get("image") for c in spec.get("template", {}).get("spec", {}).get("containers") or []]
    return out


class ApiError(Exception):
    """The Kubernetes API refused a call: its HTTP `status` and `reason`."""

    def __init__(self, status: int, reason: str):
        self.status, self.reason = status, reason
        super().__init__(f"{status} {reason}")


class KubernetesApi:
    """The calls the updater makes, over the kubernetes client (typed where it lists often,
    dynamic for objects of any kind); the client's errors become ApiError."""

    def __init__(self, api_client):
        self._client = api_client
        self._apps, self._core = AppsV1Api(api_client), CoreV1Api(api_client)
        self._dynamic = None  # discovery on first use: the reconcile loop may never need it

    def _resource(self, api_version: str, kind: str):
        if self._dynamic is None:
            with _api_errors():
                self._dynamic = DynamicClient(self._client)
        try:
            return self._dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise ApiError(404, f"this apiserver serves no {kind} in {api_version}") from None

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
        """(Deployments matching `selector` as JSON, with apiVersion and kind, the list's resourceVersion), in every
        namespace or in one. Plain JSON, not the client's models: the reconcile loop lists on
        every pass, and building models costs many times the parse."""
        call, args = self._deployments(namespace)
        return self._list_json(call, args, DEPLOYMENT, label_selector=selector)

    def watch_deployments(self, selector: str, namespace, resource_version: str, timeout: int):
        """Yield (event type, object as JSON, resourceVersion) of changes after `resource_version`,
        for up to `timeout` seconds. ApiError 410 when that version is too old to resume from."""
        call, args = self._deployments(namespace)
        return self._watch_json(call, args, resource_version, timeout, label_selector=selector)

    def _deployments(self, namespace) -> tuple:
        if namespace is None:
            return self._apps.list_deployment_for_all_namespaces, ()
        return self._apps.list_namespaced_deployment, (namespace,)

    def list_nodes(self) -> tuple:
        """(every Node as JSON, the list's resourceVersion)."""
        return self._list_json(self._core.list_node, (), ("v1", "Node"))

    def watch_nodes(self, resource_version: str, timeout: int):
        return self._watch_json(self._core.list_node, (), resource_version, timeout)

    def list_pods(self) -> tuple:
        """(every Pod of the cluster, in all namespaces, as JSON, the list's resourceVersion)."""
        return self._list_json(self._core.list_pod_for_all_namespaces, (), ("v1", "Pod"))

    def watch_pods(self, resource_version: str, timeout: int):
        return self._watch_json(self._core.list_pod_for_all_namespaces, (), resource_version, timeout)

    @staticmethod
    def _list_json(call, args, typed, **kwargs) -> tuple:
        with _api_errors():
            response = call(*args, _preload_content=False, **kwargs)
        listed = json.loads(response.data)
        return _typed(listed["items"], *typed), listed["metadata"].get("resourceVersion", "")

    @staticmethod
    def _watch_json(call, args, resource_version: str, timeout: int, **kwargs):
        kwargs.update(resource_version=resource_version, timeout_seconds=timeout, allow_watch_bookmarks=True)
        with _api_errors():
            for event in kube_watch.Watch().stream(call, *args, **kwargs):
                raw = event["raw_object"]
                yield event["type"], raw, (raw.get("metadata") or {}).get("resourceVersion", resource_version)

    def list_objects(self, api_version: str, kind: str, selector: str, namespace=None) -> list:
        """Objects of a kind matching `selector`, as JSON with apiVersion and kind, in every namespace or in one."""
        resource = self._resource(api_version, kind)
        with _api_errors():
            found = resource.get(namespace=namespace, label_selector=selector)
        return _typed(found.to_dict().get("items") or [], api_version, kind)

    def labels_of(self, obj: dict):
        """The labels of the live object named like `obj`, or None when there is none (its kind
        not served here included: applying it then says so, for that object alone)."""
        try:
            resource = self._resource(*type_of(obj))
        except ApiError as err:
            if err.status == 404:
                return None
            raise
        metadata = obj["metadata"]
        with _api_errors():
            try:
                found = resource.get(name=metadata["name"], namespace=metadata["namespace"])
            except DynamicApiError as err:
                if err.status == 404:
                    return None
                raise
        return dict(found.metadata.labels or {})

    def apply(self, obj: dict, dry_run: bool = False) -> dict:
        """Server-side apply with our field manager, forcing our fields back; the result."""
        resource = self._resource(*type_of(obj))
        with _api_errors():
            applied = self._dynamic.server_side_apply(
                resource, body=obj, namespace=obj["metadata"]["namespace"], field_manager=FIELD_MANAGER,
                force_conflicts=True, dry_run="All" if dry_run else None)
        return applied.to_dict()

    def dry_run(self, obj: dict) -> None:
        """Server-side apply with dryRun=All: ApiError naming the field the apiserver refuses.
        In its namespace, or where that does not exist yet, in default (the checks are the same)."""
        if not self._namespace_exists(obj["metadata"]["namespace"]):
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": "default"}}
        self.apply(obj, dry_run=True)

    def _namespace_exists(self, name: str) -> bool:
        with _api_errors():
            try:
                self._core.read_namespace(name)
            except ApiException as err:
                if err.status != 404:
                    raise
                return False
        return True

    def delete(self, obj: dict) -> None:
        """Delete the live object named like `obj`; one already gone is no error."""
        resource = self._resource(*type_of(obj))
        with _api_errors():
            try:
                resource.delete(name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"])
            except DynamicApiError as err:
                if err.status != 404:
                    raise

    def ensure_namespace(self, name: str) -> None:
        if self._namespace_exists(name):
            return
        with _api_errors():
            try:
                self._core.create_namespace({"metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGER}}})
            except ApiException as err:
                if err.status != 409:  # made meanwhile by someone else: as good
                    raise


def _typed(items, api_version, kind) -> list:
    """A list's items, each with the apiVersion and kind the list leaves out."""
    for item in items:
        item.setdefault("apiVersion", api_version)
        item.setdefault("kind", kind)
    return items


@contextlib.contextmanager
def _api_errors():
    try:
        yield
    except ApiException as err:  # DynamicApiError too
        raise ApiError(err.status, _detail(err)) from None


def _detail(err) -> str:
    """The apiserver's own message (it names the field), else the HTTP reason."""
    try:
        return json.loads(err.body).get("message") or str(err.reason)
    except (TypeError, ValueError, AttributeError):
        return str(err.reason)


def desired_for(services, region: str, cluster: str, labels=None) -> list:
    """What `cluster` of `region` (with `labels`) should run, from the services: each on the
    release a rollout holds the cluster on, if one does. A service the coordinator rescued all
    replicas from here stays, at 0 replicas: its status says whether what was in the way still
    is (the coordinator gives the share back once it is not)."""
    wanted = []
    for s in services:
        if not isinstance(s, Service) or s.region != region:
            continue
        replicas = s.placement.clusters.get(cluster, 0)
        if replicas > 0 or s.placement.has_reason(cluster, ReasonCode.RESCUED):
            spec = s.spec_for(cluster)
            wanted.append(Desired(spec.region, spec.service, spec.namespace, replicas,
                                  tuple(render(spec, cluster, replicas, labels)), spec.release.revision))
    return sorted(wanted, key=lambda d: d.key)


def in_namespace(desired: Desired, namespace: str) -> Desired:
    """The same service with all its objects in `namespace` (fleet members sharing an apiserver)."""
    objects = tuple({**o, "metadata": {**o["metadata"], "namespace": namespace}} for o in desired.objects)
    return dataclasses.replace(desired, namespace=namespace, objects=objects)


def plan(api, desired, cluster: str, namespaces=None) -> Plan:
    """Compare what the cluster should run with what we manage there; read-only."""
    selector = managed_selector(cluster)
    spaces = namespaces if namespaces is not None else [None]
    deployments = [d for ns in spaces for d in api.list_deployments(selector, ns)[0]]
    kinds = {type_of(o) for want in desired for o in want.objects[:-1]}
    for deployment in deployments:  # the kinds their companions had when last applied
        noted = (deployment["metadata"].get("annotations") or {}).get(COMPANIONS_ANNOTATION, "")
        kinds |= {tuple(t.rsplit("/", 1)) for t in noted.split(",") if "/" in t}
    owned = {_identity(d): d for d in deployments}
    for api_version, kind in sorted(kinds - {DEPLOYMENT}):
        for ns in spaces:
            try:
                owned.update({_identity(o): o for o in api.list_objects(api_version, kind, selector, ns)})
            except ApiError as err:
                if err.status != 404:  # a kind this apiserver does not serve (yet): nothing of it to find
                    raise
    result = Plan(cluster, deployments={(d["metadata"]["namespace"], d["metadata"]["name"]): d
                                        for d in deployments})
    for want in desired:
        if namespaces is not None and want.namespace not in namespaces:
            result.conflicts[want.ref] = [ObjectProblem("", f"service {want.ref} is in a namespace this listener "
                                                            f"does not manage (it manages: {', '.join(namespaces)})")]
            continue
        objects = list(want.objects)
        objects[-1] = _noting_companions(objects[-1], objects[:-1])
        for obj in objects:
            live = owned.pop(_identity(obj), None)
            if live is None:
                conflict = _unowned(api, obj, cluster)
                if conflict:
                    result.conflicts.setdefault(want.ref, []).append(ObjectProblem(ref_of(obj), conflict))
                else:
                    result.create.append(obj)
            elif not contains(live, obj):
                result.update.append((live, obj))
    result.delete = [owned[key] for key in sorted(owned)]
    return result


def _identity(obj: dict) -> tuple:
    metadata = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], metadata["namespace"], metadata["name"])


def _noting_companions(deployment: dict, companions) -> dict:
    kinds = ",".join(sorted({"/".join(type_of(c)) for c in companions}))
    metadata = {**deployment["metadata"],
                "annotations": {**deployment["metadata"].get("annotations", {}), COMPANIONS_ANNOTATION: kinds}}
    return {**deployment, "metadata": metadata}


def contains(live, wanted) -> bool:
    """Whether the live object has every field we set, as we set it (the apiserver adds
    defaults and others may add fields of their own: those are not drift)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(k in live and contains(live[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(map(contains, live, wanted))
    return live == wanted


def _unowned(api, obj: dict, cluster: str) -> str:
    labels = api.labels_of(obj)
    if labels is None:
        return ""
    if labels.get(MANAGED_BY_LABEL) == MANAGER and labels.get(CLUSTER_LABEL) not in (None, cluster):
        return (f"exists and is managed by fleet member {labels[CLUSTER_LABEL]}, which shares this apiserver: "
                "left untouched")
    return (f"exists and is not managed by {MANAGER} for {cluster} (no {MANAGED_BY_LABEL}={MANAGER} and "
            f"{CLUSTER_LABEL}={cluster} labels): left untouched")


def apply(api, result: Plan) -> dict:
    """Carry out a plan: server-side apply of creates and updates (forcing our fields back when
    someone changed them by hand), companions before their Deployment, then deletes. One
    object's failure (its namespace being deleted, a kind this apiserver lacks) does not stop
    the others: returns {"namespace/service": [ObjectProblem]}, every failing object's."""
    failures = {}

    def failed(obj, text):
        service_ref = f"{obj['metadata']['namespace']}/{obj['metadata']['labels'][SERVICE_LABEL]}"
        failures.setdefault(service_ref, []).append(ObjectProblem(ref_of(obj), text))

    unmade = {}  # namespace -> why it could not be made
    for namespace in sorted({o["metadata"]["namespace"] for o in result.create}):
        try:
            api.ensure_namespace(namespace)
        except ApiError as err:
            unmade[namespace] = f"namespace {namespace} could not be made: {err}"
    for obj in result.create + [want for _live, want in result.update]:
        if obj["metadata"]["namespace"] in unmade:
            failed(obj, unmade[obj["metadata"]["namespace"]])
            continue
        try:
            api.apply(obj)
        except ApiError as err:
            failed(obj, f"apply failed: {err}")
    for gone in result.delete:
        try:
            api.delete(gone)
        except ApiError as err:
            failed(gone, f"delete failed: {err}")
    return failures


def status(desired, result: Plan, region: str, reported_ms: int, failures=None) -> ClusterStatus:
    """Each placed service's Deployment as the plan listed it (a change of readiness wakes the
    next reconcile): desired, updated, ready and available replicas, whether the template it
    should run is rolled out, and every object in the way, refused or failing, for the status
    record."""
    failures = failures or {}
    services = []
    for want in desired:
        live = result.deployments.get(want.key) or {}
        live_status, generation = live.get("status") or {}, (live.get("metadata") or {}).get("generation", 0)
        current = bool(live) and live_status.get("observedGeneration", 0) >= generation and \
            contains(live, want.objects[-1])
        condition = _failing_condition(live_status)
        in_the_way = result.conflicts.get(want.ref, []) + failures.get(want.ref, [])
        deployment = ref_of(want.objects[-1])
        problems = tuple(in_the_way + ([ObjectProblem(deployment, condition)] if condition else []))
        services.append(ServiceStatus(
            region=want.region, service=want.service, namespace=want.namespace, desired=want.replicas,
            ready=live_status.get("readyReplicas") or 0,
            updated=(live_status.get("updatedReplicas") or 0) if current else 0,
            available=live_status.get("availableReplicas") or 0, revision=want.revision, release=want.release,
            pods=live_status.get("replicas") or 0,
            conflict=problems_summary(problems), problems=problems,
            blocked=any(p.object in (deployment, "") for p in in_the_way)))
    return ClusterStatus(cluster=result.cluster, region=region, reported_ms=reported_ms, services=tuple(services))


def _failing_condition(live_status: dict) -> str:
    for condition in live_status.get("conditions") or ():
        if (condition.get("type"), condition.get("status")) in (("Progressing", "False"), ("ReplicaFailure", "True")):
            return f"{condition.get('reason')}: {condition.get('message')}"
    return ""
