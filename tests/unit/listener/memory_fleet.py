"""Listeners' replication parts (replica, heartbeats, the protocol) over the in-memory
network: the real protocol code, no gRPC, no Kubernetes."""
from __future__ import annotations

import dataclasses

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork, MemoryTransport
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.replication import Replication
from ansible_collections.multicluster.kube.listener.store import Store
from ansible_collections.multicluster.kube.listener.timesource import SYSTEM


@dataclasses.dataclass
class Node:
    name: str
    replica: Replica
    heartbeats: Heartbeats
    replication: Replication


def node(network: MemoryNetwork, name: str, records=(), peers=None, version="", features=(),
         timesource=SYSTEM) -> Node:
    """A member reached at endpoint `name`. With `peers` (endpoints), it knows only those (no
    discovery); without, its peers are the registered clusters it holds. `version` and
    `features`: what its heartbeats say it is; `timesource`: its liveness's clock."""
    replica = Replica(name, Store(":memory:"), HybridClock(name), Metrics())
    replica.receive(list(records))
    heartbeats = Heartbeats(name, version, features, timesource=timesource)
    replication = Replication(replica, heartbeats, MemoryTransport(network, name), seeds=peers or (),
                              discover=peers is None, metrics=Metrics())
    network.join(name, replication)
    return Node(name, replica, heartbeats, replication)


def state(n: Node) -> dict:
    return {r.key: r for r in n.replica.snapshot()}
