"""The inventory plugin against an in-process listener (real gRPC on loopback, no Kubernetes):
a group per region, a host per cluster with its variables, and the constructed options."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4]))  # the lab package (free_port)

import inprocess  # noqa: E402  (tests/, on the path from tests/conftest.py)

from ansible_collections.multicluster.kube.plugins.inventory.fleet import hosts_from  # noqa: E402
from ansible_collections.multicluster.kube.plugins.module_utils.model import (  # noqa: E402
    Cluster, Placement, Record, Service, ServiceSpec, global_config)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp  # noqa: E402


def inventory(tmp_path, **options):
    """What `ansible-inventory --list` makes of a fleet.yml with `options`: (exit code, JSON or stderr)."""
    path = tmp_path / "lab.fleet.yml"
    path.write_text(yaml.safe_dump({"plugin": "multicluster.kube.fleet", **options}))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(inprocess.COLLECTIONS), "ANSIBLE_INVENTORY_ENABLED":
           "multicluster.kube.fleet", "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    done = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    return done.returncode, plain(json.loads(done.stdout)) if done.returncode == 0 else done.stderr


def plain(value):
    """The JSON without ansible-inventory's markers of values from outside ({"__ansible_unsafe": v})."""
    if isinstance(value, dict):
        return plain(value["__ansible_unsafe"]) if set(value) == {"__ansible_unsafe"} else \
            {k: plain(v) for k, v in value.items()}
    return [plain(v) for v in value] if isinstance(value, list) else value


def test_a_group_per_region_and_a_host_per_cluster(tmp_path):
    with inprocess.listener(tmp_path / "data") as node:
        node.writer.write([("cluster/us-west", Cluster(name="us-west", region="us", weight=3, labels={"tier": "a"}))],
                          author="test")
        code, listed = inventory(tmp_path, endpoint=node.config.network.listen, token=inprocess.TOKEN,
                                 keyed_groups=[{"key": "multicluster_labels.tier | default('none')", "prefix": "tier"}])
    assert code == 0, listed
    assert sorted(listed["us"]["hosts"]) == ["us-east", "us-west"] and listed["eu"]["hosts"] == ["eu-west"]
    west = listed["_meta"]["hostvars"]["us-west"]
    assert (west["multicluster_region"], west["multicluster_weight"], west["multicluster_labels"]) == ("us", 3, {"tier": "a"})
    assert listed["tier_a"]["hosts"] == ["us-west"]


def test_an_unreachable_listener_fails_naming_it(tmp_path):
    code, stderr = inventory(tmp_path, endpoint="127.0.0.1:9", timeout=2)
    assert code != 0 and "listener 127.0.0.1:9: UNAVAILABLE" in stderr, stderr


def test_host_variables_sum_each_clusters_desired_and_ready_replicas():
    stamp = Stamp(1, 0, "us-east")
    records = [Record("cluster/us-east", stamp, "t", Cluster(name="us-east", region="us")),
               Record("service/us/web", stamp, "t", Service(ServiceSpec("us", "web", 3), Placement({"us-east": 3}))),
               Record("service/us/api", stamp, "t", Service(ServiceSpec("us", "api", 2), Placement({"us-east": 2})))]
    hosts = hosts_from(global_config(records), {"us-east": (True, 0.5)})
    assert hosts["us-east"]["multicluster_desired"] == 5 and hosts["us-east"]["multicluster_healthy"] is True
    assert hosts_from(global_config(records), {})["us-east"]["multicluster_healthy"] is False
