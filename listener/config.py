"""Listener configuration: defaults, then a YAML file (--config), then environment variables
MULTICLUSTER_LISTENER_<NAME>, then command-line flags; later ones win.

Settings are flat where users write them (`heartbeat_interval: 2` in the file,
`--heartbeat-interval 2`) and grouped where the listener reads them (`config.timing
.heartbeat_interval`): identity, network and TLS, timing, Kubernetes, operation. Checking a
configuration reads no file and builds no client: files are read where they are used
(listener/server.py), when the listener starts.
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import yaml

from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError, check_name

ENV_PREFIX = "MULTICLUSTER_LISTENER_"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")  # refused_namespaces by default


@dataclasses.dataclass
class Identity:
    cluster: str = ""  # this cluster's name in the fleet: its records, its Deployments' label
    region: str = ""   # the region it serves replicas of, and whose coordinator it may be


@dataclasses.dataclass
class Network:
    listen: str = "127.0.0.1:7443"   # where the gRPC API serves clients (and peers, without peer_listen)
    advertise: str = ""              # the endpoint clients use; default: listen
    peer_listen: str = ""            # where peers are served, requiring their certificates; needed with TLS
    peer_advertise: str = ""         # the endpoint peers use; default: peer_listen
    peers: list = dataclasses.field(default_factory=list)  # seeds' peer endpoints, until the clusters are known
    discover_peers: bool = True      # also push to every registered cluster's peer endpoint
    token: str = ""                  # the clients' bearer token (an admin called "client") ...
    token_file: str = ""             # ... or a file holding it (not in a process listing; read again on SIGHUP)
    clients_file: str = ""           # ... or identities, each with a token, role and scope (listener/identities.py)
    peer_token: str = ""             # the peers' bearer token (required, never the clients') ...
    peer_token_file: str = ""        # ... or a file holding it
    tls_cert: str = ""               # TLS for clients and peers
    tls_key: str = ""
    tls_ca: str = ""                 # the fleet's CA: peers must present a certificate it signed
    insecure: bool = False           # serve plain text; must be asked for
    metrics_listen: str = ""         # host:port of /metrics and /healthz; empty: none
    page_listen: str = ""            # host:port of the status page (the client token to read it); empty: none


@dataclasses.dataclass
class Timing:
    heartbeat_interval: float = 1.0     # how often this cluster says it is alive
    failure_timeout: float = 5.0        # silence after which a cluster's replicas move away
    hold_down: float = 10.0             # how long a returning cluster must stay healthy first
    anti_entropy_interval: float = 1.0  # digest rounds that repair what pushes missed
    anti_entropy_fanout: int = 3        # peers per round
    # Peers of the region each beat is pushed to (all of them in a region of up to 9); the
    # rest hear it from them. More: a large region notices a failure a little sooner, at more
    # calls per member (listener/health.py, bench/bench_simulation.py).
    heartbeat_fanout: int = 8
    resync_interval: float = 5.0        # a reconcile pass at least this often, changed or not
    # This cluster's status record goes to the whole fleet at each write. A service's milestone
    # (applied, a problem, rolled out) is written at once; its counts on the way (ready, pods
    # bound: one Deployment coming up changes them several times within a second or two) at
    # most every status_interval; the free room alone (every pod in the cluster changes it) at
    # most every room_interval (Karmada's cluster status: every 10 s). The changes in between
    # are written together.
    status_interval: float = 1.0
    room_interval: float = 10.0
    peer_timeout: float = 2.0           # deadline of a call to a peer
    tombstone_ttl: float = 3600.0       # seconds a delete is remembered at least (then until all members hold it)
    unschedulable_after: float = 30.0   # a pod found no node for this long counts as unable to run here


@dataclasses.dataclass
class Kubernetes:
    manage_kubernetes: bool = True   # false: replicate only, touch no cluster (tests, dry runs)
    kubeconfig: str = ""
    context: str = ""
    in_cluster: bool = False         # the pod's service account (the role's kubernetes runtime)
    namespaces: list = dataclasses.field(default_factory=list)  # manage only these (RBAC); empty: all
    # Every Deployment of this cluster in this one namespace, whatever the service's own: for
    # several fleet members sharing one apiserver (the 100-cluster simulation runs 50 on one).
    deployment_namespace: str = ""
    # Where services may run: never in refused_namespaces (the listener's own too, in a cluster),
    # and only in allowed_namespaces when it names any (listener/namespaces.py).
    allowed_namespaces: list = dataclasses.field(default_factory=list)
    refused_namespaces: list = dataclasses.field(default_factory=lambda: list(SYSTEM_NAMESPACES))


@dataclasses.dataclass
class Operation:
    data_dir: str = "/var/lib/multicluster-kube"  # the store (SQLite): on a disk that survives restarts
    log_level: str = "INFO"
    log_format: str = "json"         # json for log collectors, text for people


GROUPS = {"identity": Identity, "network": Network, "timing": Timing, "kubernetes": Kubernetes,
          "operation": Operation}
SETTINGS = {f.name: (group, f) for group, kind in GROUPS.items() for f in dataclasses.fields(kind)}


@dataclasses.dataclass
class Config:
    identity: Identity = dataclasses.field(default_factory=Identity)
    network: Network = dataclasses.field(default_factory=Network)
    timing: Timing = dataclasses.field(default_factory=Timing)
    kubernetes: Kubernetes = dataclasses.field(default_factory=Kubernetes)
    operation: Operation = dataclasses.field(default_factory=Operation)

    @classmethod
    def from_settings(cls, **settings) -> "Config":
        """A checked configuration from flat settings (the names users write)."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise ValidationError(unknown[0], "is not a listener setting", settings[unknown[0]])
        groups = {group: {} for group in GROUPS}
        for name, value in settings.items():
            groups[SETTINGS[name][0]][name] = value
        return cls(**{group: GROUPS[group](**values) for group, values in groups.items()}).finish()

    def finish(self) -> "Config":
        """Fill derived defaults and check the whole configuration; ValidationError names the setting."""
        check_name("cluster", self.identity.cluster)
        check_name("region", self.identity.region)
        net, kube, timing = self.network, self.kubernetes, self.timing
        net.advertise = net.advertise or net.listen
        net.peer_advertise = net.peer_advertise or net.peer_listen
        for group, name in ((net, "peers"), (kube, "namespaces"), (kube, "allowed_namespaces"),
                            (kube, "refused_namespaces")):
            if isinstance(getattr(group, name), str):
                setattr(group, name, [p for p in getattr(group, name).split(",") if p])
        if kube.deployment_namespace:
            check_name("deployment_namespace", kube.deployment_namespace)
            if kube.namespaces and kube.namespaces != [kube.deployment_namespace]:
                raise ValidationError("namespaces", "with deployment_namespace set, leave it empty or name "
                                      "only that namespace", kube.namespaces)
            kube.namespaces = [kube.deployment_namespace]
        for name in ("allowed_namespaces", "refused_namespaces"):
            for i, namespace in enumerate(getattr(kube, name)):
                check_name(f"{name}[{i}]", namespace)
        if bool(net.tls_cert) != bool(net.tls_key):
            raise ValidationError("tls_cert", "tls_cert and tls_key go together", net.tls_cert)
        if not net.tls_cert and not net.insecure:
            raise ValidationError("insecure", "without tls_cert and tls_key the listener serves plain text "
                                  "only when insecure is true", net.insecure)
        if net.tls_cert and not net.tls_ca:
            raise ValidationError("tls_ca", "with TLS, peers are known by certificates from the fleet's CA: "
                                  "give the CA's certificate", net.tls_ca)
        if net.tls_cert and not net.peer_listen:
            raise ValidationError("peer_listen", "with TLS, peers are served on a port of their own that requires "
                                  "their certificates: give host:port (e.g. 0.0.0.0:7444)", net.peer_listen)
        if net.peer_listen and net.peer_listen == net.listen:
            raise ValidationError("peer_listen", "must differ from listen (clients are served there)", net.peer_listen)
        for name in ("token", "peer_token"):
            if getattr(net, name) and getattr(net, name + "_file"):
                raise ValidationError(name + "_file", f"give {name} or {name}_file, not both",
                                      getattr(net, name + "_file"))
        if net.clients_file and (net.token or net.token_file):
            raise ValidationError("clients_file", "give token (or token_file) or clients_file, not both: the "
                                  "clients file gives every client a token of its own", net.clients_file)
        if not (net.peer_token or net.peer_token_file):
            raise ValidationError("peer_token", "is required: peers authenticate with a token of their own, never "
                                  "the clients' (give peer_token or peer_token_file)", "")
        for name in ("metrics_listen", "page_listen", "peer_listen"):  # else a failure at start, unexplained
            host, colon, port = getattr(net, name).rpartition(":")
            if getattr(net, name) and not (colon and host and port.isdigit() and 0 < int(port) < 65536):
                raise ValidationError(name, "must be host:port, the port from 1 to 65535", getattr(net, name))
        for field in dataclasses.fields(Timing):
            if getattr(timing, field.name) <= 0:
                raise ValidationError(field.name, "must be greater than 0", getattr(timing, field.name))
        if timing.failure_timeout <= timing.heartbeat_interval:
            raise ValidationError("failure_timeout", "must exceed heartbeat_interval", timing.failure_timeout)
        return self


