"""The Peer service (what listeners send each other) under random and hostile requests: a
listener must refuse a bad record as it refuses a bad client request, never crash, and
change nothing when it refuses. A peer is trusted with the token, not with its input.

Each test prints how many cases it tried (run with -s to see them)."""
from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inprocess import PEER_TOKEN, send_bytes
from wire_strategies import heartbeats, names, records, stamps

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub
from ansible_collections.multicluster.kube.listener.digest import BUCKETS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def state(listener) -> tuple:
    """Every record, and the heartbeat table but the listener's own entry, which grows every second."""
    own = listener.cluster
    return {r.key: r for r in listener.replica.snapshot()}, [(c, ms) for c, ms in listener.heartbeats.table() if c != own]


def peer(listener):
    return Stub(open_channel(listener.config.network.listen), "Peer"), call_metadata(PEER_TOKEN)


def acceptable(message, check=messages.peer_record) -> bool:
    try:
        check(message)
    except ValidationError:
        return False
    return True


def first_refused(batch, beats) -> str:
    """What a refusal must name: the first bad record, else the first bad heartbeat."""
    bad_record = next((f"records[{i}]." for i, m in enumerate(batch) if not acceptable(m)), None)
    return bad_record or next(f"heartbeats[{i}]." for i, m in enumerate(beats)
                              if not acceptable(m, messages.peer_heartbeat))


@pytest.mark.tries("push taken", "push refused")
@FUZZ
@given(batch=st.lists(records(), max_size=4), relay_to=st.lists(st.text(max_size=40), max_size=3),
       beats=st.lists(heartbeats, max_size=3))
def test_a_push_is_taken_whole_or_refused_whole_naming_the_record(listener, tried, batch, relay_to, beats):
    stub, metadata = peer(listener)
    before = state(listener)
    try:
        response = stub.Push(pb.PushRequest(from_cluster="us-west", records=batch, relay_to=relay_to,
                                            heartbeats=beats), metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        assert err.details().startswith(first_refused(batch, beats)), err.details()
        assert state(listener) == before, "a refused push changed the state"
        tried["push refused"] += 1
    else:
        assert all(acceptable(m) for m in batch), "a push with an invalid record was taken"
        assert all(acceptable(m, messages.peer_heartbeat) for m in beats), "a push with an invalid heartbeat was taken"
        table = dict(listener.heartbeats.table())
        assert all(table[b.cluster] >= b.sent_ms for b in beats if b.cluster != listener.cluster)
        # This listener knows no peers (discovery off, no seeds): nothing can be relayed.
        assert set(response.not_reached) == set(relay_to)
        expired = wall_clock_ms() - listener.config.timing.tombstone_ttl * 1000
        for message in batch:
            held = listener.replica.record(message.key)
            if held is None:  # only a delete older than the tombstone TTL, for a key not held, is dropped
                assert message.deleted and message.stamp.physical_ms < expired, message
            else:
                assert held.stamp >= messages.stamp_from_message(message.stamp)
        tried["push taken"] += 1


@FUZZ
@given(hashes=st.lists(st.integers(0, 2**64 - 1), max_size=BUCKETS + 10),
       entries=st.lists(st.builds(pb.KeyStamp, key=st.text(max_size=60), stamp=stamps, deleted=st.booleans()),
                        max_size=5),
       buckets=st.lists(st.integers(0, 2**32 - 1), max_size=5), sender=names, beats=st.lists(heartbeats, max_size=3))
def test_a_digest_request_changes_no_record(listener, tried, hashes, entries, buckets, sender, beats):
    """Digests only compare; step one also swaps heartbeat tables, all of it or (one bad
    heartbeat) none of it."""
    stub, metadata = peer(listener)
    records_before, table_before = state(listener)
    request = pb.DigestRequest(from_cluster=sender, bucket_hashes=hashes, entries=entries, buckets=buckets,
                               heartbeats=beats)
    step_one = bool(hashes) and not entries  # hashes alone ask for step one, which takes no buckets
    try:
        response = stub.Digest(request, metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        if step_one:
            assert err.details().startswith(first_refused([], beats)), err.details()
        else:
            assert any(b >= BUCKETS for b in buckets) and err.details().startswith("buckets:")
        assert state(listener) == (records_before, table_before)
    else:
        assert all(b < BUCKETS for b in response.differing_buckets)
        assert response.answered_by == listener.cluster
        if step_one:
            assert all(acceptable(m, messages.peer_heartbeat) for m in beats), "an invalid heartbeat was taken"
            sent = {b.cluster: b.sent_ms for b in beats}
            assert all(b.sent_ms > sent.get(b.cluster, -1) for b in response.heartbeats)  # only news
            if len(hashes) != BUCKETS:
                assert list(response.differing_buckets) == list(range(BUCKETS))  # a summary it cannot compare
        else:
            assert state(listener)[1] == table_before, "step two took heartbeats"
    assert state(listener)[0] == records_before
    tried["digest"] += 1


@FUZZ
@given(raw=st.binary(max_size=2048), method=st.sampled_from(["Push", "Digest"]))
def test_garbage_bytes_to_the_peer_service_get_a_status_not_a_crash(listener, tried, raw, method):
    before = state(listener)
    err = send_bytes(listener, f"/multicluster.kube.v1.Peer/{method}", raw)
    tried["garbage"] += 1
    if err is not None:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), (err.code(), err.details())
        assert state(listener) == before
