#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_update
short_description: Make one cluster's Deployments match the fleet's global configuration
version_added: 0.1.0
description:
  - The original design's updateLocal as a task. Given one cluster's Kubernetes credentials and
    its region and cluster names, creates, updates and deletes that cluster's Deployments and
    their companion objects so they match the placement in the global configuration - read from
    a listener, or passed in.
  - It runs the same code as the listeners' reconcile loop - server-side apply with the field
    manager C(multicluster-kube), the labels C(app.kubernetes.io/managed-by=multicluster-kube) and
    C(multicluster.kube/cluster=<cluster>) - and likewise never modifies or deletes an object
    without those labels; such objects are reported in RV(conflicts).
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.k8s_auth
  - multicluster.kube.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be created, changed and deleted.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  region:
    description: The region of the cluster.
    type: str
    required: true
  cluster:
    description: The cluster's name in the fleet.
    type: str
    required: true
  global_config:
    description:
      - The global configuration, as RV(multicluster.kube.global_config_info#module:regions) returns it.
      - When not given, it is read from the listener at O(endpoint).
    type: dict
"""

EXAMPLES = r"""
- name: Bring us-east in line with the fleet (the listener is down, say)
  multicluster.kube.cluster_update:
    endpoint: eu-central.example.com:7443
    region: us
    cluster: us-east
    kubeconfig: ~/.kube/config
    context: us-east

- name: The same from a configuration read earlier
  multicluster.kube.cluster_update:
    region: us
    cluster: us-east
    global_config: "{{ fleet.regions }}"
"""

RETURN = r"""
created:
  description: Objects created (or that would be, in check mode), each with its C(kind), C(namespace), C(name), and a
    Deployment's C(replicas) and C(images).
  returned: always
  type: list
  elements: dict
  sample: [{"kind": "Service", "namespace": "default", "name": "nginx"},
           {"kind": "Deployment", "namespace": "default", "name": "nginx", "replicas": 3, "images": ["nginx"]}]
updated:
  description: Objects changed, each with C(before) and C(after).
  returned: always
  type: list
  elements: dict
  sample: []
deleted:
  description: Managed objects deleted because they are no longer wanted on the cluster.
  returned: always
  type: list
  elements: dict
  sample: []
conflicts:
  description: Objects in the way that are not managed by multicluster.kube, left untouched, each as
    C(Kind namespace/name) and why.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_auth import K8S_AUTH_ARGS
from ansible_collections.multicluster.kube.plugins.module_utils.module_common import (
    LISTENER_REQUIRED_TOGETHER, listener_argument_spec, listener_client)
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Placement, Release, Service, ServiceSpec, ValidationError, check_name)
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import Rollout
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload


def services_from_tree(regions: dict) -> list:
    """Services (spec and placement) from the tree that global_config_info returns."""
    services = []
    for region_name, region in regions.items():
        for name, svc in (region.get("services") or {}).items():
            spec = ServiceSpec(region=region_name, service=name, replicas=svc["replicas"],
                               image=svc.get("image") or "", port=svc.get("port", 8080),
                               namespace=svc.get("namespace", "default"),
                               workload=Workload(**svc["workload"]) if svc.get("workload") else Workload())
            services.append(Service(spec, Placement(svc.get("placement") or {}), rollout_from_tree(svc.get("rollout"))))
    return services


def rollout_from_tree(node):
    """The rollout state in the tree (what each cluster it holds runs), or None."""
    if not node:
        return None
    releases = tuple(Release(r["image"], r["port"], Workload(**r["workload"]))
                     for r in (node.get("releases") or {}).values())
    return Rollout(target=node["target"], last_good=node.get("last_good", ""), held=tuple(node["held"].items()),
                   releases=releases, released=tuple(node["released"]), since_ms=node.get("since_ms", 0),
                   state=node["state"], why=node.get("why", ""))


def labels_in_tree(regions: dict, cluster: str) -> dict:
    """The labels the tree gives `cluster` (overrides may choose clusters by them)."""
    return next((dict(c.get("labels") or {}) for r in regions.values()
                 for name, c in (r.get("clusters") or {}).items() if name == cluster), {})


def main():
    module = AnsibleModule(
        argument_spec=listener_argument_spec(
            region=dict(type="str", required=True),
            cluster=dict(type="str", required=True),
            global_config=dict(type="dict"),
            **K8S_AUTH_ARGS,
        ),
        required_together=LISTENER_REQUIRED_TOGETHER,
        supports_check_mode=True,
    )
    from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
    if not updater.HAS_KUBERNETES:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=updater.KUBERNETES_IMPORT_ERROR)
    from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_client import api_client

    p = module.params
    try:
        check_name("region", p["region"])
        check_name("cluster", p["cluster"])
        if p["global_config"] is not None:
            services = services_from_tree(p["global_config"])
            labels = labels_in_tree(p["global_config"], p["cluster"])
        else:
            with listener_client(module, "reading the global configuration") as client:
                records = client.records()[0]
            services = [r.value for r in records if isinstance(r.value, Service)]
            labels = next((dict(r.value.labels) for r in records if r.key == f"cluster/{p['cluster']}"), {})
        desired = updater.desired_for(services, p["region"], p["cluster"], labels)
    except (ValidationError, KeyError, TypeError) as error:
        module.fail_json(msg=f"invalid input: {error}")

    try:
        api = updater.KubernetesApi(api_client(p))
        plan = updater.plan(api, desired, p["cluster"])
        failures = {} if module.check_mode else updater.apply(api, plan)
    except updater.ApiError as error:
        module.fail_json(msg=f"Kubernetes API of {p['cluster']}: {error}")
    except Exception as error:  # unreachable API server, bad kubeconfig: say which
        module.fail_json(msg=f"Kubernetes API of {p['cluster']}: {error}")
    summary = plan.as_dict()
    result = dict(changed=plan.changed, created=summary["create"], updated=summary["update"],
                  deleted=summary["delete"], conflicts=summary["conflicts"])
    if module._diff:
        def by_ref(objects):
            return {f"{o['kind']} {o['namespace']}/{o['name']}": o for o in objects}
        result["diff"] = dict(before=by_ref([u["before"] for u in summary["update"]] + summary["delete"]),
                              after=by_ref([u["after"] for u in summary["update"]] + summary["create"]))
    if failures:
        module.fail_json(msg="some objects could not be applied: " +
                         "; ".join(f"{service} {problem}" for service, problems in failures.items()
                                   for problem in problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
