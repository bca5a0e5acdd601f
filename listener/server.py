"""One listener: builds its parts and wires them together; the only module that knows them all.

The layers, each using only those below it (`make test` checks this, see .importlinter):

    api (Fleet, Peer services)          failover (Coordinator)      reconciler
        │ queries, writes, health            │                          │
    writer ─────────────────────────────────┴──────────────────────────┘
        │ pushes                      health (Health, Beacon)
    replication (the protocol) ──── transport (grpc_transport: gRPC channels)
        │
    replica (records, queries, digest index) ── heartbeats, features (what members support)
        │
    store (SQLite)
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import threading
import time

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import (
    KEEPALIVE_SERVER_OPTIONS, MAX_MESSAGE_BYTES, TOKEN_HEADER)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_client import api_client
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import KubernetesApi
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, ValidationError, cluster_key
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import add_servicer

from ansible_collections.multicluster.kube.listener import metrics as metrics_mod
from ansible_collections.multicluster.kube.listener.api import page
from ansible_collections.multicluster.kube.listener.api.auth import TokenCheck
from ansible_collections.multicluster.kube.listener.api.fleet import FleetService
from ansible_collections.multicluster.kube.listener.api.peer import PeerService
from ansible_collections.multicluster.kube.listener.failover import Coordinator
from ansible_collections.multicluster.kube.listener.features import Features, advertised
from ansible_collections.multicluster.kube.listener.grpc_transport import GrpcTransport
from ansible_collections.multicluster.kube.listener.health import Beacon, Health
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.identities import Clients
from ansible_collections.multicluster.kube.listener.namespaces import NamespacePolicy
from ansible_collections.multicluster.kube.listener.reconciler import Reconciler, Scope
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.replication import AntiEntropyPace, Replication
from ansible_collections.multicluster.kube.listener.room import Room
from ansible_collections.multicluster.kube.listener.store import Store
from ansible_collections.multicluster.kube.listener.writer import Writer

log = logging.getLogger("multicluster.listener")


def _read(path: str, mode: str = "r"):
    with open(path, mode) as f:
        return f.read()


def credentials(network) -> tuple:
    """(the clients, the peer token), from the settings and the files they name (read again on
    SIGHUP). ValidationError when the peer token is a client's: client credentials must never
    open the Peer service."""
    peer = _read(network.peer_token_file).strip() if network.peer_token_file else network.peer_token
    if not peer:
        raise ValidationError("peer_token_file" if network.peer_token_file else "peer_token", "must not be empty", "")
    if network.clients_file:
        clients = Clients.parse(_read(network.clients_file), "clients_file")
    else:
        clients = Clients.single(_read(network.token_file).strip() if network.token_file else network.token)
    if not clients.open and clients.identify(peer) is not None:
        raise ValidationError("peer_token", "must differ from every client's token (clients would open the Peer "
                              "service with theirs)", "<hidden>")
    return clients, peer


def server_credentials(network) -> tuple:
    """(credentials of the clients' port, of the peers' port), None for plain text. grpcio asks
    for client certificates per port: the peers' port requires one the fleet's CA signed, the
    clients' port asks for none (clients authenticate with their token)."""
    if not network.tls_cert:
        return None, None
    pair = (_read(network.tls_key, "rb"), _read(network.tls_cert, "rb"))
    return (grpc.ssl_server_credentials([pair]),
            grpc.ssl_server_credentials([pair], root_certificates=_read(network.tls_ca, "rb"),
                                        require_client_auth=True))


# In a pod, the namespace the listener itself runs in (the role's kubernetes runtime): refused too.
OWN_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def namespaces_policy(kube) -> NamespacePolicy:
    """Where services may run, from the settings, and the listener's own namespace in a pod."""
    refused = list(kube.refused_namespaces)
    if kube.in_cluster and os.path.exists(OWN_NAMESPACE_FILE):
        refused.append(_read(OWN_NAMESPACE_FILE).strip())
    return NamespacePolicy(tuple(kube.allowed_namespaces), tuple(dict.fromkeys(refused)))


