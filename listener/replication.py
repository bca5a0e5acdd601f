"""Replication among listeners: state-based and convergent, over a Transport.

Every record carries a hybrid logical clock stamp; merge keeps the higher stamp per key
(listener/replica.py), so every listener that has seen the same records holds the same state,
whatever the order, loss or duplication of messages. This module is the protocol on top of
that: a local write is pushed to every peer at once (one call per member of our region, one
relayed call per other region); anti-entropy by digest repairs whatever a push missed
(partitions, restarts, new members), comparing bucket hashes first (listener/digest.py), so
replicas in sync exchange 2 KiB, not every key; tombstones are forgotten once every member
holds them. Both sides of each exchange are here: the calls it makes (through the transport,
listener/transport.py) and the answers it gives (handle, which the Peer service and the
in-memory transport call), so tests run the real protocol over an in-memory network.

Records travel as their author encoded them (Record.raw; the Wire messages of fleet.proto):
a listener stores, relays and answers with the bytes it received, so fields that only newer
listeners know are never stripped on the way, and one stamp never travels with two contents
(docs/upgrading.md). Heartbeats travel encoded too, each entry read and written once
(messages.peer_heartbeats, heartbeats_to_wire). Once every member sends region reports
(listener/heartbeats.py), a digest exchange carries the reports and only the heartbeats of the
region the two peers share, if they share one: other regions' words travel only when asked for.
"""
from __future__ import annotations

import collections
import concurrent.futures
import itertools
import logging
import random
import threading

from google.protobuf.message import DecodeError

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.model import ClusterStatus, ValidationError, newer
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

from ansible_collections.multicluster.kube.listener.digest import BUCKETS
from ansible_collections.multicluster.kube.listener.features import REGION_REPORTS, Features
from ansible_collections.multicluster.kube.listener.transport import PeerError

log = logging.getLogger("multicluster.listener.replication")
ANTI_ENTROPY_BACKOFF = 8
PUSH_BATCH_WRITES = 500  # writes coalesced into one Push at most, to bound its size
PUSH_THREADS = 256  # started as needed: about one per peer at most
FLEET_VIEW_SECONDS = 1.0  # how long the fleet's shape (regions, who sends reports) is taken as known


# The fleet as anti-entropy sees it: whether every member sends region reports, our region,
# each region's members by name, each peer endpoint's region.
FleetView = collections.namedtuple("FleetView", "summarising region names region_at")


def quiet_rounds(quiet: int, repaired: int, heartbeat_news: int, failure_timeout: float, interval: float) -> int:
    """Rounds in a row that repaired nothing, after one more round; the next round comes
    rounds_until_next(it) intervals later. Rounds carry other regions' heartbeats, which must
    arrive within failure_timeout after a round or two: a round that brings heartbeat news
    counts only as far as keeps rounds a quarter of failure_timeout apart (with the defaults,
    1 s and 5 s, not at all; with failover off they may rest as quiet rounds do)."""
    if repaired:
        return 0
    quiet += 1
    # no further than where even one more quiet round would still rest within the quarter
    while heartbeat_news and quiet and rounds_until_next(quiet + 1) * interval > failure_timeout / 4:
        quiet -= 1
    return quiet


