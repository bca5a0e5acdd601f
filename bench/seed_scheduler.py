"""The seed's scheduler (scheduler.cpp in the original design), kept as the baseline.

Faithful to the design document: the global configuration is a tree of lists
(GlobalConfigLocal -> RegionConfigLocal -> ClusterConfigLocal -> ServiceConfigLocal);
the scheduler counts the copies of the service already running in the region, then
adds or removes copies one at a time, cluster by cluster, until the region holds
the desired count, updating the global configuration as it goes.
"""
from __future__ import annotations


class ServiceConfigLocal:
    def __init__(self, name, replicas=0):
        self.name = name
        self.replicas = replicas


class ClusterConfigLocal:
    def __init__(self, cluster_name, services=None):
        self.cluster_name = cluster_name
        self.services = services or []


class RegionConfigLocal:
    def __init__(self, region_name, clusters=None):
        self.region_name = region_name
        self.clusters = clusters or []


class GlobalConfigLocal:
    def __init__(self, regions=None):
        self.regions = regions or []


def _service_in(cluster, service_name):
    for service in cluster.services:
        if service.name == service_name:
            return service
    service = ServiceConfigLocal(service_name)
    cluster.services.append(service)
    return service


def schedule(config: GlobalConfigLocal, region_name: str, service_name: str, count: int) -> GlobalConfigLocal:
    for region in config.regions:
        if region.region_name != region_name or not region.clusters:
            continue
        running = sum(_service_in(c, service_name).replicas for c in region.clusters)
        i = 0
        while running < count:  # add one copy at a time, round the clusters
            _service_in(region.clusters[i % len(region.clusters)], service_name).replicas += 1
            running += 1
            i += 1
        while running > count:  # remove one copy at a time from clusters that run one
            service = _service_in(region.clusters[i % len(region.clusters)], service_name)
            if service.replicas > 0:
                service.replicas -= 1
                running -= 1
            i += 1
    return config
