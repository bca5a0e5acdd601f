"""Taking room away from a lab cluster, as someone else's workload would: a Deployment the fleet
does not own, whose pods request `cpu` each, at a priority above ours so that the
kube-scheduler preempts our pods to make room for it (their replacements then find none).
For tests and benchmarks of placement that fits and of rescue."""
from __future__ import annotations

from kubernetes import client

NAME = "lab-filler"  # its PriorityClass and its Deployment, in the default namespace
PRIORITY = 1_000_000


def fill(api_client, cpu: str, replicas: int = 1, name: str = NAME) -> None:
    """Start the filler: `replicas` pods of `cpu` each, preempting lower-priority pods."""
    try:
        client.SchedulingV1Api(api_client).create_priority_class({"metadata": {"name": NAME}, "value": PRIORITY})
    except client.ApiException as err:
        if err.status != 409:  # there already: as good
            raise
    labels = {"app": name}
    client.AppsV1Api(api_client).create_namespaced_deployment("default", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "priorityClassName": NAME,
                     "containers": [{"name": "filler", "image": "filler", "resources": {"requests": {"cpu": cpu}}}]}}}})


def unfill(api_client, name: str = NAME) -> None:
    """Remove the filler: the room comes back."""
    try:
        client.AppsV1Api(api_client).delete_namespaced_deployment(name, "default")
    except client.ApiException as err:
        if err.status != 404:
            raise
