"""A service whose override no longer applies in this cluster (its labels changed under a
write taken at another listener): what the cluster runs of it stays, and its status says why;
a share it never started is reported blocked, so the region's coordinator places it elsewhere."""
from __future__ import annotations

from ansible_collections.multicluster.kube.listener.reconciler import Reconciler, Scope
from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, Placement, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Override, Workload

TEMPLATE = {"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}},
                                  "spec": {"containers": [{"name": "shop", "image": "shop:1"}]}}}}
BROKEN_FOR_GOLD = Override(cluster_labels={"tier": "gold"}, patches=(
    ("Deployment", ({"op": "replace", "path": "/spec/template/spec/containers/3/image", "value": "x:1"},)),))


def service(name):
    spec = ServiceSpec("us", name, 2, workload=Workload(template=TEMPLATE, overrides=(BROKEN_FOR_GOLD,)))
    return Record(spec.key, Stamp(1, 0, "us-west"), "x", Service(spec, Placement({"us-east": 2})))


def cluster(labels):
    value = Cluster("us-east", "us", labels=labels)
    return Record(value.key, Stamp(2, 0, "us-west"), "x", value)


class Replica:
    def __init__(self, records):
        self.records = {r.key: r for r in records}

    def services(self, region):
        return [(k, r.value) for k, r in self.records.items() if isinstance(r.value, Service)]

    def record(self, key):
        return self.records.get(key)


def reconciler(replica, written):
    return Reconciler(Scope("us-east", "us"), kube=None, replica=replica, metrics=None, interval=5,
                      heartbeat_interval=1, write=lambda items, author: written.extend(v for _k, v in items),
                      beat=None)


def report(r):
    desired = r._desired_now()
    r._report(desired, updater.Plan(cluster="us-east"), {})


def test_what_runs_stays_and_the_status_says_why_when_an_override_stops_applying():
    shop = service("shop")
    written = []
    r = reconciler(Replica([shop]), written)
    r.records_changed([shop])
    [running] = r._desired_now()
    r.records_changed([cluster({"tier": "gold"})])
    assert r._desired_now() == [running], "what the cluster ran of it is kept, not deleted"
    report(r)
    [entry] = written[-1].services
    assert entry.service == "shop" and not entry.blocked
    [problem] = entry.problems
    assert problem.text.startswith("cannot be rendered for us-east: overrides[0].patches[0]: must apply to Deployment")
    assert entry.conflict == str(problem)
    r.records_changed([cluster({})])
    assert r._desired_now() == [running]
    report(r)
    assert [s.problems for s in written[-1].services] == [()], "the problem goes with the label"


def test_a_share_never_started_here_is_reported_blocked():
    shop = service("shop")
    written = []
    r = reconciler(Replica([shop]), written)
    r.records_changed([cluster({"tier": "gold"})])
    r.records_changed([shop])
    assert r._desired_now() == []
    report(r)
    [entry] = written[-1].services
    assert (entry.service, entry.desired, entry.ready, entry.blocked) == ("shop", 2, 0, True)
    assert entry.cannot_run == 2