class Listener:
    def __init__(self, config):
        self.config = config
        cfg_id, net, timing = config.identity, config.network, config.timing
        self.cluster, self.region = cfg_id.cluster, cfg_id.region
        self.clients, self.peer_token = credentials(net)
        self.auth = TokenCheck(self.clients, self.peer_token, peers_by_certificate=bool(net.tls_cert))
        self.namespaces_policy = namespaces_policy(config.kubernetes)
        self.metrics = metrics_mod.Metrics()
        os.makedirs(config.operation.data_dir, exist_ok=True)
        self.store = Store(os.path.join(config.operation.data_dir, f"{self.cluster}.sqlite3"))
        self.clock = HybridClock(self.cluster)
        self.replica = Replica(self.cluster, self.store, self.clock, self.metrics, timing.tombstone_ttl)
        self.heartbeats = Heartbeats(self.cluster, *advertised(), failure_timeout=timing.failure_timeout)
        self.features = Features(self.replica, self.heartbeats)
        tls = {"ca": net.tls_ca, "cert": net.tls_cert, "key": net.tls_key} if net.tls_ca else {}
        self.transport = GrpcTransport(timing.peer_timeout, self.peer_token, tls)
        self.metrics.count_traffic(self.transport.traffic)
        self.replication = Replication(self.replica, self.heartbeats, self.transport, net.peers,
                                       discover=net.discover_peers, metrics=self.metrics)
        self.writer = Writer(self.region, self.clock, self.replica, self.replication, self.features)
        self.health = Health(self.replica, self.heartbeats, timing.failure_timeout, timing.hold_down)
        self.beacon = Beacon(self.region, self.heartbeats, self.replication, timing.heartbeat_interval,
                             timing.failure_timeout, timing.heartbeat_fanout, self.health)
        self.coordinator = Coordinator(self.cluster, self.region, self.replica, self.health, self.features,
                                       self.writer.write, self.metrics)
        self.stopping = threading.Event()
        self.reconciler = None
        self.server = None
        self.metrics_server = None
        self.page_server = None

    def start(self) -> None:
        cfg, net = self.config, self.config.network
        loaded = self.replica.load()
        log.info("loaded %d records from %s", loaded, cfg.operation.data_dir)
        self._register()
        self.server = grpc.server(
            # A relayed push holds its thread until the rest of the region answered: room for
            # every peer to have a call in flight at once.
            concurrent.futures.ThreadPoolExecutor(max_workers=128, thread_name_prefix="grpc"),
            interceptors=[self.auth],
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                     ("grpc.max_send_message_length", MAX_MESSAGE_BYTES), *KEEPALIVE_SERVER_OPTIONS])
        if cfg.kubernetes.manage_kubernetes:
            self.reconciler = self._reconciler()
        add_servicer(self.server, "Fleet", FleetService(
            self.cluster, self.region, self.replica, self.writer, self.health, self.features,
            self.replication.peer_counts, self.metrics, kube=self.reconciler.kube if self.reconciler else None,
            namespaces=self.namespaces_policy, identity=lambda context: self.auth.identity(
                context.invocation_metadata())))
        add_servicer(self.server, "Peer", PeerService(self.replication), encoded=True)
        clients, peers = server_credentials(net)
        for address, credentials in ((net.listen, clients), (net.peer_listen, peers)):
            if not address:
                continue
            if credentials is None:
                self.server.add_insecure_port(address)
                log.warning("serving gRPC in PLAIN TEXT on %s (asked for with --insecure)", address)
            else:
                self.server.add_secure_port(address, credentials)
        if self.clients.open:
            log.warning("no client token configured: any client may change the fleet")
        self.server.start()
        if net.metrics_listen:
            host, port = net.metrics_listen.rsplit(":", 1)
            self.metrics_server = metrics_mod.serve(self.metrics, host, int(port), lambda: not self.stopping.is_set())
        if net.page_listen:
            host, port = net.page_listen.rsplit(":", 1)
            self.page_server = page.serve(
                host, int(port), lambda: page.fleet_view(self.replica, self.health, self.cluster),
                lambda header: self.auth.identity([(TOKEN_HEADER, header)]) is not None)
        if self.reconciler is not None:
            self.reconciler.start()
        threading.Thread(target=self._background, name="anti-entropy", daemon=True).start()
        log.info("listener %s (region %s) serving clients on %s, peers on %s; peers: %s", self.cluster, self.region,
                 net.listen, net.peer_listen or net.listen, ", ".join(self.replication.endpoints()) or "none yet")

    def reload_credentials(self) -> None:
        """Read the tokens and the clients file again (SIGHUP): calls that begin after it use
        them. A file that does not read, or does not check, leaves the credentials as they were."""
        try:
            clients, peer_token = credentials(self.config.network)
        except (ValidationError, OSError) as error:
            log.error("credentials not reloaded, the old ones stay: %s", error)
            return
        self.clients, self.peer_token = clients, peer_token
        self.auth.reload(clients, peer_token)
        self.transport.use_token(peer_token)
        log.info("credentials reloaded: %d client identities", len(clients))

    def _reconciler(self) -> Reconciler:
        kube, timing = self.config.kubernetes, self.config.timing
        scope = Scope(self.cluster, self.region, tuple(kube.namespaces), kube.deployment_namespace,
                      self.namespaces_policy)
        client = api_client({"in_cluster": kube.in_cluster, "kubeconfig": kube.kubeconfig, "context": kube.context})
        kubernetes = KubernetesApi(client)
        return Reconciler(scope, kubernetes, self.replica, self.writer.write, self.beacon.beat,
                          self.metrics, timing.resync_interval, timing.heartbeat_interval,
                          Room(kubernetes, timing.unschedulable_after), timing.status_interval,
                          timing.room_interval)

    def _register(self) -> None:
        """Make sure this cluster is a member of its region, with its current endpoint."""
        net = self.config.network
        existing = self.replica.live(cluster_key(self.cluster))
        if existing is None:
            wanted = Cluster(name=self.cluster, region=self.region, endpoint=net.advertise,
                             peer_endpoint=net.peer_advertise)
        elif (existing.endpoint, existing.peer_endpoint) != (net.advertise, net.peer_advertise) and \
                existing.region == self.region:
            wanted = dataclasses.replace(existing, endpoint=net.advertise, peer_endpoint=net.peer_advertise)
        else:
            return
        self.writer.write([(wanted.key, wanted)], author=f"listener@{self.cluster}")

    def _background(self) -> None:
        """Anti-entropy, tombstone collection and the failover coordinator, each on its own
        period. Anti-entropy slows down while rounds find nothing to repair (see quiet_rounds)
        and is back at its pace as soon as a peer call fails or a peer answers again."""
        timing = self.config.timing
        trouble = self.transport.trouble
        pace = AntiEntropyPace(timing.anti_entropy_interval, timing.failure_timeout)
        next_tick = next_gc = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            if trouble.is_set():
                trouble.clear()
                pace.trouble(now)
            if now >= next_gc:
                next_gc = now + min(60.0, timing.tombstone_ttl)
                gone = self.replication.collect_tombstones(timing.tombstone_ttl)
                if gone:
                    log.info("forgot %d tombstones that every member holds", len(gone))
            if now >= pace.due:
                repaired = news = 0
                try:
                    repaired, news = self.replication.anti_entropy_round(timing.anti_entropy_fanout)
                except Exception:  # never let the repair loop die
                    log.exception("anti-entropy round failed")
                pace.after_round(now, repaired, news)
                self.metrics.peers_up.set(self.transport.peers_up())
            if now >= next_tick:
                next_tick = now + timing.heartbeat_interval
                if self.reconciler is None:  # else the reconciler beats while its passes succeed
                    self.beacon.beat()
                try:
                    self.coordinator.tick()
                except Exception:
                    log.exception("failover tick failed")
            # Asleep until the next of them is due, or trouble (stop() sets it too): a hundred
            # listeners polling ten times a second were a thousand wake-ups a second on 2 cores.
            trouble.wait(max(0.0, min(pace.due, next_tick, next_gc) - time.monotonic()))

    def stop(self, grace: float = 2.0) -> None:
        self.stopping.set()
        self.transport.trouble.set()  # wakes the background loop
        if self.reconciler is not None:
            self.reconciler.stop()
        if self.server is not None:
            self.server.stop(grace).wait()
        for http_server in (self.metrics_server, self.page_server):
            if http_server is not None:
                http_server.shutdown()
        self.replication.close()
        self.store.close()
        log.info("listener %s stopped", self.cluster)
