"""Listener configuration: defaults, then a YAML file (--config), then environment variables
MULTICLUSTER_LISTENER_<NAME>, then command-line flags; later ones win."""
from __future__ import annotations

import argparse
import dataclasses
import os

import yaml

from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError, check_name

ENV_PREFIX = "MULTICLUSTER_LISTENER_"


@dataclasses.dataclass
class Config:
    cluster: str = ""
    region: str = ""
    listen: str = "127.0.0.1:7443"
    advertise: str = ""              # the endpoint peers and clients use; default: listen
    peers: list = dataclasses.field(default_factory=list)
    discover_peers: bool = True      # also push to every registered cluster's endpoint
    data_dir: str = "/var/lib/multicluster-kube"
    kubeconfig: str = ""
    context: str = ""
    in_cluster: bool = False
    manage_kubernetes: bool = True   # false: replicate only, touch no cluster (tests, dry runs)
    namespaces: list = dataclasses.field(default_factory=list)  # manage only these (RBAC); empty: all
    # Every Deployment of this cluster in this one namespace, whatever the service's own: for
    # several fleet members sharing one apiserver (the 100-cluster simulation runs 50 on one).
    deployment_namespace: str = ""
    token: str = ""
    token_file: str = ""
    peer_token: str = ""             # default: the client token
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""                 # with cert and key: mutual TLS among listeners
    insecure: bool = False           # serve plain text; must be asked for
    metrics_listen: str = ""
    heartbeat_interval: float = 1.0
    failure_timeout: float = 5.0
    hold_down: float = 10.0
    anti_entropy_interval: float = 1.0
    anti_entropy_fanout: int = 3
    resync_interval: float = 5.0
    peer_timeout: float = 2.0
    tombstone_ttl: float = 3600.0    # seconds a delete is remembered at least (then until all members hold it)
    log_level: str = "INFO"
    log_format: str = "json"

    def finish(self) -> "Config":
        """Fill derived defaults and check the whole configuration; ValidationError names the key."""
        check_name("cluster", self.cluster)
        check_name("region", self.region)
        if self.token_file and not self.token:
            with open(self.token_file) as f:
                self.token = f.read().strip()
        self.peer_token = self.peer_token or self.token
        self.advertise = self.advertise or self.listen
        for name in ("peers", "namespaces"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, [p for p in getattr(self, name).split(",") if p])
        if self.deployment_namespace:
            check_name("deployment_namespace", self.deployment_namespace)
            if self.namespaces and self.namespaces != [self.deployment_namespace]:
                raise ValidationError("namespaces", "with deployment_namespace set, leave it empty or name "
                                      "only that namespace", self.namespaces)
            self.namespaces = [self.deployment_namespace]
        tls = [self.tls_cert, self.tls_key]
        if any(tls) and not all(tls):
            raise ValidationError("tls_cert", "tls_cert and tls_key go together", self.tls_cert)
        if not self.tls_cert and not self.insecure:
            raise ValidationError("insecure", "without tls_cert and tls_key the listener serves plain text "
                                  "only when insecure is true", self.insecure)
        for name in ("heartbeat_interval", "failure_timeout", "hold_down", "anti_entropy_interval",
                     "resync_interval", "peer_timeout", "tombstone_ttl"):
            if getattr(self, name) <= 0:
                raise ValidationError(name, "must be greater than 0", getattr(self, name))
        if self.failure_timeout <= self.heartbeat_interval:
            raise ValidationError("failure_timeout", "must exceed heartbeat_interval", self.failure_timeout)
        return self

    def server_credentials(self):
        if not self.tls_cert:
            return None
        import grpc
        with open(self.tls_key, "rb") as k, open(self.tls_cert, "rb") as c:
            pair = (k.read(), c.read())
        root = open(self.tls_ca, "rb").read() if self.tls_ca else None
        # Clients (modules) authenticate with the token; peers may also present certificates.
        return grpc.ssl_server_credentials([pair], root_certificates=root, require_client_auth=False)

    def peer_tls(self) -> dict:
        if not self.tls_ca:
            return {}
        return {"ca": self.tls_ca, "cert": self.tls_cert, "key": self.tls_key}

    def kubernetes_client(self):
        from kubernetes import config as kube_config
        if self.in_cluster:
            kube_config.load_incluster_config()
            from kubernetes import client
            return client.ApiClient()
        return kube_config.new_client_from_config(config_file=self.kubeconfig or None, context=self.context or None)


def _coerce(name: str, raw):
    kind = type(getattr(Config(), name))
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
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            p.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        elif field.type == "list":
            p.add_argument(flag.rstrip("s"), dest=field.name, action="append", default=None,
                           help="repeat for each one")
        else:
            p.add_argument(flag, dest=field.name, default=None)
    return p


def load(argv=None, environ=None) -> Config:
    environ = os.environ if environ is None else environ
    args = parser().parse_args(argv)
    values = {}
    if args.config:
        with open(args.config) as f:
            values.update(yaml.safe_load(f) or {})
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValidationError(unknown[0], "is not a listener setting", values[unknown[0]])
    for name in names:
        if ENV_PREFIX + name.upper() in environ:
            values[name] = environ[ENV_PREFIX + name.upper()]
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    return Config(**{k: _coerce(k, v) for k, v in values.items()}).finish()
