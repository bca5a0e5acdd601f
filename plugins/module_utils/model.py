# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's state: versioned records, and the seed's tree derived from them.

Replicated state is a map key -> Record. A record holds one of
- Service: a (region, service)'s spec (what a user asked: ServiceSpec) and, apart from it,
  its placement (what the scheduler decided: Placement, with structured Reasons). Clients
  send specs; only the scheduler and a region's coordinator write placements;
- Cluster: a member cluster (region, endpoint, weight, capacity, cordoned);
- ClusterStatus: what a cluster's listener reports (ready replicas per service).
Every value validates itself when built, so an invalid value never exists;
ValidationError names the field and the rule it broke.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union

from ansible_collections.multicluster.kube.plugins.module_utils.fit import replicas_of_spec_that_fit
from ansible_collections.multicluster.kube.plugins.module_utils.history import Change, check_change_id
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import Rollout, Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.validation import (  # noqa: F401 (re-exported)
    ValidationError, check_image, check_int, check_labels, check_name, check_optional_int)
from ansible_collections.multicluster.kube.plugins.module_utils.workload import SEED_WORKLOAD, Workload

MAX_REPLICAS = 1_000_000
MAX_WEIGHT = 1_000_000
MAX_AUTHOR = 256  # characters of a record's author (who made the change)
DEFAULT_PORT = 8080
DEFAULT_NAMESPACE = "default"
WEIGHTED, DYNAMIC = "weighted", "dynamic"  # how a service's replicas are divided among its clusters
DIVISIONS = (WEIGHTED, DYNAMIC)


@dataclass(frozen=True)
class ClusterRule:
    """Per-cluster placement rule of one service: weight override, minimum and maximum."""

    cluster: str
    weight: Optional[int] = None
    min: int = 0
    max: Optional[int] = None

    def __post_init__(self):
        where = f"rules.clusters[{self.cluster}]"
        check_name(f"{where}.cluster", self.cluster)
        check_optional_int(f"{where}.weight", self.weight, 0, MAX_WEIGHT)
        check_int(f"{where}.min", self.min, 0, MAX_REPLICAS)
        check_optional_int(f"{where}.max", self.max, 0, MAX_REPLICAS)
        if self.max is not None and self.min > self.max:
            raise ValidationError(f"{where}.min", f"must not exceed max ({self.max})", self.min)


@dataclass(frozen=True)
class PlacementRules:
    excluded: frozenset = frozenset()
    clusters: tuple = ()  # ClusterRule, sorted by cluster name
    division: str = WEIGHTED  # WEIGHTED: shares by weight; DYNAMIC: by the replicas that fit in each cluster

    def __post_init__(self):
        if self.division not in DIVISIONS:
            raise ValidationError("rules.division", f"must be one of {', '.join(DIVISIONS)}", self.division)
        if isinstance(self.excluded, (str, bytes)):
            raise ValidationError("rules.excluded", "must be a list of cluster names", self.excluded)
        for name in self.excluded:
            check_name("rules.excluded[]", name)
        object.__setattr__(self, "excluded", frozenset(self.excluded))
        rules = tuple(sorted(self.clusters, key=lambda r: r.cluster))
        for previous, rule in zip(rules, rules[1:]):
            if previous.cluster == rule.cluster:
                raise ValidationError(f"rules.clusters[{rule.cluster}]", "must name each cluster once", rule.cluster)
        object.__setattr__(self, "clusters", rules)

    def rule_for(self, cluster: str) -> Optional[ClusterRule]:
        for rule in self.clusters:
            if rule.cluster == cluster:
                return rule
        return None

    def named_clusters(self) -> set:
        return set(self.excluded) | {r.cluster for r in self.clusters}


NO_RULES = PlacementRules()  # a service's rules when it gives none, shared (immutable)


