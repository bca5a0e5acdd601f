"""Listener processes for the lab's clusters: one per cluster, for tests, benchmarks and demos
that need them without Ansible. (The `listener` role is how users start them.)"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import secrets
import sys
import time

from lab import processes
from lab.cluster import ROOT

COLLECTIONS = ROOT / ".cache" / "collections"
MODULE = "ansible_collections.multicluster.kube.listener"
PYTHON = os.path.realpath(sys.executable)  # what /proc/PID/exe shows for a listener


@dataclasses.dataclass(frozen=True)
class Member:
    """One listener: its fleet cluster and region, the lab cluster whose apiserver it manages,
    and where it runs on the network. Several members may share one lab cluster, each with
    its Deployments in its own namespace: simulated clusters."""

    name: str
    region: str
    context: str                    # the lab cluster (kubeconfig context) it manages
    deployment_namespace: str = ""  # "" : the services' own namespaces
    netns: str = ""                 # the network namespace it runs in; "" : the caller's
    listen_host: str = "127.0.0.1"
    advertise_host: str = "127.0.0.1"  # where its peers reach it
    client_host: str = "127.0.0.1"     # where the caller reaches it
    collections: str = ""              # the folder holding the listener's code (another version); "": this checkout


class ListenerFleet:
    """Starts `python -m ...listener` for each member: by default one per cluster of the lab.
    With `proxies`, each listener reaches each peer through its own CuttableProxy (peer
    discovery off), so tests can cut any pair of listeners apart."""

    def __init__(self, lab, workdir, token=None, manage_kubernetes=True, settings=None, proxies=False,
                 clusters=None, tls=False, members=None, seeds=(), clients_file=None):
        self.lab = lab
        self.tls = tls
        self.seeds = list(seeds)  # peer endpoints outside this fleet to start from too
        self.clients_file = clients_file  # identities instead of one client token (then `token` is an admin's)
        members = members or [Member(n, lab.clusters[n].region, n) for n in clusters or lab.clusters]
        self.members = {m.name: m for m in members}
        self.names = list(self.members)
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = token if token is not None else secrets.token_hex(16)
        self.peer_token = secrets.token_hex(16)  # the peers' own, never the clients'
        self.manage_kubernetes = manage_kubernetes
        self.settings = {"heartbeat_interval": 1.0, "failure_timeout": 5.0, "hold_down": 5.0,
                         "anti_entropy_interval": 1.0, **(settings or {})}
        self.ports = {name: processes.free_port() for name in self.names}
        # With TLS, peers are served on a port of their own that requires their certificates.
        self.peer_ports = {name: processes.free_port() for name in self.names} if tls else self.ports
        self.metrics_ports = {name: processes.free_port() for name in self.names}
        self.page_ports = {name: processes.free_port() for name in self.names}
        self.pids = {}
        self.proxies = {}
        if proxies:
            from lab.faults import CuttableProxy
            self.proxies = {(a, b): CuttableProxy(f"{self.members[b].client_host}:{self.peer_ports[b]}")
                            for a in self.names for b in self.names if a != b}

    def endpoint(self, name: str) -> str:
        """Where the caller reaches the listener."""
        return f"{self.members[name].client_host}:{self.ports[name]}"

    def metrics(self, name: str) -> dict:
        """The listener's metrics, {name: value} of the samples without labels."""
        import urllib.request

        url = f"http://{self.members[name].client_host}:{self.metrics_ports[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            lines = response.read().decode().splitlines()
        return {name: float(value) for name, _space, value in (line.partition(" ") for line in lines)
                if name and not name.startswith("#") and "{" not in name}

    def page(self, name: str) -> str:
        """The address of the listener's status page, with the client token in its fragment."""
        return f"http://{self.members[name].client_host}:{self.page_ports[name]}/#token={self.token}"

    def advertised(self, name: str) -> str:
        """Where clients on the network of the other listeners reach it."""
        return f"{self.members[name].advertise_host}:{self.ports[name]}"

    def advertised_to_peers(self, name: str) -> str:
        """Where the other listeners reach it."""
        return f"{self.members[name].advertise_host}:{self.peer_ports[name]}"

    def argv(self, name: str) -> list:
        member = self.members[name]
        argv = [sys.executable, "-m", MODULE, "--cluster", name, "--region", member.region,
                "--listen", f"{member.listen_host}:{self.ports[name]}", "--advertise", self.advertised(name),
                "--data-dir", str(self.workdir / name),
                "--metrics-listen", f"{member.listen_host}:{self.metrics_ports[name]}", "--log-format", "text"]
        if not member.collections:  # a listener of another version (lab/releases.py) may have no page
            argv += ["--page-listen", f"{member.listen_host}:{self.page_ports[name]}"]
        if self.tls:  # a certificate from the lab's CA: TLS for clients, mutual TLS among listeners
            cert, key = self.lab.ca.serving_pair(f"listener-{name}")
            argv += ["--tls-cert", str(cert), "--tls-key", str(key), "--tls-ca", str(self.lab.ca.cert_file),
                     "--peer-listen", f"{member.listen_host}:{self.peer_ports[name]}",
                     "--peer-advertise", self.advertised_to_peers(name)]
        else:
            argv += ["--insecure"]
        if self.clients_file:
            argv += ["--clients-file", str(self.clients_file)]
        elif self.token:
            argv += ["--token", self.token]
        argv += ["--peer-token", self.peer_token]
        if self.manage_kubernetes:
            argv += ["--kubeconfig", str(self.lab.kubeconfig), "--context", member.context]
            if member.deployment_namespace:
                argv += ["--deployment-namespace", member.deployment_namespace]
        else:
            argv += ["--no-manage-kubernetes"]
        if self.proxies:
            argv += ["--no-discover-peers"]
            peers = [self.proxies[(name, other)].endpoint for other in self.names if other != name]
        else:
            peers = [self.advertised_to_peers(other) for other in self.names if other != name]
        for peer in peers + self.seeds:
            argv += ["--peer", peer]
        for key, value in self.settings.items():
            argv += ["--" + key.replace("_", "-"), str(value)]
        return argv

    def start(self, name: str) -> None:
        env = {**os.environ, "PYTHONPATH": self.members[name].collections or str(COLLECTIONS)}
        self.pids[name] = processes.spawn(self.argv(name), self.workdir / f"{name}.log", env=env,
                                          netns=self.members[name].netns)

    def start_all(self, batch: int = 0, timeout: float = 30.0) -> None:
        """Start every listener (`batch` at a time, when many share few cores), wait until each
        serves and all know each other."""
        step = batch or len(self.names)
        for first in range(0, len(self.names), step):
            group = self.names[first:first + step]
            for name in group:
                self.start(name)
            for name in group:
                self.wait_serving(name, timeout)
        self.wait_membership(timeout)

    def wait_membership(self, timeout: float = 30.0) -> None:
        """Until every listener knows every cluster (registrations pushed before all peers
        were up arrive by anti-entropy within a few seconds)."""
        deadline = time.monotonic() + timeout
        wanted = {f"cluster/{n}" for n in self.names}
        for name in self.names:
            with self.client(name) as client:
                while not wanted <= {r.key for r in client.records()[0]}:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"listener {name} did not learn every cluster in {timeout:.0f}s")
                    time.sleep(0.1)

    def wait_features(self, timeout: float = 30.0) -> None:
        """Until no listener holds a feature back: each has heard every member's version in
        its heartbeats. Until then a listener writes as for an older fleet (no history, say),
        which a test of a newer feature must not mistake for a defect."""
        deadline = time.monotonic() + timeout
        for name in self.names:
            with self.client(name) as client:
                while client.view().held_back:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"listener {name} still holds back {sorted(client.view().held_back)} "
                                           f"after {timeout:.0f}s")
                    time.sleep(0.1)

    def wait_serving(self, name: str, timeout: float = 30.0) -> None:
        from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError
        deadline = time.monotonic() + timeout
        with self.client(name) as client:
            while True:
                try:
                    client.health()
                    return
                except FleetError:
                    if time.monotonic() > deadline or not self.alive(name):
                        raise RuntimeError(f"listener {name} is not serving; log:\n{self.log_tail(name)}")
                    time.sleep(0.1)

    def alive(self, name: str) -> bool:
        return name in self.pids and processes.is_ours(self.pids[name], PYTHON)

    def run_version(self, name: str, collections: str = "") -> None:
        """Stop the listener and start it again, on the same data, with the code in
        `collections` ("": this checkout): an upgrade or a downgrade of one member."""
        self.stop(name)
        self.members[name] = dataclasses.replace(self.members[name], collections=collections)
        self.start(name)
        self.wait_serving(name)

    def stop(self, name: str) -> None:
        pid = self.pids.pop(name, None)
        if pid:
            processes.stop(pid, PYTHON)

    def kill(self, name: str) -> None:
        pid = self.pids.pop(name, None)
        if pid:
            processes.kill(pid, PYTHON)

    def stop_all(self) -> None:
        processes.stop_all([self.pids.pop(name) for name in list(self.pids)], PYTHON)
        for proxy in self.proxies.values():
            proxy.close()

    def partition(self, side_a, side_b, cut: bool = True) -> None:
        for a in side_a:
            for b in side_b:
                self.proxies[(a, b)].set_cut(cut)
                self.proxies[(b, a)].set_cut(cut)

    def client(self, name: str, token=None, **kwargs):
        from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient
        if self.tls:
            kwargs.setdefault("ca_file", str(self.lab.ca.cert_file))
        return FleetClient(self.endpoint(name), token=self.token if token is None else token, **kwargs)

    def log_tail(self, name: str, lines: int = 30) -> str:
        try:
            return "\n".join((self.workdir / f"{name}.log").read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self):
        try:
            self.start_all()
        except BaseException:
            self.stop_all()
            raise
        return self

    def __exit__(self, *exc):
        self.stop_all()
