"""Hostile messages for the fuzz tests: random strings, huge numbers, any field combination."""
from __future__ import annotations

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
