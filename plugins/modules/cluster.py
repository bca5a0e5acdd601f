#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cluster
short_description: Add, update, cordon or remove a cluster of the fleet
version_added: 0.1.0
description:
  - Registers a cluster in a region with the endpoint of its listener, its weight, labels and
    capacity; cordons it (no new replicas; the ones it runs move to the region's other clusters);
    or removes it from the fleet.
  - A listener registers its own cluster when it starts; this module changes what it registered.
  - Only the options given are sent, and the listener applies them to the registration it holds,
    so two tasks that change different options of one cluster never undo each other.
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.controller_action
  - multicluster.kube.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description: The cluster, a DNS-1123 label.
    type: str
    required: true
  region:
    description: Its region. Required unless O(state=absent); a cluster cannot change region without being removed first.
    type: str
  listener_endpoint:
    description: Where the cluster's listener serves, C(host:port). Kept as registered when not given.
    type: str
  weight:
    description: Share of a region's replicas, relative to the other clusters' weights. Kept as registered when not given (1 for a new cluster).
    type: int
  capacity:
    description: The most replicas the cluster takes, all services together. Kept as registered when not given.
    type: int
  labels:
    description: Labels of the cluster. Kept as registered when not given.
    type: dict
  state:
    description:
      - V(present) adds or updates the cluster and uncordons it; V(cordoned) keeps it registered but places
        nothing on it; V(absent) removes it.
    type: str
    choices: [present, cordoned, absent]
    default: present
"""

EXAMPLES = r"""
- name: Give us-east twice the share of us-west
  multicluster.kube.cluster:
    endpoint: 127.0.0.1:7443
    name: us-east
    region: us
    weight: 2

- name: Drain eu-west for maintenance
  multicluster.kube.cluster:
    name: eu-west
    region: eu
    state: cordoned
"""

RETURN = r"""
cluster:
  description: The cluster as registered after the change (empty when removed).
  returned: always
  type: dict
  sample: {"name": "us-east", "region": "us", "endpoint": "10.0.0.5:7443", "weight": 2, "capacity": null,
           "cordoned": false, "labels": {}}
previous:
  description: The cluster as registered before the change (empty when it was not).
  returned: always
  type: dict
  sample: {}
"""

import dataclasses

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.kube.plugins.module_utils.module_common import (
    LISTENER_REQUIRED_TOGETHER, listener_argument_spec, listener_client, require_libraries)


# The module's interface, for AnsibleModule here and for its action plugin on the controller.
MODULE_SPEC = dict(
    argument_spec=listener_argument_spec(
        name=dict(type="str", required=True),
        region=dict(type="str"),
        listener_endpoint=dict(type="str"),
        weight=dict(type="int"),
        capacity=dict(type="int"),
        labels=dict(type="dict"),
        state=dict(type="str", choices=["present", "cordoned", "absent"], default="present"),
    ),
    required_if=[("state", "present", ["region"]), ("state", "cordoned", ["region"])],
    required_together=LISTENER_REQUIRED_TOGETHER,
    supports_check_mode=True,
)


def run(module):
    """The module's work, given an AnsibleModule or the action plugin's stand-in for one.
    Only the fields given are sent; the listener applies them to the registration it holds, so
    two tasks changing different fields of one cluster never undo each other."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils import messages
    from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, ValidationError

    p = module.params
    try:  # the model's own checks of what is given, before anything is sent
        if p["state"] != "absent":
            Cluster(name=p["name"], region=p["region"], endpoint=p["listener_endpoint"] or "", labels=p["labels"] or {},
                    weight=1 if p["weight"] is None else p["weight"], capacity=p["capacity"])
    except ValidationError as error:
        module.fail_json(msg=f"invalid input: {error}", field=error.field)
    with listener_client(module, f"changing cluster {p['name']}") as client:
        if p["state"] == "absent":
            response = client.remove_cluster(p["name"], dry_run=module.check_mode)
        else:
            response = client.update_cluster(p["name"], p["region"], dry_run=module.check_mode,
                                             endpoint=p["listener_endpoint"], weight=p["weight"],
                                             capacity=p["capacity"], labels=p["labels"],
                                             cordoned=p["state"] == "cordoned")

    def as_dict(message_field):
        if not response.HasField(message_field):
            return {}
        return dataclasses.asdict(messages.cluster_from_message(getattr(response, message_field)))

    result = dict(changed=response.changed, cluster=as_dict("after"), previous=as_dict("before"))
    if module._diff:
        result["diff"] = dict(before=result["previous"], after=result["cluster"])
    module.exit_json(**result)


def main():
    run(AnsibleModule(**MODULE_SPEC))


if __name__ == "__main__":
    main()
