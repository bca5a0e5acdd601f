"""The lab's clusters: start, stop, restart and report on real Kubernetes control planes."""
from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import secrets
import shutil
import sys
import ssl
import time
import urllib.error
import urllib.request

import yaml

from lab import pki, processes, topology as topology_mod

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BIN_DIR = ROOT / ".cache" / "kube" / "bin"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
START_TIMEOUT = 180.0


class LabError(RuntimeError):
    pass


def _kubeconfig(clusters: dict, users: dict, contexts: dict, current: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
        "contexts": [{"name": n, "context": c} for n, c in contexts.items()],
    }


class Cluster:
    """One control plane. Its ports, tokens and data folder survive a stop, so a restart
    brings back the same cluster with the same objects."""

    def __init__(self, lab: "Lab", name: str, region: str, state: dict | None = None, host: str = "127.0.0.1"):
        self.lab, self.name, self.region, self.host = lab, name, region, host
        self.dir = lab.workdir / name
        state = state or {}
        self.ports = state.get("ports") or {
            "etcd": processes.free_port(), "etcd_peer": processes.free_port(),
            "apiserver": processes.free_port(), "controller_manager": processes.free_port(),
            "scheduler": processes.free_port(), "kwok": processes.free_port()}
        self.tokens = state.get("tokens") or {u: secrets.token_hex(16) for u in ("admin", "scheduler", "system")}
        self.ports.setdefault("listener", processes.free_port())
        self.ports.setdefault("listener_metrics", processes.free_port())
        self.ports.setdefault("listener_page", processes.free_port())
        self.ports.setdefault("listener_peer", processes.free_port())
        self.pids = state.get("pids", {})

    @property
    def server(self) -> str:
        return f"https://{self.host}:{self.ports['apiserver']}"

    def state(self) -> dict:
        own = self.lab.topology.cluster(self.name).nodes
        return {"region": self.region, "host": self.host, "ports": self.ports, "tokens": self.tokens, "pids": self.pids,
                "nodes": vars(own) if own else None}

    def _binary(self, component: str) -> str:
        return str(self.lab.bin_dir / component)

    def _component_kubeconfig(self, user: str) -> pathlib.Path:
        path = self.dir / f"{user}.kubeconfig"
        cluster = {"server": self.server, "certificate-authority": str(self.lab.ca.cert_file)}
        path.write_text(yaml.safe_dump(_kubeconfig({self.name: cluster}, {user: {"token": self.tokens[user]}},
                                                   {self.name: {"cluster": self.name, "user": user}}, self.name)))
        return path

    def _start(self, component: str, argv: list) -> None:
        self.pids[component] = processes.spawn([self._binary(component)] + argv, self.dir / f"{component}.log")

    def start(self) -> float:
        """Start every component and wait until the apiserver is ready and the fake nodes exist."""
        begin = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        cert, key = self.lab.ca.serving_pair(f"{self.name}-apiserver", self.host)
        sa_key = pki.service_account_key(self.dir / "service-account.key")
        tokens = self.dir / "tokens.csv"
        tokens.write_text(
            f'{self.tokens["admin"]},lab-admin,1,"system:masters"\n'
            f'{self.tokens["scheduler"]},system:kube-scheduler,2\n'
            f'{self.tokens["system"]},lab-system,3,"system:masters"\n')
        p = self.ports
        self._start("etcd", [
            f"--name={self.name}", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{p['etcd']}", f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
            f"--listen-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
            f"--initial-cluster={self.name}=http://127.0.0.1:{p['etcd_peer']}",
            "--unsafe-no-fsync", "--log-level=warn"])
        self._start("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{p['etcd']}", f"--secure-port={p['apiserver']}",
            f"--bind-address={self.host}", f"--advertise-address={self.host}", "--endpoint-reconciler-type=none",
            f"--cert-dir={self.dir / 'certs'}", f"--tls-cert-file={cert}", f"--tls-private-key-file={key}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={sa_key}", f"--service-account-signing-key-file={sa_key}",
            "--authorization-mode=RBAC", f"--token-auth-file={tokens}",
            "--enable-priority-and-fairness=false", "--profiling=false", "--v=0"])
        self.wait_ready(START_TIMEOUT)
        system = self._component_kubeconfig("system")
        self._start("kube-controller-manager", [
            f"--kubeconfig={system}", f"--secure-port={p['controller_manager']}", "--bind-address=127.0.0.1",
            "--leader-elect=false", f"--cluster-name={self.name}",
            f"--service-account-private-key-file={sa_key}", f"--root-ca-file={self.lab.ca.cert_file}",
            "--profiling=false"])
        self._start("kube-scheduler", [
            f"--kubeconfig={self._component_kubeconfig('scheduler')}", f"--secure-port={p['scheduler']}",
            "--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false"])
        self._start("kwok", [
            f"--kubeconfig={system}", f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            f"--config={self.lab.bin_dir / 'kwok-stages.yaml'}", f"--server-address=127.0.0.1:{p['kwok']}",
            "--cidr=10.244.0.0/16", "--node-ip=127.0.0.1"])
        self._ensure_nodes()
        return time.monotonic() - begin

    def stop(self, crash: bool = False) -> None:
        """End this cluster's processes (SIGKILL at once when crash), keeping its data."""
        for component in reversed(COMPONENTS):
            pid = self.pids.pop(component, None)
            if pid:
                (processes.kill if crash else processes.stop)(pid, self._binary(component))

    def running(self) -> dict:
        return {c: bool(self.pids.get(c)) and processes.is_ours(self.pids[c], self._binary(c)) for c in COMPONENTS}

    def request(self, method: str, path: str, body=None, token: str | None = None, timeout: float = 10.0):
        """One call to this cluster's apiserver; returns (status, decoded JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {token or self.tokens['admin']}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.lab.ssl_context) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def ready(self) -> bool:
        try:
            return self.request("GET", "/readyz", timeout=2.0)[0] == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return
            dead = [c for c, up in self.running().items() if c in self.pids and not up]
            if dead:
                raise LabError(f"{self.name}: {', '.join(dead)} exited:\n{self.log_tail(dead[0])}")
            time.sleep(0.25)
        raise LabError(f"{self.name}: kube-apiserver not ready after {timeout:.0f}s:\n{self.log_tail('kube-apiserver')}")

    def log_tail(self, component: str, lines: int = 15) -> str:
        try:
            return "\n".join((self.dir / f"{component}.log").read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _ensure_nodes(self) -> None:
        shape = self.lab.topology.nodes_of(self.name)
        resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": str(shape.pods)}
        for i in range(shape.count):
            name = f"{self.name}-node-{i}"
            node = {"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "annotations": {KWOK_ANNOTATION: "fake"},
                                 "labels": {"kubernetes.io/hostname": name, "type": "kwok",
                                            "topology.kubernetes.io/region": self.region,
                                            "multicluster.kube/cluster": self.name}},
                    "status": {"allocatable": resources, "capacity": resources}}
            status, body = self.request("POST", "/api/v1/nodes", node)
            if status not in (201, 409):
                raise LabError(f"{self.name}: creating node {name} failed with {status}: {body}")


class Lab:
    """A fleet of clusters in `workdir`, described by lab.json there so that another
    process (`python -m lab down`) can find and stop exactly what this one started."""

    def __init__(self, workdir, topology=None, bin_dir=None):
        self.workdir = pathlib.Path(workdir).resolve()
        self.bin_dir = pathlib.Path(bin_dir or os.environ.get("KUBE_BIN_DIR") or DEFAULT_BIN_DIR).resolve()
        self.topology = topology or topology_mod.load()
        self.state_file = self.workdir / "lab.json"
        self.kubeconfig = self.workdir / "kubeconfig"
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = pki.CertificateAuthority(self.workdir / "pki")
        self.ssl_context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        saved = state.get("clusters", {})
        self.clusters = {c.name: Cluster(self, c.name, c.region, saved.get(c.name), c.host)
                         for c in self.topology.clusters}

    @classmethod
    def existing(cls, workdir) -> "Lab":
        state_file = pathlib.Path(workdir) / "lab.json"
        if not state_file.exists():
            raise LabError(f"no lab in {workdir} (no lab.json)")
        state = json.loads(state_file.read_text())
        topo = topology_mod.Topology(
            tuple(topology_mod.ClusterSpec(n, c["region"], c.get("host", "127.0.0.1"),
                                           topology_mod.NodeShape(**c["nodes"]) if c.get("nodes") else None)
                  for n, c in state["clusters"].items()),
            topology_mod.NodeShape(**state["nodes"]))
        return cls(workdir, topo, state["bin_dir"])

    def save(self) -> None:
        state = {"bin_dir": str(self.bin_dir), "kubeconfig": str(self.kubeconfig),
                 "nodes": vars(self.topology.nodes), "clusters": {n: c.state() for n, c in self.clusters.items()}}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def _check_binaries(self) -> None:
        missing = [c for c in COMPONENTS if not (self.bin_dir / c).exists()]
        if missing:
            raise LabError(f"missing {', '.join(missing)} in {self.bin_dir}: run `make kube-bins`")

    def up(self) -> float:
        """Start every cluster at once; returns the seconds until all were ready."""
        self._check_binaries()
        begin = time.monotonic()
        try:
            with concurrent.futures.ThreadPoolExecutor(len(self.clusters)) as pool:
                for future in [pool.submit(c.start) for c in self.clusters.values()]:
                    future.result()
        finally:
            self.save()
        self.write_kubeconfig()
        self.write_inventory()
        return time.monotonic() - begin

    def write_inventory(self) -> pathlib.Path:
        """An Ansible inventory of the lab: a group per region, a host per cluster, with what the
        listener role needs to run each cluster's listener here as a process - the secure set-up:
        TLS with a certificate per listener from the lab's CA, peers served on a port of their
        own that requires one, a client token and a peer token of their own."""
        path = self.workdir / "inventory.yml"
        tokens = {}
        for kind in ("listener-token", "listener-peer-token"):
            token_file = self.workdir / kind
            if not token_file.exists():
                token_file.write_text(secrets.token_hex(16))
            tokens[kind] = token_file.read_text().strip()
        regions = {}
        for name, cluster in self.clusters.items():
            cert, key = self.ca.serving_pair(f"listener-{name}")
            regions.setdefault(cluster.region, {"hosts": {}})["hosts"][name] = {
                "listener_listen": f"127.0.0.1:{cluster.ports['listener']}",
                "listener_peer_listen": f"127.0.0.1:{cluster.ports['listener_peer']}",
                "listener_metrics_listen": f"127.0.0.1:{cluster.ports['listener_metrics']}",
                "listener_page_listen": f"127.0.0.1:{cluster.ports['listener_page']}",
                "listener_data_dir": str(self.workdir / "listeners" / name),
                "listener_tls_cert": str(cert), "listener_tls_key": str(key),
            }
        inventory = {"all": {"vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "listener_tls_ca": str(self.ca.cert_file), "listener_token": tokens["listener-token"],
            "listener_peer_token": tokens["listener-peer-token"],
            "listener_kubeconfig": str(self.kubeconfig),
            "listener_settings": {"heartbeat_interval": 1.0, "failure_timeout": 5.0, "hold_down": 10.0}},
            "children": regions}}
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    def stop_listeners(self) -> None:
        """Stop listeners that the role started for this lab (their supervisors' PID files)."""
        for pid_file in (self.workdir / "listeners").glob("*/listener.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read()
            except (OSError, ValueError):
                continue
            if b"multicluster.kube.listener.supervisor" in argv and str(pid_file).encode() in argv:
                processes.stop(pid, os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)"), grace=15)

    def write_kubeconfig(self) -> None:
        ca = str(self.ca.cert_file)
        self.kubeconfig.write_text(yaml.safe_dump(_kubeconfig(
            {n: {"server": c.server, "certificate-authority": ca} for n, c in self.clusters.items()},
            {f"admin@{n}": {"token": c.tokens["admin"]} for n, c in self.clusters.items()},
            {n: {"cluster": n, "user": f"admin@{n}"} for n in self.clusters},
            next(iter(self.clusters)))))

    def stop_cluster(self, name: str, crash: bool = False) -> None:
        self.topology.cluster(name)
        self.clusters[name].stop(crash=crash)
        self.save()

    def start_cluster(self, name: str) -> float:
        self.topology.cluster(name)
        try:
            return self.clusters[name].start()
        finally:
            self.save()

    def status(self) -> dict:
        """{cluster: "up"} or {cluster: "down (why)"}."""
        report = {}
        for name, cluster in self.clusters.items():
            stopped = [c for c, up in cluster.running().items() if not up]
            if stopped:
                report[name] = f"down ({', '.join(stopped)} not running)"
            elif not cluster.ready():
                report[name] = "down (kube-apiserver not ready)"
            else:
                report[name] = "up"
        return report

    def pids(self) -> list:
        return [pid for c in self.clusters.values() for pid in c.pids.values()]

    def rss_mib(self) -> float:
        return sum(processes.rss_kib(pid) for pid in self.pids()) / 1024

    def down(self, remove: bool = True) -> None:
        self.stop_listeners()
        for cluster in self.clusters.values():
            cluster.stop()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            self.save()

    def __enter__(self) -> "Lab":
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.down()
