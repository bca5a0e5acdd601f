"""Progressive rollout, on a lab of its own: region us with three clusters (us-a, us-b, us-c),
the real kube-controller-manager rolling each Deployment, the real kube-scheduler binding pods to
kwok nodes. A watcher polls every cluster's Deployment and pods throughout each rollout, with
the kubernetes client, and the tests assert on what it saw: one cluster mixing revisions at a
time, each released only after the one before it finished; a release whose pods never become
ready halts (or reverts) at the first cluster; and the coordinator's cluster killed mid-rollout
leaves the next coordinator to finish it, releasing no cluster twice or out of order."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest
from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import DONE, HALTED, REVERTED, Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

from lab import processes
from lab.cluster import Lab
from lab.listeners import ListenerFleet
from lab.topology import from_mapping
from support import wait_for

CLUSTERS = ("us-a", "us-b", "us-c")  # us-a, the lowest name, coordinates the region
SHAPES = {"regions": {"us": list(CLUSTERS)}, "nodes": {"count": 1}}
NOWHERE = {"multicluster.kube/test-tier": "web"}  # a node selector no node matches, until a test labels them


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("rollout-lab"), from_mapping(SHAPES))
    with lab:
        started = [(pid, str(lab.bin_dir / component)) for c in lab.clusters.values()
                   for component, pid in c.pids.items()]
        with ListenerFleet(lab, tmp_path_factory.mktemp("rollout-listeners")) as listeners:
            apis = {c: config.new_client_from_config(config_file=str(lab.kubeconfig), context=c) for c in CLUSTERS}
            listeners.wait_features(20)
            yield lab, listeners, apis
            for api in apis.values():
                api.close()
    assert not [pid for pid, binary in started if processes.is_ours(pid, binary)], "lab processes left running"


def web(name, replicas=6, image="registry.example.com/web:1", node_selector=None, **strategy):
    labels = {"app": name}
    pod = {"containers": [{"name": "web", "image": image}]}
    if node_selector:
        pod["nodeSelector"] = node_selector
    template = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
        "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": pod}}}
    return ServiceSpec("us", name, replicas, workload=Workload(template=template, expose=False),
                       rollout=Strategy(**{"max_parallel": 1, **strategy}))


def signature(pod_spec) -> tuple:
    """What tells two revisions of the tests' pods apart: image and node selector."""
    return pod_spec.containers[0].image, tuple(sorted((pod_spec.node_selector or {}).items()))


@dataclasses.dataclass
class Seen:
    """One cluster at one moment: the Deployment's template and replicas, its pods' revisions."""

    template: tuple = ()
    replicas: int = 0
    ready: int = 0
    pods: tuple = ()  # the signature of each pod not being deleted

    def started(self, new) -> bool:
        return self.template == new

    def mixed(self, old, new) -> bool:
        return old in self.pods and new in self.pods

    def finished(self, new) -> bool:
        return self.template == new and set(self.pods) == {new} and len(self.pods) == self.replicas == self.ready


