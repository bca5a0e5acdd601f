"""An in-process network of listeners for tests and simulations: the real protocol code on
both sides, and messages copied through their wire encoding, as gRPC would carry them.

A MemoryNetwork holds the members by endpoint; each member's MemoryTransport calls another's
Replication.handle directly, in the calling thread, with the encoded messages gRPC would
carry. Partitions are pairs of endpoints that cannot reach each other: a call across one fails
as an unreachable peer would.
"""
from __future__ import annotations

import threading

from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError

from ansible_collections.multicluster.kube.listener.timesource import SYSTEM
from ansible_collections.multicluster.kube.listener.transport import PeerRefused, PeerUnreachable, Transport


class MemoryNetwork:
    def __init__(self):
        self._members = {}  # endpoint -> Replication
        self._cut = set()  # frozenset({a, b}): pairs that cannot reach each other
        self._lock = threading.Lock()
        self.calls = 0  # calls delivered, for tests that count messages

    def join(self, endpoint: str, replication) -> None:
        with self._lock:
            self._members[endpoint] = replication

    def leave(self, endpoint: str) -> None:
        with self._lock:
            self._members.pop(endpoint, None)

    def partition(self, side, other_side) -> None:
        with self._lock:
            self._cut |= {frozenset((a, b)) for a in side for b in other_side}

    def heal(self) -> None:
        with self._lock:
            self._cut.clear()

    def deliver(self, origin: str, endpoint: str, method: str, request):
        with self._lock:
            target = self._members.get(endpoint)
            if target is None or frozenset((origin, endpoint)) in self._cut:
                raise PeerUnreachable(endpoint, "UNAVAILABLE", "not reachable from " + origin)
            self.calls += 1
        try:
            return target.handle(method, request)
        except ValidationError as error:
            raise PeerRefused(endpoint, "INVALID_ARGUMENT", str(error)) from None


class MemoryTransport(Transport):
    def __init__(self, network: MemoryNetwork, endpoint: str, timeout: float = 2.0, timesource=SYSTEM):
        super().__init__(timeout, timesource)
        self.network, self.endpoint = network, endpoint

    def _send(self, endpoint, method, request):
        return self.network.deliver(self.endpoint, endpoint, method, request)
