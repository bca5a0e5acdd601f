# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's workload: the Deployment template the user writes and its companion objects,
checked for what the fleet can carry, and rendered into the objects one cluster applies.

The fleet owns a Deployment's name, namespace and `spec.replicas` (per cluster, from the
placement) and its labels that mark it as ours; everything else is the user's. Companions
(Service, ConfigMap, ServiceAccount, PodDisruptionBudget, ...) go wherever the service has a
replica, before its Deployment. Secrets are never carried: every listener stores the fleet's
records in plain text. With no template, the seed's workload: the service's image on its port,
and a Service of the service's name on that port unless `expose` is off.

Overrides change what some clusters run, chosen by name or by the clusters' labels: the image
of a container (the common case: a regional registry or tag), or an RFC 6902 JSON Patch of the
Deployment or a companion, applied by the jsonpatch library before our labels and the replicas.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ansible_collections.multicluster.kube.plugins.module_utils.validation import (
    ValidationError, check_image, check_labels, check_name)

try:
    import jsonpatch
except ImportError:  # the modules say it is missing (HAS_JSONPATCH) before any patch is applied
    jsonpatch = None
    HAS_JSONPATCH = False
else:
    HAS_JSONPATCH = True

MAX_WORKLOAD_BYTES = 256 * 1024  # small enough to gossip with every write
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "multicluster-kube"
CLUSTER_LABEL = "multicluster.kube/cluster"  # which fleet member manages it: several may share an apiserver
SERVICE_LABEL = "multicluster.kube/service"  # which service an object belongs to (companions are found by it)
REGION_ANNOTATION = "multicluster.kube/region"
SERVICE_ANNOTATION = "multicluster.kube/service"
# Kinds that live outside namespaces: a service's objects live in its namespace, and a
# cluster-scoped object would be shared by every service (and every fleet member) of a cluster.
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "PriorityClass", "RuntimeClass",
    "IngressClass", "CSIDriver", "CSINode", "VolumeAttachment", "CertificateSigningRequest",
    "FlowSchema", "PriorityLevelConfiguration"})
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Override:
    """What changes for some clusters: those named in `clusters`, and those whose labels
    include all of `cluster_labels`. `images`: container name -> image (of the Deployment's
    containers and init containers); `patches`: (target, RFC 6902 operations), the target
    "Deployment" or a companion's "Kind/name"."""

    clusters: frozenset = frozenset()
    cluster_labels: Mapping = field(default_factory=dict)
    images: Mapping = field(default_factory=dict)
    patches: tuple = ()

    def check(self, where: str) -> None:
        if isinstance(self.clusters, (str, bytes)):
            raise ValidationError(f"{where}.clusters", "must be a list of cluster names", self.clusters)
        object.__setattr__(self, "clusters", frozenset(check_name(f"{where}.clusters[]", c) for c in self.clusters))
        object.__setattr__(self, "cluster_labels", dict(sorted(check_labels(f"{where}.cluster_labels",
                                                                            self.cluster_labels).items())))
        if not self.clusters and not self.cluster_labels:
            raise ValidationError(where, "must choose clusters, by name (clusters) or by labels (cluster_labels)", None)
        if not isinstance(self.images, Mapping):
            raise ValidationError(f"{where}.images", "must map container names to images", self.images)
        for container, image in self.images.items():
            check_image(f"{where}.images[{container}]", image)
        patches = []
        for i, patch in enumerate(self.patches):
            target, operations = _patch_parts(f"{where}.patches[{i}]", patch)
            patches.append((target, operations))
        object.__setattr__(self, "patches", tuple(patches))

    def chooses(self, cluster: str, labels: Mapping) -> bool:
        return cluster in self.clusters or bool(self.cluster_labels) and all(
            labels.get(k) == v for k, v in self.cluster_labels.items())

    def as_dict(self) -> dict:
        return {"clusters": sorted(self.clusters), "cluster_labels": dict(self.cluster_labels),
                "images": dict(self.images), "patches": [{"target": t, "patch": list(ops)} for t, ops in self.patches]}


