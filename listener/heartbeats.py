"""Liveness: which clusters' listeners are alive, from their heartbeats, and what each says it
is (its version and the features it supports).

A heartbeat is a cluster's clock reading, sent every heartbeat interval while its listener
runs (and, when it manages Kubernetes, while its reconcile passes succeed). It is not a
record: it is neither stored nor compared by digest, so liveness costs neither a disk
commit nor a repair of changed records at every beat. Instead every listener keeps a table
of the newest heartbeat it knows of each cluster and passes the whole table on: to its
region with each heartbeat push, and to each peer of an anti-entropy round (gossip). A
cluster is alive while its entry keeps growing; when it last grew is local (monotonic)
time, so no two clocks are compared.

A beat also carries what its listener is: version and features (listener/features.py). What a
cluster's own call says of itself is taken as it is, an empty version too (a listener before
0.2 says nothing: it counts as lacking every feature). Passed on by others, it is taken only
when it says something (a listener before 0.2 passes beats on without it), and passed on only
with the beat it came with, so a stale word never travels with a fresh beat.
"""
from __future__ import annotations

import threading

from ansible_collections.multicluster.kube.listener.timesource import SYSTEM


class Heartbeats:
    def __init__(self, cluster: str, version: str = "", features=(), timesource=SYSTEM):
        self.cluster = cluster
        self.time = timesource
        self.started = timesource.monotonic()
        self._sent = {}  # cluster -> the newest heartbeat (its clock, ms) that reached us
        self._heard = {}  # cluster -> monotonic time that entry last grew
        self._about = {cluster: (0, version, tuple(sorted(features)))}  # cluster -> (sent_ms, version, features)
        self._lock = threading.Lock()

    def beat(self) -> None:
        """This cluster is alive now."""
        with self._lock:
            sent_ms = max(self.time.wall_ms(), self._sent.get(self.cluster, -1) + 1)
            self._grow(self.cluster, sent_ms, self.time.monotonic())
            self._about[self.cluster] = (sent_ms, *self._about[self.cluster][1:])

    def observe(self, beats, sender: str = "") -> int:
        """Take a peer's table [(cluster, sent_ms[, version, features])], sent by cluster
        `sender`; returns how many entries grew. Our own entry is ours alone to grow."""
        grown, now = 0, self.time.monotonic()
        with self._lock:
            for beat in beats:
                cluster, sent_ms = beat[0], beat[1]
                version, features = (beat[2], tuple(beat[3])) if len(beat) > 2 else ("", ())
                if cluster == self.cluster:
                    continue
                if sent_ms > self._sent.get(cluster, -1):
                    self._grow(cluster, sent_ms, now)
                    grown += 1
                if (version or cluster == sender) and sent_ms >= self._about.get(cluster, (-1,))[0]:
                    self._about[cluster] = (sent_ms, version, features)
        return grown

    def _grow(self, cluster, sent_ms, now) -> None:
        self._sent[cluster] = sent_ms
        self._heard[cluster] = now

    def table(self, newer_than=()) -> list:
        """[(cluster, sent_ms)]: every entry, or only those newer than in `newer_than`."""
        return [entry[:2] for entry in self.entries(newer_than)]

    def entries(self, newer_than=(), only=None) -> list:
        """[(cluster, sent_ms, version, features)] to pass on: every entry (of the clusters in
        `only`, when given), or only those newer than in `newer_than` (a peer's entries);
        version "" where none was heard."""
        theirs = {entry[0]: entry[1] for entry in newer_than}
        with self._lock:
            sent = self._sent
            chosen = sorted(sent.items()) if only is None else sorted((c, sent[c]) for c in only if c in sent)
            return [(c, ms, *self._said_at(c, ms)) for c, ms in chosen if ms > theirs.get(c, -1)]

    def _said_at(self, cluster, sent_ms) -> tuple:
        """(version, features) said with the beat of `sent_ms`, or ("", ()) if not with that one."""
        about = self._about.get(cluster)
        return about[1:] if about is not None and about[0] == sent_ms else ("", ())

    def about(self, cluster: str):
        """(version, features) the cluster's listener last said it has, or None if unheard."""
        with self._lock:
            about = self._about.get(cluster)
            return about[1:] if about is not None and about[1] else None

    def heard(self, cluster: str):
        """Monotonic time the cluster's heartbeat last grew here, or None."""
        with self._lock:
            return self._heard.get(cluster)