@dataclass(frozen=True)
class Release:
    """What a service runs apart from how many replicas and where: a revision, which a rollout
    moves clusters from and to. A change of replicas or placement rules is not a new one."""

    image: str
    port: int
    workload: Workload

    @functools.cached_property
    def revision(self) -> str:
        """Its name in rollouts and statuses: a hash of what it is, the same on every listener."""
        text = json.dumps([self.image, self.port, self.workload.to_json()], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ServiceSpec:
    """What a user asks for a service in a region: the spec of its record."""

    region: str
    service: str
    replicas: int
    image: str = ""
    port: int = DEFAULT_PORT
    namespace: str = DEFAULT_NAMESPACE
    rules: PlacementRules = NO_RULES
    rebalance: bool = False
    workload: Workload = SEED_WORKLOAD  # what runs: a Deployment template, companions
    rollout: Optional[Strategy] = None  # how a new release goes through the region; None: everywhere at once

    def __post_init__(self):
        check_name("region", self.region)
        check_name("service", self.service)
        check_int("replicas", self.replicas, 0, MAX_REPLICAS)
        if not self.image:  # the seed runs the image named after the service
            object.__setattr__(self, "image", self.service)
        check_image("image", self.image)
        check_int("port", self.port, 1, 65535)
        check_name("namespace", self.namespace)
        if not isinstance(self.rebalance, bool):
            raise ValidationError("rebalance", "must be true or false", self.rebalance)
        if not isinstance(self.workload, Workload):
            raise ValidationError("workload", "must be a Workload", type(self.workload).__name__)
        self.workload.check(self.service, self.namespace)
        if self.rollout is not None and not isinstance(self.rollout, Strategy):
            raise ValidationError("rollout", "must be a rollout strategy", type(self.rollout).__name__)

    @property
    def key(self) -> str:
        return service_key(self.region, self.service)

    @functools.cached_property
    def release(self) -> Release:
        return Release(self.image, self.port, self.workload)

    def running(self, release: Release) -> "ServiceSpec":
        """This spec with `release` in place of its own (what a cluster a rollout holds runs)."""
        return dataclasses.replace(self, image=release.image, port=release.port, workload=release.workload)

    def check_rollout_against(self, region_clusters) -> None:
        """An explicit release order may only name clusters of the spec's region."""
        if self.rollout is None or not isinstance(self.rollout.order, tuple):
            return
        for name in self.rollout.order:
            if name not in region_clusters:
                raise ValidationError("rollout.order[]", f"must name a cluster of region {self.region}", name)

    def check_rules_against(self, region_clusters) -> None:
        """Rules may only name clusters of the spec's region."""
        known = set(region_clusters)
        for name in sorted(self.rules.named_clusters() - known):
            field_name = "rules.excluded" if name in self.rules.excluded else f"rules.clusters[{name}].cluster"
            raise ValidationError(field_name, f"must name a cluster of region {self.region}", name)


class ReasonCode:
    """Why the scheduler or a coordinator decided as it did, as code reads it (never the text)."""

    UNSPECIFIED = "unspecified"          # a reason stored before reasons had codes
    EXCLUDED = "excluded"                # the service's rules exclude the cluster
    CORDONED = "cordoned"
    UNHEALTHY = "unhealthy"              # no heartbeat within the failure timeout: failed over
    MINIMUM_LOWERED = "minimum_lowered"  # a rule's minimum above what max or capacity allow
    MINIMUMS_EXCEED = "minimums_exceed"  # the minimums alone exceed the replicas
    NO_ELIGIBLE_CLUSTER = "no_eligible_cluster"
    NO_ROOM = "no_room"                  # replicas unplaced: every eligible cluster is full
    RETURNING = "returning"              # replicas moving back to a recovered cluster
    UPGRADE_NEEDED = "upgrade_needed"    # the cluster's listener cannot do what the service asks yet
    FIT_CAPPED = "fit_capped"            # the cluster's share is capped by the replicas that fit in its room
    RESCUED = "rescued"                  # replicas that could not run on the cluster were moved away from it

    ALL = (UNSPECIFIED, EXCLUDED, CORDONED, UNHEALTHY, MINIMUM_LOWERED, MINIMUMS_EXCEED, NO_ELIGIBLE_CLUSTER,
           NO_ROOM, RETURNING, UPGRADE_NEEDED, FIT_CAPPED, RESCUED)


@dataclass(frozen=True)
class Reason:
    """One reason of a placement: the cluster it is about ("" for the region), a code from
    ReasonCode, and the text people read."""

    cluster: str
    code: str
    text: str

    def __post_init__(self):
        if self.cluster:
            check_name("reasons[].cluster", self.cluster)
        if self.code not in ReasonCode.ALL:
            raise ValidationError("reasons[].code", "must be one of " + ", ".join(ReasonCode.ALL), self.code)

    def as_dict(self) -> dict:
        return {"cluster": self.cluster, "code": self.code, "text": self.text}


@dataclass(frozen=True)
class Placement:
    """What the scheduler decided for a spec: replicas per cluster (only clusters with at
    least one, sorted by name), how many it could not place, and why."""

    clusters: Mapping[str, int] = field(default_factory=dict)
    unplaced: int = 0
    reasons: tuple = ()  # Reason

    def __post_init__(self):
        clusters = {}
        for cluster, count in sorted(dict(self.clusters).items()):
            check_name("placement[]", cluster)
            if check_int(f"placement[{cluster}]", count, 0, MAX_REPLICAS):
                clusters[cluster] = count
        object.__setattr__(self, "clusters", clusters)
        check_int("unplaced", self.unplaced, 0, MAX_REPLICAS)
        object.__setattr__(self, "reasons", tuple(self.reasons))

    def has_reason(self, cluster: str, code: str) -> bool:
        return any(r.cluster == cluster and r.code == code for r in self.reasons)


@dataclass(frozen=True)
class Service:
    """The replicated value of a service: its spec and, apart from it, its placement and the
    state of the rollout of its release (None: every cluster runs the spec's release)."""

    spec: ServiceSpec
    placement: Placement = field(default_factory=Placement)
    rollout: Optional[Rollout] = None

    def spec_for(self, cluster: str) -> ServiceSpec:
        """The spec as `cluster` runs it now: with the release a rollout holds it on, if any."""
        if self.rollout is None or self.rollout.runs_target(cluster):
            return self.spec
        release = self.rollout.release_of(self.rollout.expected(cluster))
        return self.spec if release is None else self.spec.running(release)

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def region(self) -> str:
        return self.spec.region


@dataclass(frozen=True)
class Cluster:
    """A member cluster of the fleet."""

    name: str
    region: str
    endpoint: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    weight: int = 1
    capacity: Optional[int] = None  # the most replicas it may take in all; None: no limit
    cordoned: bool = False
    peer_endpoint: str = ""  # where its listener serves peers, on a port of their own; "": endpoint

    def __post_init__(self):
        check_name("name", self.name)
        check_name("region", self.region)
        for name in ("endpoint", "peer_endpoint"):
            if not isinstance(getattr(self, name), str) or any(c.isspace() for c in getattr(self, name)):
                raise ValidationError(name, "must be host:port without spaces", getattr(self, name))
        object.__setattr__(self, "labels", dict(sorted(check_labels("labels", self.labels).items())))
        check_int("weight", self.weight, 0, MAX_WEIGHT)
        check_optional_int("capacity", self.capacity, 0, MAX_REPLICAS)
        if not isinstance(self.cordoned, bool):
            raise ValidationError("cordoned", "must be true or false", self.cordoned)

    @property
    def key(self) -> str:
        return cluster_key(self.name)

    @property
    def peer_address(self) -> str:
        """Where its peers call its listener."""
        return self.peer_endpoint or self.endpoint


@dataclass(frozen=True)
class ObjectProblem:
    """One object of a service that a cluster could not make as wanted: left alone (someone
    else's), refused by its apiserver, or failing (a Deployment's condition); `object` names it
    as "Kind namespace/name" (empty: the service as a whole)."""

    object: str
    text: str

    def __str__(self) -> str:
        return f"{self.object}: {self.text}" if self.object else self.text


def problems_summary(problems) -> str:
    """One line for all of a service's problems (older readers show only this)."""
    if not problems:
        return ""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{problems[0]}{more}"


@dataclass(frozen=True)
class ServiceStatus:
    """One service's Deployment in one cluster: replicas desired, ready, available, and updated
    to the template it should run (0 until the Deployment has seen that template); and what of
    it the cluster could not make as wanted, object by object."""

    region: str
    service: str
    namespace: str = DEFAULT_NAMESPACE
    desired: int = 0
    ready: int = 0
    conflict: str = ""  # what was left alone, failed to apply, or a failing condition
    updated: int = 0
    available: int = 0
    reports_updated: bool = True  # False: a listener before 0.2, which reports ready replicas only
    revision: str = ""  # of the pod template this status is about (workload.revision)
    problems: tuple = ()  # ObjectProblem, each object's; `conflict` sums them up in one line
    scheduled: int = 0  # its pods bound to a node (what fits adds back: they already have room)
    unschedulable: int = 0  # its pods the kube-scheduler has found no node for, longer than unschedulable_after
    blocked: bool = False  # its Deployment cannot be applied here (someone else's in the way, refused)
    release: str = ""  # the revision of the release it runs (Release.revision: the same in every cluster)
    pods: int = 0  # pods its Deployment counts, of every revision (status.replicas)

    @property
    def rolled_out(self) -> bool:
        """Its release rolled out: every replica updated, available and ready, no old pod left."""
        return self.reports_updated and self.updated == self.desired and self.pods == self.desired and \
            min(self.ready, self.available) >= self.desired

    @property
    def cannot_run(self) -> int:
        """Replicas of its share this cluster cannot run: all while its Deployment is blocked."""
        return self.desired if self.blocked else min(self.unschedulable, self.desired)


@dataclass(frozen=True)
class ClusterStatus:
    """What a cluster's listener last reported about itself."""

    cluster: str
    region: str
    reported_ms: int = 0
    services: tuple = ()  # ServiceStatus
    room: Optional[tuple] = None  # fit.NodeRoom: free room of its schedulable nodes; None: not measured

    @property
    def key(self) -> str:
        return status_key(self.cluster)

    def entry(self, region: str, service: str) -> Optional[ServiceStatus]:
        """The service's entry, or None: the coordinator asks for every service at every tick."""
        return self._entries.get((region, service))

    @functools.cached_property
    def _entries(self) -> dict:
        return {(s.region, s.service): s for s in self.services}


Value = Union[Service, Cluster, ClusterStatus, Change]


@dataclass(frozen=True)
class Record:
    """The unit of replication: a value or a tombstone (value None), its stamp and author.

    `raw` is the record as its author encoded it, when it came from the wire or the store:
    kept, stored and passed on as it is, so fields a newer listener wrote and this one does not
    know travel on intact (a listener acts only on what it understands). Not compared: it is
    the same record."""

    key: str
    stamp: Stamp
    author: str = ""
    value: Optional[Value] = None
    raw: bytes = field(default=b"", compare=False, repr=False)

    @property
    def deleted(self) -> bool:
        return self.value is None


def service_key(region: str, service: str) -> str:
    return f"service/{region}/{service}"


def cluster_key(name: str) -> str:
    return f"cluster/{name}"


def status_key(cluster: str) -> str:
    return f"status/{cluster}"


KEY_FORMS = "service/<region>/<service>, cluster/<name>, status/<cluster> or history/<region>/<service>/<change>"


def check_key(field_name: str, key) -> str:
    """A record key: one of KEY_FORMS, each name a DNS-1123 label (what a peer sends is checked
    like what a client sends)."""
    kind, _slash, rest = key.partition("/") if isinstance(key, str) else ("", "", "")
    names = rest.split("/")
    if (kind, len(names)) not in (("service", 2), ("cluster", 1), ("status", 1), ("history", 3)):
        raise ValidationError(field_name, f"must be {KEY_FORMS}", key)
    if kind == "history":
        check_change_id(field_name, names.pop())
    for name in names:
        check_name(field_name, name)
    return key


def newer(candidate: Record, current: Optional[Record]) -> bool:
    """The merge rule: the record with the higher stamp wins, whatever the arrival order."""
    return current is None or candidate.stamp > current.stamp


def merge(state: dict, records) -> list:
    """Merge records into state (key -> Record); returns those that won. Commutative,
    associative and idempotent, so replicas that saw the same records agree."""
    won = []
    for record in records:
        if newer(record, state.get(record.key)):
            state[record.key] = record
            won.append(record)
    return won


def global_config(records) -> dict:
    """The seed's tree, derived from live records: regions -> clusters -> services,
    with desired (placed) and ready replicas, health data and who changed what."""
    live = [r for r in records if not r.deleted]
    clusters = {r.value.name: r for r in live if isinstance(r.value, Cluster)}
    statuses = {r.value.cluster: r.value for r in live if isinstance(r.value, ClusterStatus)}
    services = sorted((r for r in live if isinstance(r.value, Service)), key=lambda r: r.key)
    regions: dict = {}

    def cluster_node(name, region):
        nodes = regions.setdefault(region, {"name": region, "clusters": {}, "services": {}})["clusters"]
        if name not in nodes:
            record = clusters.get(name)
            status = statuses.get(name)
            nodes[name] = {
                "name": name,
                "registered": record is not None,
                "endpoint": record.value.endpoint if record else "",
                "weight": record.value.weight if record else None,
                "capacity": record.value.capacity if record else None,
                "cordoned": record.value.cordoned if record else False,
                "labels": dict(record.value.labels) if record else {},
                "reported_ms": status.reported_ms if status else 0,
                "room": [dataclasses.asdict(n) for n in status.room] if status and status.room is not None else None,
                "changed": change_info(record) if record else None,
                "services": {},
            }
        return nodes[name]

    for name, record in sorted(clusters.items()):
        cluster_node(name, record.value.region)
    for record in services:
        spec, placement = record.value.spec, record.value.placement
        regions.setdefault(spec.region, {"name": spec.region, "clusters": {}, "services": {}})
        regions[spec.region]["services"][spec.service] = {
            "name": spec.service,
            "replicas": spec.replicas,
            "image": spec.image,
            "port": spec.port,
            "namespace": spec.namespace,
            "placement": dict(placement.clusters),
            "unplaced": placement.unplaced,
            "reasons": [r.as_dict() for r in placement.reasons],
            "division": spec.rules.division,
            "fits": _fits(spec, clusters, statuses),
            "workload": spec.workload.as_dict(),
            "revision": spec.release.revision,
            "rollout_strategy": spec.rollout.as_dict() if spec.rollout is not None else None,
            "rollout": _rollout_node(record.value.rollout),
            "changed": change_info(record),
        }
        for cluster, count in placement.clusters.items():
            cluster_node(cluster, spec.region)["services"][spec.service] = _no_status(spec.service, count) | {
                "revision": record.value.rollout.expected(cluster) if record.value.rollout else spec.release.revision}
    for name, status in statuses.items():
        node = cluster_node(name, status.region)
        for svc in status.services:
            entry = node["services"].setdefault(svc.service, _no_status(svc.service, 0))
            entry.update(ready=svc.ready, updated=svc.updated if svc.reports_updated else svc.ready,
                         available=svc.available if svc.reports_updated else svc.ready, conflict=svc.conflict,
                         scheduled=svc.scheduled, unschedulable=svc.unschedulable, release=svc.release,
                         pods=svc.pods, problems=[{"object": p.object, "text": p.text} for p in svc.problems])
    return {"regions": regions}


def _fits(spec, clusters, statuses) -> dict:
    """{cluster: replicas of the service that fit in its room} where its room is measured."""
    out = {}
    for name, record in sorted(clusters.items()):
        status = statuses.get(name)
        if record.value.region != spec.region or status is None:
            continue
        entry = status.entry(spec.region, spec.service)
        running = entry.scheduled if entry else 0
        fitting = replicas_of_spec_that_fit(spec, name, record.value.labels, status.room, running)
        if fitting is not None:
            out[name] = fitting
    return out


def _rollout_node(rollout) -> Optional[dict]:
    """A rollout's state, with what each revision it holds clusters on (or may roll back to) runs."""
    if rollout is None:
        return None
    return rollout.as_dict() | {"releases": {r.revision: {"image": r.image, "port": r.port,
                                                          "workload": r.workload.as_dict()} for r in rollout.releases}}


def _no_status(service: str, desired: int) -> dict:
    """A service's entry in a cluster's node before its status says more."""
    return {"name": service, "desired": desired, "ready": 0, "updated": 0, "available": 0, "conflict": "",
            "problems": [], "scheduled": 0, "unschedulable": 0, "release": "", "pods": 0}


def change_info(record: Record) -> dict:
    """Who changed a record, where (the origin cluster) and when (ms since the epoch)."""
    return {"by": record.author, "where": record.stamp.origin, "when_ms": record.stamp.physical_ms,
            "stamp": str(record.stamp)}
