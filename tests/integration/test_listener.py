"""The listeners on the lab's 4 real clusters: propagation, convergence, durability,
the local updater, and refusal of bad or unauthenticated requests."""
from __future__ import annotations

import concurrent.futures
import subprocess
import time
import uuid

import pytest
from kubernetes import client

from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient, FleetError
from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec, global_config
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from lab.listeners import ListenerFleet, Member

from fleet_state import converged, durable_state, intent_of, managed_deployments
from support import wait_for

ALL = ("us-east", "us-west", "eu-central", "eu-west")


def test_a_write_for_eu_at_us_east_reaches_every_listener_and_only_eu_clusters_run_it(listeners, kube, namespace):
    with listeners.client("us-east") as c:
        response = c.set_region_replicas(ServiceSpec("eu", "shop", 5, namespace=namespace), wait="ready",
                                         wait_timeout=60)
    assert response.waited, response.wait_detail
    placement = {p.cluster: p.replicas for p in response.intent.placement}
    assert placement == {"eu-central": 3, "eu-west": 2}
    for name in ALL:
        wait_for(lambda: intent_of(listeners, name, "eu", "shop") is not None, 5, what=f"{name} to hold the write")
        assert intent_of(listeners, name, "eu", "shop").placement.clusters == placement
    for cluster, count in placement.items():
        assert managed_deployments(kube, cluster, namespace) == {"shop": (count, count)}
    for cluster in ("us-east", "us-west"):
        assert managed_deployments(kube, cluster, namespace) == {}


def test_concurrent_writes_to_different_services_are_all_kept(listeners, namespace):
    def write(i):
        with listeners.client(ALL[i % 4]) as c:
            return c.set_region_replicas(ServiceSpec("us", f"svc-{i}", 1 + i % 3, namespace=namespace)).changed

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(write, range(16)))
    state = wait_for(lambda: converged(listeners), 10, what="convergence")
    assert {f"service/us/svc-{i}" for i in range(16)} <= set(state)


def test_concurrent_writes_to_one_service_converge_on_one_winner(listeners, namespace):
    barrier = __import__("threading").Barrier(4)

    def write(i):
        with listeners.client(ALL[i]) as c:
            barrier.wait()
            return c.set_region_replicas(ServiceSpec("us", "contested", i + 1, namespace=namespace))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(write, range(4)))
    stamps = [(r.stamp.physical_ms, r.stamp.logical, r.stamp.origin) for r in responses]
    winner = responses[stamps.index(max(stamps))]
    wait_for(lambda: converged(listeners), 10, what="convergence")
    for name in ALL:
        assert intent_of(listeners, name, "us", "contested").spec.replicas == winner.intent.replicas


def test_an_acknowledged_write_survives_sigkill(lab, tmp_path):
    with ListenerFleet(lab, tmp_path / "solo", manage_kubernetes=False, clusters=["us-east"]) as fleet:
        with fleet.client("us-east") as c:
            ack = c.set_region_replicas(ServiceSpec("us", "durable", 7))
        fleet.kill("us-east")  # at once after the acknowledgement
        fleet.start("us-east")
        fleet.wait_serving("us-east")
        kept = intent_of(fleet, "us-east", "us", "durable")
    assert kept is not None and kept.spec.replicas == 7
    assert ack.changed


def test_a_stopped_listener_catches_up_by_anti_entropy_alone(listeners, namespace):
    listeners.stop("eu-west")
    try:
        with listeners.client("us-east") as c:
            for i in range(10):
                c.set_region_replicas(ServiceSpec("us", f"missed-{i}", 1, namespace=namespace))
        with listeners.client("eu-central") as c:
            c.set_region_replicas(ServiceSpec("eu", "missed-eu", 2, namespace=namespace))
    finally:
        listeners.start("eu-west")
        listeners.wait_serving("eu-west")
    # No write happens from here on: only anti-entropy can bring the missed records.
    others = durable_state(listeners, "us-east")
    wait_for(lambda: all(durable_state(listeners, "eu-west").get(k) == s for k, s in others.items()), 10,
             what="eu-west to catch up")


