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
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.controller_action
attributes:
  check_mode:
    support: full
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    support: full
    description: When run twice in a row with the same arguments, the second run reports no change.
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
    LISTENER_REQUIRED_TOGETHER, fail_from_fleet_error, fleet_client, listener_argument_spec, require_libraries)


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
    """The module's work, given an AnsibleModule or the action plugin's stand-in for one."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils import messages
    from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError
    from ansible_collections.multicluster.kube.plugins.module_utils.model import (
        Cluster, ValidationError, cluster_key)

    p = module.params
    client = fleet_client(module)
    try:
        records, _health, _by = client.records()
        current = next((r.value for r in records if r.key == cluster_key(p["name"])), None)
        if p["state"] == "absent":
            response = client.remove_cluster(p["name"], dry_run=module.check_mode)
        else:
            base = current if current is not None and current.region == p["region"] else None
            changes = {k: v for k, v in (("endpoint", p["listener_endpoint"]), ("weight", p["weight"]),
                                         ("capacity", p["capacity"]), ("labels", p["labels"])) if v is not None}
            try:
                wanted = (dataclasses.replace(base, cordoned=p["state"] == "cordoned", **changes) if base else
                          Cluster(name=p["name"], region=p["region"], cordoned=p["state"] == "cordoned", **changes))
            except ValidationError as error:
                module.fail_json(msg=f"invalid input: {error}", field=error.field)
            response = client.put_cluster(wanted, dry_run=module.check_mode)
    except FleetError as error:
        fail_from_fleet_error(module, error, f"changing cluster {p['name']}")
    finally:
        client.close()

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
