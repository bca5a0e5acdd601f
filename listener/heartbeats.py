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

Region reports. Each beat, a region's first two healthy members (listener/health.py) report
the region: which of its members they hold down, and a hash of what its members said they are.
Reports pass from listener to listener with anti-entropy, as heartbeats do, while they are
fresh (grown here within the failure timeout). Once every member sends them (the feature
region-reports), anti-entropy carries other regions' reports in place of their members'
heartbeats: a region's members are judged elsewhere by its reports, and their words are asked
for only when the hash says they changed. A member's resting traffic then grows with its
region rather than with the fleet. Two reporters, so that the end of one leaves the other.
"""
from __future__ import annotations

import hashlib
import threading

from ansible_collections.multicluster.kube.listener.config import Timing
from ansible_collections.multicluster.kube.listener.timesource import SYSTEM


class Heartbeats:
    def __init__(self, cluster: str, version: str = "", features=(), timesource=SYSTEM,
                 failure_timeout: float = Timing.failure_timeout):
        self.cluster = cluster
        self.time = timesource
        self.failure_timeout = failure_timeout  # how long a region report is passed on and trusted
        self.started = timesource.monotonic()
        self._sent = {}  # cluster -> the newest heartbeat (its clock, ms) that reached us
        self._heard = {}  # cluster -> monotonic time that entry last grew
        self._about = {cluster: (0, version, tuple(sorted(features)))}  # cluster -> (sent_ms, version, features)
        # cluster -> (cluster, sent_ms, version, features) as we pass it on: kept as it changes,
        # since every call passes on most of the table and few entries change between calls
        self._passed_on = {}
        self._said_changes = 0  # grows when a cluster's (version, features) changes: said_hash caches by it
        self._said_hashes = {}  # names -> (said_changes, hash)
        # region -> {reporter: ((region, reporter, sent_ms, down, said_hash), down as a set,
        # monotonic time it last grew here)}
        self._reports = {}
        self._lock = threading.Lock()

    def beat(self) -> None:
        """This cluster is alive now."""
        with self._lock:
            sent_ms = max(self.time.wall_ms(), self._sent.get(self.cluster, -1) + 1)
            self._sent[self.cluster], self._heard[self.cluster] = sent_ms, self.time.monotonic()
            self._about[self.cluster] = (sent_ms, *self._about[self.cluster][1:])
            self._passed_on[self.cluster] = (self.cluster, sent_ms, *self._about[self.cluster][1:])

    def observe(self, beats, sender: str = "") -> int:
        """Take a peer's table [(cluster, sent_ms[, version, features])], sent by cluster
        `sender`; returns how many entries grew. Our own entry is ours alone to grow."""
        grown, now = 0, self.time.monotonic()
        with self._lock:
            sent, about, passed_on = self._sent, self._about, self._passed_on
            for beat in beats:
                cluster, sent_ms = beat[0], beat[1]
                if cluster == self.cluster or (passed_on.get(cluster) == beat and cluster != sender):
                    continue  # ours, or what we pass on already (most of a peer's table): no news
                changed = sent_ms > sent.get(cluster, -1)
                if changed:
                    sent[cluster], self._heard[cluster] = sent_ms, now
                    grown += 1
                version, features = (beat[2], tuple(beat[3])) if len(beat) > 2 else ("", ())
                held = about.get(cluster)
                if (version or cluster == sender) and (held is None or sent_ms > held[0] or (
                        sent_ms == held[0] and held[1:] != (version, features))):
                    about[cluster] = (sent_ms, version, features)
                    changed = True
                    if held is None or held[1:] != (version, features):
                        self._said_changes += 1
                if changed:
                    passed_on[cluster] = (cluster, sent[cluster], *self._said_at(cluster, sent[cluster]))
        return grown

    def table(self, newer_than=()) -> list:
        """[(cluster, sent_ms)]: every entry, or only those newer than in `newer_than`."""
        return [entry[:2] for entry in self.entries(newer_than)]

    def entries(self, newer_than=(), only=None) -> list:
        """[(cluster, sent_ms, version, features)] to pass on, by cluster: every entry (of the
        clusters in `only`, when given), or only those newer than in `newer_than` (a peer's
        entries); version "" where none was heard with that beat."""
        theirs = {entry[0]: entry[1] for entry in newer_than}
        with self._lock:
            passed_on = self._passed_on
            chosen = passed_on.values() if only is None else [passed_on[c] for c in only if c in passed_on]
            return sorted(entry for entry in chosen if entry[1] > theirs.get(entry[0], -1)) if theirs else sorted(chosen)

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

    # -- region reports ----------------------------------------------------------------------
    def said_hash(self, names) -> int:
        """A 64-bit hash of what the clusters `names` (sorted) said they are, as held here: two
        listeners holding the same words get the same hash."""
        names = tuple(names)
        with self._lock:
            cached = self._said_hashes.get(names)
            if cached is not None and cached[0] == self._said_changes:
                return cached[1]
            words = []
            for name in names:
                about = self._about.get(name)
                if about is not None and about[1]:
                    words.append(f"{name}\0{about[1]}\0{','.join(about[2])}")
            said = int.from_bytes(hashlib.blake2b("\n".join(words).encode(), digest_size=8).digest(), "big")
            if len(self._said_hashes) > 1000:
                self._said_hashes.clear()
            self._said_hashes[names] = (self._said_changes, said)
            return said

    def report(self, region: str, names, down) -> None:
        """This cluster reports its region, of members `names`: `down` those it holds down."""
        said = self.said_hash(names)
        with self._lock:
            report = (region, self.cluster, self._sent.get(self.cluster, 0), tuple(sorted(down)), said)
            self._take_report(report, self.time.monotonic())

    def observe_reports(self, reports) -> list:
        """Take a peer's region reports [(region, reporter, sent_ms, down, said_hash)]; returns
        the region of each that grew. Our own report is ours alone to grow."""
        grown, now = [], self.time.monotonic()
        with self._lock:
            for report in reports:
                held = self._reports.get(report[0], {}).get(report[1])
                if report[1] != self.cluster and (held is None or report[2] > held[0][2]):
                    self._take_report(report, now)
                    grown.append(report[0])
        return grown

    def _take_report(self, report, now) -> None:
        self._reports.setdefault(report[0], {})[report[1]] = (report, frozenset(report[3]), now)

    def reports(self, newer_than=()) -> list:
        """The region reports that grew here within the failure timeout (to pass on), or only
        those newer than in `newer_than` (a peer's reports)."""
        theirs = {report[:2]: report[2] for report in newer_than}
        since = self.time.monotonic() - self.failure_timeout
        with self._lock:
            return sorted(report for by_reporter in self._reports.values()
                          for report, _down, grew in by_reporter.values()
                          if grew >= since and report[2] > theirs.get(report[:2], -1))

    def region_word(self, region: str) -> list:
        """[(monotonic time it grew, the members it holds down, its said_hash)] of each report
        of `region` that grew here within the failure timeout; empty: none did."""
        since = self.time.monotonic() - self.failure_timeout
        with self._lock:
            return [(grew, down, report[4]) for report, down, grew in self._reports.get(region, {}).values()
                    if grew >= since]