def test_a_user_deployment_with_a_managed_name_is_left_alone_and_reported(listeners, kube, namespace):
    apps = client.AppsV1Api(kube("us-east"))
    mine = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "handmade"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "handmade"}},
                     "template": {"metadata": {"labels": {"app": "handmade"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    apps.create_namespaced_deployment(namespace, mine)
    with listeners.client("eu-central") as c:
        c.set_region_replicas(ServiceSpec("us", "handmade", 4, namespace=namespace))

    def conflict():
        with listeners.client("eu-west") as c:
            tree = global_config(c.records()[0])
        services = tree["regions"]["us"]["clusters"]["us-east"]["services"]
        return services.get("handmade", {}).get("conflict")

    message = wait_for(conflict, 15, what="the conflict to be reported")
    assert "not managed by multicluster-kube" in message
    untouched = apps.read_namespaced_deployment("handmade", namespace)
    assert untouched.spec.replicas == 1 and untouched.spec.template.spec.containers[0].image == "busybox"
    assert "app.kubernetes.io/managed-by" not in (untouched.metadata.labels or {})


def test_kubectl_scale_is_undone(listeners, lab, kube, namespace):
    with listeners.client("us-west") as c:
        c.set_region_replicas(ServiceSpec("eu", "steady", 4, namespace=namespace), wait="applied", wait_timeout=30)
    subprocess.run([str(lab.bin_dir / "kubectl"), "--kubeconfig", str(lab.kubeconfig), "--context", "eu-west",
                    "-n", namespace, "scale", "deployment/steady", "--replicas=9"], check=True, capture_output=True)
    started = time.monotonic()
    wait_for(lambda: managed_deployments(kube, "eu-west", namespace)["steady"][0] == 2, 10, interval=0.1,
             what="the drift to be repaired")
    assert time.monotonic() - started < 10


def test_bad_and_unauthenticated_requests_change_nothing(listeners, namespace):
    before = {n: durable_state(listeners, n) for n in ALL}
    with listeners.client("us-east", token="wrong") as c:
        with pytest.raises(FleetError) as refused:
            c.set_region_replicas(ServiceSpec("us", "intruder", 1, namespace=namespace))
    assert refused.value.code == "UNAUTHENTICATED"
    with listeners.client("us-east", token="") as c:
        with pytest.raises(FleetError) as refused:
            c.records()
    assert refused.value.code == "UNAUTHENTICATED"
    code, detail = peer_push(listeners.endpoint("us-east"), listeners.token, None)  # the client token opens no Peer call
    assert code == "UNAUTHENTICATED" and "Peer calls take the peer token" in detail, detail

    bad = [
        (pb.ServiceSpec(region="us", service="Bad_Name", replicas=1), "service"),
        (pb.ServiceSpec(region="us", service="web", replicas=2_000_000), "replicas"),
        (pb.ServiceSpec(region="mars", service="web", replicas=1), "region"),
        (pb.ServiceSpec(region="us", service="web", replicas=1,
                        rules=pb.PlacementRules(clusters=[pb.ClusterRule(cluster="eu-west", min=1)])),
         "rules.clusters[eu-west].cluster"),
        (pb.ServiceSpec(region="us", service="web", replicas=1,
                        rules=pb.PlacementRules(clusters=[pb.ClusterRule(cluster="us-east", min=3, max=1)])),
         "rules.clusters[us-east].min"),
        (pb.ServiceSpec(region="us", service="miner", replicas=1, image="miner", namespace="kube-system"),
         "namespace"),
    ]
    with listeners.client("us-west") as c:
        for spec, field in bad:
            with pytest.raises(FleetError) as refused:
                c.call("SetRegionReplicas", pb.SetRegionReplicasRequest(spec=spec))
            assert refused.value.code == "INVALID_ARGUMENT"
            assert refused.value.detail.startswith(field + ":"), refused.value.detail
        assert "refused_namespaces: kube-system, kube-public, kube-node-lease" in refused.value.detail
    time.sleep(1.5)  # anything that slipped through would have propagated by now
    after = {n: durable_state(listeners, n) for n in ALL}
    assert {n: {k for k in s if k.startswith("service/")} for n, s in after.items()} == \
        {n: {k for k in s if k.startswith("service/")} for n, s in before.items()}


def test_tls_for_clients_and_mutual_tls_between_listeners(lab, tmp_path):
    with ListenerFleet(lab, tmp_path / "tls", manage_kubernetes=False, tls=True, clusters=["us-east", "eu-west"]) as fleet:
        with fleet.client("us-east") as c:
            c.set_region_replicas(ServiceSpec("eu", "private", 2))
        wait_for(lambda: intent_of(fleet, "eu-west", "eu", "private") is not None, 5,
                 what="the write to cross over TLS")
        plain = FleetClient(fleet.endpoint("us-east"), token=fleet.token)  # no CA: plain text
        with pytest.raises(FleetError) as refused:
            plain.records()
        plain.close()
        assert refused.value.code == "UNAVAILABLE"


def peer_push(endpoint, token, ca_file, cert=(None, None)):
    """A Push of a forged service record (author, stamp, placement of the caller's choosing) to
    `endpoint`: the status code it was refused with and its detail, or None if it was taken."""
    import grpc
    from ansible_collections.multicluster.kube.plugins.module_utils import messages
    from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
    from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
    from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Record, Service
    spec = ServiceSpec("us", "forged", 3, image="miner", namespace="default")
    record = Record(spec.key, HybridClock("us-west").now(), "someone-else", Service(spec, Placement({"us-east": 3})))
    channel = open_channel(endpoint, ca_file, cert[0], cert[1])
    try:
        channel.unary_unary("/multicluster.kube.v1.Peer/Push", request_serializer=pb.PushRequest.SerializeToString,
                            response_deserializer=pb.PushResponse.FromString)(
            pb.PushRequest(from_cluster="us-west", records=[messages.record_to_message(record)]),
            metadata=call_metadata(token), timeout=10)
    except grpc.RpcError as error:
        return error.code().name, error.details() or ""
    finally:
        channel.close()
    return None


def test_peers_need_the_peer_token_and_a_fleet_certificate_and_client_credentials_never_open_peer(lab, tmp_path):
    """With TLS, the Peer service is served on a port of its own that requires a certificate
    of the fleet's CA, and takes only the peer token; the clients' port serves no peer; the
    peer token opens no client call. A listener with a certificate of another CA cannot join.
    Every refusal says what is missing, and no listener's state changes."""
    from types import SimpleNamespace
    from lab.pki import CertificateAuthority
    names = ["us-east", "eu-west"]
    with ListenerFleet(lab, tmp_path / "tls", manage_kubernetes=False, tls=True, clusters=names) as fleet:
        ca = str(lab.ca.cert_file)
        fleet_cert = lab.ca.serving_pair("listener-us-west")  # a certificate of the fleet's CA
        foreign = CertificateAuthority(tmp_path / "foreign-ca")
        before = {n: durable_state(fleet, n) for n in names}
        clients_port, peers_port = fleet.endpoint("us-east"), fleet.advertised_to_peers("us-east")

        code, detail = peer_push(clients_port, fleet.token, ca)
        assert code == "UNAUTHENTICATED" and "Peer calls take the peer token" in detail, detail
        code, detail = peer_push(clients_port, fleet.peer_token, ca)  # the peer token, but no certificate
        assert code == "PERMISSION_DENIED" and "certificate the fleet's CA signed" in detail, detail
        code, detail = peer_push(peers_port, fleet.token, ca, fleet_cert)  # a certificate, but the client token
        assert code == "UNAUTHENTICATED" and "Peer calls take the peer token" in detail, detail
        assert peer_push(peers_port, fleet.peer_token, ca)[0] == "UNAVAILABLE", "no certificate: no handshake"
        assert peer_push(peers_port, fleet.peer_token, ca, foreign.serving_pair("intruder"))[0] == "UNAVAILABLE"
        with FleetClient(clients_port, token=fleet.peer_token, ca_file=ca) as c:
            with pytest.raises(FleetError) as refused:
                c.set_region_replicas(ServiceSpec("us", "forged", 1))
        assert refused.value.code == "UNAUTHENTICATED" and "clients take the client token" in refused.value.detail

        # A listener whose certificate another CA signed, with the right peer token, cannot join.
        outsider = ListenerFleet(SimpleNamespace(ca=foreign, clusters=lab.clusters), tmp_path / "outsider",
                                 manage_kubernetes=False, tls=True, members=[Member("us-west", "us", "us-west")],
                                 seeds=[fleet.advertised_to_peers(n) for n in names])
        outsider.peer_token, outsider.token = fleet.peer_token, fleet.token
        with outsider:
            time.sleep(4)  # several anti-entropy rounds and heartbeat pushes
            assert {n: durable_state(fleet, n) for n in names} == before
            with fleet.client("eu-west") as c:
                assert "cluster/us-west" not in {r.key for r in c.records()[0]}
            with outsider.client("us-west") as c:
                assert "cluster/us-east" not in {r.key for r in c.records()[0]}, "nor did it get the fleet's state"

        # ...and the fleet itself still replicates, over the peer port.
        with fleet.client("us-east") as c:
            c.set_region_replicas(ServiceSpec("eu", "private", 2))
        wait_for(lambda: intent_of(fleet, "eu-west", "eu", "private") is not None, 5, what="the write to replicate")


def test_tombstones_are_forgotten_only_once_every_member_holds_them(lab, tmp_path):
    import sqlite3

    def stored_keys(fleet, name):
        db = sqlite3.connect(fleet.workdir / name / f"{name}.sqlite3")
        try:
            return {k for (k,) in db.execute("SELECT key FROM records")}
        finally:
            db.close()

    names = ["us-east", "us-west", "eu-west"]
    with ListenerFleet(lab, tmp_path / "gc", manage_kubernetes=False, clusters=names,
                       settings={"tombstone_ttl": 2.0}) as fleet:
        with fleet.client("us-east") as c:
            c.set_region_replicas(ServiceSpec("us", "brief", 1))
        wait_for(lambda: all("service/us/brief" in stored_keys(fleet, n) for n in names), 10, what="replication")
        fleet.stop("eu-west")  # a member that has not seen the delete blocks the collection
        with fleet.client("us-east") as c:
            c.delete_service("us", "brief")
        time.sleep(5)
        assert "service/us/brief" in stored_keys(fleet, "us-east"), "forgot a delete that eu-west has not seen"
        fleet.start("eu-west")
        wait_for(lambda: all("service/us/brief" not in stored_keys(fleet, n) for n in names), 90, interval=0.5,
                 what="every listener to forget the tombstone")
        assert intent_of(fleet, "eu-west", "us", "brief") is None


def test_every_listener_keeps_seeing_every_cluster_of_every_region_healthy(listeners):
    """Heartbeats reach the other region only by gossip in anti-entropy rounds: those must keep
    their pace (not back off as when nothing changes) for as long as other regions are alive."""
    clients = [listeners.client(name) for name in ALL]
    try:
        for _second in range(25):  # past where quiet rounds back off to one every 8 s (after ~14 s)
            for c in clients:
                _records, health, by = c.records()
                assert {name for name, seen in health.items() if seen.healthy} == set(ALL), (by, health)
            time.sleep(1.0)
    finally:
        for c in clients:
            c.close()


def test_at_rest_a_listener_lists_its_deployments_once_per_resync_not_every_heartbeat(listeners, lab):
    """A reconcile pass lists the managed Deployments; at rest it runs every resync interval
    (5 s), and a heartbeat (every 1 s) needs only /readyz: us-east's own apiserver counts the
    LISTs of Deployments it served in 10 s, and us-east stays healthy meanwhile."""
    apiserver = lab.clusters["us-east"]

    def deployment_lists() -> float:
        _status, text = apiserver.request("GET", "/metrics")
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("apiserver_request_total{") and 'resource="deployments"' in line
                   and 'verb="LIST"' in line)

    before = deployment_lists()
    time.sleep(10)
    listed = deployment_lists() - before
    assert 1 <= listed <= 4, f"{listed:.0f} LISTs of Deployments in 10 s (one a second would be 10)"
    with listeners.client("eu-west") as c:
        _records, health, _by = c.records()
    assert health["us-east"][0], health


def test_metrics_and_health_endpoints(listeners):
    import urllib.request

    base = f"http://127.0.0.1:{listeners.metrics_ports['us-east']}"
    with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        text = response.read().decode()
    for metric in ("multicluster_records_held", "multicluster_peers_up", "multicluster_reconciles_total",
                   "multicluster_last_record_received_timestamp_seconds",
                   "multicluster_propagation_delay_seconds_bucket", "multicluster_writes_total"):
        assert metric in text, metric
    held = next(line for line in text.splitlines() if line.startswith("multicluster_records_held "))
    assert float(held.split()[1]) >= 8  # 4 clusters and 4 status records at least


def test_simulated_clusters_share_one_apiserver_each_in_its_own_namespace(listeners, lab, kube, tmp_path):
    """How the 100-cluster simulation runs: fleet members on one real apiserver, the
    Deployments of each in its own namespace (deployment_namespace), beside the us-east
    listener of the default fleet, which manages all namespaces there and leaves theirs alone."""
    run = uuid.uuid4().hex[:6]
    sims = [Member(f"sim-{i}", "sim", "us-east", deployment_namespace=f"sim-{i}-{run}") for i in (1, 2, 3)]
    with ListenerFleet(lab, tmp_path / "sims", members=sims) as fleet:
        with fleet.client("sim-1") as c:
            response = c.set_region_replicas(ServiceSpec("sim", "web", 5), wait="ready", wait_timeout=60)
        assert response.waited, response.wait_detail
        placement = {p.cluster: p.replicas for p in response.intent.placement}
        assert placement == {"sim-1": 2, "sim-2": 2, "sim-3": 1}
        for member in sims:
            count = placement[member.name]
            assert managed_deployments(kube, "us-east", member.deployment_namespace) == {"web": (count, count)}
        with fleet.client("sim-2") as c:
            c.delete_service("sim", "web", wait="applied", wait_timeout=60)
        for member in sims:
            assert managed_deployments(kube, "us-east", member.deployment_namespace) == {}


def metric(fleet, name, metric_name) -> float:
    return fleet.metrics(name).get(metric_name, 0.0)


def test_another_region_is_reached_through_a_relay_and_directly_when_the_relay_is_away(lab, tmp_path):
    with ListenerFleet(lab, tmp_path / "relay", manage_kubernetes=False) as fleet:
        # Peers that were not up yet when us-east started are tried again a second later.
        wait_for(lambda: metric(fleet, "us-east", "multicluster_peers_up") == 3, 15, interval=0.2,
                 what="us-east to reach its 3 peers")
        with fleet.client("us-east") as c:
            for i in range(4):
                response = c.set_region_replicas(ServiceSpec("us", f"relayed-{i}", 1), wait="propagated",
                                                 wait_timeout=10)
                assert response.waited, response.wait_detail
        # One call per write went to eu, and the eu member that took it passed it on.
        assert metric(fleet, "eu-central", "multicluster_relayed_records_total") \
            + metric(fleet, "eu-west", "multicluster_relayed_records_total") >= 4
        fleet.stop("eu-west")
        with fleet.client("us-east") as c:
            for i in range(4):  # whichever of eu-central and eu-west is asked to relay
                response = c.set_region_replicas(ServiceSpec("us", f"alone-{i}", 1), wait="propagated",
                                                 wait_timeout=5)
                assert response.waited  # every *reachable* peer acknowledged; the others are named
                assert response.wait_detail == f"not acknowledged by: {fleet.advertised_to_peers('eu-west')}"
                assert intent_of(fleet, "eu-central", "us", f"alone-{i}") is not None


def test_who_may_do_what_roles_scopes_the_author_and_credentials_reloaded_on_sighup(lab, tmp_path):
    """Identities from a clients file: a viewer reads and cannot write, an operator scoped to
    us and namespace shop writes there and nowhere else and registers no cluster, an admin
    does; the author stored is the identity, whatever the metadata claims; each refusal names
    what is missing and no listener's state changes; a changed clients file is read on SIGHUP."""
    import os
    import signal
    import yaml
    from ansible_collections.multicluster.kube.listener.identities import token_hash

    def write_clients(*entries):
        clients.write_text(yaml.safe_dump([{"name": n, "token_sha256": token_hash(f"{n}-token"), "role": r, **scope}
                                           for n, r, scope in entries]))
    clients = tmp_path / "clients.yml"
    alice = ("alice", "operator", {"regions": ["us"], "namespaces": ["shop"]})
    write_clients(("vic", "viewer", {}), alice, ("root", "admin", {}))
    names = ["us-east", "eu-west"]
    with ListenerFleet(lab, tmp_path / "roles", token="root-token", clients_file=clients, manage_kubernetes=False,
                       clusters=names) as fleet:
        def as_(who, name="us-east", **kwargs):
            return fleet.client(name, token=f"{who}-token", **kwargs)

        with as_("alice", acting_for="root") as c:  # claims to act for root: recorded as such, never as the author
            c.set_region_replicas(ServiceSpec("us", "shop", 2, namespace="shop"))
        wait_for(lambda: intent_of(fleet, "eu-west", "us", "shop") is not None, 5, what="alice's write to replicate")
        before = {n: durable_state(fleet, n) for n in names}
        for name in names:
            with as_("vic", name) as c:
                [record] = [r for r in c.records()[0] if r.key == "service/us/shop"]
            assert record.author == "alice"

        refusals = [
            ("vic", lambda c: c.set_region_replicas(ServiceSpec("us", "shop", 3, namespace="shop")),
             "role: vic has the viewer role; this needs the operator role (SetRegionReplicas)"),
            ("alice", lambda c: c.set_region_replicas(ServiceSpec("eu", "shop", 1, namespace="shop")),
             "region: alice may write services in us only, not in eu"),
            ("alice", lambda c: c.set_region_replicas(ServiceSpec("us", "web", 1, namespace="default")),
             "namespace: alice may write services in shop only, not in default"),
            ("alice", lambda c: c.update_cluster("us-east", "us", weight=5),
             "role: alice has the operator role; this needs the admin role (UpdateCluster)"),
            ("nobody", lambda c: c.records(), "missing or wrong bearer token"),
        ]
        for who, call, detail in refusals:
            with as_(who) as c:
                with pytest.raises(FleetError) as refused:
                    call(c)
            assert refused.value.code == ("UNAUTHENTICATED" if who == "nobody" else "PERMISSION_DENIED"), refused.value
            assert detail in refused.value.detail, refused.value.detail
        time.sleep(1.5)  # anything that slipped through would have propagated by now
        assert {n: durable_state(fleet, n) for n in names} == before
        with as_("root") as c:
            assert c.update_cluster("us-east", "us", weight=2).changed

        write_clients(alice, ("root", "admin", {}), ("bob", "operator", {}))  # vic goes, bob comes
        os.kill(fleet.pids["us-east"], signal.SIGHUP)

        def bob_may_write():
            try:
                with as_("bob") as c:
                    return c.set_region_replicas(ServiceSpec("eu", "web", 1)).changed
            except FleetError as error:
                assert error.code == "UNAUTHENTICATED", error
                return False
        wait_for(bob_may_write, 5, what="the new clients file to be read on SIGHUP")
        with as_("vic") as c:
            with pytest.raises(FleetError) as refused:
                c.records()
        assert refused.value.code == "UNAUTHENTICATED"
        with as_("vic", "eu-west") as c:  # not reloaded there: the old file's identities still hold
            assert c.records()[0]