def rounds_until_next(quiet: int) -> int:
    """Anti-entropy intervals until the next round: doubling every two quiet rounds, up to
    ANTI_ENTROPY_BACKOFF."""
    return min(ANTI_ENTROPY_BACKOFF, 2 ** (quiet // 2))


class AntiEntropyPace:
    """When the next anti-entropy round is due: every `interval` while rounds repair
    something, further apart while they do not (quiet_rounds), back at the interval as soon
    as there is trouble (a peer call failed, or a peer answered again)."""

    def __init__(self, interval: float, failure_timeout: float):
        self.interval, self.failure_timeout = interval, failure_timeout
        self.quiet = 0
        self.due = 0.0

    def trouble(self, now: float) -> None:
        self.quiet, self.due = 0, min(self.due, now + self.interval)

    def after_round(self, now: float, repaired: int, heartbeat_news: int) -> None:
        self.quiet = quiet_rounds(self.quiet, repaired, heartbeat_news, self.failure_timeout, self.interval)
        self.due = now + self.interval * rounds_until_next(self.quiet)


class Replication:
    """The peers of one listener (the registered clusters' endpoints plus seed endpoints) and
    the protocol it speaks with them."""

    def __init__(self, replica, heartbeats, transport, seeds=(), discover=True, metrics=None, executor=None,
                 later=None, rng=None):
        self.replica = replica
        self.heartbeats = heartbeats
        self.transport = transport
        transport.on_answer_again = self._answered_again
        self.seeds = list(seeds)
        self.discover = discover
        self.metrics = metrics
        self._lock = threading.Lock()  # the outboxes
        # Up to one call in flight per peer (see push), and a peer cut off by a partition holds
        # its thread until the deadline: enough threads that those never starve the others.
        # A simulation gives an executor of its own, and `later` for work that must not run
        # inside the call that asks for it (lab/simulation.py).
        self._pool = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=PUSH_THREADS, thread_name_prefix="push")
        self._later = later or self._pool.submit
        self._random = rng or random.Random()
        self._gossip_order, self._gossip_turn = [], 0
        self._outboxes = {}  # endpoint -> _Outbox
        self._relay_turn = itertools.count()  # spreads relaying over each region's members
        # Record transfers of digest exchanges take turns: after a partition heals, every peer
        # across it would otherwise send us the same records at once (a few hundred each, each
        # checked and stored): taking turns, the first brings them and the rest find nothing.
        self._repairing = threading.Lock()
        self._features = Features(replica, heartbeats)
        self._fleet_view = None  # (monotonic time, FleetView)

    # -- who the peers are -----------------------------------------------------------------
    def endpoints(self, region=None) -> list:
        """Peer endpoints: registered clusters (of `region` only, when given) and seeds not
        registered yet, whose region is unknown."""
        if not self.discover:
            return list(self.seeds)
        clusters = self.replica.members()
        me = self.replica.cluster
        own = {c.peer_address for c in clusters if c.name == me}
        registered = {c.peer_address for c in clusters if c.peer_address}
        wanted = {c.peer_address for c in clusters
                  if c.peer_address and c.name != me and (region is None or c.region == region)}
        return sorted((wanted | (set(self.seeds) - registered)) - own)

    def peer_counts(self) -> tuple:
        """(peers that answered their last call, peers known)."""
        return self.transport.peers_up(), len(self.endpoints())

    def gossip_targets(self, region: str, fanout: int) -> list:
        """The peers of `region` a heartbeat push goes to: all of them while they are no more
        than `fanout`; else `fanout` of them, taking turns over the region in an order
        shuffled anew at every pass, so each peer hears from us every N/fanout beats."""
        peers = self.endpoints(region)
        if len(peers) <= fanout:
            return peers
        if self._gossip_turn + fanout > len(self._gossip_order) or set(self._gossip_order) != set(peers):
            self._gossip_order, self._gossip_turn = self._random.sample(peers, len(peers)), 0
        turn, self._gossip_turn = self._gossip_turn, self._gossip_turn + fanout
        return self._gossip_order[turn:turn + fanout]

    def _answered_again(self, endpoint, method) -> None:
        if method == "Push":  # it missed what we pushed meanwhile: repair at once
            log.info("peer %s reachable again", endpoint)
            self._later(self.sync_with, endpoint)

    # -- pushes ----------------------------------------------------------------------------
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
        members = self.replica.members()
        region_of = {c.peer_address: c.region for c in members if c.peer_address}
        own_region = next((c.region for c in members if c.name == self.replica.cluster), None)
        plan, regions = [], {}
        for endpoint in self.endpoints():
            region = region_of.get(endpoint)
            if region is None or region == own_region:
                plan.append((endpoint, []))
            else:
                regions.setdefault(region, []).append(endpoint)
        for in_region in regions.values():
            reachable = [e for e in in_region if self.transport.is_up(e) is not False] or in_region
            relay = reachable[next(self._relay_turn) % len(reachable)]
            plan.append((relay, [e for e in in_region if e != relay]))
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
                                         relay_to=relay_to, heartbeats=self._region_beats() if beating else ())
            accepted = False
            if self.transport.may_try(endpoint):
                try:
                    answer = _decode(pb.PushResponseWire, self.transport.call(endpoint, "Push", request.SerializeToString()))
                    not_reached = set(answer.not_reached)
                    accepted = True
                    if answer.heartbeats:  # what the peer knew newer than the table we sent
                        self.heartbeats.observe(self._valid(messages.peer_heartbeats(answer.heartbeats, "heartbeats"),
                                                            endpoint))
                except (PeerError, ValidationError):
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
            concurrent.futures.wait(futures.values(), timeout=self.transport.timeout)
            return sorted(e for e in endpoints if e not in futures or not futures[e].done() or not futures[e].result())
        return not_reached

    # -- anti-entropy ----------------------------------------------------------------------
    def anti_entropy_round(self, fanout: int) -> tuple:
        """Exchange digests with up to `fanout` random peers, one of them a peer found down
        when there is one (so that the end of a partition is found within a round); returns
        (records repaired, heartbeats that were news)."""
        endpoints = self.endpoints()
        chosen = self._random.sample(endpoints, min(fanout, len(endpoints)))
        down = [e for e in endpoints if self.transport.is_up(e) is False and e not in chosen]
        if down and chosen:
            chosen[-1] = self._random.choice(down)
        futures = [self._pool.submit(self.sync_with, e) for e in chosen]
        results = [f.result() for f in futures]
        return sum(repaired for repaired, _news in results), sum(news for _repaired, news in results)

    def sync_with(self, endpoint) -> tuple:
        """One anti-entropy exchange with a peer: heartbeat tables both ways, bucket hashes,
        then the records of the buckets that differ. Returns (records repaired, heartbeats
        that were news)."""
        try:
            view = self._view()
            summary = self._digest(endpoint, pb.DigestRequestWire(
                from_cluster=self.replica.cluster, bucket_hashes=self.replica.bucket_hashes(),
                **self._liveness_asked(view, view.region_at.get(endpoint))))
            news = self.heartbeats.observe(self._valid(messages.peer_heartbeats(summary.heartbeats, "heartbeats"),
                                                       endpoint), sender=summary.answered_by)
            grown = self.heartbeats.observe_reports(self._members_reports(self._valid(
                messages.peer_region_reports(summary.region_reports, "region_reports"), endpoint)))
            # our region's reports are news to other regions only: we judge it by heartbeats
            news += sum(1 for region in grown if region != view.region)
            if summary.answered_by:
                self.replica.confirm_equal_buckets(summary.answered_by, summary.differing_buckets)
            if not summary.differing_buckets:
                return 0, news
            with self._repairing:
                return self._transfer(endpoint, list(summary.differing_buckets)), news
        except (PeerError, ValidationError) as error:
            if isinstance(error, ValidationError):
                log.warning("peer %s answered what we cannot read: %s", endpoint, error)
            return 0, 0

    def _digest(self, endpoint, request):
        return _decode(pb.DigestResponseWire, self.transport.call(endpoint, "Digest", request.SerializeToString()))

    def _transfer(self, endpoint, buckets) -> int:
        """Step two of a digest exchange: keys and stamps of the differing buckets, as they are
        now; take what the peer holds newer, push it what it wants."""
        digest = self.replica.digest(buckets)
        answer = self._digest(endpoint, pb.DigestRequestWire(from_cluster=self.replica.cluster, entries=digest,
                                                             buckets=buckets))
        if answer.answered_by:
            self.replica.confirm_held(answer.answered_by, [e.key for e in digest], answer.wanted)
        repaired = self.replica.receive(self._valid(messages.peer_records(answer.newer, "newer"), endpoint))
        if answer.wanted:
            wanted = [self.replica.record(k) for k in answer.wanted]
            self.push([r for r in wanted if r is not None], endpoints=[endpoint])[endpoint].result()
        if self.metrics is not None:
            self.metrics.anti_entropy_repairs.inc(len(repaired))
        return len(repaired) + len(answer.wanted)

    def collect_tombstones(self, ttl: float) -> list:
        """Forget the tombstones older than `ttl` seconds that every member holds."""
        members = [c.name for c in self.replica.members()]
        return self.replica.collect_tombstones(members, self.replica.time.wall_ms() - int(ttl * 1000))

    # -- answers to peers ------------------------------------------------------------------
    def handle(self, method: str, request: bytes) -> bytes:
        """A peer's call, encoded: its encoded answer, or ValidationError when the request is
        refused whole."""
        if method == "Push":
            return self.answer_push(_decode(pb.PushRequestWire, request)).SerializeToString()
        if method == "Digest":
            return self.answer_digest(_decode(pb.DigestRequestWire, request)).SerializeToString()
        raise ValidationError("method", "must be Push or Digest", method)

    def answer_push(self, request):
        records = _all_or_none(messages.peer_records(request.records, "records"))
        beats = _all_or_none(messages.peer_heartbeats(request.heartbeats, "heartbeats"))
        self.heartbeats.observe(beats, sender=request.from_cluster)
        # Relayed even when nothing was new here (the rest of the region may still lack them),
        # and before our own copy is stored: the region's copies are stored meanwhile.
        relayed = self.relay(records, list(request.relay_to)) if request.relay_to else None
        accepted = self.replica.receive(records)
        if self.metrics is not None:
            now_ms = self.replica.time.wall_ms()
            for record in accepted:
                if not isinstance(record.value, ClusterStatus):
                    self.metrics.propagation_delay.observe(max(0.0, (now_ms - record.stamp.physical_ms) / 1000))
        not_reached = []
        if relayed is not None:
            not_reached = relayed()
            if self.metrics is not None:
                self.metrics.relayed.inc(len(records))
        # A heartbeat push is answered with what we know newer (push-pull gossip): the pusher
        # catches up in the same call, so a large region hears a beat in fewer rounds.
        pulled = self._heartbeat_table(newer_than=beats, only={b[0] for b in beats}) if beats else ()
        return pb.PushResponseWire(accepted=len(accepted), not_reached=not_reached, heartbeats=pulled)

    def answer_digest(self, request):
        if request.bucket_hashes and not request.entries:  # step one
            beats = _all_or_none(messages.peer_heartbeats(request.heartbeats, "heartbeats"))
            reports = _all_or_none(messages.peer_region_reports(request.region_reports, "region_reports"))
            messages.check_region_names("regions_wanted", request.regions_wanted)
            self.heartbeats.observe(beats, sender=request.from_cluster)
            self.heartbeats.observe_reports(self._members_reports(reports))
            return pb.DigestResponseWire(
                differing_buckets=self.replica.answer_summary(request.bucket_hashes, request.from_cluster),
                answered_by=self.replica.cluster,
                heartbeats=messages.heartbeats_to_wire(self._liveness_answered(request, beats)),
                region_reports=messages.region_reports_to_wire(self.heartbeats.reports(newer_than=reports)))
        if any(b >= BUCKETS for b in request.buckets):
            raise ValidationError("buckets", f"each must be below {BUCKETS}", max(request.buckets))
        newer_here, wanted = self.replica.answer_digest(request.entries, request.from_cluster, request.buckets,
                                                        promise_for=self.transport.timeout)
        return pb.DigestResponseWire(newer=[messages.record_bytes(r) for r in newer_here], wanted=wanted,
                                     answered_by=self.replica.cluster)

    # -- liveness in anti-entropy -----------------------------------------------------------
    def _view(self) -> FleetView:
        """The fleet's shape, worked out at most once every FLEET_VIEW_SECONDS (each digest
        exchange asks for it, and a member registers rarely)."""
        now = self.heartbeats.time.monotonic()
        if self._fleet_view is None or now - self._fleet_view[0] >= FLEET_VIEW_SECONDS:
            members = sorted(self.replica.members(), key=lambda c: c.name)
            names = {}
            for member in members:
                names.setdefault(member.region, []).append(member.name)
            view = FleetView(self._features.supported(REGION_REPORTS), self.replica.region_of(self.replica.cluster),
                             names, {c.peer_address: c.region for c in members if c.peer_address})
            self._fleet_view = (now, view)
        return self._fleet_view[1]

    def _liveness_asked(self, view: FleetView, peer_region) -> dict:
        """What a digest request carries of liveness: the region reports heard lately, the
        regions whose members' words we hold otherwise than their reports say, and our whole
        heartbeat table; once every member sends reports, of the table only our region's, to a
        peer of our region."""
        wanted = [region for region, names in view.names.items() if region != view.region
                  for hashes in [{said for _grew, _down, said in self.heartbeats.region_word(region)}]
                  if hashes and self.heartbeats.said_hash(names) not in hashes]
        liveness = {"region_reports": messages.region_reports_to_wire(self.heartbeats.reports()),
                    "regions_wanted": wanted}
        if not view.summarising or peer_region is None or view.region is None:
            return {**liveness, "heartbeats": self._heartbeat_table()}
        own = set(view.names.get(view.region, ()))
        return {**liveness, "heartbeats": self._heartbeat_table(only=own) if peer_region == view.region else ()}

    def _liveness_answered(self, request, beats) -> list:
        """The heartbeats a digest's first step is answered with: every entry newer here than in
        the request's table; once every member sends reports, only those of the requester's
        region if it is ours, and the entries of the regions it asks for."""
        view = self._view()
        asker = self.replica.region_of(request.from_cluster)
        if not view.summarising or asker is None:
            return self.heartbeats.entries(newer_than=beats)
        answer = self.heartbeats.entries(newer_than=beats, only=set(view.names.get(asker, ()))) if asker == view.region else []
        for region in set(request.regions_wanted) - {asker}:
            answer += self.heartbeats.entries(only=set(view.names.get(region, ())))
        return answer

    def _members_reports(self, reports) -> list:
        """Of region reports a peer passed on, those whose reporter is, as far as we know, a
        member of the region it reports (only they may speak for it)."""
        return [report for report in reports if self.replica.region_of(report[1]) == report[0]]

    # -- helpers ---------------------------------------------------------------------------
    def _heartbeat_table(self, newer_than=(), only=None) -> list:
        return messages.heartbeats_to_wire(self.heartbeats.entries(newer_than, only))

    def _region_beats(self) -> list:
        """The heartbeats a beat pushes: of our region's members only (a push goes to our
        region; other regions' beats travel with anti-entropy), so its size grows with the
        region, not with the fleet."""
        region = self.replica.region_of(self.replica.cluster)
        return self._heartbeat_table(only=set(self.replica.region_clusters(region)) if region else None)

    @staticmethod
    def _valid(checked, endpoint) -> list:
        """Of a peer's answer, checked by messages.peer_records or peer_heartbeats: what
        passed. The rest are logged and left out (the good ones are still worth taking)."""
        passed, refused = checked
        for error in refused:
            log.warning("peer %s sent something we refuse: %s", endpoint, error)
        return passed

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.transport.close()


def _decode(kind, data: bytes):
    try:
        return kind.FromString(data)
    except DecodeError:
        raise ValidationError("request", f"must be a {kind.DESCRIPTOR.name} encoded as protobuf",
                              f"{len(data)} bytes") from None


def _all_or_none(checked) -> list:
    """What a peer sent, each item checked as a client's input is: (passed, refused) from
    messages.peer_records or peer_heartbeats. One bad item refuses the whole request."""
    passed, refused = checked
    if refused:
        raise refused[0]
    return passed


class _Outbox:
    """The writes waiting for one peer, and whether a call to it is in flight."""

    def __init__(self):
        self.pending = []  # [([(record, message)], future, {relayed endpoint: future})]
        self.sending = False
