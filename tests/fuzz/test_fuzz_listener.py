"""Random and hostile requests: no crash, the right status code, and no state change.

Each test prints how many cases it tried (run with -s to see them)."""
from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from inprocess import TOKEN, send_bytes
from wire_strategies import intents, workloads

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.model import MAX_REPLICAS
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid(intent) -> bool:
    """What the listener should accept: everything in range, every name a DNS label, rules
    naming only us-east or us-west, min <= max."""
    import re
    label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

    def ok(name):
        return len(name) <= 63 and bool(label.match(name))
    if intent.region != "us" or not ok(intent.service) or not ok(intent.namespace or "default"):
        return False
    if intent.replicas > MAX_REPLICAS or not (intent.port == 0 or intent.port <= 65535):
        return False
    if intent.image and (len(intent.image) > 512 or any(c.isspace() for c in intent.image)):
        return False
    known = {"us-east", "us-west"}
    if any(not ok(n) or n not in known for n in intent.rules.excluded):
        return False
    seen = set()
    for r in intent.rules.clusters:
        if not ok(r.cluster) or r.cluster not in known or r.cluster in seen:
            return False
        seen.add(r.cluster)
        if (r.HasField("weight") and r.weight > 1_000_000) or r.min > MAX_REPLICAS:
            return False
        if r.HasField("max") and (r.max > MAX_REPLICAS or r.min > r.max):
            return False
    return True


def durable(listener) -> dict:
    """The listener's records but its own heartbeats, which change every second."""
    return {r.key: r for r in listener.replica.snapshot() if not r.key.startswith("status/")}


def stub(listener, token=TOKEN):
    return Stub(open_channel(listener.config.network.listen), "Fleet"), call_metadata(token)


@pytest.mark.tries("accepted", "refused", "as a spec", "as an older client's intent")
@FUZZ
@given(intent=intents, as_spec=st.booleans())
def test_set_region_replicas_dry_run_never_crashes_and_refuses_exactly_the_invalid(listener, tried, intent, as_spec):
    """Sent as a spec, or as an older client sends it: a whole ServiceIntent of which only the
    spec fields count (a spec is those fields, with the same numbers)."""
    fleet, metadata = stub(listener)
    before = durable(listener)
    if as_spec:
        request = pb.SetRegionReplicasRequest(spec=pb.ServiceSpec.FromString(intent.SerializeToString()), dry_run=True)
    else:
        request = pb.SetRegionReplicasRequest(intent=intent, dry_run=True)
    tried["as a spec" if as_spec else "as an older client's intent"] += 1
    try:
        fleet.SetRegionReplicas(request, metadata=metadata, timeout=10)
        accepted = True
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert ":" in err.details()  # "field: rule (got ...)"
        accepted = False
    assert accepted == valid(intent), (intent, accepted)
    assert durable(listener) == before, "a dry run or a refused request changed the state"
    tried["accepted" if accepted else "refused"] += 1


@FUZZ
@given(raw=st.binary(max_size=2048),
       method=st.sampled_from(["SetRegionReplicas", "DeleteService", "PutCluster", "RemoveCluster"]))
def test_garbage_bytes_get_a_status_not_a_crash(listener, tried, raw, method):
    before = durable(listener)
    err = send_bytes(listener, f"/multicluster.kube.v1.Fleet/{method}", raw)
    tried["garbage"] += 1
    if err is None:  # it parsed as a legal change, which may change state
        return
    assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL,
                          grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNKNOWN), err.code()
    assert err.code() != grpc.StatusCode.UNKNOWN or "Exception deserializing" in (err.details() or "")
    assert durable(listener) == before


@FUZZ
@given(token=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=100), intent=intents)
def test_a_wrong_token_is_refused_whatever_the_request(listener, tried, token, intent):
    if token == TOKEN:
        return
    fleet, metadata = stub(listener, token=token or None)
    before = durable(listener)
    try:
        fleet.SetRegionReplicas(pb.SetRegionReplicasRequest(intent=intent), metadata=metadata, timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.code()
    else:
        raise AssertionError("accepted without the token")
    assert durable(listener) == before
    tried["token"] += 1


def test_oversized_and_deeply_nested_requests(listener, tried):
    fleet, metadata = stub(listener)
    before = durable(listener)
    huge = pb.ServiceIntent(region="us", service="web", replicas=1, image="x" * (65 * 1024 * 1024))
    try:
        fleet.SetRegionReplicas(pb.SetRegionReplicasRequest(intent=huge), metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT)
    else:
        raise AssertionError("a 65 MiB request was accepted")
    many = pb.ServiceIntent(region="us", service="web", replicas=1, rules=pb.PlacementRules(
        clusters=[pb.ClusterRule(cluster=f"c{i}") for i in range(100_000)]))
    try:
        fleet.SetRegionReplicas(pb.SetRegionReplicasRequest(intent=many), metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    else:
        raise AssertionError("100,000 rules naming unknown clusters were accepted")
    assert durable(listener) == before
    tried["oversized"] += 2


def test_an_overlong_acting_for_is_refused_before_anything_changes(listener, tried):
    fleet, _metadata = stub(listener)
    before = durable(listener)
    try:
        fleet.SetRegionReplicas(pb.SetRegionReplicasRequest(intent=pb.ServiceIntent(
            region="us", service="web", replicas=1)), metadata=call_metadata(TOKEN, acting_for="a" * 257), timeout=10)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.details().startswith("metadata x-multicluster-acting-for: must be at most 256 characters")
    else:
        raise AssertionError("a 257-character acting-for was accepted")
    assert durable(listener) == before
    tried["oversized"] += 1


@pytest.mark.tries("accepted", "refused")
@FUZZ
@given(workload=workloads, replicas=st.integers(0, 5))
def test_random_workloads_are_taken_or_refused_naming_the_field_and_a_refusal_changes_nothing(
        listener, tried, workload, replicas):
    fleet, metadata = stub(listener)
    before = durable(listener)
    spec = pb.ServiceSpec(region="us", service="web", replicas=replicas, workload=workload)
    try:
        fleet.SetRegionReplicas(pb.SetRegionReplicasRequest(spec=spec, dry_run=True), metadata=metadata, timeout=10)
        tried["accepted"] += 1
    except grpc.RpcError as err:
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION), err.details()
        assert ":" in err.details(), err.details()
        tried["refused"] += 1
    assert durable(listener) == before
