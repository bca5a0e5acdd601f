"""A client given several listeners survives the ones that do not answer: refused, accepting
connections but never answering (a hung process), or answering a call never (DEADLINE_EXCEEDED).
Real gRPC on loopback, a real listener behind the others."""
from __future__ import annotations

import socket
import threading
import time
from concurrent import futures

import grpc
import pytest

import inprocess
from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient, FleetError
from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec


@pytest.fixture
def live(tmp_path):
    with inprocess.listener(tmp_path / "data") as node:
        yield node


@pytest.fixture
def refused():
    """An address nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def hung():
    """A socket that accepts connections and never says a word, as a stopped listener's kernel does."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def stalling():
    """A gRPC server whose every Fleet call hangs past the client's deadline; counts the calls."""
    calls = []
    done = threading.Event()

    def stall(request, context):
        calls.append(context)
        done.wait(5)
        context.abort(grpc.StatusCode.UNAVAILABLE, "stalled")

    handler = grpc.method_handlers_generic_handler("multicluster.kube.v1.Fleet", {
        m: grpc.unary_unary_rpc_method_handler(stall) for m in ("SetRegionReplicas", "ChangeRollout")})
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", calls
    done.set()
    server.stop(0)


def endpoint_of(node):
    return node.config.network.listen


def test_a_read_passes_over_a_refused_and_a_hung_listener(live, refused, hung):
    started = time.monotonic()
    with FleetClient([refused, hung, endpoint_of(live)], token=inprocess.TOKEN, connect_timeout=0.5) as client:
        view = client.view()
        assert client.endpoint == endpoint_of(live)
    assert view.answered_by == live.cluster
    assert time.monotonic() - started < 5, "each listener passed over should cost about the connect timeout"


def test_a_write_a_listener_did_not_serve_goes_to_the_next_and_counts_once(live, stalling):
    address, calls = stalling
    spec = ServiceSpec("us", "web", 2)
    with FleetClient([address, endpoint_of(live)], token=inprocess.TOKEN, timeout=1, connect_timeout=0.5) as client:
        first = client.set_region_replicas(spec, wait_timeout=0)
        again = client.set_region_replicas(spec, wait_timeout=0)
    assert len(calls) == 1, "the stalled listener was asked once"
    assert first.changed and not again.changed
    assert live.replica.record("service/us/web").value.spec == spec


def test_a_rollback_without_a_revision_is_not_made_twice(live, stalling):
    address, calls = stalling
    with FleetClient([address, endpoint_of(live)], token=inprocess.TOKEN, timeout=1, connect_timeout=0.5) as client:
        with pytest.raises(FleetError) as failed:
            client.change_rollout("us", "web", "rollback", wait_timeout=0)
    assert failed.value.code == "DEADLINE_EXCEEDED" and failed.value.endpoint == address
    assert len(calls) == 1


def test_no_listener_answering_says_which_were_tried(refused, hung):
    with FleetClient([refused, hung], connect_timeout=0.3) as client:
        with pytest.raises(FleetError) as failed:
            client.view()
    assert failed.value.code == "UNAVAILABLE" and refused in failed.value.endpoint and hung in failed.value.endpoint