class Watcher:
    """Polls the Deployment `name` and its pods in each cluster of `order`, in reverse release
    order: a cluster seen released in a round was released after the one before it finished,
    which the same round then sees finished (no false alarm from a round not being atomic)."""

    def __init__(self, apis, name, order, alive=lambda c: True):
        self.apis, self.name, self.order, self.alive = apis, name, order, alive
        self.rounds, self.errors = [], []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _seen(self, cluster) -> Seen:
        api = self.apis[cluster]
        try:
            deployment = client.AppsV1Api(api).read_namespaced_deployment(self.name, "default", _request_timeout=2)
        except client.ApiException as error:
            if error.status == 404:
                return Seen()
            raise
        pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector=f"app={self.name}",
                                                         _request_timeout=2).items
        return Seen(signature(deployment.spec.template.spec), deployment.spec.replicas or 0,
                    deployment.status.ready_replicas or 0,
                    tuple(sorted(signature(p.spec) for p in pods if p.metadata.deletion_timestamp is None)))

    def _round(self):
        at = time.monotonic()
        try:
            self.rounds.append((at, {c: self._seen(c) for c in reversed(self.order) if self.alive(c)}))
        except Exception as error:  # an apiserver slow to answer: a round missed, said at the end
            self.errors.append(repr(error))

    def _run(self):
        while not self._stop.wait(0.05):
            self._round()

    def __enter__(self):
        self._round()  # the first requests are slow (a second and more): made before the change
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def check(self, old, new, released):
        """Assert what a one-at-a-time rollout of the clusters `released` (in order) to `new`
        promises of every round seen; the others must never have started."""
        assert len(self.errors) * 10 <= len(self.rounds), f"the watcher missed too many rounds: {self.errors[:3]}"
        finished = set()  # once finished, a cluster stays so (more replicas later start on `new`)
        for _at, seen in self.rounds:
            mixing = [c for c, s in seen.items() if s.mixed(old, new)]
            assert len(mixing) <= 1, f"{mixing} ran old and new pods at once: {seen}"
            finished |= {c for c, s in seen.items() if s.finished(new)}
            for cluster, s in seen.items():
                if s.started(new):
                    assert cluster in released, f"{cluster} started {new} and should never have: {s}"
                    before = released[:released.index(cluster)]
                    assert finished >= set(before), f"{cluster} started {new} before {before} finished it: {seen}"

    def first_started(self, new) -> dict:
        """{cluster: when the watcher first saw it released}."""
        out = {}
        for at, seen in self.rounds:
            for c, s in seen.items():
                if s.started(new):
                    out.setdefault(c, at)
        return out


def record(listeners, name, via="us-b"):
    with listeners.client(via) as c:
        [service] = [r.value for r in c.records([f"service/us/{name}"])[0]]
    return service


def place(listeners, spec, via="us-b", wait="ready", timeout=120):
    with listeners.client(via) as c:
        return c.set_region_replicas(spec, wait=wait, wait_timeout=timeout)


def remove(listeners, name, via="us-b"):
    with listeners.client(via) as c:
        c.delete_service("us", name, wait="applied", wait_timeout=30)


def test_one_cluster_at_a_time_each_after_the_one_before_finished(fleet):
    _lab, listeners, apis = fleet
    old_spec = web("roll")
    assert place(listeners, old_spec).waited
    new_spec = web("roll", image="registry.example.com/web:2")
    old, new = ("registry.example.com/web:1", ()), ("registry.example.com/web:2", ())
    with Watcher(apis, "roll", CLUSTERS) as watcher:
        response = place(listeners, new_spec, wait="rolled_out")
    assert response.waited, response.wait_detail
    watcher.check(old, new, released=CLUSTERS)
    final = watcher.rounds[-1][1]
    assert all(final[c].finished(new) for c in CLUSTERS), final
    assert set(watcher.first_started(new)) == set(CLUSTERS)
    rollout = record(listeners, "roll").rollout
    assert (rollout.state, rollout.released, rollout.target) == (DONE, CLUSTERS, new_spec.release.revision)
    # replicas alone are no new release: placed at once, nothing held
    with listeners.client("us-c") as c:
        scaled = c.set_region_replicas(dataclasses.replace(new_spec, replicas=9), wait="ready", wait_timeout=60)
    assert scaled.waited, scaled.wait_detail
    assert record(listeners, "roll").rollout == rollout
    remove(listeners, "roll")


def test_a_release_that_never_becomes_ready_is_reverted_at_the_first_cluster(fleet):
    _lab, listeners, apis = fleet
    good = web("canary", on_failure="revert", progress_deadline_s=8)
    assert place(listeners, good).waited
    bad = web("canary", node_selector=NOWHERE, on_failure="revert", progress_deadline_s=8)
    old, new = ("registry.example.com/web:1", ()), ("registry.example.com/web:1", tuple(NOWHERE.items()))
    with Watcher(apis, "canary", CLUSTERS) as watcher:
        response = place(listeners, bad, wait="rolled_out", timeout=60)
        assert not response.waited
        assert "reverted" in response.wait_detail and "us-a did not roll revision" in response.wait_detail, \
            response.wait_detail
        wait_for(lambda: watcher.rounds[-1][1]["us-a"].finished(old), 30, interval=0.2,
                 what="us-a to run the previous revision again, every pod ready")
    watcher.check(old, new, released=("us-a",))
    assert "us-a" in watcher.first_started(new), "us-a never started the bad release"
    service = record(listeners, "canary")
    assert (service.rollout.state, service.rollout.released) == (REVERTED, ("us-a",))
    assert service.spec.release == bad.release, "the record still asks for the new release, held back"
    # by hand: back to the last good release for good, once; the second time nothing changes
    with listeners.client("us-c") as c:
        back = c.change_rollout("us", "canary", "rollback", revision=good.release.revision, wait="ready",
                                wait_timeout=60)
        assert back.changed and back.waited, back.wait_detail
        again = c.change_rollout("us", "canary", "rollback", revision=good.release.revision)
        assert not again.changed
    assert record(listeners, "canary").spec.release == good.release
    remove(listeners, "canary")


