"""Fixtures for the tests that run against the lab (tests/integration, tests/chaos): one lab
of real clusters per test session, listeners on it, and a fresh namespace per test."""
from __future__ import annotations

import pathlib
import sys
import uuid

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the lab package

from lab import processes  # noqa: E402
from lab.cluster import Lab  # noqa: E402


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """The default fleet (us: us-east, us-west; eu: eu-central, eu-west), torn down at the end.
    Teardown fails the session if any process of the lab outlives it."""
    fleet = Lab(tmp_path_factory.mktemp("lab"))
    with fleet:
        started = [(pid, str(fleet.bin_dir / component)) for c in fleet.clusters.values()
                   for component, pid in c.pids.items()]
        yield fleet
    survivors = [pid for pid, binary in started if processes.is_ours(pid, binary)]
    assert not survivors, f"lab processes left running: {survivors}"


@pytest.fixture
def kube(lab):
    """kube(cluster) -> a kubernetes ApiClient for that lab cluster."""
    from kubernetes import config

    clients = {}

    def client(name):
        if name not in clients:
            clients[name] = config.new_client_from_config(config_file=str(lab.kubeconfig), context=name)
        return clients[name]

    yield client
    for api in clients.values():
        api.close()


@pytest.fixture
def heard(listeners):
    """The default fleet once every listener has heard every member say what it is: until then
    a listener refuses services with a workload (a member might drop it), a few seconds after
    the fleet or one of its listeners starts."""
    from support import wait_for

    def nothing_held_back():
        for name in listeners.names:
            with listeners.client(name) as c:
                if c.view().held_back:
                    return False
        return True
    wait_for(nothing_held_back, 20, what="every listener to hear every member's version")
    return listeners


@pytest.fixture
def namespace(lab, kube, request):
    """A namespace of its own for the test, in every cluster that is up, deleted afterwards
    together with the services the test placed in it."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:8]}"
    for cluster in lab.clusters:
        client.CoreV1Api(kube(cluster)).create_namespace({"metadata": {"name": name}})
    yield name
    if "listeners" in request.fixturenames:
        fleet = request.getfixturevalue("listeners")
        from ansible_collections.multicluster.kube.plugins.module_utils.model import Service
        alive = [n for n in fleet.names if fleet.alive(n)]
        with fleet.client(alive[0]) as c:
            for record in c.records()[0]:
                if isinstance(record.value, Service) and record.value.spec.namespace == name:
                    c.delete_service(record.value.region, record.value.spec.service, wait="applied", wait_timeout=20)
    for cluster in lab.clusters:
        if lab.clusters[cluster].ready():
            client.CoreV1Api(kube(cluster)).delete_namespace(name)


@pytest.fixture(scope="session")
def listeners(lab, tmp_path_factory):
    """A listener process per lab cluster, managing its Deployments, with a client token."""
    from lab.listeners import ListenerFleet

    with ListenerFleet(lab, tmp_path_factory.mktemp("listeners")) as fleet:
        fleet.wait_features()
        yield fleet
