"""Which clusters the lab runs: from a topology YAML file, an Ansible YAML inventory, or the default."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Optional

import yaml

DEFAULT = {"regions": {"us": ["us-east", "us-west"], "eu": ["eu-central", "eu-west"]}}


@dataclasses.dataclass(frozen=True)
class NodeShape:
    count: int = 2
    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110


@dataclasses.dataclass(frozen=True)
class ClusterSpec:
    name: str
    region: str
    host: str = "127.0.0.1"  # the address its apiserver serves on (another: a veth into a network namespace)
    nodes: Optional[NodeShape] = None  # its own node shape; None: the topology's


@dataclasses.dataclass(frozen=True)
class Topology:
    clusters: tuple
    nodes: NodeShape = NodeShape()

    def nodes_of(self, name: str) -> NodeShape:
        return self.cluster(name).nodes or self.nodes

    def cluster(self, name: str) -> ClusterSpec:
        for spec in self.clusters:
            if spec.name == name:
                return spec
        raise KeyError(f"no cluster {name!r} in the lab; known: {', '.join(c.name for c in self.clusters)}")


def from_mapping(data: dict) -> Topology:
    """{regions: {us: [us-east, ...]}, nodes: {count, cpu, memory, pods}, cluster_nodes: {us-east:
    {count, cpu, memory, pods}}}: every cluster's nodes alike, but those cluster_nodes names."""
    nodes = NodeShape(**data.get("nodes", {}))
    own = data.get("cluster_nodes") or {}
    clusters = tuple(ClusterSpec(name, region, nodes=dataclasses.replace(nodes, **own[name]) if name in own else None)
                     for region, names in data["regions"].items() for name in names)
    if not clusters:
        raise ValueError("the topology has no clusters")
    unknown = set(own) - {c.name for c in clusters}
    if unknown:
        raise ValueError(f"cluster_nodes names clusters the topology lacks: {', '.join(sorted(unknown))}")
    return Topology(clusters, nodes)


def from_inventory(data: dict) -> Topology:
    """An Ansible YAML inventory: each child group of `all` is a region, each of its hosts a cluster."""
    regions = {}
    for region, group in (data.get("all", {}).get("children") or {}).items():
        regions[region] = list((group or {}).get("hosts") or {})
    return from_mapping({"regions": {r: h for r, h in regions.items() if h}})


def load(path=None) -> Topology:
    if path is None:
        return from_mapping(DEFAULT)
    data = yaml.safe_load(pathlib.Path(path).read_text())
    return from_inventory(data) if "all" in data else from_mapping(data)
