"""Propagation on the lab: 200 writes at random listeners of 4 real clusters.

For each write, from its acknowledgement: (a) until every listener holds it, (b) until the
target clusters' Deployments have the planned replicas in their apiservers. The floor, in the
same run: a single direct patch of one Deployment through the kubernetes client.
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
import sys
import tempfile
import time

import common

from kubernetes import client, config

from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec
from lab.cluster import Lab
from lab.listeners import ListenerFleet

WRITES = int(sys.argv[1]) if len(sys.argv) > 1 else 200
NAMESPACE = "bench"


def main():
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab") as lab:
        apis = {n: config.new_client_from_config(config_file=str(lab.kubeconfig), context=n) for n in lab.clusters}
        for api in apis.values():
            client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        with ListenerFleet(lab, f"{tmp}/listeners") as fleet, ThreadPoolExecutor(4) as pool:
            clients = {n: fleet.client(n) for n in fleet.names}
            regions = {"us": ["us-east", "us-west"], "eu": ["eu-central", "eu-west"]}
            # Warm up: one service per region, so later writes update existing Deployments.
            for region in regions:
                clients["us-east"].set_region_replicas(ServiceSpec(region, "web", 2, namespace=NAMESPACE),
                                                       wait="applied", wait_timeout=60)
            to_listeners, to_deployments = [], []
            replicas = {"us": 2, "eu": 2}
            for _write in range(WRITES):
                region = rnd.choice(list(regions))
                replicas[region] = rnd.choice([n for n in range(1, 9) if n != replicas[region]])
                at = rnd.choice(fleet.names)
                response = clients[at].set_region_replicas(ServiceSpec(region, "web", replicas[region],
                                                                       namespace=NAMESPACE))
                acked = time.perf_counter()
                stamp = response.stamp
                placement = {p.cluster: p.replicas for p in response.intent.placement}

                def holds(name):
                    records = clients[name].records()[0]
                    record = next((r for r in records if r.key == f"service/{region}/web"), None)
                    return record is not None and record.stamp >= (stamp.physical_ms, stamp.logical, stamp.origin)

                def everyone_holds():  # ask all listeners at once, so polling adds little
                    return all(pool.map(holds, fleet.names))

                common.wait(everyone_holds, 30)
                to_listeners.append((time.perf_counter() - acked) * 1000)

                def deployments_updated():
                    for cluster in regions[region]:
                        try:
                            have = client.AppsV1Api(apis[cluster]).read_namespaced_deployment("web", NAMESPACE).spec.replicas
                        except client.exceptions.ApiException as err:
                            if err.status != 404:
                                raise
                            have = 0  # nothing placed there: the Deployment is gone
                        if have != placement.get(cluster, 0):
                            return False
                    return True

                common.wait(deployments_updated, 30)
                to_deployments.append((time.perf_counter() - acked) * 1000)

            # The floor: one direct patch of one Deployment (server-side, like the listener's).
            apps = client.AppsV1Api(apis["us-east"])
            floor = []
            for i in range(50):
                begin = time.perf_counter()
                apps.patch_namespaced_deployment_scale("web", NAMESPACE, {"spec": {"replicas": 1 + i % 3}})
                floor.append((time.perf_counter() - begin) * 1000)
            for c in clients.values():
                c.close()
    results = {
        "benchmark": "propagation", "writes": WRITES, "clusters": 4,
        "to_every_listener_ms": {"p50": common.percentile(to_listeners, 50), "p99": common.percentile(to_listeners, 99)},
        "to_deployments_ms": {"p50": common.percentile(to_deployments, 50),
                              "p99": common.percentile(to_deployments, 99)},
        "floor_direct_patch_ms": {"p50": common.percentile(floor, 50), "p99": common.percentile(floor, 99)},
    }
    results["ratio_deployments_p50_to_floor_p50"] = results["to_deployments_ms"]["p50"] / results["floor_direct_patch_ms"]["p50"]
    common.save("propagation", results)
    common.plot_cdf("propagation", f"Propagation of {WRITES} writes over 4 real clusters",
                    {"to every listener": to_listeners, "to the Deployments": to_deployments,
                     "floor: one direct patch": floor})
    for what in ("to_every_listener_ms", "to_deployments_ms", "floor_direct_patch_ms"):
        print(f"propagation: {what}: p50 {results[what]['p50']:.1f} ms, p99 {results[what]['p99']:.1f} ms")
    print(f"propagation: {WRITES} writes, p99 to every listener {results['to_every_listener_ms']['p99']:.0f} ms, "
          f"to Deployments {results['to_deployments_ms']['p99']:.0f} ms; p50 to Deployments is "
          f"{results['ratio_deployments_p50_to_floor_p50']:.1f}x a direct patch")


if __name__ == "__main__":
    main()
