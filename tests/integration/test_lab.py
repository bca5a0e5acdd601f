"""The lab itself: real control planes whose Deployments run, whose RBAC is enforced,
and which can lose and regain a cluster."""
from __future__ import annotations

import subprocess

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from support import wait_for
from lab import processes
from lab.cluster import Lab
from lab.topology import from_mapping


def deployment(name, replicas):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name, "image": "nginx"}]}}},
    }


def ready_replicas(api, namespace, name):
    return client.AppsV1Api(api).read_namespaced_deployment(name, namespace).status.ready_replicas or 0


def test_deployment_becomes_ready_in_two_clusters(kube, namespace):
    for cluster in ("us-east", "eu-west"):
        client.AppsV1Api(kube(cluster)).create_namespaced_deployment(namespace, deployment("web", 3))
    for cluster in ("us-east", "eu-west"):
        wait_for(lambda: ready_replicas(kube(cluster), namespace, "web") == 3, 60, what=f"3 ready in {cluster}")


def test_a_stopped_cluster_is_reported_down_and_the_others_keep_working(lab, kube, namespace):
    lab.stop_cluster("us-west")
    try:
        report = lab.status()
        assert report["us-west"].startswith("down")
        assert {n: s for n, s in report.items() if n != "us-west"} == {
            "us-east": "up", "eu-central": "up", "eu-west": "up"}
        client.AppsV1Api(kube("us-east")).create_namespaced_deployment(namespace, deployment("api", 2))
        wait_for(lambda: ready_replicas(kube("us-east"), namespace, "api") == 2, 60, what="2 ready in us-east")
        status = subprocess.run([".venv/bin/python", "-m", "lab", "--workdir", str(lab.workdir), "status"],
                                capture_output=True, text=True, cwd=lab.bin_dir.parents[2], check=False)
        assert status.returncode == 3
        assert any(line.startswith("us-west") and "down" in line for line in status.stdout.splitlines())
    finally:
        lab.start_cluster("us-west")
    assert lab.status()["us-west"] == "up"
    # The restarted cluster kept its objects: the namespace made before the stop is still there.
    assert client.CoreV1Api(kube("us-west")).read_namespace(namespace).metadata.name == namespace


def test_kubectl_lists_the_fake_nodes(lab):
    out = subprocess.run([str(lab.bin_dir / "kubectl"), "--kubeconfig", str(lab.kubeconfig), "--context", "us-east",
                          "get", "nodes", "-o", "name"], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["node/us-east-node-0", "node/us-east-node-1"]


def test_rbac_refuses_a_service_account_without_a_binding(lab, kube, namespace):
    admin = kube("eu-central")
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "robot"}})
    token = core.create_namespaced_service_account_token(
        "robot", namespace, {"spec": {"expirationSeconds": 600}}).status.token
    config = client.Configuration()
    config.host = lab.clusters["eu-central"].server
    config.ssl_ca_cert = str(lab.ca.cert_file)
    config.api_key = {"authorization": f"Bearer {token}"}
    robot = client.AppsV1Api(client.ApiClient(config))
    with pytest.raises(ApiException) as refused:
        robot.list_namespaced_deployment(namespace)
    assert refused.value.status == 403
    # The same token works once a RoleBinding grants it: the refusal was RBAC, not a bad token.
    rbac.create_namespaced_role(namespace, {"metadata": {"name": "read-deployments"}, "rules": [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": "robot-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-deployments"},
        "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": namespace}]})
    wait_for(lambda: allowed(robot, namespace), 10, what="the binding to apply")


def allowed(robot, namespace) -> bool:
    """Whether the robot may list Deployments yet: the authorizer reads bindings from its own cache,
    so a fresh binding is refused for a moment before it applies."""
    try:
        return robot.list_namespaced_deployment(namespace).items == []
    except ApiException as refused:
        if refused.status != 403:
            raise
        return False


def test_a_lab_leaves_no_process_behind_even_when_its_user_fails(tmp_path):
    small = Lab(tmp_path / "lab", from_mapping({"regions": {"ap": ["ap-south"]}, "nodes": {"count": 1}}))
    started = []
    with pytest.raises(RuntimeError, match="test body failed"):
        with small:
            started = [(pid, str(small.bin_dir / c)) for c, pid in small.clusters["ap-south"].pids.items()]
            assert small.status() == {"ap-south": "up"}
            raise RuntimeError("test body failed")
    assert len(started) == 5
    assert not [pid for pid, binary in started if processes.is_ours(pid, binary)]
    assert not (tmp_path / "lab").exists()
