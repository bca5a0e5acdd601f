"""The wire format: generated code is current, and model <-> message is lossless."""
from __future__ import annotations

import pathlib
import subprocess
import sys

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.fit import NodeRoom
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import MAX_AHEAD_MS, MAX_LOGICAL, Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterStatus, ObjectProblem, Placement, Reason, ReasonCode, Record, Release, Service, ServiceSpec,
    ServiceStatus, ValidationError)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import STATES, Rollout, Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

from strategies import CLUSTER_NAMES, clusters, rules

ROOT = pathlib.Path(__file__).resolve().parents[4]


def test_generated_code_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


stamps = st.builds(Stamp, st.integers(0, 2**62), st.integers(0, MAX_LOGICAL), st.sampled_from(CLUSTER_NAMES))


reasons = st.builds(Reason, st.sampled_from(["", *CLUSTER_NAMES]), st.sampled_from(ReasonCode.ALL), st.text(max_size=20))


strategies = st.none() | st.builds(
    Strategy, max_parallel=st.integers(0, 5), order=st.sampled_from(["name", "weight", ("us-west",), ("b", "a")]),
    progress_deadline_s=st.integers(1, 86_400), pause_s=st.integers(0, 100), on_failure=st.sampled_from(["halt", "revert"]))
releases = st.builds(Release, st.sampled_from(["nginx:1.26", "web"]), st.integers(1, 65535),
                     st.sampled_from([Workload(), Workload(expose=False)]))


@st.composite
def rollouts(draw):
    kept = draw(st.lists(releases, max_size=2, unique_by=lambda r: r.revision))
    held = draw(st.dictionaries(st.sampled_from(CLUSTER_NAMES), st.sampled_from([r.revision for r in kept] or ["x"])))
    return Rollout(target=draw(st.sampled_from(["abc", "def"])), last_good=draw(st.sampled_from(["", "x"])),
                   held=tuple(held.items()), releases=tuple(kept),
                   released=tuple(draw(st.lists(st.sampled_from(CLUSTER_NAMES), unique=True))),
                   since_ms=draw(st.integers(0, 2**62)), state=draw(st.sampled_from(STATES)),
                   why=draw(st.text(max_size=20)))


@st.composite
def services(draw):
    names = draw(st.lists(st.sampled_from(CLUSTER_NAMES), unique=True))
    spec = ServiceSpec(
        region="us", service=draw(st.sampled_from(["web", "api", "nginx"])), replicas=draw(st.integers(0, 10**6)),
        image=draw(st.sampled_from(["", "nginx:1.27", "registry.local/app@sha256:abc"])),
        port=draw(st.integers(1, 65535)), namespace=draw(st.sampled_from(["default", "apps"])),
        rules=draw(rules(names)), rebalance=draw(st.booleans()), rollout=draw(strategies))
    placement = Placement(draw(st.dictionaries(st.sampled_from(CLUSTER_NAMES), st.integers(0, 1000))),
                          draw(st.integers(0, 1000)), tuple(draw(st.lists(reasons, max_size=3))))
    return Service(spec, placement, draw(st.none() | rollouts()))


node_rooms = st.builds(NodeRoom, st.integers(-2**40, 2**40), st.integers(-2**62, 2**62), st.integers(-1000, 1000),
                       st.integers(1, 10_000))
rooms = st.none() | st.lists(node_rooms, max_size=4).map(tuple)
statuses = st.builds(
    ClusterStatus, cluster=st.sampled_from(CLUSTER_NAMES), region=st.just("us"), reported_ms=st.integers(0, 2**62),
    room=rooms,
    services=st.lists(st.builds(ServiceStatus, region=st.just("us"), service=st.just("web"),
                                desired=st.integers(0, 100), ready=st.integers(0, 100),
                                conflict=st.text(max_size=30), updated=st.integers(0, 100),
                                available=st.integers(0, 100), revision=st.text(max_size=12),
                                problems=st.lists(st.builds(ObjectProblem, st.text(max_size=30), st.text(max_size=30)),
                                                  max_size=3).map(tuple),
                                scheduled=st.integers(0, 1000), unschedulable=st.integers(0, 1000),
                                release=st.text(max_size=12), pods=st.integers(0, 1000)),
                      max_size=3).map(tuple))

values = st.one_of(st.none(), services(), clusters(min_size=1, max_size=1).map(lambda c: c[0]), statuses)


@given(values, stamps, st.text(max_size=30))
def test_record_round_trip_is_lossless(value, stamp, author):
    key = value.key if value is not None else "service/us/web"
    record = Record(key=key, stamp=stamp, author=author, value=value)
    wire = messages.record_to_message(record).SerializeToString()
    assert messages.record_from_message(fleet_pb2.Record.FromString(wire)) == record


