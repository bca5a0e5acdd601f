"""Liveness: which clusters' listeners are alive, from their heartbeats.

A heartbeat is a cluster's clock reading, sent every heartbeat interval while its listener
runs (and, when it manages Kubernetes, while its reconcile passes succeed). It is not a
record: it is neither stored nor compared by digest, so liveness costs neither a disk
commit nor a repair of changed records at every beat. Instead every listener keeps a table
of the newest heartbeat it knows of each cluster and passes the whole table on: to its
region with each heartbeat push, and to each peer of an anti-entropy round (gossip). A
cluster is alive while its entry keeps growing; when it last grew is local (monotonic)
time, so no two clocks are compared.
"""
from __future__ import annotations

import threading
import time

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms


class Heartbeats:
    def __init__(self, cluster: str):
        self.cluster = cluster
        self.started = time.monotonic()
        self._sent = {}  # cluster -> the newest heartbeat (its clock, ms) that reached us
        self._heard = {}  # cluster -> monotonic time that entry last grew
        self._lock = threading.Lock()

    def beat(self) -> None:
        """This cluster is alive now."""
        with self._lock:
            self._grow(self.cluster, max(wall_clock_ms(), self._sent.get(self.cluster, -1) + 1), time.monotonic())

    def observe(self, beats) -> int:
        """Take a peer's table [(cluster, sent_ms)]; returns how many entries grew. Our own
        entry is ours alone to grow."""
        grown, now = 0, time.monotonic()
        with self._lock:
            for cluster, sent_ms in beats:
                if cluster != self.cluster and sent_ms > self._sent.get(cluster, -1):
                    self._grow(cluster, sent_ms, now)
                    grown += 1
        return grown

    def _grow(self, cluster, sent_ms, now) -> None:
        self._sent[cluster] = sent_ms
        self._heard[cluster] = now

    def table(self, newer_than=()) -> list:
        """[(cluster, sent_ms)]: every entry, or only those newer than in `newer_than`."""
        theirs = dict(newer_than)
        with self._lock:
            return [(c, ms) for c, ms in sorted(self._sent.items()) if ms > theirs.get(c, -1)]

    def heard(self, cluster: str):
        """Monotonic time the cluster's heartbeat last grew here, or None."""
        with self._lock:
            return self._heard.get(cluster)