def test_a_halted_rollout_resumed_once_its_cause_is_fixed_goes_on(fleet):
    lab, listeners, apis = fleet
    assert place(listeners, web("tier")).waited
    picky = web("tier", node_selector=NOWHERE, progress_deadline_s=8)
    response = place(listeners, picky, wait="rolled_out", timeout=60)
    assert not response.waited and "halted" in response.wait_detail, response.wait_detail
    rollout = record(listeners, "tier").rollout
    assert (rollout.state, rollout.released) == (HALTED, ("us-a",))
    core = {c: client.CoreV1Api(apis[c]) for c in CLUSTERS}
    for c in CLUSTERS:  # the cause: no node had the label the new release asks for
        for node in core[c].list_node().items:
            core[c].patch_node(node.metadata.name, {"metadata": {"labels": NOWHERE}})
    try:
        with listeners.client("us-b") as c:
            resumed = c.change_rollout("us", "tier", "resume", wait="rolled_out", wait_timeout=120)
        assert resumed.changed and resumed.waited, resumed.wait_detail
        rollout = record(listeners, "tier").rollout
        assert (rollout.state, rollout.released) == (DONE, CLUSTERS)
    finally:
        for c in CLUSTERS:
            for node in core[c].list_node().items:
                core[c].patch_node(node.metadata.name, {"metadata": {"labels": {k: None for k in NOWHERE}}})
    remove(listeners, "tier")


def test_the_coordinators_cluster_killed_mid_rollout_the_next_coordinator_finishes_it(fleet):
    """Last in the module: us-a, its cluster and listener, stays down."""
    lab, listeners, apis = fleet
    order = ("us-b", "us-c", "us-a")
    spec = web("api", order=order)
    assert place(listeners, spec).waited
    new_spec = web("api", image="registry.example.com/web:2", order=order)
    old, new = ("registry.example.com/web:1", ()), ("registry.example.com/web:2", ())
    history = []

    def released():
        history.append(record(listeners, "api").rollout.released)
        return history[-1]
    killed = threading.Event()
    with Watcher(apis, "api", order, alive=lambda c: c != "us-a" or not killed.is_set()) as watcher:
        with listeners.client("us-b") as c:
            written = c.set_region_replicas(new_spec)
        assert written.changed
        wait_for(lambda: released()[:2] == ("us-b", "us-c"), 60, interval=0.1,
                 what="us-b to finish and us-c to be released")
        killed.set()
        time.sleep(0.5)  # the watcher's round in progress ends
        listeners.kill("us-a")
        lab.stop_cluster("us-a", crash=True)
        wait_for(lambda: released() == order and record(listeners, "api").rollout.state == DONE, 90, interval=0.2,
                 what="the next coordinator to finish the rollout")
        with listeners.client("us-b") as c:
            response = c.set_region_replicas(new_spec, wait="rolled_out", wait_timeout=60)
        assert not response.changed and response.waited, response.wait_detail
    assert all(order[:len(h)] == h for h in history), f"released twice or out of order: {sorted(set(history))}"
    watcher.check(old, new, released=order)
    final = watcher.rounds[-1][1]
    assert final["us-b"].finished(new) and final["us-c"].finished(new), final
    service = record(listeners, "api")
    assert service.placement.clusters.get("us-a", 0) == 0, "us-a's replicas were not moved off"
    assert sum(service.placement.clusters.values()) == 6