def test_record_with_a_key_that_does_not_match_its_value_is_refused():
    message = messages.record_to_message(
        Record("cluster/a", Stamp(1, 0, "a"), "", Cluster(name="a", region="us")))
    message.key = "cluster/b"
    try:
        messages.record_from_message(message)
    except ValidationError as error:
        assert error.field == "record.key"
    else:
        raise AssertionError("a mismatched key was accepted")


def refusal(message, **kw):
    try:
        messages.peer_record(message, "records[0]", **kw)
    except ValidationError as error:
        return error.field
    return None


def test_records_from_a_peer_are_checked_like_a_clients_and_the_error_names_the_field():
    def tombstone(key="service/us/web", **stamp):
        return fleet_pb2.Record(key=key, deleted=True, stamp=fleet_pb2.Stamp(**{"physical_ms": 1, "origin": "a", **stamp}))
    assert refusal(tombstone()) is None
    assert refusal(tombstone(key="service/us/web/extra")) == "records[0].key"
    assert refusal(tombstone(key="secrets/x")) == "records[0].key"
    assert refusal(tombstone(key="cluster/Not_A_Label")) == "records[0].key"
    assert refusal(tombstone(physical_ms=-5)) == "records[0].stamp.physical_ms"
    assert refusal(tombstone(logical=MAX_LOGICAL + 1)) == "records[0].stamp.logical"
    assert refusal(tombstone(origin="")) == "records[0].stamp.origin"
    long_author = tombstone()
    long_author.author = "x" * 257
    assert refusal(long_author) == "records[0].author"
    mismatched = messages.record_to_message(Record("cluster/a", Stamp(1, 0, "a"), "", Cluster(name="a", region="us")))
    mismatched.key = "cluster/b"
    assert refusal(mismatched) == "records[0].key"


def test_a_peer_stamp_far_ahead_of_our_clock_is_refused():
    now = 1_800_000_000_000
    assert refusal(fleet_pb2.Record(key="cluster/a", deleted=True, stamp=fleet_pb2.Stamp(
        physical_ms=now + MAX_AHEAD_MS, origin="a")), now_ms=now) is None
    assert refusal(fleet_pb2.Record(key="cluster/a", deleted=True, stamp=fleet_pb2.Stamp(
        physical_ms=now + MAX_AHEAD_MS + 1, origin="a")), now_ms=now) == "records[0].stamp.physical_ms"


def test_the_same_bytes_are_decoded_once_and_still_checked_every_time():
    now = 1_800_000_000_000
    wire = messages.record_to_message(
        Record("cluster/a", Stamp(now + MAX_AHEAD_MS + 1, 0, "a"), "", Cluster(name="a", region="us"))).SerializeToString()
    first = messages.peer_record(wire, "records[0]", now_ms=now + 1)
    again = bytes(bytearray(wire))  # the same bytes, as another call would bring them
    assert again is not wire
    assert messages.peer_record(again, "records[0]", now_ms=now + 1) is first  # one copy, shared
    # decoded before, yet a stamp too far ahead of the clock is refused as the first time
    assert refusal(again, now_ms=now) == "records[0].stamp.physical_ms"
    broken = wire[:-3]
    # what fails to decode is refused every time, never remembered
    assert refusal(broken) is not None and refusal(broken) is not None


def test_heartbeats_read_as_bytes_are_the_heartbeat_messages_older_listeners_send():
    older = fleet_pb2.DigestRequest(from_cluster="a", heartbeats=[
        fleet_pb2.Heartbeat(cluster="a", sent_ms=5, version="0.3.0", features=["history", "room"]),
        fleet_pb2.Heartbeat(cluster="b", sent_ms=7)]).SerializeToString()
    read = fleet_pb2.DigestRequestWire.FromString(older)
    assert messages.peer_heartbeats(read.heartbeats, "heartbeats") == (
        [("a", 5, "0.3.0", ("history", "room")), ("b", 7, "", ())], [])
    # and what a listener writes, an older one reads as Heartbeat messages
    wire = fleet_pb2.DigestRequestWire(heartbeats=messages.heartbeats_to_wire([("b", 7, "", ())]))
    assert fleet_pb2.DigestRequest.FromString(wire.SerializeToString()).heartbeats[0].sent_ms == 7


def test_a_heartbeat_decoded_before_is_still_checked_against_the_clock_and_bad_bytes_are_refused(monkeypatch):
    now = messages.wall_clock_ms()
    [raw] = messages.heartbeats_to_wire([("a", now + MAX_AHEAD_MS - 1000, "", ())])
    assert messages.peer_heartbeats([raw], "heartbeats")[1] == []
    monkeypatch.setattr(messages, "wall_clock_ms", lambda: now - 10_000)  # our clock is behind now
    _passed, [error] = messages.peer_heartbeats([bytes(bytearray(raw))], "heartbeats")
    assert error.field == "heartbeats[0].sent_ms"
    passed, refused = messages.peer_heartbeats(
        [b"\xff\xff", *(fleet_pb2.Heartbeat(cluster=c, sent_ms=ms).SerializeToString() for c, ms in (
            ("a", -1), ("Not_A_Name", 1)))], "beats")
    assert passed == [] and [e.field for e in refused] == ["beats[0]", "beats[1].sent_ms", "beats[2].cluster"]


