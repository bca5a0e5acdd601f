"""Propagation on the lab: 200 writes at random listeners of 4 real clusters, of a service with
the original design's workload, then 200 of one whose Deployment template is about 4 KiB.

For each write, from its acknowledgement: (a) until every listener holds it, (b) until the
target clusters' Deployments have the planned replicas in their apiservers. The floor, in the
same run: a single direct patch of one Deployment through the kubernetes client.
"""
from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
import sys
import tempfile
import time

import common

from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload
from lab.cluster import Lab
from lab.listeners import ListenerFleet

WRITES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
NAMESPACE = "bench"


def workload_of_4kib() -> Workload:
    """A Deployment template of about 4 KiB (a realistic service with many settings)."""
    env = [{"name": f"SETTING_{i:02d}", "value": f"value-{i:02d}-" + "x" * 48} for i in range(44)]
    template = {"apiVersion": "apps/v1", "kind": "Deployment",
                "spec": {"selector": {"matchLabels": {"app": "shop"}},
                         "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {"containers": [{
                             "name": "shop", "image": "registry.example.com/shop:1.5", "env": env,
                             "ports": [{"containerPort": 8080}],
                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                             "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}}}}
    return Workload(template=template, expose=False)


def measure(fleet, clients, apis, pool, rnd, service, workload) -> tuple:
    """WRITES writes of `service` at random listeners: (ms to every listener, ms to the Deployments)."""
    regions = {"us": ["us-east", "us-west"], "eu": ["eu-central", "eu-west"]}
    # Warm up: one service per region, so later writes update existing Deployments.
    for region in regions:
        clients["us-east"].set_region_replicas(ServiceSpec(region, service, 2, namespace=NAMESPACE, workload=workload),
                                               wait="applied", wait_timeout=60)
    to_listeners, to_deployments = [], []
    replicas = {"us": 2, "eu": 2}
    for _write in range(WRITES):
        region = rnd.choice(list(regions))
        replicas[region] = rnd.choice([n for n in range(1, 9) if n != replicas[region]])
        at = rnd.choice(fleet.names)
        response = clients[at].set_region_replicas(ServiceSpec(region, service, replicas[region],
                                                               namespace=NAMESPACE, workload=workload))
        acked = time.perf_counter()
        stamp = response.stamp
        placement = {p.cluster: p.replicas for p in response.intent.placement}

        def holds(name):
            records = clients[name].records([f"service/{region}/{service}"])[0]
            return bool(records) and records[0].stamp >= (stamp.physical_ms, stamp.logical, stamp.origin)

        def everyone_holds():  # ask all listeners at once, so polling adds little
            return all(pool.map(holds, fleet.names))

        common.wait(everyone_holds, 30)
        to_listeners.append((time.perf_counter() - acked) * 1000)

        def deployments_updated():
            for cluster in regions[region]:
                try:
                    have = client.AppsV1Api(apis[cluster]).read_namespaced_deployment(service, NAMESPACE).spec.replicas
                except client.exceptions.ApiException as err:
                    if err.status != 404:
                        raise
                    have = 0  # nothing placed there: the Deployment is gone
                if have != placement.get(cluster, 0):
                    return False
            return True

        common.wait(deployments_updated, 30)
        to_deployments.append((time.perf_counter() - acked) * 1000)
    return to_listeners, to_deployments


def main():
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab") as lab:
        apis = {n: config.new_client_from_config(config_file=str(lab.kubeconfig), context=n) for n in lab.clusters}
        for api in apis.values():
            client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        with ListenerFleet(lab, f"{tmp}/listeners") as fleet, ThreadPoolExecutor(4) as pool:
            clients = {n: fleet.client(n) for n in fleet.names}
            common.wait(lambda: not any(c.view().held_back for c in clients.values()), 30, interval=0.2)  # all heard
            to_listeners, to_deployments = measure(fleet, clients, apis, pool, rnd, "web", Workload())
            big = workload_of_4kib()
            template_bytes = len(json.dumps(big.template))
            with_template = measure(fleet, clients, apis, pool, rnd, "shop", big)

            # The floor: one direct patch of one Deployment (server-side, like the listener's).
            apps = client.AppsV1Api(apis["us-east"])
            floor = []
            for i in range(50):
                begin = time.perf_counter()
                apps.patch_namespaced_deployment_scale("web", NAMESPACE, {"spec": {"replicas": 1 + i % 3}})
                floor.append((time.perf_counter() - begin) * 1000)
            for c in clients.values():
                c.close()

    def p50_p99(values):
        return {"p50": common.percentile(values, 50), "p99": common.percentile(values, 99)}
    results = {
        "benchmark": "propagation", "writes": WRITES, "clusters": 4,
        "to_every_listener_ms": p50_p99(to_listeners), "to_deployments_ms": p50_p99(to_deployments),
        "template_bytes": template_bytes,
        "with_template_to_every_listener_ms": p50_p99(with_template[0]),
        "with_template_to_deployments_ms": p50_p99(with_template[1]),
        "floor_direct_patch_ms": p50_p99(floor),
    }
    results["ratio_deployments_p50_to_floor_p50"] = results["to_deployments_ms"]["p50"] / results["floor_direct_patch_ms"]["p50"]
    common.save("propagation", results)
    common.plot_cdf("propagation", f"Propagation of {WRITES} writes over 4 real clusters",
                    {"to every listener": to_listeners, "to the Deployments": to_deployments,
                     f"with a {template_bytes // 1024} KiB template, to every listener": with_template[0],
                     f"with a {template_bytes // 1024} KiB template, to the Deployments": with_template[1],
                     "floor: one direct patch": floor})
    for what in ("to_every_listener_ms", "to_deployments_ms", "with_template_to_every_listener_ms",
                 "with_template_to_deployments_ms", "floor_direct_patch_ms"):
        print(f"propagation: {what}: p50 {results[what]['p50']:.1f} ms, p99 {results[what]['p99']:.1f} ms")
    print(f"propagation: {WRITES} writes, p99 to every listener {results['to_every_listener_ms']['p99']:.0f} ms, "
          f"to Deployments {results['to_deployments_ms']['p99']:.0f} ms; with a {template_bytes} B template "
          f"{results['with_template_to_every_listener_ms']['p99']:.0f} ms and "
          f"{results['with_template_to_deployments_ms']['p99']:.0f} ms; p50 to Deployments is "
          f"{results['ratio_deployments_p50_to_floor_p50']:.1f}x a direct patch")


if __name__ == "__main__":
    main()
