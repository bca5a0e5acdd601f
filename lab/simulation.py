"""A simulated fleet: the real replication protocol of hundreds or thousands of members in
one process, over an in-memory network with latency, loss and partitions, on simulated time.

Each member is the listener's own replication parts (listener/replica.py with an in-memory
SQLite store, heartbeats.py, replication.py, writer.py, health.py's Health and Beacon), wired
as listener/server.py wires them, without gRPC and without Kubernetes. What differs is only
where time and concurrency come from:

- time is simulated (SimTime, a listener.timesource.TimeSource): a heap of events, each a
  member's beat or anti-entropy round at its due time, run in order;
- a call to a peer runs at once, in the caller's place: the peer handles it `latency`
  simulated seconds later, and the caller has its answer after another `latency`; a call
  that is lost, or crosses a partition, costs the caller its deadline (peer_timeout);
- what the protocol hands its thread pool runs at once too, from the moment it was handed
  over, and the caller's time goes on as if it had not waited (the pool's threads run side
  by side), so a push to a hundred peers reaches them all `latency` later, not one after
  another; work the protocol asks to be done later (a repair when a peer answers again)
  becomes an event of its own.

So the figures are in simulated seconds and in messages, not in this machine's CPU: what the
protocol needs, whatever the machine. Not simulated: the time a member takes to process
what it receives (the real listeners' benchmarks measure it), the coordinator's failover
moves and Kubernetes (bench/bench_failover.py runs them for real), tombstone collection.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import heapq
import itertools
import random

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record

from ansible_collections.multicluster.kube.listener.config import Timing
from ansible_collections.multicluster.kube.listener.features import REGION_REPORTS, Features, advertised
from ansible_collections.multicluster.kube.listener.health import Beacon, Health
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork, MemoryTransport
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.replication import AntiEntropyPace, Replication
from ansible_collections.multicluster.kube.listener.store import Store
from ansible_collections.multicluster.kube.listener.timesource import TimeSource
from ansible_collections.multicluster.kube.listener.transport import PeerUnreachable
from ansible_collections.multicluster.kube.listener.writer import Writer

# The wall clock at simulated time 0: in the past, as a peer's heartbeats and stamps are
# checked against this machine's clock (never more than 5 minutes ahead of it).
EPOCH_MS = 1_700_000_000_000


class SimTime(TimeSource):
    """The simulated clock: `now` is set by the event being run and moved by calls."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wall_ms(self) -> int:
        return EPOCH_MS + int(self.now * 1000)


class InlineExecutor:
    """The protocol's thread pool, simulated: work runs at once from the moment it is handed
    over, and the caller's time is put back afterwards (it ran beside the caller)."""

    def __init__(self, time: SimTime):
        self._time = time

    def submit(self, fn, *args):
        future, start = concurrent.futures.Future(), self._time.now
        try:
            future.set_result(fn(*args))
        except Exception as error:  # as a pool would: the error is the future's
            future.set_exception(error)
        finally:
            self._time.now = start
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        return None


class SimNetwork(MemoryNetwork):
    """The in-memory network with a one-way `latency` per call, a chance `loss` that a call is
    lost, and partitions; counts every call delivered (MemoryNetwork.calls)."""

    def __init__(self, time: SimTime, latency: float, loss: float, timeout: float, rng: random.Random):
        super().__init__()
        self.time, self.latency, self.loss, self.timeout, self._rng = time, latency, loss, timeout, rng

    def deliver(self, origin, endpoint, method, request):
        start = self.time.now
        if self.loss and self._rng.random() < self.loss:
            self.time.now = start + self.timeout
            raise PeerUnreachable(endpoint, "DEADLINE_EXCEEDED", "lost on the way (simulated)")
        self.time.now = start + self.latency
        try:
            answer = super().deliver(origin, endpoint, method, request)
        except PeerUnreachable:
            self.time.now = start + self.timeout
            raise
        self.time.now += self.latency
        return answer


@dataclasses.dataclass
class Member:
    name: str
    region: str
    replica: Replica
    heartbeats: Heartbeats
    replication: Replication
    writer: Writer
    health: Health
    beacon: Beacon
    pace: AntiEntropyPace
    alive: bool = True


@dataclasses.dataclass(frozen=True)
class Settings:
    """The listener's timing settings (their defaults are listener/config.py's), and the
    simulated network's."""
    heartbeat_interval: float = Timing.heartbeat_interval
    failure_timeout: float = Timing.failure_timeout
    hold_down: float = Timing.hold_down
    anti_entropy_interval: float = Timing.anti_entropy_interval
    anti_entropy_fanout: int = Timing.anti_entropy_fanout
    peer_timeout: float = Timing.peer_timeout
    heartbeat_fanout: int = Timing.heartbeat_fanout  # a large number: a beat to the whole region
    latency: float = 0.020
    loss: float = 0.0


