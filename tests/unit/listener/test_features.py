"""Members say in their heartbeats which version they run and what it supports; a behaviour
older members cannot honour waits until every member concerned supports it."""
from __future__ import annotations

import pathlib

import yaml

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, PlacementRules, ReasonCode, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
from ansible_collections.multicluster.kube.plugins.module_utils.version import VERSION
from ansible_collections.multicluster.kube.listener.features import (
    FEATURES, HISTORY, RECORDS_WHOLE, REGION_REPORTS, ROLLOUT, ROOM, WORKLOADS, Features)
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork
from ansible_collections.multicluster.kube.listener.writer import Writer

from memory_fleet import node

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_the_version_is_the_collections():
    assert VERSION == yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def test_what_a_member_says_travels_by_gossip_and_an_older_relay_does_not_erase_it():
    table = Heartbeats("us-east")
    table.observe([("us-west", 100, "0.2.0", ("records-whole",))])
    assert table.about("us-west") == ("0.2.0", ("records-whole",))
    table.observe([("us-west", 200)])  # passed on by a listener that says nothing of versions
    assert table.about("us-west") == ("0.2.0", ("records-whole",)) and dict(table.table())["us-west"] == 200
    table.observe([("us-west", 50, "0.1.9", ())])  # older than what it said last
    assert table.about("us-west") == ("0.2.0", ("records-whole",))
    table.observe([("us-west", 300, "0.3.0", ("records-whole", "rollout"))])
    assert table.about("us-west") == ("0.3.0", ("records-whole", "rollout"))
    assert table.about("eu-west") is None


def test_own_version_rides_on_every_entry_passed_on():
    table = Heartbeats("us-east", VERSION, FEATURES)
    table.beat()
    [(cluster, _ms, version, features)] = table.entries()
    assert (cluster, version, features) == ("us-east", VERSION, tuple(sorted(FEATURES)))
    [(_cluster, _ms, *said)], refused = messages.peer_heartbeats(messages.heartbeats_to_wire(table.entries()),
                                                                 "heartbeats")
    assert not refused and tuple(said) == (VERSION, tuple(sorted(FEATURES)))


def test_a_heartbeat_with_a_bad_version_or_feature_is_refused_naming_it():
    now = wall_clock_ms()
    for bad, field in ((pb.Heartbeat(cluster="a", sent_ms=now, version="0.2 beta"), "heartbeat.version"),
                       (pb.Heartbeat(cluster="a", sent_ms=now, features=["Not_A_Name"]), "heartbeat.features[]"),
                       (pb.Heartbeat(cluster="a", sent_ms=now, features=[f"f{i}" for i in range(33)]),
                        "heartbeat.features")):
        try:
            messages.peer_heartbeat(bad)
        except Exception as error:  # ValidationError
            assert error.field == field
        else:
            raise AssertionError(f"{bad} was taken")


def fleet_with(about):
    """Member us-east, with us-west and eu-west saying `about[name]` (None: nothing heard)."""
    network = MemoryNetwork()
    members = [Record(f"cluster/{n}", Stamp(wall_clock_ms(), 0, n), n, Cluster(name=n, region=n[:2], endpoint=n))
               for n in ("us-east", "us-west", "eu-west")]
    me = node(network, "us-east", members, version=VERSION, features=FEATURES)
    me.heartbeats.observe([(n, wall_clock_ms(), *a) for n, a in about.items() if a])
    return me, Features(me.replica, me.heartbeats), members


def test_a_member_that_says_nothing_lacks_every_feature():
    _me, features, _members = fleet_with({"us-west": ("0.2.0", (RECORDS_WHOLE, WORKLOADS)), "eu-west": None})
    assert features.lacking(RECORDS_WHOLE) == ["eu-west"]
    assert features.supported(RECORDS_WHOLE, region="us")
    assert [(f, lacking) for f, lacking, _meanwhile in features.held_back()] == [
        (RECORDS_WHOLE, ["eu-west"]), (WORKLOADS, ["eu-west"]), (ROOM, ["eu-west", "us-west"]),
        (ROLLOUT, ["eu-west", "us-west"]), (HISTORY, ["eu-west", "us-west"]),
        (REGION_REPORTS, ["eu-west", "us-west"])], \
        "a 0.2.0 member does not report room, nor hold clusters in rollouts, nor keep histories, nor report regions"


def test_a_workload_is_placed_only_where_the_listener_can_run_it():
    _me, features, members = fleet_with({"us-west": ("0.1.1", (RECORDS_WHOLE,)), "eu-west": None})
    plain = ServiceSpec("us", "web", 4)
    templated = ServiceSpec("us", "web", 4, workload=Workload(expose=False))
    assert features.unable(plain, "us") == set() and features.unable(templated, "us") == {"us-west"}
    clusters = [r.value for r in members]
    placement = schedule(templated, clusters, unable=features.unable(templated, "us"))
    assert placement.clusters == {"us-east": 4} and placement.has_reason("us-west", ReasonCode.UPGRADE_NEEDED)


def test_while_a_member_would_drop_unknown_fields_records_are_written_without_them():
    me, features, members = fleet_with({"us-west": ("0.2.0", (RECORDS_WHOLE,)), "eu-west": None})
    writer = Writer("us", HybridClock("us-east"), me.replica, me.replication, features)
    clusters = [r.value for r in members]
    spec = ServiceSpec("us", "web", 4, rules=PlacementRules(excluded=frozenset({"us-west"})))
    service = Service(spec, schedule(spec, clusters))
    [held_back], _acks = writer.write([(spec.key, service)], author="test")
    stored = pb.Record.FromString(held_back.raw)
    assert not stored.service.reason_details and list(stored.service.reasons) == ["us-west: excluded by the service's rules"]
    assert messages.record_from_bytes(held_back.raw).value == service, "the codes read back from the texts"
    me.heartbeats.observe([("eu-west", wall_clock_ms() + 1, "0.1.1", (RECORDS_WHOLE,))])
    [whole], _acks = writer.write([(spec.key, service)], author="test")
    assert [r.code for r in pb.Record.FromString(whole.raw).service.reason_details] == [pb.EXCLUDED]


def test_a_members_own_word_counts_even_when_it_says_nothing():
    table = Heartbeats("us-east")
    table.observe([("eu-west", 100, "0.1.1", ("records-whole",))], sender="eu-central")
    table.observe([("eu-west", 200)], sender="eu-west")  # eu-west itself, now a listener that says nothing
    assert table.about("eu-west") is None


def test_a_stale_word_is_not_passed_on_with_a_fresh_beat():
    table = Heartbeats("us-east")
    table.observe([("eu-west", 100, "0.2.0", ("records-whole",))])
    table.observe([("eu-west", 200)], sender="eu-central")  # a newer beat, passed on by an older listener
    [(cluster, sent_ms, version, features)] = table.entries()
    assert (cluster, sent_ms, version, features) == ("eu-west", 200, "", ())
    assert table.about("eu-west") == ("0.2.0", ("records-whole",)), "kept as last said"