def test_cluster_weight_defaults_to_one_on_the_wire():
    assert messages.cluster_from_message(fleet_pb2.ClusterSpec(name="a", region="us")).weight == 1


@given(services())
def test_a_spec_is_the_spec_part_of_a_service_on_the_wire(service):
    """ServiceSpec has ServiceIntent's spec fields with the same numbers: an older client's
    whole intent reads as its spec, and a spec reads as a service with no placement."""
    intent = messages.service_to_message(service)
    assert messages.spec_from_message(fleet_pb2.ServiceSpec.FromString(intent.SerializeToString())) == service.spec
    spec_bytes = messages.spec_to_message(service.spec).SerializeToString()
    assert messages.service_from_message(fleet_pb2.ServiceIntent.FromString(spec_bytes)) == Service(service.spec)


def test_reasons_written_without_codes_get_them_from_the_texts_listeners_before_0_2_wrote():
    texts = ["us-west: cordoned", "us-north: excluded by the service's rules", "us-a: unhealthy (no heartbeat)",
             "us-b: minimum 5 lowered to the 2 replicas its maximum or capacity allows",
             "us-c: replicas returning after recovery", "no eligible cluster in region us",
             "minimums exceed 4 replicas: served by weight, then name",
             "3 replicas unplaced: the eligible clusters are at their maximum, capacity or minimum (weight 0)",
             "something a person wrote", "Not_A_Name: cordoned"]
    old = fleet_pb2.ServiceIntent(region="us", service="web", replicas=2, reasons=texts)
    reasons = messages.service_from_message(old).placement.reasons
    assert [(r.cluster, r.code) for r in reasons] == [
        ("us-west", ReasonCode.CORDONED), ("us-north", ReasonCode.EXCLUDED), ("us-a", ReasonCode.UNHEALTHY),
        ("us-b", ReasonCode.MINIMUM_LOWERED), ("us-c", ReasonCode.RETURNING), ("", ReasonCode.NO_ELIGIBLE_CLUSTER),
        ("", ReasonCode.MINIMUMS_EXCEED), ("", ReasonCode.NO_ROOM), ("", ReasonCode.UNSPECIFIED),
        ("", ReasonCode.UNSPECIFIED)]
    assert [r.text for r in reasons] == texts


@given(services())
def test_a_service_written_for_older_readers_reads_back_the_same(service):
    """Without reason codes on the wire, the texts give them back: what the scheduler writes."""
    from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
    clusters = [Cluster(name=n, region="us", cordoned=n == "b") for n in CLUSTER_NAMES[:4]]
    placed = Service(service.spec, schedule(service.spec, clusters, unhealthy={"c"}))
    wire = messages.service_to_message(placed, for_older_readers=True)
    assert not wire.reason_details
    assert messages.service_from_message(wire) == placed
    newer = fleet_pb2.ServiceIntent(region="us", service="web", replicas=2,
                                    reason_details=[fleet_pb2.Reason(cluster="us-west", code=99, text="from a newer listener")])
    assert messages.service_from_message(newer).placement.reasons[0].code == ReasonCode.UNSPECIFIED


def test_the_wire_twins_keep_the_same_numbers():
    """Messages that are other messages read another way must stay field for field the same:
    ServiceSpec is ServiceIntent's spec part; PushRequestWire and DigestResponseWire are PushRequest
    and DigestResponse with records as bytes (fleet.proto says why)."""
    def fields(message):
        return {f.name: f.number for f in message.DESCRIPTOR.fields}

    assert fields(fleet_pb2.ServiceSpec).items() <= fields(fleet_pb2.ServiceIntent).items()
    assert set(fields(fleet_pb2.ServiceIntent).values()) - set(fields(fleet_pb2.ServiceSpec).values()) == {
        9, 10, 11, 12, 15}
    assert fields(fleet_pb2.PushRequestWire) == fields(fleet_pb2.PushRequest)
    assert fields(fleet_pb2.DigestResponseWire) == fields(fleet_pb2.DigestResponse)
    for twin, original, name in ((fleet_pb2.PushRequestWire, fleet_pb2.PushRequest, "records"),
                                 (fleet_pb2.DigestResponseWire, fleet_pb2.DigestResponse, "newer")):
        assert twin.DESCRIPTOR.fields_by_name[name].type == twin.DESCRIPTOR.fields_by_name[name].TYPE_BYTES
        assert original.DESCRIPTOR.fields_by_name[name].message_type.name == "Record"
