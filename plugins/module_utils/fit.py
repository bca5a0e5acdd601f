# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What fits: the resources a pod requests, as the kube-scheduler counts them; a cluster's free
room node by node; and how many replicas of a service fit in that room.

A pod fits on one node or not at all: room split over two half-empty nodes is no room for a
pod that needs either one whole, so replicas are counted node by node. Integer millicores and
bytes throughout, so every listener computes the same number from the same report.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.workload import render

try:
    from kubernetes.utils import parse_quantity
except ImportError:  # only the listener counts room; modules never call these
    parse_quantity = None


@dataclass(frozen=True)
class Requests:
    """What one pod asks of a node: CPU in millicores, memory in bytes."""

    cpu_milli: int = 0
    memory_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.cpu_milli or self.memory_bytes)

    def __add__(self, other: "Requests") -> "Requests":
        return Requests(self.cpu_milli + other.cpu_milli, self.memory_bytes + other.memory_bytes)

    def most(self, other: "Requests") -> "Requests":
        return Requests(max(self.cpu_milli, other.cpu_milli), max(self.memory_bytes, other.memory_bytes))

    def text(self) -> str:
        return f"{self.cpu_milli}m CPU, {self.memory_bytes // 2**20}Mi memory"


@dataclass(frozen=True)
class NodeRoom:
    """Free room on `count` nodes alike: CPU, memory and pods left after the requests of the
    pods bound to them (a report groups nodes with the same free room)."""

    cpu_milli: int
    memory_bytes: int
    pods: int
    count: int = 1


def quantity(value, unit: int = 1) -> int:
    """A Kubernetes quantity ("250m", "1Gi", 2) in whole units of 1/unit, rounded up as the
    scheduler rounds a request (unit 1000: millicores)."""
    return math.ceil(parse_quantity(value) * unit)


def _requests_of(container: dict) -> Requests:
    asked = (container.get("resources") or {}).get("requests") or {}
    return Requests(quantity(asked["cpu"], 1000) if "cpu" in asked else 0,
                    quantity(asked["memory"]) if "memory" in asked else 0)


def pod_requests(pod_spec: dict) -> Requests:
    """A pod's effective requests as Kubernetes computes them: its containers' sum and the
    sidecars' (init containers that keep running), or, if more, the largest init container
    with the sidecars started before it; plus the pod's overhead."""
    sidecars, peak = Requests(), Requests()
    for init in pod_spec.get("initContainers") or ():
        if init.get("restartPolicy") == "Always":
            sidecars = sidecars + _requests_of(init)
            peak = peak.most(sidecars)
        else:
            peak = peak.most(sidecars + _requests_of(init))
    running = sidecars
    for container in pod_spec.get("containers") or ():
        running = running + _requests_of(container)
    overhead = pod_spec.get("overhead") or {}
    extra = Requests(quantity(overhead["cpu"], 1000) if "cpu" in overhead else 0,
                     quantity(overhead["memory"]) if "memory" in overhead else 0)
    return running.most(peak) + extra


def template_requests(deployment: dict) -> Requests:
    """The requests of one replica of a rendered Deployment."""
    return pod_requests(deployment["spec"]["template"].get("spec") or {})


def replicas_that_fit(room, requests: Requests) -> int:
    """How many pods asking `requests` fit in `room` (NodeRoom), node by node."""
    fitting = 0
    for node in room:
        limits = [node.pods]
        if requests.cpu_milli:
            limits.append(node.cpu_milli // requests.cpu_milli)
        if requests.memory_bytes:
            limits.append(node.memory_bytes // requests.memory_bytes)
        fitting += max(0, min(limits)) * node.count
    return fitting


def replicas_of_spec_that_fit(spec, cluster: str, labels, room, running: int):
    """How many replicas of the service of `spec` fit in `cluster`'s `room` (NodeRoom, or
    None: not measured), `running` of them there already: None when there is no cap (room not
    measured, nothing requested, or requests that cannot be counted here)."""
    if room is None or spec.workload.default or parse_quantity is None:
        return None
    requests = _rendered_requests(spec, cluster, tuple(sorted((labels or {}).items())))
    if not requests:
        return None
    return replicas_that_fit(room, requests) + running


@functools.lru_cache(maxsize=4096)
def _rendered_requests(spec, cluster: str, labels: tuple):
    """One replica's requests as `cluster` renders the service (an override may change them);
    cached, as a region's coordinator asks for every service at every tick."""
    try:
        return template_requests(render(spec, cluster, 1, dict(labels))[-1])
    except ValidationError:  # an override that does not apply there: the reconciler says so
        return None
