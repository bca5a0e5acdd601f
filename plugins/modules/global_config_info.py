#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: global_config_info
short_description: Read the fleet's global configuration from any listener
version_added: 0.1.0
description:
  - Returns the global configuration as the listener at O(endpoint) holds it - regions, their
    clusters and services, desired and ready replicas per cluster, each cluster's health, and
    who changed what, where and when.
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.controller_action
  - multicluster.kube.attributes
attributes:
  check_mode:
    support: full
    details: Reads only.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  region:
    description: Return only this region.
    type: str
  history:
    description:
      - Also return RV(history), the recent changes of every service (the last 100 of each).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read the fleet
  multicluster.kube.global_config_info:
    endpoint: 127.0.0.1:7443
  register: fleet

- name: Show what region us runs
  ansible.builtin.debug:
    var: fleet.regions.us.services

- name: Who changed the shop in us, and for whom
  multicluster.kube.global_config_info:
    endpoint: 127.0.0.1:7443
    region: us
    history: true
  register: fleet

- name: Show the shop's history
  ansible.builtin.debug:
    var: fleet.history["us/shop"]
"""

RETURN = r"""
regions:
  description:
    - Per region, C(clusters) and C(services).
    - Each cluster has C(endpoint), C(weight), C(capacity), C(cordoned), C(labels), C(healthy), C(room) (its
      schedulable nodes' free room as its listener last measured it, nodes alike grouped, each with C(cpu_milli),
      C(memory_bytes), C(pods) and C(count); null when not measured), C(listener_version) and C(features) as its
      heartbeats say (empty until heard), C(changed), and C(services).
    - Each service of a cluster has C(desired), C(ready), C(available), C(updated) (replicas of the pod template it
      should run), C(pods) (of every revision, old ones still stopping included), C(scheduled) (pods bound to a
      node), C(unschedulable) (pods no node was found for, longer than the listener's C(unschedulable_after)),
      C(revision) (the release it should run now - a rollout may hold it on the one it ran), C(release) (the
      revision its status says it runs), C(problems) (each object it could not make as wanted, with its
      C(object), C(Kind namespace/name), and C(text)) and C(conflict) (those in one line).
    - Each service of a region has C(replicas), C(image), C(port), C(namespace), C(workload) (C(template),
      C(companions), C(expose)), C(placement), C(unplaced), C(reasons) (each with the C(cluster) it is about, empty
      for the region, a C(code) and a C(text)), C(division), C(fits) (replicas that fit in each cluster whose room
      is measured, those running there included; empty when its pods request nothing, or where the kubernetes
      Python library is missing to count them), C(revision) (of its release), C(rollout_strategy) (as
      O(multicluster.kube.region_replicas#module:rollout), null without one), C(rollout) (the state of its
      rollout as RV(multicluster.kube.region_replicas#module:rollout), with C(releases), what each revision it
      holds clusters on runs; null without one) and C(changed).
    - C(changed) says who made the last change (C(by)), at which cluster (C(where)) and when (C(when_ms), C(stamp)).
  returned: always
  type: dict
  sample:
    us:
      name: us
      clusters:
        us-east:
          name: us-east
          healthy: true
          listener_version: 0.2.0
          features: [records-whole]
          services: {nginx: {name: nginx, desired: 3, ready: 3, available: 3, updated: 3, pods: 3,
                             revision: 3f2a9c01b7de, release: 3f2a9c01b7de, conflict: "", problems: []}}
      services:
        nginx: {name: nginx, replicas: 5, placement: {us-east: 3, us-west: 2}, revision: 3f2a9c01b7de}
answered_by:
  description: The cluster whose listener answered.
  returned: always
  type: str
  sample: us-east
held_back:
  description:
    - Behaviours of the answering listener's version that the fleet does not use yet, because some members
      have not said they support them (a rolling upgrade under way), with those members and what the fleet
      does meanwhile. Empty once every member is upgraded.
  returned: always
  type: dict
  sample: {"records-whole": {"lacking": ["eu-west"], "meanwhile": "records are written without the fields older
           listeners would drop (reason codes: their texts say the same)"}}
history:
  description:
    - With O(history), per service (C(region/service), removed ones included) its recent changes, newest first, each
      with C(by) (the identity the listener authenticated), C(for) (whom the caller said it acted for), C(at) (the
      cluster whose listener took it), C(when_ms), C(what) (C(set_region_replicas), C(delete_service),
      C(change_rollout)), C(stamp), C(before_stamp), C(before) and C(after) (C(replicas), C(namespace),
      C(revision), C(image), C(placement); null when there was none, or after a removal) and C(superseded) (true
      for a write that lost to a concurrent one at another listener).
  returned: when O(history) is true
  type: dict
  sample: {"us/shop": [{"by": "alice", "for": "ansible:alice@laptop", "at": "us-east", "what": "set_region_replicas",
           "when_ms": 1764700000000, "superseded": false, "before": null,
           "after": {"replicas": 5, "placement": {"us-east": 3, "us-west": 2}}}]}
totals:
  description: Desired, ready, updated (to the template they should run) and available replicas per region.
  returned: always
  type: dict
  sample: {"us": {"desired": 5, "ready": 5, "updated": 5, "available": 5}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.kube.plugins.module_utils.module_common import (
    LISTENER_REQUIRED_TOGETHER, listener_argument_spec, listener_client, require_libraries)


# The module's interface, for AnsibleModule here and for its action plugin on the controller.
MODULE_SPEC = dict(
    argument_spec=listener_argument_spec(region=dict(type="str"), history=dict(type="bool", default=False)),
    required_together=LISTENER_REQUIRED_TOGETHER,
    supports_check_mode=True,
)


def run(module):
    """The module's work, given an AnsibleModule or the action plugin's stand-in for one."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils.history import histories
    from ansible_collections.multicluster.kube.plugins.module_utils.model import global_config

    with listener_client(module, "reading the global configuration") as client:
        records, health, answered_by, held_back = client.view(with_history=module.params["history"])
    regions = global_config(records)["regions"]
    for region in regions.values():
        for name, cluster in region["clusters"].items():
            seen = health.get(name)
            cluster["healthy"] = bool(seen and seen.healthy)
            cluster["listener_version"] = seen.version if seen else ""
            cluster["features"] = list(seen.features) if seen else []
    if module.params["region"]:
        regions = {k: v for k, v in regions.items() if k == module.params["region"]}
    totals = {name: {kind: sum(s[kind] for c in r["clusters"].values() for s in c["services"].values())
                     for kind in ("desired", "ready", "updated", "available")}
              for name, r in regions.items()}
    result = dict(changed=False, regions=regions, answered_by=answered_by, totals=totals, held_back=held_back)
    if module.params["history"]:
        result["history"] = {k: v for k, v in histories(records).items()
                             if not module.params["region"] or k.split("/")[0] == module.params["region"]}
    module.exit_json(**result)


def main():
    run(AnsibleModule(**MODULE_SPEC))


if __name__ == "__main__":
    main()
