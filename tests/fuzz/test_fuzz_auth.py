"""Random credentials against a real listener (in-process, real gRPC): random tokens, roles
and scopes on the Fleet service, random tokens and certificates on the Peer service. Every
call ends as the policy says (listener/identities.py, listener/api/auth.py), nothing crashes,
and a refused call changes nothing."""
from __future__ import annotations

import grpc
import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import inprocess
from test_fuzz_listener import durable

from ansible_collections.multicluster.kube.listener.identities import token_hash
from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient, FleetError
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Placement, Record, Service, ServiceSpec)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# name: (role, regions, namespaces)
IDENTITIES = {"vic": ("viewer", [], []), "ops-us": ("operator", ["us"], ["shop"]), "ops": ("operator", [], []),
              "root": ("admin", [], [])}
TOKENS = {f"{name}-token": name for name in IDENTITIES}
ROLES = ("viewer", "operator", "admin")


@pytest.fixture(scope="module")
def listener(tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    clients = folder / "clients.yml"
    clients.write_text(yaml.safe_dump([{"name": n, "token_sha256": token_hash(f"{n}-token"), "role": role,
                                        "regions": regions, "namespaces": namespaces}
                                       for n, (role, regions, namespaces) in IDENTITIES.items()]))
    with inprocess.listener(folder / "data", clients_file=str(clients)) as node:
        yield node


def expected(token, needs, region="", namespace=""):
    """None when the call should be taken, else the status code it should end with."""
    name = TOKENS.get(token)
    if name is None:
        return "UNAUTHENTICATED"
    role, regions, namespaces = IDENTITIES[name]
    if ROLES.index(role) < ROLES.index(needs):
        return "PERMISSION_DENIED"
    # (a removal of a service that does not exist has no namespace to check: it changes nothing)
    if needs == "operator" and (regions and region not in regions or
                                namespace and namespaces and namespace not in namespaces):
        return "PERMISSION_DENIED"
    return None


# Tokens as HTTP/2 header values may be (gRPC's client refuses others before sending them).
header_text = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40)
tokens = st.one_of(st.sampled_from(sorted(TOKENS) + ["", inprocess.PEER_TOKEN, "root-token ", "ROOT-TOKEN"]),
                   header_text)
calls = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(["us", "eu"]), st.sampled_from(["shop", "default", "web"]),
              st.integers(1, 3)),
    st.tuples(st.just("delete"), st.sampled_from(["us", "eu"]), st.sampled_from(["shop", "default"]), st.just(0)),
    st.tuples(st.just("cluster"), st.just("us"), st.just(""), st.integers(1, 3)),
    st.tuples(st.just("read"), st.just(""), st.just(""), st.just(0)))


@pytest.mark.tries("taken", "UNAUTHENTICATED", "PERMISSION_DENIED")
@FUZZ
@given(token=tokens, call=calls)
def test_fleet_calls_end_as_the_identity_role_and_scope_say(listener, tried, token, call):
    kind, region, namespace, n = call
    before = durable(listener)
    held = listener.replica.live(f"service/{region}/web") if region else None
    want = {"write": lambda: expected(token, "operator", region, namespace),
            "delete": lambda: expected(token, "operator", region, held.spec.namespace if held else ""),
            "cluster": lambda: expected(token, "admin"), "read": lambda: expected(token, "viewer")}[kind]()
    with FleetClient(listener.config.network.listen, token=token, acting_for="root") as c:
        try:
            if kind == "write":
                c.set_region_replicas(ServiceSpec(region, "web", n, namespace=namespace))
            elif kind == "delete":
                c.delete_service(region, "web")
            elif kind == "cluster":
                c.update_cluster("us-west", "us", weight=n)
            else:
                c.records()
        except FleetError as error:
            assert error.code == want, (error, token, call)
            assert durable(listener) == before
            tried[error.code] += 1
        else:
            assert want is None, (token, call)
            written = listener.replica.record(f"service/{region}/web")
            if kind == "write" and written is not None and written.stamp not in {r.stamp for r in before.values()}:
                assert written.author == TOKENS[token], "the author is the identity, never what the caller claims"
            tried["taken"] += 1


def forged_push(endpoint, token, ca=None, cert=(None, None)):
    record = Record("service/us/forged", HybridClock("us-west").now(), "forger",
                    Service(ServiceSpec("us", "forged", 1), Placement({"us-east": 1})))
    channel = open_channel(endpoint, ca, cert[0], cert[1])
    try:
        channel.unary_unary("/multicluster.kube.v1.Peer/Push", request_serializer=pb.PushRequest.SerializeToString,
                            response_deserializer=pb.PushResponse.FromString)(
            pb.PushRequest(from_cluster="us-west", records=[messages.record_to_message(record)]),
            metadata=call_metadata(token), timeout=10)
    except grpc.RpcError as error:
        return error.code().name
    finally:
        channel.close()
    return None


@pytest.fixture(scope="module")
def tls_listener(tmp_path_factory):
    from lab.pki import CertificateAuthority
    from lab.processes import free_port
    folder = tmp_path_factory.mktemp("tls")
    fleet_ca, foreign_ca = CertificateAuthority(folder / "ca"), CertificateAuthority(folder / "foreign")
    cert, key = fleet_ca.serving_pair("listener-us-east")
    with inprocess.listener(folder / "data", insecure=False, tls_cert=str(cert), tls_key=str(key),
                            tls_ca=str(fleet_ca.cert_file), peer_listen=f"127.0.0.1:{free_port()}") as node:
        yield node, {"fleet": fleet_ca.serving_pair("listener-us-west"), "foreign": foreign_ca.serving_pair("intruder"),
                     "none": (None, None)}, str(fleet_ca.cert_file)


@pytest.mark.tries("taken", "refused")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.sampled_from([inprocess.PEER_TOKEN, "root-token", ""]), header_text),
       cert=st.sampled_from(["fleet", "foreign", "none"]), port=st.sampled_from(["peers", "clients"]))
def test_a_peer_call_is_taken_only_with_the_peer_token_and_a_fleet_certificate_on_the_peer_port(
        tls_listener, tried, token, cert, port):
    node, certs, ca = tls_listener
    net = node.config.network
    before = durable(node)
    code = forged_push(net.peer_listen if port == "peers" else net.listen, token, ca, certs[cert])
    if token == inprocess.PEER_TOKEN and cert == "fleet" and port == "peers":
        assert code is None
        tried["taken"] += 1
        node.writer.write([("service/us/forged", None)], author="test")  # the next case starts without it
    else:
        assert code is not None, (token, cert, port)
        assert durable(node) == before
        tried["refused"] += 1
