"""The Peer service (what listeners send each other) under random and hostile requests: a
listener must refuse a bad record as it refuses a bad client request, never crash, and
change nothing when it refuses. A peer is trusted with the token, not with its input.

Each test prints how many cases it tried (run with -s to see them)."""
from __future__ import annotations

import grpc
from hypothesis import HealthCheck, given, settings, strategies as st

from inprocess import TOKEN, send_bytes
from wire_strategies import names, records, stamps

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub
from ansible_collections.multicluster.kube.listener.digest import BUCKETS

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
counts = {}


def state(listener) -> dict:
    """Every record but the listener's own heartbeat, which changes every second."""
    own = f"status/{listener.cluster}"
    return {k: r for k, r in listener.replica.state.items() if k != own}


def peer(listener):
    return Stub(open_channel(listener.config.listen), "Peer"), call_metadata(TOKEN)


def acceptable(message) -> bool:
    try:
        messages.peer_record(message)
    except ValidationError:
        return False
    return True


@FUZZ
@given(batch=st.lists(records(), max_size=4), relay_to=st.lists(st.text(max_size=40), max_size=3))
def test_a_push_is_taken_whole_or_refused_whole_naming_the_record(listener, batch, relay_to):
    stub, metadata = peer(listener)
    before = state(listener)
    try:
        response = stub.Push(pb.PushRequest(from_cluster="us-west", records=batch, relay_to=relay_to),
                             metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        bad = next(i for i, m in enumerate(batch) if not acceptable(m))  # the first bad record is named
        assert err.details().startswith(f"records[{bad}]."), err.details()
        assert state(listener) == before, "a refused push changed the state"
        counts["push refused"] = counts.get("push refused", 0) + 1
    else:
        assert all(acceptable(m) for m in batch), "a push with an invalid record was taken"
        # This listener knows no peers (discovery off, no seeds): nothing can be relayed.
        assert set(response.not_reached) == set(relay_to)
        expired = wall_clock_ms() - listener.config.tombstone_ttl * 1000
        for message in batch:
            held = listener.replica.get(message.key)
            if held is None:  # only a delete older than the tombstone TTL, for a key not held, is dropped
                assert message.deleted and message.stamp.physical_ms < expired, message
            else:
                assert held.stamp >= messages.stamp_from_message(message.stamp)
        counts["push taken"] = counts.get("push taken", 0) + 1


@FUZZ
@given(hashes=st.lists(st.integers(0, 2**64 - 1), max_size=BUCKETS + 10),
       entries=st.lists(st.builds(pb.KeyStamp, key=st.text(max_size=60), stamp=stamps), max_size=5),
       buckets=st.lists(st.integers(0, 2**32 - 1), max_size=5), sender=names)
def test_a_digest_request_never_changes_the_state(listener, hashes, entries, buckets, sender):
    stub, metadata = peer(listener)
    before = state(listener)
    request = pb.DigestRequest(from_cluster=sender, bucket_hashes=hashes, entries=entries, buckets=buckets)
    try:
        response = stub.Digest(request, metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        step_two = bool(entries) or not hashes  # hashes alone ask for step one, which takes no buckets
        assert step_two and any(b >= BUCKETS for b in buckets) and err.details().startswith("buckets:")
    else:
        assert all(b < BUCKETS for b in response.differing_buckets)
        assert response.answered_by == listener.cluster
        if hashes and not entries and len(hashes) != BUCKETS:
            assert list(response.differing_buckets) == list(range(BUCKETS))  # a summary it cannot compare
    assert state(listener) == before
    counts["digest"] = counts.get("digest", 0) + 1


@FUZZ
@given(raw=st.binary(max_size=2048), method=st.sampled_from(["Push", "Digest"]))
def test_garbage_bytes_to_the_peer_service_get_a_status_not_a_crash(listener, raw, method):
    before = state(listener)
    err = send_bytes(listener, f"/multicluster.kube.v1.Peer/{method}", raw)
    counts["garbage"] = counts.get("garbage", 0) + 1
    if err is not None:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL), (err.code(), err.details())
        assert state(listener) == before


def test_zz_report_cases_tried():
    total = sum(counts.values())
    print(f"fuzz (Peer service): {total} cases tried: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    assert total >= 800 and counts.get("push taken") and counts.get("push refused")
