"""Replication among listeners: state-based and convergent.

Every record carries a hybrid logical clock stamp; merge keeps the higher stamp per key,
so merge is commutative, associative and idempotent and every listener that has seen the
same records holds the same state, whatever the order, loss or duplication of messages.
A local write is persisted, then pushed to every peer at once; anti-entropy by digest
repairs whatever a push missed (partitions, restarts, new members). Digests compare bucket
hashes first (listener/digest.py), so replicas in sync exchange 2 KiB, not every key.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import random
import threading
import time

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, ServiceIntent, cluster_key, merge, newer, status_key)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

from ansible_collections.multicluster.kube.listener.digest import DigestIndex, bucket_of

log = logging.getLogger("multicluster.listener.replication")
CLUSTER_PREFIX, STATUS_PREFIX = cluster_key(""), status_key("")


class Replica:
    """This listener's copy of the fleet's records, kept in memory and in the store."""

    def __init__(self, cluster: str, store, clock, metrics, tombstone_ttl: float = 3600.0):
        self.cluster = cluster
        self.tombstone_ttl_ms = int(tombstone_ttl * 1000)
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.state = {}
        self.index = DigestIndex()
        self.version = 0  # bumps on every change; waiters watch it
        self.changed = threading.Condition()
        self.on_change = None  # called (outside the lock) after records were accepted
        self.confirmed = {}  # tombstone key -> clusters known to hold it (for garbage collection)
        # Kept in step with state, so that no write or tick scans every record:
        self.clusters = {}  # name -> Cluster: the members
        self.statuses = {}  # cluster -> its latest ClusterStatus
        self.placed = {}  # cluster -> replicas all services' placements put on it (for capacity)
        self.received_ms = {}  # key -> wall-clock ms this listener took its current record
        self._promised = {}  # key -> (stamp, monotonic deadline): a live record a peer is sending us

    def load(self) -> int:
        records = self.store.load()
        with self.changed:
            self._merge(records)
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
        # Persisted before anyone can see them, but without the lock: readers and other
        # receivers need not wait for the disk. The store keeps the newest stamp per key and
        # merge does too, so two receivers racing on a key both end with the newer record.
        self.store.save(fresh)
        with self.changed:
            won = self._merge(fresh)
            if not won:
                return []
            now_ms = wall_clock_ms()
            for record in won:
                self.received_ms[record.key] = now_ms
                promised = self._promised.get(record.key)
                if promised is not None and promised[0] <= record.stamp:
                    del self._promised[record.key]
            self.version += 1
            self.changed.notify_all()
        self.metrics.records_held.set(len(self.state))
        if self.on_change is not None:
            self.on_change(won)
        return won

    def _merge(self, records) -> list:
        """Merge into state, keeping the digest index in step. Call with the lock held."""
        before = {r.key: self.state.get(r.key) for r in records}
        won = merge(self.state, records)
        for key, old in before.items():
            if self.state.get(key) is not old:
                self.index.update(key, old, self.state[key])
                self._track(old, self.state[key])
        return won

    def _track(self, old, new) -> None:
        """Keep members, statuses and placed totals in step with one key's change."""
        if isinstance(new.value, Cluster):
            self.clusters[new.value.name] = new.value
        elif new.key.startswith(CLUSTER_PREFIX):
            self.clusters.pop(new.key[len(CLUSTER_PREFIX):], None)
        elif isinstance(new.value, ClusterStatus):
            self.statuses[new.value.cluster] = new.value
        elif new.key.startswith(STATUS_PREFIX):
            self.statuses.pop(new.key[len(STATUS_PREFIX):], None)
        for record, sign in ((old, -1), (new, 1)):
            if record is not None and isinstance(record.value, ServiceIntent):
                for cluster, count in record.value.placement.items():
                    self.placed[cluster] = self.placed.get(cluster, 0) + sign * count

    def used_by_others(self, key: str) -> dict:
        """Replicas that services other than `key` hold on each cluster (for capacity)."""
        with self.changed:
            current = self.state.get(key)
            own = current.value.placement if current is not None and isinstance(current.value, ServiceIntent) else {}
            return {c: n - own.get(c, 0) for c, n in self.placed.items() if n - own.get(c, 0)}

    def status_of(self, cluster: str):
        with self.changed:
            return self.statuses.get(cluster)

    def members(self) -> list:
        with self.changed:
            return list(self.clusters.values())

    def snapshot(self) -> list:
        with self.changed:
            return list(self.state.values())

    def get(self, key: str):
        with self.changed:
            return self.state.get(key)

    def bucket_hashes(self) -> list:
        with self.changed:
            return list(self.index.hashes)

    def answer_summary(self, hashes, from_cluster: str = "") -> list:
        """Given a peer's bucket hashes: the buckets that differ. In the equal ones the peer
        holds every tombstone we hold, at our stamp."""
        with self.changed:
            differing = self.index.differing(hashes)
            if from_cluster:
                self.confirm_equal_buckets(from_cluster, differing)
        return differing

    def confirm_equal_buckets(self, cluster: str, differing) -> None:
        skip = set(differing)
        with self.changed:
            self._confirm(cluster, [k for k in self.index.tombstones if bucket_of(k) not in skip])

    def digest(self, buckets=None) -> list:
        with self.changed:
            keys = self.state if buckets is None else self.index.keys_in(buckets)
            state = self.state
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
        now = time.monotonic()
        with self.changed:
            mine = self.state.keys() if not buckets else self.index.keys_in(buckets)
            newer_here = [self.state[k] for k in mine if k not in theirs or self.state[k].stamp > theirs[k]]
            wanted = []
            for k, stamp in theirs.items():
                if k in self.state and not stamp > self.state[k].stamp:
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
                                             if self.state[k].deleted and k in theirs and theirs[k] >= self.state[k].stamp])
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
                    self.index.update(key, self.state.pop(key), None)
                    self.confirmed.pop(key, None)
                    self.received_ms.pop(key, None)
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

    def __init__(self, replica: Replica, heartbeats, seeds, tls: dict, token, timeout: float, metrics, discover=True):
        self.replica = replica
        self.heartbeats = heartbeats
        self.seeds = list(seeds)
        self.discover = discover
        self.tls = tls
        self.token = token
        self.timeout = timeout
        self.metrics = metrics
        self._channels = {}  # endpoint -> (open gRPC channel, Peer stub)
        self._lock = threading.Lock()
        # Up to one call in flight per peer (see push), and a peer cut off by a partition holds
        # its thread until the deadline: enough threads that those never starve the others.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=PUSH_THREADS, thread_name_prefix="push")
        self._outboxes = {}  # endpoint -> _Outbox
        self._relay_turn = itertools.count()  # spreads relaying over each region's members
        self.up = {}  # endpoint -> bool, from the last call
        self.retry_at = {}  # endpoint found down -> when a push may try it again (monotonic)
        self.trouble = threading.Event()  # a call failed, or a peer answered again: repair soon
        # Record transfers of digest exchanges take turns: after a partition heals, every peer
        # across it would otherwise send us the same records at once (a few hundred each, each
        # checked and stored): taking turns, the first brings them and the rest find nothing.
        self._repairing = threading.Lock()

    def endpoints(self, region=None) -> list:
        """Peer endpoints: registered clusters (of `region` only, when given) and seeds not
        registered yet, whose region is unknown."""
        if not self.discover:
            return list(self.seeds)
        clusters = self.replica.members()
        own = {c.endpoint for c in clusters if c.name == self.replica.cluster}
        registered = {c.endpoint for c in clusters if c.endpoint}
        wanted = {c.endpoint for c in clusters
                  if c.endpoint and c.name != self.replica.cluster and (region is None or c.region == region)}
        return sorted((wanted | (set(self.seeds) - registered)) - own)

    def _channel(self, endpoint) -> tuple:
        """(channel, Peer stub) to `endpoint`, opened on first use."""
        with self._lock:
            if endpoint not in self._channels:
                channel = open_channel(endpoint, self.tls.get("ca"), self.tls.get("cert"), self.tls.get("key"),
                                       self.tls.get("server_name"))
                self._channels[endpoint] = (channel, {m: channel.unary_unary(f"/multicluster.kube.v1.Peer/{m}")
                                                      for m in _ANSWERS})
            return self._channels[endpoint]

    def _drop_channel(self, endpoint, channel) -> None:
        """Close the channel to a peer that failed. gRPC would otherwise keep dialling it in the
        background (every second, to notice it is back at once): across a 50/50 partition of a
        hundred listeners, 5,000 attempts a second. The next call, at most once a second
        (RETRY_DOWN_PEER, or one anti-entropy round), dials afresh instead."""
        with self._lock:
            if self._channels.get(endpoint, (None,))[0] is not channel:  # another call dropped it already
                return
            del self._channels[endpoint]
        channel.close()

    def _call(self, endpoint, method, request):
        """Call a peer with an encoded request; its answer decoded as _ANSWERS says (records
        left as the bytes their author encoded)."""
        channel, methods = self._channel(endpoint)
        try:
            response = _ANSWERS[method].FromString(methods[method](
                request.SerializeToString(), timeout=self.timeout, metadata=call_metadata(self.token)))
        except grpc.RpcError as err:
            if self.up.get(endpoint, True):
                log.warning("peer %s unreachable: %s", endpoint, err.code().name)
            self.up[endpoint] = False
            self.retry_at[endpoint] = time.monotonic() + RETRY_DOWN_PEER
            self.trouble.set()
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self._drop_channel(endpoint, channel)
            raise
        came_back = self.up.get(endpoint) is False
        self.up[endpoint] = True
        if came_back:
            self.trouble.set()
        if came_back and method == "Push":  # it missed what we pushed meanwhile: repair at once
            log.info("peer %s reachable again", endpoint)
            self._pool.submit(self._sync_with, endpoint)
        return response

    def push(self, records, endpoints=None) -> dict:
        """Send records to every peer at once (or to `endpoints` only); returns {endpoint:
        future of bool (it acknowledged them)}.

        Every peer of our region and of no known region gets a call of its own; each other
        region gets one call, to one of its members in turn, which relays the records to the
        rest of its region and reports who acknowledged. So a write costs its origin one call
        per region rather than one per listener; if the relay cannot be reached, the rest of
        its region is called directly.

        One call at a time goes to each peer: records pushed while it is in flight leave
        together in the next call, so a burst of writes costs a few calls per peer, not one
        per write, and a slow peer ties up one thread, not one per write."""
        batch = [(r, messages.record_bytes(r)) for r in records]
        if endpoints is not None:
            return {e: self._enqueue(e, batch) for e in endpoints}
        futures = {}
        for relay, rest in self._fan_out():
            relayed = {e: concurrent.futures.Future() for e in rest}
            futures[relay] = self._enqueue(relay, batch, relayed)
            futures.update(relayed)
        return futures

    def _fan_out(self) -> list:
        """[(endpoint to call, [endpoints it relays to])] covering every peer."""
        region_of = {c.endpoint: c.region for c in self.replica.members() if c.endpoint}
        own_region = next((c.region for c in self.replica.members() if c.name == self.replica.cluster), None)
        plan, regions = [], {}
        for endpoint in self.endpoints():
            region = region_of.get(endpoint)
            if region is None or region == own_region:
                plan.append((endpoint, []))
            else:
                regions.setdefault(region, []).append(endpoint)
        for members in regions.values():
            reachable = [e for e in members if self.up.get(e, True)] or members
            relay = reachable[next(self._relay_turn) % len(reachable)]
            plan.append((relay, [e for e in members if e != relay]))
        return plan

    def push_heartbeats(self, endpoints) -> None:
        """Send our heartbeat table to `endpoints`: a push with no records, in the same queue
        as writes, so a peer with a call in flight gets it with the next one."""
        for endpoint in endpoints:
            self._enqueue(endpoint, [])

    def _enqueue(self, endpoint, batch, relayed=None):
        future = concurrent.futures.Future()
        with self._lock:
            box = self._outboxes.setdefault(endpoint, _Outbox())
            box.pending.append((batch, future, relayed or {}))
            idle, box.sending = not box.sending, True
        if idle:
            self._pool.submit(self._drain, endpoint, box)
        return future

    def _drain(self, endpoint, box) -> None:
        while True:
            with self._lock:
                taken, box.pending = box.pending[:PUSH_BATCH_WRITES], box.pending[PUSH_BATCH_WRITES:]
                if not taken:
                    box.sending = False
                    return
            latest = {}  # the newest record per key among the writes taken
            for batch, _future, _relayed in taken:
                for record, message in batch:
                    held = latest.get(record.key)
                    if newer(record, held[0] if held else None):
                        latest[record.key] = (record, message)
            relay_to = sorted({e for _batch, _future, relayed in taken for e in relayed})
            beating = any(not batch for batch, _future, _relayed in taken)
            request = pb.PushRequestWire(from_cluster=self.replica.cluster, records=[m for _r, m in latest.values()],
                                         relay_to=relay_to, heartbeats=self.heartbeat_table() if beating else ())
            accepted = False
            if self.up.get(endpoint, True) or time.monotonic() >= self.retry_at.get(endpoint, 0):
                try:
                    not_reached = set(self._call(endpoint, "Push", request).not_reached)
                    accepted = True
                except grpc.RpcError:
                    pass
            for batch, future, relayed in taken:
                future.set_result(accepted)
                for target, relayed_future in relayed.items():
                    if accepted:
                        relayed_future.set_result(target not in not_reached)
                    else:  # the relay is away: its region directly
                        self._enqueue(target, batch).add_done_callback(
                            lambda done, waiting=relayed_future: waiting.set_result(done.result()))

    def relay(self, records, endpoints):
        """Forward records (a Push with relay_to) to those of `endpoints` that are members we
        know, at once; returns a function that waits for them and returns the endpoints that
        did not acknowledge them in time (so the relay can store its own copy meanwhile)."""
        known = set(self.endpoints())
        futures = self.push(records, [e for e in endpoints if e in known])

        def not_reached() -> list:
            concurrent.futures.wait(futures.values(), timeout=self.timeout)
            return sorted(e for e in endpoints if e not in futures or not futures[e].done() or not futures[e].result())
        return not_reached

    def anti_entropy_round(self, fanout: int) -> tuple:
        """Exchange digests with up to `fanout` random peers, one of them a peer found down
        when there is one (so that the end of a partition is found within a round); returns
        (records repaired, heartbeats that were news)."""
        endpoints = self.endpoints()
        chosen = random.sample(endpoints, min(fanout, len(endpoints)))
        down = [e for e in endpoints if self.up.get(e) is False and e not in chosen]
        if down and chosen:
            chosen[-1] = random.choice(down)
        futures = [self._pool.submit(self._sync_with, e) for e in chosen]
        results = [f.result() for f in futures]
        return sum(repaired for repaired, _news in results), sum(news for _repaired, news in results)

    def heartbeat_table(self, newer_than=()) -> list:
        return messages.heartbeats_to_messages(self.heartbeats.table(newer_than),
                                               own=(self.replica.cluster, messages.VERSION, messages.FEATURES))

    @staticmethod
    def _valid(checked, endpoint) -> list:
        """Of a peer's answer, checked by messages.peer_records or peer_heartbeats: what
        passed. The rest are logged and left out (the good ones are still worth taking)."""
        passed, refused = checked
        for error in refused:
            log.warning("peer %s sent something we refuse: %s", endpoint, error)
        return passed

    def _sync_with(self, endpoint) -> tuple:
        """One anti-entropy exchange with a peer: heartbeat tables both ways, bucket hashes,
        then the records of the buckets that differ. Returns (records repaired, heartbeats
        that were news)."""
        me = self.replica.cluster
        try:
            hashes = self.replica.bucket_hashes()
            summary = self._call(endpoint, "Digest", pb.DigestRequest(from_cluster=me, bucket_hashes=hashes,
                                                                      heartbeats=self.heartbeat_table()))
            news = self.heartbeats.observe(self._valid(messages.peer_heartbeats(summary.heartbeats, "heartbeats"),
                                                       endpoint))
            if summary.answered_by:
                self.replica.confirm_equal_buckets(summary.answered_by, summary.differing_buckets)
            if not summary.differing_buckets:
                return 0, news
            with self._repairing:
                return self._transfer(endpoint, list(summary.differing_buckets)), news
        except grpc.RpcError:
            return 0, 0

    def _transfer(self, endpoint, buckets) -> int:
        """Step two of a digest exchange: keys and stamps of the differing buckets, as they are
        now; take what the peer holds newer, push it what it wants."""
        digest = self.replica.digest(buckets)
        answer = self._call(endpoint, "Digest", pb.DigestRequest(from_cluster=self.replica.cluster, entries=digest,
                                                                 buckets=buckets))
        if answer.answered_by:
            self.replica.confirm_held(answer.answered_by, [e.key for e in digest], answer.wanted)
        repaired = self.replica.receive(self._valid(messages.peer_records(answer.newer, "newer"), endpoint))
        if answer.wanted:
            wanted = [self.replica.get(k) for k in answer.wanted]
            self.push([r for r in wanted if r is not None], endpoints=[endpoint])[endpoint].result()
        self.metrics.anti_entropy_repairs.inc(len(repaired))
        return len(repaired) + len(answer.wanted)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for channel, _stub in self._channels.values():
                channel.close()


_ANSWERS = {"Push": pb.PushResponse, "Digest": pb.DigestResponseWire}
PROMISES_KEPT = 10_000  # promised keys remembered before the expired ones are swept
PUSH_BATCH_WRITES = 500  # writes coalesced into one Push at most, to bound its size
PUSH_THREADS = 256  # started as needed: about one per peer at most
# A peer that failed is pushed to again at most this often (seconds); what it misses
# meanwhile, the digest exchange it gets when it answers again brings it.
RETRY_DOWN_PEER = 1.0


class _Outbox:
    """The writes waiting for one peer, and whether a call to it is in flight."""

    def __init__(self):
        self.pending = []  # [([(record, message)], future, {relayed endpoint: future})]
        self.sending = False
