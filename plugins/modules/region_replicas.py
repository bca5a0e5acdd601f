#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: region_replicas
short_description: Run a number of replicas of a service in a region of the fleet
version_added: 0.1.0
description:
  - Sets how many replicas of a service run in a region. The listener that receives the request
    divides them among the region's clusters (in proportion to their weights, within each
    cluster's minimum, maximum and capacity, moving as few replicas as possible), and the new
    placement reaches every listener; each cluster's listener then makes its Deployments match.
  - Any listener of the fleet can serve the request, whichever region it is in.
  - With O(state=absent) the service is removed from every cluster of the region.
author:
  - multicluster.kube contributors (@multicluster-kube)
requirements:
  - jsonpatch (for O(overrides[].patches), and to show them in diff mode)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.controller_action
  - multicluster.kube.attributes
attributes:
  check_mode:
    support: full
    details: The listener computes the placement without applying it.
  diff_mode:
    support: full
    details: Shows the spec and placement before and after.
  idempotent:
    support: full
options:
  region:
    description: The region, a DNS-1123 label such as C(us).
    type: str
    required: true
  service:
    description: The service, a DNS-1123 label; it names the Deployment in each cluster.
    type: str
    required: true
  replicas:
    description: Replicas to run in the region in all, from 0 to 1000000. Required with O(state=present).
    type: int
  state:
    description: Whether the service should run in the region.
    type: str
    choices: [present, absent]
    default: present
  definition:
    description:
      - The service's workload, the way M(kubernetes.core.k8s) takes manifests - one object, a list of them, or
        YAML text of several documents or of one list (e.g. from C(lookup('template', ...))) - an C(apps/v1)
        C(Deployment) and its
        companions (C(Service), C(ConfigMap), C(ServiceAccount), C(PodDisruptionBudget), ...).
      - The Deployment's name and namespace come from O(service) and O(namespace), its C(spec.replicas) from the
        placement in each cluster (leave it out); everything else is yours. Companions go wherever the service has
        a replica, before the Deployment, and are removed where it has none.
      - C(Secret) and cluster-scoped objects are refused; create Secrets in each cluster and refer to them by name.
      - Without a Deployment, the original design's one runs (O(image) on O(port)), with the companions given.
    type: raw
  src:
    description:
      - A YAML file of the workload, as O(definition) takes it, on the host the task runs on (the controller, when
        the task runs there).
    type: path
  expose:
    description: With no Deployment in the workload, also run a C(Service) of the service's name on O(port).
    type: bool
    default: true
  overrides:
    description:
      - What changes for some clusters of the region, in order (a later override wins where both choose a cluster).
      - Check mode and diff mode show what each cluster of the placement then runs.
    type: list
    elements: dict
    default: []
    suboptions:
      clusters:
        description: The clusters it chooses, by name.
        type: list
        elements: str
        default: []
      cluster_labels:
        description: The clusters it chooses, by their labels (all of these).
        type: dict
        default: {}
      images:
        description: Container name to image, for the Deployment's containers and init containers (a regional registry or tag).
        type: dict
        default: {}
      patches:
        description: RFC 6902 JSON Patches, each of C(target) (C(Deployment), or a companion's C(Kind/name)) and its C(patch) operations.
        type: list
        elements: dict
        default: []
  image:
    description: Container image. Defaults to the service's name, as in the original design.
    type: str
  port:
    description: Container port.
    type: int
    default: 8080
  namespace:
    description: Namespace of the Deployments in each cluster; created when missing.
    type: str
    default: default
  excluded:
    description: Clusters of the region that must not run the service.
    type: list
    elements: str
    default: []
  clusters:
    description: Per-cluster placement rules.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: A cluster of the region.
        type: str
        required: true
      weight:
        description: Weight for this service on that cluster, instead of the cluster's own weight. 0 places nothing beyond O(clusters[].min).
        type: int
      min:
        description: Replicas the cluster runs at least (when the region's total allows).
        type: int
        default: 0
      max:
        description: Replicas the cluster runs at most.
        type: int
  division:
    description:
      - How the replicas are divided among the eligible clusters. Either way, no cluster gets more than fit in its
        room (node by node, from the resource requests of the pod template; its replicas already running count
        as fitting), and what fits nowhere is unplaced with the reason.
      - V(weighted), in proportion to the clusters' weights.
      - V(dynamic), in proportion to the replicas that fit in each cluster, as Karmada's dynamic weight; by the
        weights while some eligible cluster's room is not measured (its listener manages no Kubernetes).
      - A service whose pods request no CPU or memory fits anywhere.
    type: str
    choices: [weighted, dynamic]
    default: weighted
  rollout:
    description:
      - How a new release of the service (a change of O(image), O(port), O(definition), O(src), O(expose) or
        O(overrides)) goes through the region's clusters, coordinated by the region's coordinator (whichever
        listener that is, mid-rollout included). Inside each cluster its Deployment's own rolling update does the
        work; a wave is done when every cluster of it runs the new release updated, available and ready, with no
        old pod left.
      - Replicas are never held back - a change of O(replicas) or of the placement rules alone is no new release.
      - A change during a rollout supersedes it - the new release starts from the clusters as they are.
      - Without it, a new release reaches every cluster at once.
      - M(multicluster.kube.rollout) resumes a halted rollout or rolls the service back.
    type: dict
    suboptions:
      max_parallel:
        description: Clusters in progress at once; V(0) is all of them at once (one wave, with the deadline and O(rollout.on_failure)).
        type: int
        default: 1
      order:
        description:
          - The order in which clusters are released. V(name), by name; V(weight), heaviest first.
          - Or a list of clusters of the region to release first, in that order (a canary), the rest after them by name.
        type: raw
        default: name
      progress_deadline:
        description: Seconds a wave may take before the rollout fails (O(rollout.on_failure)).
        type: int
        default: 600
      pause:
        description: Seconds between waves.
        type: int
        default: 0
      on_failure:
        description:
          - What a failed wave does. V(halt), the clusters not released stay on the revision they run, the
            released stay where they are; V(revert), the released clusters go back to the revision they ran.
        type: str
        choices: [halt, revert]
        default: halt
  rebalance:
    description:
      - Move existing replicas to restore the proportions of the weights.
      - Without it, scaling up only adds replicas and scaling down only removes them.
    type: bool
    default: false
  wait:
    description:
      - What to wait for before returning.
      - V(committed), the listener persisted the change; V(propagated), every reachable listener holds it;
        V(applied), the target clusters updated their Deployments; V(ready), their replicas are ready (each
        cluster on the release it should run now - a rollout may hold some on the one they ran);
        V(rolled_out), the whole region runs the new release and its rollout is done.
      - With V(applied) and V(ready), the task fails without waiting longer once every cluster not there yet
        reports objects it cannot make as wanted (someone else's object in the way, one its apiserver refuses,
        a Deployment past its progress deadline), each named with why.
      - With V(rolled_out), the task fails as soon as the rollout halts or is reverted, saying where and why, or a
        newer change supersedes it.
    type: str
    choices: [committed, propagated, applied, ready, rolled_out]
    default: committed
  wait_timeout:
    description: Seconds to wait for O(wait); the task fails when it is not met in time (the change stays committed).
    type: float
    default: 120
"""

EXAMPLES = r"""
- name: Run 5 replicas of nginx in region us
  multicluster.kube.region_replicas:
    endpoint: us-east.example.com:7443
    region: us
    service: nginx
    replicas: 5

- name: Three replicas of the shop, at least one in eu-west, none in eu-north, wait until ready
  multicluster.kube.region_replicas:
    endpoint: "{{ listener_endpoint }}"
    token: "{{ listener_token }}"
    region: eu
    service: shop
    image: registry.example.com/shop:1.4
    port: 8080
    replicas: 3
    excluded: [eu-north]
    clusters:
      - name: eu-west
        min: 1
    wait: ready

- name: A realistic service in region us - env, resources, a readiness probe, a ConfigMap volume, a Service
  multicluster.kube.region_replicas:
    region: us
    service: shop
    namespace: shop
    replicas: 5
    wait: ready
    definition:
      - apiVersion: apps/v1
        kind: Deployment
        spec:
          selector:
            matchLabels: {app: shop}
          template:
            metadata:
              labels: {app: shop}
            spec:
              containers:
                - name: shop
                  image: registry.example.com/shop:1.5
                  env:
                    - {name: LOG_LEVEL, value: info}
                  ports:
                    - {containerPort: 8080}
                  resources:
                    requests: {cpu: 250m, memory: 256Mi}
                    limits: {memory: 512Mi}
                  readinessProbe:
                    httpGet: {path: /healthz, port: 8080}
                  volumeMounts:
                    - {name: config, mountPath: /etc/shop}
              volumes:
                - name: config
                  configMap: {name: shop-config}
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: shop-config}
        data:
          shop.yaml: "currency: EUR"
      - apiVersion: v1
        kind: Service
        metadata: {name: shop}
        spec:
          selector: {app: shop}
          ports:
            - {port: 80, targetPort: 8080}

- name: The same, with the image from eu's registry in us-west and no replica unavailable in rollouts there
  multicluster.kube.region_replicas:
    region: us
    service: shop
    namespace: shop
    replicas: 5
    src: files/shop.yml
    overrides:
      - clusters: [us-west]
        images: {shop: registry.eu.example.com/shop:1.5}
        patches:
          - target: Deployment
            patch:
              - {op: add, path: /spec/strategy, value: {rollingUpdate: {maxUnavailable: 0}}}

- name: The same from a template file on the controller
  multicluster.kube.region_replicas:
    region: us
    service: shop
    namespace: shop
    replicas: 5
    definition: "{{ lookup('ansible.builtin.template', 'shop.yml.j2') }}"

- name: A new image, one cluster at a time, the canary us-west first, back to the old image if a wave fails
  multicluster.kube.region_replicas:
    region: us
    service: shop
    namespace: shop
    replicas: 5
    src: files/shop.yml
    rollout:
      max_parallel: 1
      order: [us-west]
      progress_deadline: 300
      on_failure: revert
    wait: rolled_out
    wait_timeout: 1200

- name: Remove the shop from region eu
  multicluster.kube.region_replicas:
    region: eu
    service: shop
    state: absent
"""

RETURN = r"""
placement:
  description: Replicas per cluster after the change (the plan, in check mode).
  returned: always
  type: dict
  sample: {"us-east": 3, "us-west": 2}
previous_placement:
  description: Replicas per cluster before the change.
  returned: always
  type: dict
  sample: {}
unplaced:
  description: Replicas that fit on no eligible cluster (maximums, capacity, exclusions, health).
  returned: when O(state=present)
  type: int
  sample: 0
fits:
  description:
    - Replicas of the service that fit in each cluster of the region whose room is measured, those it runs there
      included, as the placement counted them (in check mode too, before anything is placed). Empty when its pods
      request nothing.
  returned: when O(state=present)
  type: dict
  sample: {"us-east": 4, "us-west": 16}
rollout:
  description:
    - The rollout of the service's release, when it has a O(rollout) strategy and a new release was written since.
    - C(target) and C(last_good) are revisions (hashes of image, port and workload); C(held) the clusters still on
      another revision, each with it; C(released) the clusters let go to the target, in order; C(state) one of
      V(progressing), V(paused), V(done), V(halted), V(reverted), and C(why).
  returned: when O(state=present) and the service has one
  type: dict
  sample: {"target": "3f2a9c01b7de", "last_good": "91c0aa5e4410", "state": "progressing", "why": "",
           "released": ["us-west"], "held": {"us-east": "91c0aa5e4410"}, "since_ms": 1795695548603}
revision:
  description: The revision of the release the change asks for (what O(wait=rolled_out) waits for the region to run).
  returned: when O(state=present)
  type: str
  sample: 3f2a9c01b7de
reasons:
  description: Why clusters were left out or replicas unplaced, each with the cluster it is about (empty for the region), a code and the text.
  returned: when O(state=present)
  type: list
  elements: dict
  sample: [{"cluster": "us-west", "code": "cordoned", "text": "us-west: cordoned"}]
stamp:
  description: Version of the change (hybrid logical clock, C(ms.counter@cluster)); empty in check mode.
  returned: when changed
  type: str
  sample: 1795695548603.0@us-east
answered_by:
  description: The listener endpoint that served the request.
  returned: always
  type: str
  sample: 127.0.0.1:7443
"""

import dataclasses

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.kube.plugins.module_utils.module_common import (
    LISTENER_REQUIRED_TOGETHER, WAIT_ARGS, exit_waited, listener_argument_spec, listener_client,
    require_libraries)
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    ClusterRule, PlacementRules, ServiceSpec, ValidationError, check_name)
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload, render

try:
    from ansible.module_utils.common.yaml import yaml_load_all
except ImportError:  # ansible-core without PyYAML: only definitions that are already data
    yaml_load_all = None


def spec_from_params(p) -> ServiceSpec:
    rules = PlacementRules(
        excluded=frozenset(p["excluded"]),
        clusters=tuple(ClusterRule(cluster=r["name"], weight=r["weight"], min=r["min"], max=r["max"])
                       for r in p["clusters"]), division=p["division"])
    return ServiceSpec(region=p["region"], service=p["service"], replicas=p["replicas"], image=p["image"] or "",
                       port=p["port"], namespace=p["namespace"], rules=rules, rebalance=p["rebalance"],
                       workload=workload_from_params(p), rollout=strategy_from_params(p["rollout"]))


def strategy_from_params(given):
    if given is None:
        return None
    order = given["order"]
    if not isinstance(order, (str, list)):
        raise ValidationError("rollout.order", "must be name, weight or a list of clusters", order)
    return Strategy(max_parallel=given["max_parallel"], order=tuple(order) if isinstance(order, list) else order,
                    progress_deadline_s=given["progress_deadline"], pause_s=given["pause"],
                    on_failure=given["on_failure"])


def workload_from_params(p) -> Workload:
    """The Deployment (if any) and its companions, from `definition` or the file `src`."""
    if p["src"]:
        try:
            with open(p["src"]) as f:
                documents = f.read()
        except OSError as error:
            raise ValidationError("src", "must be a readable file", f"{p['src']}: {error.strerror}") from None
    else:
        documents = p["definition"]
    if documents is None:
        return Workload(expose=p["expose"], overrides=tuple(p["overrides"]))
    if isinstance(documents, str):
        if yaml_load_all is None:
            raise ValidationError("definition", "YAML text needs PyYAML where the module runs; give the manifests "
                                  "as data instead", documents[:80])
        try:
            documents = list(yaml_load_all(documents))
        except Exception as error:  # the YAML library's own errors: say where
            raise ValidationError("definition", f"must be YAML ({error})", documents[:80]) from None
    if isinstance(documents, dict):
        documents = [documents]
    if isinstance(documents, list) and len(documents) == 1 and isinstance(documents[0], list):
        documents = documents[0]  # YAML text of one document that is a list of manifests
    if not isinstance(documents, list):
        raise ValidationError("definition", "must be a manifest, a list of them or YAML text", type(documents).__name__)
    objects = [d for d in documents if d is not None]
    for i, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise ValidationError(f"definition[{i}]", "must be a mapping (one Kubernetes object)", type(obj).__name__)
    templates = [o for o in objects if o.get("kind") == "Deployment"]
    if len(templates) > 1:
        raise ValidationError("definition", "must hold at most one Deployment (the service's)", len(templates))
    return Workload(template=templates[0] if templates else None,
                    companions=tuple(o for o in objects if o.get("kind") != "Deployment"), expose=p["expose"],
                    overrides=tuple(p["overrides"]))


def placement_of(entries) -> dict:
    return {e.cluster: e.replicas for e in entries}


# The module's interface, for AnsibleModule here and for its action plugin on the controller.
MODULE_SPEC = dict(
    argument_spec=listener_argument_spec(
        region=dict(type="str", required=True),
        service=dict(type="str", required=True),
        replicas=dict(type="int"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        definition=dict(type="raw"),
        src=dict(type="path"),
        expose=dict(type="bool", default=True),
        overrides=dict(type="list", elements="dict", default=[], options=dict(
            clusters=dict(type="list", elements="str", default=[]),
            cluster_labels=dict(type="dict", default={}),
            images=dict(type="dict", default={}),
            patches=dict(type="list", elements="dict", default=[]),
        )),
        image=dict(type="str"),
        port=dict(type="int", default=8080),
        namespace=dict(type="str", default="default"),
        excluded=dict(type="list", elements="str", default=[]),
        clusters=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            weight=dict(type="int"),
            min=dict(type="int", default=0),
            max=dict(type="int"),
        )),
        division=dict(type="str", choices=["weighted", "dynamic"], default="weighted"),
        rollout=dict(type="dict", options=dict(
            max_parallel=dict(type="int", default=1),
            order=dict(type="raw", default="name"),
            progress_deadline=dict(type="int", default=600),
            pause=dict(type="int", default=0),
            on_failure=dict(type="str", choices=["halt", "revert"], default="halt"),
        )),
        rebalance=dict(type="bool", default=False),
        **WAIT_ARGS,
    ),
    required_if=[("state", "present", ["replicas"])],
    mutually_exclusive=[("definition", "src")],
    required_together=LISTENER_REQUIRED_TOGETHER,
    supports_check_mode=True,
)


def run(module):
    """The module's work, given an AnsibleModule or the action plugin's stand-in for one."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils import messages

    p = module.params
    try:
        if p["state"] == "present":
            spec = spec_from_params(p)
        else:
            check_name("region", p["region"])
            check_name("service", p["service"])
    except ValidationError as error:
        module.fail_json(msg=f"invalid input: {error}", field=error.field)

    with listener_client(module, f"setting {p['service']} in region {p['region']}") as client:
        if p["state"] == "present":
            response = client.set_region_replicas(spec, dry_run=module.check_mode, wait=p["wait"],
                                                  wait_timeout=p["wait_timeout"])
            service = messages.service_from_message(response.intent)
            placed = service.placement
            result = dict(changed=response.changed, placement=dict(placed.clusters), unplaced=placed.unplaced,
                          reasons=[r.as_dict() for r in placed.reasons], fits=dict(response.fits),
                          previous_placement=placement_of(response.previous_placement),
                          revision=spec.release.revision)
            if service.rollout is not None:
                result["rollout"] = service.rollout.as_dict()
            desired_state = _settings(spec) | {"placement": dict(placed.clusters)}
        else:
            response = client.delete_service(p["region"], p["service"], dry_run=module.check_mode,
                                             wait=p["wait"], wait_timeout=p["wait_timeout"])
            result = dict(changed=response.changed, placement={},
                          previous_placement=placement_of(response.previous_placement))
            desired_state = {}
        previous = messages.service_from_message(response.previous) if response.HasField("previous") else None
        if module._diff:  # what each cluster runs, before and after, as its listener will apply it
            labels = {r.value.name: r.value.labels for r in client.records(
                [f"cluster/{c}" for c in set(placement_of(response.previous_placement)) |
                 set(desired_state.get("placement", {}))])[0]}
            if desired_state:
                desired_state["clusters"] = _rendered(service, labels)
        result["answered_by"] = client.endpoint

    if response.changed and response.HasField("stamp"):
        result["stamp"] = f"{response.stamp.physical_ms}.{response.stamp.logical}@{response.stamp.origin}"
    if module._diff:
        before = {}
        if previous is not None:
            before = _settings(previous.spec) | {"placement": dict(previous.placement.clusters),
                                                 "clusters": _rendered(previous, labels)}
        result["diff"] = dict(before=before, after=desired_state)
    exit_waited(module, response, result)


def _rendered(service, labels: dict) -> dict:
    """{cluster: {"Kind name": object}} of what each cluster of the placement runs (now: a
    rollout may hold some on the release they ran)."""
    return {cluster: {f"{o['kind']} {o['metadata']['name']}": o
                      for o in render(service.spec_for(cluster), cluster, n, labels.get(cluster))}
            for cluster, n in sorted(service.placement.clusters.items())}


def _settings(spec: ServiceSpec) -> dict:
    data = dataclasses.asdict(spec)
    data["workload"] = spec.workload.as_dict()
    data["rollout"] = spec.rollout.as_dict() if spec.rollout is not None else None
    data["rules"] = {"excluded": sorted(spec.rules.excluded),
                     "clusters": [dataclasses.asdict(r) for r in spec.rules.clusters], "division": spec.rules.division}
    return data


def main():
    run(AnsibleModule(**MODULE_SPEC))


if __name__ == "__main__":
    main()