def _patch_parts(where: str, patch) -> tuple:
    if isinstance(patch, Mapping):
        target, operations = patch.get("target"), patch.get("patch")
    elif isinstance(patch, (list, tuple)) and len(patch) == 2:
        target, operations = patch
    else:
        raise ValidationError(where, "must have a target and a patch", patch)
    if not isinstance(target, str) or not (target == "Deployment" or target.count("/") == 1):
        raise ValidationError(f"{where}.target", "must be Deployment or Kind/name of a companion", target)
    if not isinstance(operations, (list, tuple)) or not all(isinstance(o, Mapping) and "op" in o for o in operations):
        raise ValidationError(f"{where}.patch", "must be a list of RFC 6902 operations (each with op and path)",
                              operations)
    return target, tuple(_plain(f"{where}.patch", o) for o in operations)


class Workload:
    """template: a Deployment (apps/v1) or None for the seed's default; companions: manifests
    of namespaced objects; expose: the default Service when there is no template; overrides:
    what changes for some clusters.

    Immutable. The manifests are kept as their canonical JSON text and read back when asked
    for: a listener holds every service of the fleet, and a 4.5 KiB template as Python dicts
    and lists costs several times its text (10,000 such services: 370 MiB as objects)."""

    __slots__ = ("_template", "_companions", "expose", "overrides")

    def __init__(self, template: Optional[Mapping] = None, companions=(), expose: bool = True, overrides=()):
        if not isinstance(expose, bool):
            raise ValidationError("expose", "must be true or false", expose)
        if isinstance(companions, (Mapping, str, bytes)):
            raise ValidationError("companions", "must be a list of manifests", type(companions).__name__)
        template = None if template is None else _canonical(_plain("template", template))
        companions = tuple(_canonical(_plain(f"companions[{i}]", c)) for i, c in enumerate(companions))
        if isinstance(overrides, (Mapping, str, bytes)):
            raise ValidationError("overrides", "must be a list", type(overrides).__name__)
        overrides = tuple(o if isinstance(o, Override) else _override(f"overrides[{i}]", o)
                          for i, o in enumerate(overrides))
        for i, override in enumerate(overrides):
            override.check(f"overrides[{i}]")
        for name, value in (("_template", template), ("_companions", companions), ("expose", expose),
                            ("overrides", overrides)):
            object.__setattr__(self, name, value)
        size = len(self.to_json())
        if size > MAX_WORKLOAD_BYTES:
            raise ValidationError("workload", f"must be at most {MAX_WORKLOAD_BYTES // 1024} KiB of JSON, to travel "
                                  "with every write", f"{size} bytes")

    def __setattr__(self, name, value):
        raise AttributeError(f"a Workload is immutable ({name})")

    def __deepcopy__(self, memo):
        return self

    def _key(self) -> tuple:
        return (self._template, self._companions, self.expose, self.overrides)

    def __eq__(self, other):
        return isinstance(other, Workload) and self._key() == other._key()

    def __hash__(self):
        return hash((self._template, self._companions, self.expose))

    def __repr__(self):
        return (f"Workload(template={self._template is not None}, companions={len(self._companions)}, "
                f"expose={self.expose}, overrides={len(self.overrides)})")

    @property
    def template(self) -> Optional[dict]:
        """The Deployment template (a fresh copy each time), or None."""
        return None if self._template is None else json.loads(self._template)

    @property
    def companions(self) -> tuple:
        return tuple(json.loads(c) for c in self._companions)

    @property
    def template_json(self) -> str:
        return self._template or ""

    @property
    def companions_json(self) -> tuple:
        return self._companions

    @property
    def default(self) -> bool:
        return self._template is None and not self._companions and self.expose and not self.overrides

    def as_dict(self) -> dict:
        return {"template": self.template, "companions": list(self.companions), "expose": self.expose,
                "overrides": [o.as_dict() for o in self.overrides]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    def check(self, service: str, namespace: str) -> None:
        """What the fleet can carry, field by field (the apiserver's dry run checks the rest)."""
        template = self.template
        if template is not None:
            _check_template(template, service, namespace)
        seen = {("Deployment", service)}
        for i, companion in enumerate(self.companions):
            where = f"companions[{i}]"
            kind, name = _check_object(where, companion, namespace)
            if kind == "Secret":
                raise ValidationError(f"{where}.kind", "must not be a Secret: the fleet's records are stored in "
                                      "plain text by every listener; create the Secret in each cluster (e.g. "
                                      "kubernetes.core.k8s per cluster, or an external secrets operator) and refer "
                                      "to it by name", kind)
            if kind in CLUSTER_SCOPED:
                raise ValidationError(f"{where}.kind", "must be a namespaced kind: the objects of a service live "
                                      "in its namespace", kind)
            if (kind, name) in seen:
                raise ValidationError(f"{where}.metadata.name", f"must differ from the service's other {kind} "
                                      "objects (and the Deployment)", name)
            seen.add((kind, name))


def _override(where: str, given) -> Override:
    if not isinstance(given, Mapping):
        raise ValidationError(where, "must be a mapping (clusters or cluster_labels, images, patches)", given)
    unknown = sorted(set(given) - {"clusters", "cluster_labels", "images", "patches"})
    if unknown:
        raise ValidationError(f"{where}.{unknown[0]}", "is not an override field (clusters, cluster_labels, images, "
                              "patches)", given[unknown[0]])
    return Override(clusters=given.get("clusters") or (), cluster_labels=given.get("cluster_labels") or {},
                    images=given.get("images") or {}, patches=tuple(given.get("patches") or ()))


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _plain(where: str, manifest) -> dict:
    """A deep copy that is plain JSON (mappings with string keys, lists, strings, numbers,
    booleans, null), as every listener will hold it."""
    if not isinstance(manifest, Mapping):
        raise ValidationError(where, "must be a mapping (one Kubernetes object)", type(manifest).__name__)
    try:
        return json.loads(json.dumps(manifest, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValidationError(where, f"must be plain JSON data ({error})", None) from None


def _check_object(where: str, manifest: Mapping, namespace: str) -> tuple:
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest.get(key):
            raise ValidationError(f"{where}.{key}", "is required", manifest.get(key))
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ValidationError(f"{where}.metadata", "must be a mapping with a name", metadata)
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise ValidationError(f"{where}.metadata.name", "must be a DNS-1123 subdomain", name)
    if metadata.get("namespace") not in (None, namespace):
        raise ValidationError(f"{where}.metadata.namespace", f"must be the service's namespace ({namespace}) or left "
                              "out", metadata.get("namespace"))
    return manifest["kind"], name


def _check_template(template: Mapping, service: str, namespace: str) -> None:
    if (template.get("apiVersion"), template.get("kind")) != ("apps/v1", "Deployment"):
        raise ValidationError("template.kind", "must be an apps/v1 Deployment",
                              f"{template.get('apiVersion')}/{template.get('kind')}")
    metadata = template.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise ValidationError("template.metadata", "must be a mapping", metadata)
    if metadata.get("name") not in (None, service):
        raise ValidationError("template.metadata.name", f"must be the service's name ({service}) or left out",
                              metadata.get("name"))
    if metadata.get("namespace") not in (None, namespace):
        raise ValidationError("template.metadata.namespace", f"must be the service's namespace ({namespace}) or left "
                              "out", metadata.get("namespace"))
    spec = template.get("spec")
    if not isinstance(spec, Mapping):
        raise ValidationError("template.spec", "must be a mapping with a pod template", spec)
    if "replicas" in spec:
        raise ValidationError("template.spec.replicas", "must be left out: the fleet sets it in each cluster from "
                              "the placement", spec["replicas"])
    pod = spec.get("template")
    containers = ((pod or {}).get("spec") or {}).get("containers") if isinstance(pod, Mapping) else None
    if not isinstance(containers, list) or not containers:
        raise ValidationError("template.spec.template.spec.containers", "must list at least one container", containers)
    for i, container in enumerate(containers):
        if not isinstance(container, Mapping) or not container.get("name") or not container.get("image"):
            raise ValidationError(f"template.spec.template.spec.containers[{i}]", "must have a name and an image",
                                  container)
    labels = ((pod.get("metadata") or {}).get("labels")) or {}
    selector = (spec.get("selector") or {}).get("matchLabels") if isinstance(spec.get("selector"), Mapping) else None
    if selector is None:
        raise ValidationError("template.spec.selector.matchLabels", "is required (and must match the pod template's "
                              "labels)", spec.get("selector"))
    for key, value in (selector or {}).items():
        if labels.get(key) != value:
            raise ValidationError(f"template.spec.selector.matchLabels[{key}]", "must match the pod template's label "
                                  f"{key} (spec.template.metadata.labels)", value)


def check_against(spec, clusters) -> None:
    """The overrides name clusters of the region and apply to what each cluster would run:
    `clusters` are the region's (model.Cluster)."""
    names = {c.name for c in clusters}
    for i, override in enumerate(spec.workload.overrides):
        for name in sorted(override.clusters - names):
            raise ValidationError(f"overrides[{i}].clusters[]", f"must name a cluster of region {spec.region}", name)
    for cluster in sorted(clusters, key=lambda c: c.name):
        render(spec, cluster.name, 1, cluster.labels)


def render(spec, cluster: str, replicas: int, labels=None) -> list:
    """The objects `cluster` (with `labels`) applies for the service: its companions, then its
    Deployment, with the overrides that choose the cluster, our labels, in the service's
    namespace, the Deployment with `replicas`. ValidationError when an override does not apply."""
    workload = spec.workload
    marks = {MANAGED_BY_LABEL: MANAGER, CLUSTER_LABEL: cluster, SERVICE_LABEL: spec.service}
    notes = {REGION_ANNOTATION: spec.region, SERVICE_ANNOTATION: spec.service}
    template = workload.template  # a fresh copy: ours to change
    if template is None:
        objects = [_default_deployment(spec)]
        if workload.expose:
            objects.insert(0, _default_service(spec))
    else:
        objects = [template]
    objects = list(workload.companions) + objects
    for i, override in enumerate(workload.overrides):
        if override.chooses(cluster, labels or {}):
            objects = _overridden(objects, override, f"overrides[{i}]", cluster)
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        metadata["namespace"] = spec.namespace
        metadata["labels"] = {**(metadata.get("labels") or {}), **marks}
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **notes}
    deployment = objects[-1]
    deployment["metadata"]["name"] = spec.service
    deployment["spec"]["replicas"] = replicas
    return objects


def _overridden(objects: list, override: Override, where: str, cluster: str) -> list:
    deployment = objects[-1]
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in (pod.get("initContainers") or []) + pod["containers"]}
    for name, image in override.images.items():
        if name not in containers:
            raise ValidationError(f"{where}.images[{name}]", "must name a container of the Deployment "
                                  f"(it has: {', '.join(sorted(containers))})", name)
        containers[name]["image"] = image
    by_target = {"Deployment": len(objects) - 1,
                 **{f"{o['kind']}/{o['metadata']['name']}": i for i, o in enumerate(objects[:-1])}}
    for j, (target, operations) in enumerate(override.patches):
        if target not in by_target:
            raise ValidationError(f"{where}.patches[{j}].target", "must be Deployment or Kind/name of a companion "
                                  f"(there are: {', '.join(sorted(by_target))})", target)
        if jsonpatch is None:
            raise ValidationError(f"{where}.patches[{j}]", "needs the jsonpatch Python package where the workload is "
                                  "rendered", target)
        try:
            objects[by_target[target]] = jsonpatch.apply_patch(objects[by_target[target]], list(operations))
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise ValidationError(f"{where}.patches[{j}]", f"must apply to {target} in {cluster}: {error}",
                                  list(operations)) from None
    return objects


def revision(deployment: dict) -> str:
    """The revision of a rendered Deployment's pod template: what a status says it reports on."""
    text = json.dumps(deployment["spec"]["template"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _default_deployment(spec) -> dict:
    labels = {"app": spec.service}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": spec.service},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": {**labels, MANAGED_BY_LABEL: MANAGER}},
                                  "spec": {"containers": [{"name": spec.service, "image": spec.image,
                                                           "ports": [{"containerPort": spec.port}]}]}}}}


def _default_service(spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": spec.service},
            "spec": {"selector": {"app": spec.service}, "ports": [{"port": spec.port, "targetPort": spec.port}]}}


# The workload of a service that names none (the seed's: its image on its port, exposed by a
# Service), shared: a Workload is immutable, and a listener takes one with most services it
# decodes (a heal brings a thousand at once).
SEED_WORKLOAD = Workload()
