"""Hostile messages for the fuzz tests: random strings, huge numbers, any field combination."""
from __future__ import annotations

import json

from hypothesis import strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

names = st.one_of(st.text(max_size=80), st.sampled_from(["us", "us-east", "us-west", "web", "", "-", "a" * 64]))
numbers = st.integers(0, 2**32 - 1)
rules = st.builds(pb.PlacementRules, excluded=st.lists(names, max_size=4), clusters=st.lists(st.builds(
    pb.ClusterRule, cluster=names, weight=st.one_of(st.none(), numbers), min=numbers,
    max=st.one_of(st.none(), numbers)), max_size=4))
# Each field legal about half the time, so that some whole requests are legal too.
intents = st.builds(pb.ServiceIntent, region=st.one_of(st.just("us"), names),
                    service=st.one_of(st.sampled_from(["web", "api"]), names),
                    replicas=st.one_of(st.integers(0, 100), numbers),
                    image=st.one_of(st.sampled_from(["", "nginx:1.27"]), st.text(max_size=600)),
                    port=st.one_of(st.integers(0, 65535), numbers), namespace=st.one_of(st.just(""), names),
                    rules=st.one_of(st.builds(pb.PlacementRules), rules), rebalance=st.booleans())
# Stamps from anywhere in int64 and uint32, plus the edges the listener draws lines at.
stamps = st.builds(pb.Stamp, physical_ms=st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(0, 4_000_000_000_000)),
                   logical=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 2**31 - 1, 2**31])), origin=names)
keys = st.one_of(st.text(max_size=80),
                 st.builds(lambda kind, *n: "/".join((kind, *n)),
                           st.sampled_from(["service", "cluster", "status", "x"]), names, names))
cluster_specs = st.builds(pb.ClusterSpec, name=names, region=names, endpoint=st.text(max_size=80),
                          weight=st.one_of(st.none(), numbers), capacity=st.one_of(st.none(), numbers),
                          cordoned=st.booleans())
service_statuses = st.builds(pb.ServiceStatus, region=names, service=names, namespace=names, desired=numbers,
                             ready=numbers, conflict=st.text(max_size=80))
# A heartbeat's clock reading: anywhere in int64, or around now (2027 is past the bound of 5 min ahead).
heartbeat_clock = st.one_of(st.integers(-2**63, 2**63 - 1), st.integers(0, 1_830_000_000_000))
heartbeats = st.builds(pb.Heartbeat, cluster=names, sent_ms=heartbeat_clock)
cluster_statuses = st.builds(pb.ClusterStatus, cluster=names, region=names, reported_ms=st.integers(-2**63, 2**63 - 1),
                             services=st.lists(service_statuses, max_size=3))


@st.composite
def records(draw):
    """A Record with any key, stamp, author and value (or none), matching or not."""
    record = pb.Record(key=draw(keys), stamp=draw(stamps), author=draw(st.text(max_size=300)),
                       deleted=draw(st.booleans()))
    kind = draw(st.sampled_from(["service", "cluster", "status", None]))
    if kind == "service":
        record.service.CopyFrom(draw(intents))
    elif kind == "cluster":
        record.cluster.CopyFrom(draw(cluster_specs))
    elif kind == "status":
        record.status.CopyFrom(draw(cluster_statuses))
    if kind and draw(st.booleans()):  # the key its value has: the other checks get their turn
        record.key = {"service": lambda v: f"service/{v.region}/{v.service}", "cluster": lambda v: f"cluster/{v.name}",
                      "status": lambda v: f"status/{v.cluster}"}[kind](getattr(record, kind))
    return record


# Workloads: manifests of any shape (often near-legal), overrides with random patches.
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=30))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=15)
kinds = st.sampled_from(["ConfigMap", "Service", "Secret", "Namespace", "Deployment", "ServiceAccount", "x"])
manifests = st.one_of(
    st.fixed_dictionaries({"apiVersion": st.sampled_from(["v1", "apps/v1", ""]), "kind": kinds,
                           "metadata": st.fixed_dictionaries({"name": names}), "data": json_values}),
    st.dictionaries(st.text(max_size=10), json_values, max_size=4))
templates = st.one_of(st.none(), manifests, st.just({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "spec": {"selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}))
operations = st.lists(st.fixed_dictionaries({"op": st.sampled_from(["add", "remove", "replace", "move", "test", "x"]),
                                             "path": st.sampled_from(["/spec", "/spec/replicas", "/metadata/labels/a",
                                                                      "/nope/deep", "", "/data"]),
                                             "value": json_values}), max_size=3)
overrides = st.builds(pb.Override, clusters=st.lists(names, max_size=2),
                      images=st.dictionaries(st.sampled_from(["web", "other", ""]), st.text(max_size=20), max_size=2),
                      patches=st.lists(st.builds(pb.Patch, target=st.sampled_from(["Deployment", "ConfigMap/x", "x"]),
                                                 ops_json=operations.map(json.dumps)), max_size=2))
workloads = st.builds(
    lambda template, companions, expose, chosen: pb.Workload(
        template_json=json.dumps(template) if template is not None else "",
        companions_json=[json.dumps(c) for c in companions], without_default_service=not expose, overrides=chosen),
    templates, st.lists(manifests, max_size=3), st.booleans(), st.lists(overrides, max_size=2))
