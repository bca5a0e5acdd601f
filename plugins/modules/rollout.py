#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: rollout
short_description: Resume a service's halted rollout, or roll it back to its last good release
version_added: 0.3.0
description:
  - A service with a O(multicluster.kube.region_replicas#module:rollout) strategy goes through its region's
    clusters a wave at a time; a wave that misses its progress deadline halts the rollout, or reverts it.
  - V(resume) lets a halted or reverted rollout go on, the wave it stopped at on the new release again, with a
    new deadline; it changes nothing when the rollout is not halted or reverted.
  - V(rollback) puts the whole region back on the service's last good release (what it ran before the
    rollout), every cluster at once. It rewrites the service's release, so a later
    M(multicluster.kube.region_replicas) task with the new image rolls it out again.
  - Any listener of the fleet can serve the request; the region's coordinator carries the change out.
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.listener
  - multicluster.kube.controller_action
  - multicluster.kube.attributes
attributes:
  check_mode:
    support: full
    details: Returns the rollout as it would be, writing nothing.
  diff_mode:
    support: full
    details: Shows the release and the rollout before and after.
  idempotent:
    support: partial
    details:
      - V(resume) is. V(rollback) is when O(revision) is given - nothing changes once the service runs it;
        without O(revision), a second V(rollback) goes back to the release the first one left (as
        C(kubectl rollout undo) does).
options:
  region:
    description: The region of the service.
    type: str
    required: true
  service:
    description: The service.
    type: str
    required: true
  action:
    description: V(resume) a halted or reverted rollout, or V(rollback) to the last good release.
    type: str
    choices: [resume, rollback]
    required: true
  revision:
    description:
      - With O(action=rollback), the revision to go back to, as RV(multicluster.kube.region_replicas#module:rollout)
        and M(multicluster.kube.global_config_info) show it (C(last_good)); the task fails if the service's last
        good revision is another, and changes nothing if the service already runs it.
    type: str
  wait:
    description:
      - What to wait for before returning, as O(multicluster.kube.region_replicas#module:wait); V(rolled_out)
        returns when the whole region runs the release the rollout now targets.
    type: str
    choices: [committed, propagated, applied, ready, rolled_out]
    default: committed
  wait_timeout:
    description: Seconds to wait for O(wait); the task fails when it is not met in time (the change stays committed).
    type: float
    default: 120.0
"""

EXAMPLES = r"""
- name: Let the halted rollout of the shop go on (the cluster that stopped it was fixed)
  multicluster.kube.rollout:
    region: us
    service: shop
    action: resume
    wait: rolled_out
    wait_timeout: 1200

- name: Put region us back on the shop's last good release
  multicluster.kube.rollout:
    region: us
    service: shop
    action: rollback
    revision: "{{ shop.rollout.last_good }}"
    wait: ready
"""

RETURN = r"""
revision:
  description: The revision the service's rollout targets after the change.
  returned: always
  type: str
  sample: 91c0aa5e4410
rollout:
  description: The rollout after the change, as RV(multicluster.kube.region_replicas#module:rollout).
  returned: when the service has one
  type: dict
  sample: {"target": "91c0aa5e4410", "last_good": "3f2a9c01b7de", "state": "progressing", "why": "",
           "released": ["us-east", "us-west"], "held": {"us-east": "3f2a9c01b7de"}, "since_ms": 1795695548603}
answered_by:
  description: The listener that served the request.
  returned: always
  type: str
  sample: 127.0.0.1:7443
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.multicluster.kube.plugins.module_utils.module_common import (
    LISTENER_REQUIRED_TOGETHER, WAIT_ARGS, exit_waited, listener_argument_spec, listener_client,
    require_libraries)
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError, check_name

# The module's interface, for AnsibleModule here and for its action plugin on the controller.
MODULE_SPEC = dict(
    argument_spec=listener_argument_spec(
        region=dict(type="str", required=True),
        service=dict(type="str", required=True),
        action=dict(type="str", choices=["resume", "rollback"], required=True),
        revision=dict(type="str"),
        **WAIT_ARGS,
    ),
    required_together=LISTENER_REQUIRED_TOGETHER,
    supports_check_mode=True,
)


def run(module):
    """The module's work, given an AnsibleModule or the action plugin's stand-in for one."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils import messages

    p = module.params
    try:
        check_name("region", p["region"])
        check_name("service", p["service"])
        if p["revision"] is not None and p["action"] != "rollback":
            raise ValidationError("revision", "is only for action=rollback", p["revision"])
    except ValidationError as error:
        module.fail_json(msg=f"invalid input: {error}", field=error.field)

    with listener_client(module, f"changing the rollout of {p['service']} in region {p['region']}") as client:
        response = client.change_rollout(p["region"], p["service"], p["action"], revision=p["revision"] or "",
                                         dry_run=module.check_mode, wait=p["wait"], wait_timeout=p["wait_timeout"])
        service = messages.service_from_message(response.intent)
        result = dict(changed=response.changed, revision=service.spec.release.revision,
                      answered_by=client.endpoint)
    if service.rollout is not None:
        result["rollout"] = service.rollout.as_dict()
    if response.changed and module._diff:
        before = messages.service_from_message(response.previous)
        result["diff"] = dict(before=_shown(before), after=_shown(service))
    exit_waited(module, response, result)


def _shown(service) -> dict:
    return {"revision": service.spec.release.revision, "image": service.spec.image,
            "rollout": service.rollout.as_dict() if service.rollout is not None else None}


def main():
    run(AnsibleModule(**MODULE_SPEC))


if __name__ == "__main__":
    main()
