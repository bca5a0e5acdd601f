from __future__ import annotations

import os
import sys

import pytest
import yaml

from inprocess import COLLECTIONS, run_module

from ansible_collections.multicluster.kube.plugins.modules import cluster_update, listener_process


def run(module, args, capsys, check=False):
    return run_module(module, args, capsys, check=check)


def test_cluster_update_reads_the_tree_that_global_config_info_returns():
    tree = {"us": {"services": {"web": {"replicas": 3, "image": "nginx", "port": 80, "namespace": "apps",
                                        "placement": {"us-east": 2, "us-west": 1}}}},
            "eu": {"services": {}}}
    [service] = cluster_update.services_from_tree(tree)
    spec = service.spec
    assert (spec.region, spec.service, spec.replicas, spec.image, spec.port, spec.namespace) == \
        ("us", "web", 3, "nginx", 80, "apps")
    assert service.placement.clusters == {"us-east": 2, "us-west": 1}


def test_cluster_update_refuses_bad_names_before_touching_anything(capsys):
    result = run(cluster_update, {"region": "US", "cluster": "us-east", "global_config": {}}, capsys)
    assert result["failed"] and "region" in result["msg"] and "DNS-1123" in result["msg"]


def test_cluster_update_says_which_api_server_it_could_not_reach(capsys, tmp_path):
    result = run(cluster_update, {"region": "us", "cluster": "us-east", "global_config": {},
                                  "host": "https://127.0.0.1:9", "api_key": "x", "validate_certs": False}, capsys)
    assert result["failed"] and result["msg"].startswith("Kubernetes API of us-east:")


def test_cluster_update_needs_an_endpoint_or_a_configuration(capsys, monkeypatch):
    monkeypatch.delenv("MULTICLUSTER_ENDPOINT", raising=False)
    result = run(cluster_update, {"region": "us", "cluster": "us-east"}, capsys)
    assert result["failed"] and result["msg"].startswith("endpoint:")


def alive(pid: int) -> bool:
    """Running, not merely a zombie that nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def process_args(tmp_path):
    from lab.processes import free_port
    config = tmp_path / "listener.yml"
    config.write_text(yaml.safe_dump({"cluster": "solo", "region": "us", "listen": f"127.0.0.1:{free_port()}",
                                      "data_dir": str(tmp_path), "insecure": True, "manage_kubernetes": False}))
    args = {"config": str(config), "pid_file": str(tmp_path / "listener.pid"), "log_file": str(tmp_path / "log"),
            "python": sys.executable, "collections_path": str(COLLECTIONS)}
    yield args
    if os.path.exists(args["pid_file"]):  # never leave a supervisor behind
        os.kill(int(open(args["pid_file"]).read()), 15)


def test_listener_process_start_stop_restart_are_idempotent(process_args, capsys):
    planned = run(listener_process, {**process_args, "state": "started"}, capsys, check=True)
    assert planned["changed"] and planned["pid"] == 0
    assert not os.path.exists(process_args["pid_file"]), "check mode started the listener"
    started = run(listener_process, {**process_args, "state": "started"}, capsys)
    assert started["changed"] and started["pid"] > 0
    again = run(listener_process, {**process_args, "state": "started"}, capsys)
    assert not again["changed"] and again["pid"] == started["pid"]
    restarted = run(listener_process, {**process_args, "state": "restarted"}, capsys)
    assert restarted["changed"] and restarted["pid"] != started["pid"]
    stopped = run(listener_process, {**process_args, "state": "stopped"}, capsys)
    assert stopped["changed"] and stopped["pid"] == 0
    assert not alive(restarted["pid"])
    assert not run(listener_process, {**process_args, "state": "stopped"}, capsys)["changed"]


def test_cluster_update_renders_the_trees_workload_with_its_overrides_and_the_clusters_labels():
    from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
    from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
    from ansible_collections.multicluster.kube.plugins.module_utils.model import (
        Cluster, Placement, Record, Service, ServiceSpec, global_config)
    from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

    spec = ServiceSpec("us", "web", 2, workload=Workload(overrides=(
        {"cluster_labels": {"registry": "eu"}, "images": {"web": "registry.eu/web:2"}},)))
    stamp = Stamp(1, 0, "us-east")
    tree = global_config([Record("cluster/us-east", stamp, "t", Cluster(name="us-east", region="us",
                                                                        labels={"registry": "eu"})),
                          Record(spec.key, stamp, "t", Service(spec, Placement({"us-east": 2})))])["regions"]
    [service] = cluster_update.services_from_tree(tree)
    assert service.spec == spec, "the tree carries the whole workload, overrides included"
    [want] = updater.desired_for([service], "us", "us-east", cluster_update.labels_in_tree(tree, "us-east"))
    assert want.objects[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.eu/web:2"
