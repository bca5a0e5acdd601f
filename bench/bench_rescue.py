"""Rescue on the lab with default settings (unschedulable_after 30 s, hold-down 10 s): region us
of two clusters with one node of 8 CPUs each, a service of 4 replicas asking 1 CPU ({2, 2}).
Each round a more important workload takes us-west's node (lab/filler.py: the kube-scheduler
preempts our two pods there, and their replacements find no room); measured from the moment
they are Pending to all 4 Running in us-east, of which unschedulable_after is the floor; then
the filler goes, and measured until the 2 are back in us-west (the hold-down included), with
the least Running replicas seen meanwhile (never below 4: new replicas start before old go)."""
from __future__ import annotations

import sys
import tempfile
import time

import common

from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload
from lab import filler
from lab.cluster import Lab
from lab.listeners import ListenerFleet
from lab.topology import from_mapping

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
DEFAULTS = {"heartbeat_interval": 1.0, "failure_timeout": 5.0, "hold_down": 10.0, "anti_entropy_interval": 1.0,
            "unschedulable_after": 30.0}
TOPOLOGY = {"regions": {"us": ["us-east", "us-west"]}, "nodes": {"count": 1, "cpu": "8"}}


def phases(api):
    pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=web").items
    return sorted(p.status.phase for p in pods if p.metadata.deletion_timestamp is None)


def service():
    labels = {"app": "web"}
    template = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
        "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": "web", "image": "web", "resources": {"requests": {"cpu": "1"}}}]}}}}
    return ServiceSpec("us", "web", 4, workload=Workload(template=template, expose=False))


def main():
    rescue, back, least_seen = [], [], []
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", from_mapping(TOPOLOGY)) as lab:
        apis = {n: config.new_client_from_config(config_file=str(lab.kubeconfig), context=n) for n in lab.clusters}
        with ListenerFleet(lab, f"{tmp}/listeners", settings=DEFAULTS) as fleet:
            with fleet.client("us-east") as c:
                common.wait(lambda: not c.view().held_back, 30, interval=0.2)
                c.set_region_replicas(service(), wait="ready", wait_timeout=60)
            for i in range(ROUNDS):
                filler.fill(apis["us-west"], cpu="8")
                common.wait(lambda: phases(apis["us-west"]) == ["Pending", "Pending"], 60, interval=0.05)
                pending = time.monotonic()
                common.wait(lambda: phases(apis["us-east"]) == ["Running"] * 4, 120, interval=0.05)
                rescue.append(time.monotonic() - pending)
                common.wait(lambda: phases(apis["us-west"]) == [], 30, interval=0.05)
                filler.unfill(apis["us-west"])
                gone, least = time.monotonic(), [4]

                def returned():
                    running = sum(phases(api).count("Running") for api in apis.values())
                    least[0] = min(least[0], running)
                    return phases(apis["us-west"]) == ["Running"] * 2 and phases(apis["us-east"]) == ["Running"] * 2
                common.wait(returned, 120, interval=0.05)
                back.append(time.monotonic() - gone)
                least_seen.append(least[0])
                print(f"rescue: round {i + 1}: Pending to Running elsewhere {rescue[-1]:.1f}s "
                      f"(unschedulable_after 30 s of it), back after the filler went {back[-1]:.1f}s, "
                      f"least Running meanwhile {least[0]}")
    results = {"benchmark": "rescue", "rounds": ROUNDS, "settings": DEFAULTS, "rescue_seconds": rescue,
               "back_seconds": back, "least_running_while_back": least_seen,
               "rescue_p50": common.percentile(rescue, 50), "rescue_p99": common.percentile(rescue, 99),
               "back_p50": common.percentile(back, 50), "back_p99": common.percentile(back, 99)}
    common.save("rescue", results)
    print(f"rescue: Pending to Running elsewhere p50 {results['rescue_p50']:.1f}s p99 {results['rescue_p99']:.1f}s "
          f"(floor: unschedulable_after 30 s); back p50 {results['back_p50']:.1f}s p99 {results['back_p99']:.1f}s "
          f"(hold-down 10 s included); Running never below {min(least_seen)} of 4")


if __name__ == "__main__":
    main()
