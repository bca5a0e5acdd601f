"""Replication among listeners: state-based and convergent.

Every record carries a hybrid logical clock stamp; merge keeps the higher stamp per key,
so merge is commutative, associative and idempotent and every listener that has seen the
same records holds the same state, whatever the order, loss or duplication of messages.
A local write is persisted, then pushed to every peer at once; anti-entropy by digest
repairs whatever a push missed (partitions, restarts, new members).
"""
from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
import time

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, ClusterStatus, merge, newer
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub

log = logging.getLogger("multicluster.listener.replication")


class Replica:
    """This listener's copy of the fleet's records, kept in memory and in the store."""

    def __init__(self, cluster: str, store, clock, metrics, tombstone_ttl: float = 3600.0):
        self.cluster = cluster
        self.tombstone_ttl_ms = int(tombstone_ttl * 1000)
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.state = {}
        self.version = 0  # bumps on every change; waiters watch it
        self.changed = threading.Condition()
        self.last_heard = {}  # cluster -> monotonic time a newer status record of it arrived
        self.started = time.monotonic()
        self.on_change = None  # called (outside the lock) after records were accepted
        self.confirmed = {}  # tombstone key -> clusters known to hold it (for garbage collection)

    def load(self) -> int:
        records = self.store.load()
        with self.changed:
            merge(self.state, records)
            for record in records:
                self.clock.observe(record.stamp)
            self.version += 1
        return len(records)

    def commit(self, records) -> list:
        """A local write: persist, then merge. Returns the records that won."""
        return self._accept(records)

    def receive(self, records) -> list:
        """Records from a peer: keep those newer than ours, persisted before they are merged."""
        for record in records:
            self.clock.observe(record.stamp)
        return self._accept(records)

    def _accept(self, records) -> list:
        # A tombstone past its TTL for a key we do not hold was collected here already (or
        # never mattered): taking it back from a slower peer would only start it over.
        expired = wall_clock_ms() - self.tombstone_ttl_ms
        with self.changed:
            fresh = [r for r in records if newer(r, self.state.get(r.key))
                     and not (r.deleted and r.key not in self.state and r.stamp.physical_ms < expired)]
            if not fresh:
                return []
            self.store.save(fresh)
            won = merge(self.state, fresh)
            now = time.monotonic()
            for record in won:
                if isinstance(record.value, ClusterStatus):
                    self.last_heard[record.value.cluster] = now
            self.version += 1
            self.changed.notify_all()
        self.metrics.records_held.set(len(self.state))
        if self.on_change is not None:
            self.on_change()
        return won

    def snapshot(self) -> list:
        with self.changed:
            return list(self.state.values())

    def get(self, key: str):
        with self.changed:
            return self.state.get(key)

    def digest(self) -> list:
        with self.changed:
            return [pb.KeyStamp(key=k, stamp=messages.stamp_to_message(r.stamp)) for k, r in self.state.items()]

    def answer_digest(self, entries, from_cluster: str = "") -> tuple:
        """Given a peer's (key, stamp) list: the records newer here, and the keys newer there."""
        theirs = {e.key: messages.stamp_from_message(e.stamp) for e in entries}
        with self.changed:
            newer_here = [r for k, r in self.state.items() if k not in theirs or r.stamp > theirs[k]]
            wanted = [k for k, s in theirs.items() if k not in self.state or s > self.state[k].stamp]
            if from_cluster:
                self._confirm(from_cluster, [k for k, r in self.state.items()
                                             if r.deleted and k in theirs and theirs[k] >= r.stamp])
        return newer_here, wanted

    def _confirm(self, cluster: str, keys) -> None:
        for key in keys:
            self.confirmed.setdefault(key, set()).add(cluster)

    def confirm_held(self, cluster: str, sent_keys, not_held) -> None:
        """After a digest exchange with `cluster`: the tombstones we sent that it did not ask
        for, it holds (at our stamp or later)."""
        missing = set(not_held)
        with self.changed:
            self._confirm(cluster, [k for k in sent_keys if k not in missing
                                    and k in self.state and self.state[k].deleted])

    def collect_tombstones(self, members, older_than_ms: int) -> list:
        """The safe rule: forget a tombstone once it is older than the TTL *and* every other
        member has confirmed holding it, so no member can bring the deleted record back."""
        others = set(members) - {self.cluster}
        with self.changed:  # one critical section: a newer record for the key cannot slip in between
            done = [k for k, r in self.state.items()
                    if r.deleted and r.stamp.physical_ms < older_than_ms and others <= self.confirmed.get(k, set())]
            if done:
                self.store.forget(done)
                for key in done:
                    self.state.pop(key, None)
                    self.confirmed.pop(key, None)
        return done

    def wait_until(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
        return True


class Peers:
    """Channels to the other listeners: the clusters' registered endpoints plus seed endpoints."""

    def __init__(self, replica: Replica, seeds, tls: dict, token, timeout: float, metrics, discover=True):
        self.replica = replica
        self.seeds = list(seeds)
        self.discover = discover
        self.tls = tls
        self.token = token
        self.timeout = timeout
        self.metrics = metrics
        self._stubs = {}
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="push")
        self.up = {}  # endpoint -> bool, from the last call

    def endpoints(self, region=None) -> list:
        """Peer endpoints: registered clusters (of `region` only, when given) and seeds not
        registered yet, whose region is unknown."""
        if not self.discover:
            return list(self.seeds)
        clusters = [r.value for r in self.replica.snapshot() if isinstance(r.value, Cluster)]
        own = {c.endpoint for c in clusters if c.name == self.replica.cluster}
        registered = {c.endpoint for c in clusters if c.endpoint}
        wanted = {c.endpoint for c in clusters
                  if c.endpoint and c.name != self.replica.cluster and (region is None or c.region == region)}
        return sorted((wanted | (set(self.seeds) - registered)) - own)

    def _stub(self, endpoint):
        with self._lock:
            if endpoint not in self._stubs:
                channel = open_channel(endpoint, self.tls.get("ca"), self.tls.get("cert"), self.tls.get("key"),
                                       self.tls.get("server_name"))
                self._stubs[endpoint] = (channel, Stub(channel, "Peer"))
            return self._stubs[endpoint][1]

    def _call(self, endpoint, method, request):
        try:
            response = getattr(self._stub(endpoint), method)(
                request, timeout=self.timeout, metadata=call_metadata(self.token))
        except grpc.RpcError as err:
            if self.up.get(endpoint, True):
                log.warning("peer %s unreachable: %s", endpoint, err.code().name)
            self.up[endpoint] = False
            raise
        self.up[endpoint] = True
        return response

    def push(self, records, endpoints=None) -> dict:
        """Send records to every peer at once; returns {endpoint: future of bool (accepted)}."""
        request = pb.PushRequest(from_cluster=self.replica.cluster,
                                 records=[messages.record_to_message(r) for r in records])
        targets = self.endpoints() if endpoints is None else endpoints
        return {e: self._pool.submit(self._push_one, e, request) for e in targets}

    def _push_one(self, endpoint, request) -> bool:
        try:
            self._call(endpoint, "Push", request)
            return True
        except grpc.RpcError:
            return False

    def anti_entropy_round(self, fanout: int) -> int:
        """Exchange digests with up to `fanout` random peers; returns records repaired."""
        endpoints = self.endpoints()
        chosen = random.sample(endpoints, min(fanout, len(endpoints)))
        futures = [self._pool.submit(self._sync_with, e) for e in chosen]
        return sum(f.result() for f in futures)

    def _sync_with(self, endpoint) -> int:
        digest = self.replica.digest()
        try:
            answer = self._call(endpoint, "Digest", pb.DigestRequest(from_cluster=self.replica.cluster, entries=digest))
        except grpc.RpcError:
            return 0
        if answer.answered_by:
            self.replica.confirm_held(answer.answered_by, [e.key for e in digest], answer.wanted)
        repaired = self.replica.receive([messages.record_from_message(r) for r in answer.newer])
        if answer.wanted:
            wanted = [self.replica.get(k) for k in answer.wanted]
            self.push([r for r in wanted if r is not None], endpoints=[endpoint])[endpoint].result()
        self.metrics.anti_entropy_repairs.inc(len(repaired))
        return len(repaired) + len(answer.wanted)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for channel, _stub in self._stubs.values():
                channel.close()