def _coerce(name: str, raw):
    group, field = SETTINGS[name]
    kind = type(getattr(GROUPS[group](), field.name))
    if kind is bool and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is list and isinstance(raw, str):
        return [p for p in raw.split(",") if p]
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValidationError(name, f"must be a {kind.__name__}", raw) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ansible_collections.multicluster.kube.listener",
                                description="The multicluster.kube listener of one cluster.")
    p.add_argument("--config", help="a YAML file of settings (keys as the flags, with underscores)")
    for name, (_group, field) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        if field.type == "bool":
            p.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None)
        elif field.type == "list":
            p.add_argument(flag.rstrip("s"), dest=name, action="append", default=None, help="repeat for each one")
        else:
            p.add_argument(flag, dest=name, default=None)
    return p


def load(argv=None, environ=None) -> Config:
    environ = os.environ if environ is None else environ
    args = parser().parse_args(argv)
    values = {}
    if args.config:
        with open(args.config) as f:
            values.update(yaml.safe_load(f) or {})
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ValidationError(unknown[0], "is not a listener setting", values[unknown[0]])
    for name in SETTINGS:
        if ENV_PREFIX + name.upper() in environ:
            values[name] = environ[ENV_PREFIX + name.upper()]
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return Config.from_settings(**{k: _coerce(k, v) for k, v in values.items()})