class Simulation:
    """`size` members named m0000, m0001, ... in `regions` regions (member i in region
    r{i % regions}), each already holding every member's cluster record, their beats and
    anti-entropy rounds starting at random moments within the first interval. The members
    named in `not_reporting` do not advertise region reports (as listeners before 0.3 do not),
    so the rest keep passing every heartbeat on; they still run this version's code."""

    def __init__(self, size: int, regions: int, settings: Settings = Settings(), seed: int = 1,
                 not_reporting=()):
        self._not_reporting = set(not_reporting)
        self.settings, self.time = settings, SimTime()
        self._rng = random.Random(seed)
        self.network = SimNetwork(self.time, settings.latency, settings.loss, settings.peer_timeout,
                                  random.Random(f"{seed}/network"))
        self._events, self._order = [], itertools.count()
        self._arrivals = {}  # (key, stamp) -> {member: simulated time it first held the record}
        self._watched = set()  # keys whose records' arrivals are noted
        names = [f"m{i:04d}" for i in range(size)]
        registered = [Record(f"cluster/{n}", Stamp(EPOCH_MS, 0, n), "simulation",
                             Cluster(name=n, region=f"r{i % regions}", endpoint=n)) for i, n in enumerate(names)]
        self.members = {n: self._member(n, f"r{i % regions}", registered, seed) for i, n in enumerate(names)}
        for member in self.members.values():
            self._at(self._rng.uniform(0, settings.heartbeat_interval), self._beat, member)
            member.pace.due = self._rng.uniform(0, settings.anti_entropy_interval)
            self._at(member.pace.due, self._anti_entropy, member)

    def _member(self, name, region, registered, seed) -> Member:
        s, time = self.settings, self.time
        clock = HybridClock(name, time.wall_ms)
        replica = Replica(name, Store(":memory:"), clock, Metrics(), timesource=time)
        replica.receive(registered)
        version, features = advertised()
        if name in self._not_reporting:
            features = tuple(f for f in features if f != REGION_REPORTS)
        heartbeats = Heartbeats(name, version, features, timesource=time, failure_timeout=s.failure_timeout)
        replication = Replication(replica, heartbeats, MemoryTransport(self.network, name, s.peer_timeout, time),
                                  executor=InlineExecutor(time), rng=random.Random(f"{seed}/{name}"),
                                  later=lambda fn, *args: self._at(self.time.now, lambda _m: fn(*args), None))
        self.network.join(name, replication)
        writer = Writer(region, clock, replica, replication, Features(replica, heartbeats))
        health = Health(replica, heartbeats, s.failure_timeout, s.hold_down)
        member = Member(name, region, replica, heartbeats, replication, writer, health,
                        Beacon(region, heartbeats, replication, s.heartbeat_interval, s.failure_timeout,
                               s.heartbeat_fanout, health),
                        AntiEntropyPace(s.anti_entropy_interval, s.failure_timeout))
        replica.subscribe(lambda records, m=name: self._arrived(m, records))
        return member

    # -- the clock ------------------------------------------------------------------------
    def _at(self, when: float, action, member) -> None:
        heapq.heappush(self._events, (when, next(self._order), action, member))

    def run_until(self, until: float, done=None) -> bool:
        """Run the events due until simulated time `until`, or until done() holds (checked
        after each event); returns whether done() held."""
        while self._events and self._events[0][0] <= until:
            when, _order, action, member = heapq.heappop(self._events)
            if member is not None and not member.alive:
                continue
            self.time.now = when
            action(member)
            if done is not None and done():
                return True
        self.time.now = max(self.time.now, until)
        return done is not None and done()

    def _beat(self, member: Member) -> None:
        transport = member.replication.transport
        if transport.trouble.is_set():  # as the listener's background loop does
            transport.trouble.clear()
            due = member.pace.due
            member.pace.trouble(self.time.now)
            if member.pace.due < due:
                self._at(member.pace.due, self._anti_entropy, member)
        member.beacon.beat()
        self._at(self.time.now + self.settings.heartbeat_interval, self._beat, member)

    def _anti_entropy(self, member: Member) -> None:
        if self.time.now < member.pace.due:  # superseded by an earlier round after trouble
            return
        repaired, news = member.replication.anti_entropy_round(self.settings.anti_entropy_fanout)
        member.pace.after_round(self.time.now, repaired, news)
        self._at(member.pace.due, self._anti_entropy, member)

    # -- what happens to the fleet ----------------------------------------------------------
    def write(self, name: str, changes) -> list:
        """A client's write at member `name` [(key, value)], now; the records written. When
        each member comes to hold them is noted (arrivals)."""
        self._watched.update(key for key, _value in changes)
        records, _acks = self.members[name].writer.write(changes, author="simulation")
        return records

    def crash(self, name: str) -> None:
        self.members[name].alive = False
        self.network.leave(name)

    def partition(self, side, other_side) -> None:
        self.network.partition(side, other_side)

    def heal(self) -> None:
        self.network.heal()

    # -- what is measured -----------------------------------------------------------------
    def _arrived(self, name, records) -> None:
        for record in records:
            if record.key in self._watched:
                self._arrivals.setdefault((record.key, record.stamp), {}).setdefault(name, self.time.now)

    def arrivals(self, record) -> dict:
        """{member: simulated time it first held `record`}."""
        return self._arrivals.get((record.key, record.stamp), {})

    def alive(self) -> list:
        return [m for m in self.members.values() if m.alive]

    def held_by_all(self, records) -> bool:
        live = [m.name for m in self.alive()]
        return all(all(n in self.arrivals(r) for n in live) for r in records)

    def calls(self) -> int:
        return sum(n for (_method, what), n in self.traffic().items() if what == "calls")

    def traffic(self) -> dict:
        """{(method, "calls" | "bytes_out" | "bytes_in"): count} over every member."""
        total = {}
        for member in self.members.values():
            for key, count in member.replication.transport.traffic.items():
                total[key] = total.get(key, 0) + count
        return total

    def seen_unhealthy(self, name: str, by) -> bool:
        return name in self.members[by].health.unhealthy()
