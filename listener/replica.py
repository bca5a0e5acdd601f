"""This listener's copy of the fleet's records: in memory, in the store, and the queries the
rest of the listener asks of it.

Records are merged by the rule of model.merge (the higher stamp wins per key), so replicas
that saw the same records hold the same state whatever the order. Everything that reads or
changes the state goes through this class: its lock and its dictionaries are its own. Kept in
step with the state, so that no write or tick scans every record: the members, each cluster's
latest status, the replicas all placements put on each cluster, and the digest index
(listener/digest.py) that anti-entropy compares.
"""
from __future__ import annotations

import threading
import time

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.history import Change
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, Service, cluster_key, merge, newer, status_key)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

from ansible_collections.multicluster.kube.listener.digest import DigestIndex, bucket_of
from ansible_collections.multicluster.kube.listener.timesource import SYSTEM

CLUSTER_PREFIX, STATUS_PREFIX = cluster_key(""), status_key("")
PROMISES_KEPT = 10_000  # promised keys remembered before the expired ones are swept


class Replica:
    def __init__(self, cluster: str, store, clock, metrics, tombstone_ttl: float = 3600.0, timesource=SYSTEM):
        self.cluster = cluster
        self.time = timesource
        self.tombstone_ttl_ms = int(tombstone_ttl * 1000)
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._state = {}
        self._index = DigestIndex()
        self._changed = threading.Condition()  # its lock guards everything below; waiters watch changes
        self._subscribers = []  # called (outside the lock) with the records that won
        self._confirmed = {}  # tombstone key -> clusters known to hold it (for garbage collection)
        self._clusters = {}  # name -> Cluster: the members
        self._statuses = {}  # cluster -> its latest ClusterStatus
        self._placed = {}  # cluster -> replicas all services' placements put on it (for capacity)
        self._histories = {}  # service key -> {history key: Change} of its history
        self._promised = {}  # key -> (stamp, monotonic deadline): a live record a peer is sending us
        self._generation = 0  # grows with every change of the state: who read it at one knows nothing moved since

    # -- changes ---------------------------------------------------------------------------
    def load(self) -> int:
        records = self._store.load()
        with self._changed:
            self._merge(records)
            for record in records:
                self._clock.observe(record.stamp)
        return len(records)

    def subscribe(self, callback) -> list:
        """Call `callback(records)` with the records that win from now on; returns every
        record held, taken in the same critical section, so nothing falls in between."""
        with self._changed:
            self._subscribers.append(callback)
            return list(self._state.values())

    def commit(self, records) -> list:
        """A local write: persist, then merge. Returns the records that won."""
        return self._accept(records)

    def receive(self, records) -> list:
        """Records from a peer: keep those newer than ours, persisted before they are merged."""
        for record in records:
            self._clock.observe(record.stamp)
        return self._accept(records)

    def _accept(self, records) -> list:
        # A tombstone past its TTL for a key we do not hold was collected here already (or
        # never mattered): taking it back from a slower peer would only start it over.
        expired = self.time.wall_ms() - self.tombstone_ttl_ms
        with self._changed:
            fresh = [r for r in records if newer(r, self._state.get(r.key))
                     and not (r.deleted and r.key not in self._state and r.stamp.physical_ms < expired)]
        if not fresh:
            return []
        # Persisted before anyone can see them, but without the lock: readers and other
        # receivers need not wait for the disk. The store keeps the newest stamp per key and
        # merge does too, so two receivers racing on a key both end with the newer record.
        self._store.save(fresh)
        with self._changed:
            won = self._merge(fresh)
            if not won:
                return []
            for record in won:
                promised = self._promised.get(record.key)
                if promised is not None and promised[0] <= record.stamp:
                    del self._promised[record.key]
            self._changed.notify_all()
            subscribers = list(self._subscribers)
        self._metrics.records_held.set(len(self._state))
        if any(not isinstance(r.value, ClusterStatus) for r in won):
            self._metrics.last_record_received.set_to_current_time()
        for callback in subscribers:
            callback(won)
        return won

    def _merge(self, records) -> list:
        """Merge into state, keeping the indexes in step. Call with the lock held."""
        before = {r.key: self._state.get(r.key) for r in records}
        won = merge(self._state, records)
        if won:
            self._generation += 1
        for key, old in before.items():
            if self._state.get(key) is not old:
                self._index.update(key, old, self._state[key])
                self._track(old, self._state[key])
        return won

    def _track(self, old, new) -> None:
        """Keep members, statuses and placed totals in step with one key's change."""
        if isinstance(new.value, Cluster):
            self._clusters[new.value.name] = new.value
        elif new.key.startswith(CLUSTER_PREFIX):
            self._clusters.pop(new.key[len(CLUSTER_PREFIX):], None)
        elif isinstance(new.value, ClusterStatus):
            self._statuses[new.value.cluster] = new.value
        elif new.key.startswith(STATUS_PREFIX):
            self._statuses.pop(new.key[len(STATUS_PREFIX):], None)
        elif isinstance(new.value, Change):
            self._histories.setdefault(new.value.service_key, {})[new.key] = new.value
        elif old is not None and isinstance(old.value, Change):
            changes = self._histories.get(old.value.service_key, {})
            changes.pop(new.key, None)
            if not changes:
                self._histories.pop(old.value.service_key, None)
        for record, sign in ((old, -1), (new, 1)):
            if record is not None and isinstance(record.value, Service):
                for cluster, count in record.value.placement.clusters.items():
                    self._placed[cluster] = self._placed.get(cluster, 0) + sign * count

    # -- queries ---------------------------------------------------------------------------
    def history(self, service_key: str) -> list:
        """The changes of the service's history held here, oldest first."""
        with self._changed:
            return sorted(self._histories.get(service_key, {}).values(), key=lambda c: c.change)

    def record(self, key: str):
        """The record held for `key` (a tombstone included), or None."""
        with self._changed:
            return self._state.get(key)

    def live(self, key: str):
        """The value held for `key`, or None when there is none or it was deleted."""
        with self._changed:
            record = self._state.get(key)
            return record.value if record is not None else None

    def snapshot(self) -> list:
        with self._changed:
            return list(self._state.values())

    def count(self) -> int:
        with self._changed:
            return len(self._state)

    def services(self, region: str) -> list:
        """[(key, Service)] of the region's live services."""
        with self._changed:
            return [(k, r.value) for k, r in self._state.items()
                    if isinstance(r.value, Service) and r.value.region == region]

    def generation(self) -> int:
        """A number that grows with every change of the records held (any key)."""
        with self._changed:
            return self._generation

    def members(self) -> list:
        with self._changed:
            return list(self._clusters.values())

    def region_of(self, cluster: str):
        """The region of a member, or None."""
        with self._changed:
            member = self._clusters.get(cluster)
            return member.region if member is not None else None

    def region_clusters(self, region: str) -> list:
        with self._changed:
            return sorted(c.name for c in self._clusters.values() if c.region == region)

    def regions(self) -> list:
        with self._changed:
            return sorted({c.region for c in self._clusters.values()})

    def status_of(self, cluster: str):
        with self._changed:
            return self._statuses.get(cluster)

    def used_by_others(self, key: str) -> dict:
        """Replicas that services other than `key` hold on each cluster (for capacity)."""
        with self._changed:
            current = self._state.get(key)
            own = current.value.placement.clusters if current is not None and isinstance(current.value, Service) else {}
            return {c: n - own.get(c, 0) for c, n in self._placed.items() if n - own.get(c, 0)}

    def wait_until(self, predicate, timeout: float) -> bool:
        """Wait until predicate() (which may call the queries above) holds; False on timeout."""
        deadline = time.monotonic() + timeout  # a client's wait: real time, even in a simulation
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.5))
        return True

    # -- anti-entropy (listener/replication.py) -------------------------------------------
    def bucket_hashes(self) -> list:
        with self._changed:
            return list(self._index.hashes)

    def answer_summary(self, hashes, from_cluster: str = "") -> list:
        """Given a peer's bucket hashes: the buckets that differ. In the equal ones the peer
        holds every tombstone we hold, at our stamp."""
        with self._changed:
            differing = self._index.differing(hashes)
            if from_cluster:
                self.confirm_equal_buckets(from_cluster, differing)
        return differing

    def confirm_equal_buckets(self, cluster: str, differing) -> None:
        skip = set(differing)
        with self._changed:
            self._confirm(cluster, [k for k in self._index.tombstones if bucket_of(k) not in skip])

    def digest(self, buckets=None) -> list:
        with self._changed:
            keys = self._state if buckets is None else self._index.keys_in(buckets)
            state = self._state
            return [pb.KeyStamp(key=k, stamp=messages.stamp_to_message(state[k].stamp), deleted=state[k].deleted)
                    for k in keys]

    def answer_digest(self, entries, from_cluster: str = "", buckets=None, promise_for: float = 0.0) -> tuple:
        """Given a peer's (key, stamp) list (of `buckets` only, when given): the records newer
        here, and the keys newer there that we want.

        With promise_for, a live record asked of one peer is not asked of another for that
        many seconds (the first is sending it): after a heal, every peer across would otherwise
        push us the same records. Tombstones are always asked for: a peer takes a tombstone we
        did not ask for as one we hold (see confirm_held), which garbage collection relies on."""
        theirs = {e.key: messages.stamp_from_message(e.stamp) for e in entries}
        tombstones_there = {e.key for e in entries if e.deleted}
        now = self.time.monotonic()
        with self._changed:
            state = self._state
            mine = state.keys() if not buckets else self._index.keys_in(buckets)
            newer_here = [state[k] for k in mine if k not in theirs or state[k].stamp > theirs[k]]
            wanted = []
            for k, stamp in theirs.items():
                if k in state and not stamp > state[k].stamp:
                    continue
                live = k not in tombstones_there
                promised = self._promised.get(k)
                if live and promised is not None and promised[0] >= stamp and promised[1] > now:
                    continue
                wanted.append(k)
                if live and promise_for:
                    self._promised[k] = (stamp, now + promise_for)
            if len(self._promised) > PROMISES_KEPT:  # promises not kept (a peer failed): forget the expired
                self._promised = {k: p for k, p in self._promised.items() if p[1] > now}
            if from_cluster:
                self._confirm(from_cluster, [k for k in mine
                                             if state[k].deleted and k in theirs and theirs[k] >= state[k].stamp])
        return newer_here, wanted

    def _confirm(self, cluster: str, keys) -> None:
        for key in keys:
            self._confirmed.setdefault(key, set()).add(cluster)

    def confirm_held(self, cluster: str, sent_keys, not_held) -> None:
        """After a digest exchange with `cluster`: the tombstones we sent that it did not ask
        for, it holds (at our stamp or later)."""
        missing = set(not_held)
        with self._changed:
            self._confirm(cluster, [k for k in sent_keys if k not in missing
                                    and k in self._state and self._state[k].deleted])

    def confirmed_by(self, key: str) -> set:
        """The clusters known to hold the tombstone of `key`."""
        with self._changed:
            return set(self._confirmed.get(key, ()))

    def collect_tombstones(self, members, older_than_ms: int) -> list:
        """The safe rule: forget a tombstone once it is older than the TTL *and* every other
        member has confirmed holding it, so no member can bring the deleted record back."""
        others = set(members) - {self.cluster}
        with self._changed:  # one critical section: a newer record for the key cannot slip in between
            done = [k for k, r in self._state.items()
                    if r.deleted and r.stamp.physical_ms < older_than_ms and others <= self._confirmed.get(k, set())]
            if done:
                self._generation += 1
                self._store.forget(done)
                for key in done:
                    self._index.update(key, self._state.pop(key), None)
                    self._confirmed.pop(key, None)
        return done
