"""One listener: wires the replica, peers, API, reconciler and failover together."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
import time

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import (
    KEEPALIVE_SERVER_OPTIONS, MAX_MESSAGE_BYTES)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, Record, cluster_key)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import add_servicer

from ansible_collections.multicluster.kube.listener import api, metrics as metrics_mod
from ansible_collections.multicluster.kube.listener.failover import Coordinator, Health
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.reconciler import Reconciler
from ansible_collections.multicluster.kube.listener.replication import Peers, Replica
from ansible_collections.multicluster.kube.listener.store import Store

log = logging.getLogger("multicluster.listener")
ANTI_ENTROPY_BACKOFF = 8


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


def heartbeat_push_gap(heartbeat_interval: float, failure_timeout: float) -> float:
    """Seconds a beat waits after the last push of the heartbeat table to the region: none with
    the defaults (1 s, 5 s: every beat is pushed); with a failure timeout many beats long, as
    many beats as still reach the region four times within it. Each push is a call to every
    region peer, so a region of N members pushing every beat makes N×(N−1) calls an interval:
    with failover off, 100 listeners spent 40 % of their resting CPU on it."""
    beats = max(1, int(failure_timeout / (4 * heartbeat_interval)))
    return (beats - 0.5) * heartbeat_interval  # half a beat early: beats are not evenly spaced


class Listener:
    def __init__(self, config):
        self.config = config
        self.cluster, self.region = config.cluster, config.region
        self.metrics = metrics_mod.Metrics()
        os.makedirs(config.data_dir, exist_ok=True)
        self.store = Store(os.path.join(config.data_dir, f"{config.cluster}.sqlite3"))
        self.clock = HybridClock(config.cluster)
        self.replica = Replica(config.cluster, self.store, self.clock, self.metrics, config.tombstone_ttl)
        self.replica.on_change = self._changed
        self.heartbeats = Heartbeats(config.cluster)
        self.peers = Peers(self.replica, self.heartbeats, config.peers, config.peer_tls(), config.peer_token,
                           config.peer_timeout, self.metrics, discover=config.discover_peers)
        self.health = Health(self.replica, self.heartbeats, config.failure_timeout, config.hold_down)
        self.coordinator = Coordinator(self.cluster, self.region, self.replica, self.health, self.write, self.metrics)
        self.write_lock = threading.Lock()
        self.stopping = threading.Event()
        self._pushed_heartbeats_at = None  # monotonic time of the last push to the region
        self.reconciler = None
        self.server = None
        self.metrics_server = None

    # -- writes ----------------------------------------------------------------------------
    def write(self, changes, author: str):
        """Stamp, persist and merge local changes [(key, value or None for a delete)], then push
        them to every peer at once. Returns (records, {peer: future of acknowledgement})."""
        records = [Record(key, self.clock.now(), author, value) for key, value in changes]
        self.replica.commit(records)
        # Statuses matter at once only within the region (its coordinator waits for ready
        # replicas when failing back); other regions get them by anti-entropy.
        statuses_only = all(isinstance(r.value, ClusterStatus) for r in records)
        return records, self.peers.push(records, self.peers.endpoints(self.region) if statuses_only else None)

    def heartbeat(self) -> None:
        """This cluster is alive: tell its region (every beat with the defaults, see
        heartbeat_push_gap); the rest hear it by gossip (listener/heartbeats.py). The first beat
        after a while without any (a start, an apiserver back) is pushed at once."""
        self.heartbeats.beat()
        now, last = time.monotonic(), self._pushed_heartbeats_at
        gap = heartbeat_push_gap(self.config.heartbeat_interval, self.config.failure_timeout)
        if last is None or now - last >= gap:
            self._pushed_heartbeats_at = now
            self.peers.push_heartbeats(self.peers.endpoints(self.region))

    def _changed(self, records) -> None:
        if self.reconciler is not None:
            self.reconciler.records_changed(records)

    # -- queries used by the API -----------------------------------------------------------
    def region_clusters(self, region: str) -> list:
        return sorted(c.name for c in self.replica.members() if c.region == region)

    def regions(self) -> list:
        return sorted({c.region for c in self.replica.members()})

    def wait_for(self, wait, timeout: float, futures: dict, new, previous, dry_run: bool):
        """Block until the write's wait condition holds: (met, what is missing)."""
        if dry_run or wait in (pb.WAIT_FOR_UNSPECIFIED, pb.COMMITTED):
            return True, ""
        deadline = time.monotonic() + (timeout or 30.0)
        if wait == pb.PROPAGATED:
            done, pending = concurrent.futures.wait(futures.values(), timeout=max(0, deadline - time.monotonic()))
            missing = sorted(e for e, f in futures.items() if f not in done or not f.result())
            return (not pending, f"not acknowledged by: {', '.join(missing)}" if missing else "")
        targets = {}
        for intent in (previous, new):
            for cluster in (intent.placement if intent else {}):
                targets[cluster] = 0
        targets.update(new.placement if new else {})
        service = (new or previous)

        def missing():
            behind = []
            for cluster, want in sorted(targets.items()):
                status = self.replica.status_of(cluster)
                entry = next((s for s in (status.services if status else ())
                              if (s.region, s.service) == (service.region, service.service)), None)
                have_desired = entry.desired if entry else 0
                have_ready = entry.ready if entry else 0
                if have_desired != want or (wait == pb.READY and have_ready < want):
                    behind.append(f"{cluster} ({'ready' if wait == pb.READY else 'applied'} "
                                  f"{have_ready if wait == pb.READY else have_desired}/{want})")
            return behind

        met = self.replica.wait_until(lambda: not missing(), max(0.0, deadline - time.monotonic()))
        return met, "" if met else "still waiting for: " + ", ".join(missing())

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        cfg = self.config
        loaded = self.replica.load()
        log.info("loaded %d records from %s", loaded, cfg.data_dir)
        self._register()
        self.server = grpc.server(
            # A relayed push holds its thread until the rest of the region answered: room for
            # every peer to have a call in flight at once.
            concurrent.futures.ThreadPoolExecutor(max_workers=128, thread_name_prefix="grpc"),
            interceptors=[api.TokenCheck(cfg.token, cfg.peer_token)],
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                     ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *KEEPALIVE_SERVER_OPTIONS])
        add_servicer(self.server, "Fleet", api.FleetService(self))
        add_servicer(self.server, "Peer", api.PeerService(self), encoded=True)
        credentials = cfg.server_credentials()
        if credentials is None:
            self.bound_port = self.server.add_insecure_port(cfg.listen)
            log.warning("serving gRPC in PLAIN TEXT on %s (asked for with --insecure)", cfg.listen)
        else:
            self.bound_port = self.server.add_secure_port(cfg.listen, credentials)
        if not cfg.token:
            log.warning("no client token configured: any client may change the fleet")
        self.server.start()
        if cfg.metrics_listen:
            host, port = cfg.metrics_listen.rsplit(":", 1)
            self.metrics_server = metrics_mod.serve(self.metrics, host, int(port), lambda: not self.stopping.is_set())
        if cfg.manage_kubernetes:
            self.reconciler = Reconciler(self, cfg.kubernetes_client(), cfg.resync_interval, cfg.heartbeat_interval)
            self.reconciler.start()
        threading.Thread(target=self._background, name="anti-entropy", daemon=True).start()
        log.info("listener %s (region %s) serving on %s; peers: %s", self.cluster, self.region, cfg.listen,
                 ", ".join(self.peers.endpoints()) or "none yet")

    def _register(self) -> None:
        """Make sure this cluster is a member of its region, with its current endpoint."""
        current = self.replica.get(cluster_key(self.cluster))
        existing = current.value if current is not None and not current.deleted else None
        if existing is None:
            wanted = Cluster(name=self.cluster, region=self.region, endpoint=self.config.advertise)
        elif existing.endpoint != self.config.advertise and existing.region == self.region:
            wanted = dataclasses.replace(existing, endpoint=self.config.advertise)
        else:
            return
        self.write([(wanted.key, wanted)], author=f"listener@{self.cluster}")

    def _background(self) -> None:
        """Anti-entropy and the failover coordinator, each on its own period. Anti-entropy slows
        down while rounds find nothing to repair (see quiet_rounds) and is back at its
        pace as soon as a peer call fails or a peer answers again."""
        next_sync = next_tick = next_gc = 0.0
        base, quiet = self.config.anti_entropy_interval, 0
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.peers.trouble.is_set():
                self.peers.trouble.clear()
                quiet, next_sync = 0, min(next_sync, now + base)
            if now >= next_gc:
                next_gc = now + min(60.0, self.config.tombstone_ttl)
                members = [c.name for c in self.replica.members()]
                gone = self.replica.collect_tombstones(members, wall_clock_ms() - int(self.config.tombstone_ttl * 1000))
                if gone:
                    log.info("forgot %d tombstones that every member holds", len(gone))
            if now >= next_sync:
                repaired = news = 0
                try:
                    repaired, news = self.peers.anti_entropy_round(self.config.anti_entropy_fanout)
                except Exception:  # never let the repair loop die
                    log.exception("anti-entropy round failed")
                quiet = quiet_rounds(quiet, repaired, news, self.config.failure_timeout, base)
                next_sync = now + base * rounds_until_next(quiet)
                self.metrics.peers_up.set(sum(self.peers.up.values()))
            if now >= next_tick:
                next_tick = now + self.config.heartbeat_interval
                if self.reconciler is None:  # else the reconciler beats while its passes succeed
                    self.heartbeat()
                try:
                    self.coordinator.tick()
                except Exception:
                    log.exception("failover tick failed")
            # Asleep until the next of them is due, or trouble (stop() sets it too): a hundred
            # listeners polling ten times a second were a thousand wake-ups a second on 2 cores.
            self.peers.trouble.wait(max(0.0, min(next_sync, next_tick, next_gc) - time.monotonic()))

    def stop(self, grace: float = 2.0) -> None:
        self.stopping.set()
        self.peers.trouble.set()  # wakes the background loop
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.server is not None:
            self.server.stop(grace).wait()
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
        self.peers.close()
        self.store.close()
        log.info("listener %s stopped", self.cluster)
