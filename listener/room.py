"""This cluster's room, kept from watches of its Nodes and Pods (a LIST only at start and when
a watch's version expires, never one per heartbeat):
- per Ready, schedulable node (no NoSchedule or NoExecute taint), its allocatable CPU, memory
  and pods minus the requests of the pods bound to it that have not ended;
- per Deployment, how many of its pods are bound to a node, and how many the kube-scheduler
  has found no node for (PodScheduled False, Unschedulable) for longer than
  `unschedulable_after`.
A pod belongs to the Deployment whose ReplicaSet owns it (the ReplicaSet's name is the
Deployment's and the pod-template-hash label). The report groups nodes with the same free room,
so it stays small however many nodes are alike.
"""
from __future__ import annotations

import collections
import datetime
import logging
import threading
import time

from ansible_collections.multicluster.kube.listener import watching
from ansible_collections.multicluster.kube.plugins.module_utils.fit import NodeRoom, pod_requests, quantity

log = logging.getLogger("multicluster.listener.room")
ENDED = ("Succeeded", "Failed")
BLOCKING_TAINTS = ("NoSchedule", "NoExecute")


class Room:
    def __init__(self, kube, unschedulable_after: float, clock=time.time):
        self._kube, self._after, self._clock = kube, unschedulable_after, clock
        self._nodes = {}  # node name -> (cpu_milli, memory_bytes, pods) allocatable, if schedulable
        self._pods = {}  # uid -> Pod: what room reads of a pod
        self._lock = threading.Lock()
        self.synced = threading.Event()  # both lists have been read once

    def start(self, stopping) -> None:
        listed = {"nodes": threading.Event(), "pods": threading.Event()}
        for what, list_objects, watch_objects, take in (
                ("nodes", self._kube.list_nodes, self._kube.watch_nodes, self._node),
                ("pods", self._kube.list_pods, self._kube.watch_pods, self._pod)):
            def on_list(items, what=what, take=take):
                self._replace(what, items, take)
                listed[what].set()
                if all(e.is_set() for e in listed.values()):
                    self.synced.set()
            threading.Thread(target=watching.follow, name=f"room-{what}", daemon=True, args=(
                list_objects, watch_objects, on_list, lambda kind, obj, take=take: self._event(kind, obj, take),
                stopping, what)).start()

    # -- keeping the tables --------------------------------------------------------------
    def _replace(self, what, items, take) -> None:
        with self._lock:
            (self._nodes if what == "nodes" else self._pods).clear()
            for obj in items:
                take(obj, deleted=False)

    def _event(self, kind, obj, take) -> None:
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            with self._lock:
                take(obj, deleted=kind == "DELETED")

    def _node(self, node: dict, deleted: bool) -> None:
        name = node["metadata"]["name"]
        if deleted or not _schedulable(node):
            self._nodes.pop(name, None)
            return
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        self._nodes[name] = (quantity(allocatable.get("cpu", 0), 1000), quantity(allocatable.get("memory", 0)),
                             int(quantity(allocatable.get("pods", 0))))

    def _pod(self, pod: dict, deleted: bool) -> None:
        uid = pod["metadata"]["uid"]
        status = pod.get("status") or {}
        if deleted or status.get("phase") in ENDED:
            self._pods.pop(uid, None)
            return
        spec = pod.get("spec") or {}
        self._pods[uid] = Pod(spec.get("nodeName") or "", pod_requests(spec), _deployment_of(pod),
                              _unschedulable_since(status))

    # -- what the status reports -----------------------------------------------------------
    def report(self) -> tuple:
        """(NodeRoom, ...): free room of the schedulable nodes, nodes alike grouped, largest first."""
        with self._lock:
            used = collections.defaultdict(lambda: [0, 0, 0])
            for pod in self._pods.values():
                if pod.node in self._nodes:
                    taken = used[pod.node]
                    taken[0] += pod.requests.cpu_milli
                    taken[1] += pod.requests.memory_bytes
                    taken[2] += 1
            free = collections.Counter(
                (cpu - used[name][0], memory - used[name][1], pods - used[name][2])
                for name, (cpu, memory, pods) in self._nodes.items())
        return tuple(NodeRoom(cpu, memory, pods, count)
                     for (cpu, memory, pods), count in sorted(free.items(), reverse=True))

    def pods_by_deployment(self) -> dict:
        """{(namespace, Deployment): (pods bound to a node, pods unschedulable for longer than
        unschedulable_after)}, in one pass over the pods (the status asks every heartbeat)."""
        now, counts = self._clock(), collections.defaultdict(lambda: [0, 0])
        with self._lock:
            for pod in self._pods.values():
                if pod.deployment is None:
                    continue
                if pod.node:
                    counts[pod.deployment][0] += 1
                elif pod.unschedulable_since is not None and now - pod.unschedulable_since >= self._after:
                    counts[pod.deployment][1] += 1
        return {deployment: tuple(n) for deployment, n in counts.items()}


Pod = collections.namedtuple("Pod", "node requests deployment unschedulable_since")
Pod.__doc__ = "A pod as room counts it: the node it is bound to (\"\": none), its Requests, " \
              "its Deployment (namespace, name) or None, and since when it is unschedulable (epoch seconds)."


def _schedulable(node: dict) -> bool:
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return False
    if any(t.get("effect") in BLOCKING_TAINTS for t in spec.get("taints") or ()):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def _deployment_of(pod: dict):
    """(namespace, name) of the Deployment whose ReplicaSet owns the pod, or None."""
    metadata = pod["metadata"]
    template_hash = (metadata.get("labels") or {}).get("pod-template-hash")
    for owner in metadata.get("ownerReferences") or ():
        name = owner.get("name", "")
        if owner.get("kind") == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
            return metadata.get("namespace", ""), name[:-len(template_hash) - 1]
    return None


def _unschedulable_since(status: dict):
    """Epoch seconds since the pod has been found no node for, or None."""
    for condition in status.get("conditions") or ():
        if (condition.get("type"), condition.get("status"), condition.get("reason")) == (
                "PodScheduled", "False", "Unschedulable"):
            try:
                since = datetime.datetime.fromisoformat(condition["lastTransitionTime"].replace("Z", "+00:00"))
            except (KeyError, ValueError, AttributeError):
                return time.time()
            return since.timestamp()
    return None
