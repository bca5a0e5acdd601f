"""Records with fields this version does not know survive, byte for byte, every way a
listener handles them: received, stored, loaded, relayed, and sent in a digest answer."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, Placement, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.store import Store

from memory_fleet import node


def unknown_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field this version has no name for."""
    def varint(n):
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    return varint(number << 3 | 2) + varint(len(payload)) + payload


unknown = st.tuples(st.integers(100, 10_000), st.binary(max_size=40))


@st.composite
def records_with_unknown_fields(draw):
    """A valid service record whose ServiceIntent, ServiceSpec rules and Record itself carry
    fields a newer listener might write."""
    spec = ServiceSpec("us", draw(st.sampled_from(["web", "api"])), draw(st.integers(0, 50)))
    record = Record(spec.key, Stamp(wall_clock_ms(), draw(st.integers(0, 5)), "us-east"), "newer",
                    Service(spec, Placement({"us-east": spec.replicas})))
    message = messages.record_to_message(record)
    intent_bytes = message.service.SerializeToString() + b"".join(unknown_field(n, p) for n, p in draw(
        st.lists(unknown, max_size=3)))
    message.service.CopyFrom(pb.ServiceIntent.FromString(intent_bytes))
    return message.SerializeToString() + b"".join(unknown_field(n, p) for n, p in draw(st.lists(unknown, max_size=3)))


@given(records_with_unknown_fields())
def test_a_record_with_unknown_fields_survives_store_load_relay_and_digest_byte_for_byte(raw):
    network = MemoryNetwork()
    members = [Record(f"cluster/{n}", Stamp(wall_clock_ms(), 0, n), n, Cluster(name=n, region="us", endpoint=n))
               for n in ("a", "b", "c")]
    a, b, c = (node(network, n, members) for n in ("a", "b", "c"))
    key = messages.record_from_bytes(raw).key
    # a receives it from its author, with b to relay it to
    a.replication.handle("Push", pb.PushRequestWire(from_cluster="author", records=[raw],
                                                    relay_to=["b"]).SerializeToString())
    assert a.replica.record(key).raw == raw
    assert b.replica.record(key).raw == raw, "relayed with something changed"
    # b's store, loaded by a new replica
    store = Store(":memory:")
    store.save([b.replica.record(key)])
    loaded = Replica("b", store, HybridClock("b"), Metrics())
    loaded.load()
    assert loaded.record(key).raw == raw
    # c asks b for what it lacks
    assert c.replication.sync_with("b")[0] >= 1
    assert c.replica.record(key).raw == raw, "answered in a digest with something changed"
    assert pb.Record.FromString(c.replica.record(key).raw).SerializeToString() == raw
