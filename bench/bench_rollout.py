"""Progressive rollout on the lab with default settings (heartbeat 1 s): region us of three
clusters, a service of 6 replicas ({2, 2, 2}) with max_parallel 1. Each round changes its image;
every cluster's Deployment is polled meanwhile (the kubernetes client, every 50 ms). Measured:
from one wave's completion (its cluster's Deployment updated, available and ready on the new
template, no old pod left) to the next wave's start (the next cluster's Deployment on the new
template): the hand-off, through the cluster's status report, the coordinator and the record's
replication. The baseline, in the same run: from the write to the first wave's start (the
record's replication and the first cluster's apply, what any change costs)."""
from __future__ import annotations

import sys
import tempfile
import time

import common

from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload
from lab.cluster import Lab
from lab.listeners import ListenerFleet
from lab.topology import from_mapping

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
CLUSTERS = ("us-a", "us-b", "us-c")
DEFAULTS = {"heartbeat_interval": 1.0, "failure_timeout": 5.0, "hold_down": 10.0, "anti_entropy_interval": 1.0}
TOPOLOGY = {"regions": {"us": list(CLUSTERS)}, "nodes": {"count": 1}}


def service(image: str) -> ServiceSpec:
    labels = {"app": "web"}
    template = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
        "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": "web", "image": image}]}}}}
    return ServiceSpec("us", "web", 6, workload=Workload(template=template, expose=False),
                       rollout=Strategy(max_parallel=1))


def state(api, image: str) -> str:
    """"old", "started" (its Deployment on `image`) or "finished" (rolled out, no old pod left)."""
    d = client.AppsV1Api(api).read_namespaced_deployment("web", "default")
    if d.spec.template.spec.containers[0].image != image:
        return "old"
    s, want = d.status, d.spec.replicas
    done = (s.observed_generation or 0) >= d.metadata.generation and \
        (s.updated_replicas, s.replicas, s.ready_replicas, s.available_replicas) == (want,) * 4
    return "finished" if done else "started"


def main():
    handoffs, first_waves = [], []
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", from_mapping(TOPOLOGY)) as lab:
        apis = {n: config.new_client_from_config(config_file=str(lab.kubeconfig), context=n) for n in CLUSTERS}
        with ListenerFleet(lab, f"{tmp}/listeners", settings=DEFAULTS) as fleet, fleet.client("us-b") as c:
            common.wait(lambda: not c.view().held_back, 30, interval=0.2)
            c.set_region_replicas(service("web:0"), wait="ready", wait_timeout=60)
            for i in range(ROUNDS):
                image = f"web:{i + 1}"
                written = time.monotonic()
                c.set_region_replicas(service(image))
                started, finished = {}, {}
                while len(finished) < len(CLUSTERS):
                    now = time.monotonic()
                    for name in CLUSTERS:
                        seen = state(apis[name], image)
                        if seen != "old":
                            started.setdefault(name, now)
                        if seen == "finished":
                            finished.setdefault(name, now)
                    if now - written > 120:
                        raise SystemExit(f"rollout: round {i + 1} did not finish in 120 s: {started} {finished}")
                    time.sleep(0.05)
                order = sorted(CLUSTERS, key=started.get)
                gaps = [started[b] - finished[a] for a, b in zip(order, order[1:])]
                handoffs += gaps
                first_waves.append(started[order[0]] - written)
                print(f"rollout: round {i + 1}: write to first wave {first_waves[-1]:.2f}s, "
                      f"wave done to next wave started {', '.join(f'{g:.2f}s' for g in gaps)}")
    results = {"benchmark": "rollout", "rounds": ROUNDS, "settings": DEFAULTS, "handoff_seconds": handoffs,
               "first_wave_seconds": first_waves,
               "handoff_p50": common.percentile(handoffs, 50), "handoff_p99": common.percentile(handoffs, 99),
               "first_wave_p50": common.percentile(first_waves, 50),
               "first_wave_p99": common.percentile(first_waves, 99)}
    common.save("rollout", results)
    print(f"rollout: wave done to next wave started p50 {results['handoff_p50']:.2f}s p99 "
          f"{results['handoff_p99']:.2f}s (goal <= 2 s); baseline, write to first wave p50 "
          f"{results['first_wave_p50']:.2f}s p99 {results['first_wave_p99']:.2f}s; ratio of p50s "
          f"{results['handoff_p50'] / results['first_wave_p50']:.1f}")


if __name__ == "__main__":
    main()
