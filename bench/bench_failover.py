"""Failover on the lab with default settings (heartbeat 1 s, failure timeout 5 s, hold-down 10 s):
from killing a cluster (its apiserver and listener) to its replicas Ready on the survivors of its
region, and from its return to the replicas being back where they were."""
from __future__ import annotations

import sys
import tempfile
import time

import common

from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from lab.cluster import Lab
from lab.listeners import ListenerFleet

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
DEFAULTS = {"heartbeat_interval": 1.0, "failure_timeout": 5.0, "hold_down": 10.0, "anti_entropy_interval": 1.0}


def ready(api, name="web"):
    try:
        return client.AppsV1Api(api).read_namespaced_deployment(name, "default").status.ready_replicas or 0
    except Exception:  # the cluster is down or the Deployment not there (yet)
        return 0


def main():
    failover, failback = [], []
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab") as lab:
        apis = {n: config.new_client_from_config(config_file=str(lab.kubeconfig), context=n) for n in lab.clusters}
        with ListenerFleet(lab, f"{tmp}/listeners", settings=DEFAULTS) as fleet:
            with fleet.client("eu-central") as c:
                c.set_region_replicas(ServiceSpec("us", "web", 6), wait="ready", wait_timeout=60)
            for _round in range(ROUNDS):
                killed = time.monotonic()
                fleet.kill("us-west")
                lab.stop_cluster("us-west", crash=True)
                common.wait(lambda: ready(apis["us-east"]) == 6, 120, interval=0.1)
                failover.append(time.monotonic() - killed)
                back = time.monotonic()
                lab.start_cluster("us-west")
                fleet.start("us-west")
                common.wait(lambda: ready(apis["us-east"]) == 3 and ready(apis["us-west"]) == 3, 180, interval=0.1)
                failback.append(time.monotonic() - back)
                print(f"failover: round {_round + 1}: failover {failover[-1]:.1f}s, fail-back {failback[-1]:.1f}s")
    results = {"benchmark": "failover", "rounds": ROUNDS, "settings": DEFAULTS,
               "failover_seconds": failover, "failback_seconds": failback,
               "failover_p50_seconds": common.percentile(failover, 50),
               "failback_p50_seconds": common.percentile(failback, 50)}
    common.save("failover", results)
    common.plot_rounds("failover", f"Failover and fail-back, default settings, {ROUNDS} rounds", {
        "failover (kill → Ready on the survivor)": failover,
        f"fail-back (return → back, {DEFAULTS['hold_down']:.0f} s hold-down)": failback})
    print(f"failover: killed cluster's replicas Ready on the survivor in {max(failover):.1f}s at worst "
          f"(goal 30s), back after its return in {max(failback):.1f}s (hold-down {DEFAULTS['hold_down']:.0f}s)")


if __name__ == "__main__":
    main()
