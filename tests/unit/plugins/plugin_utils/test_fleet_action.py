"""When the fleet modules' action plugin runs their code on the controller, and the stand-in for
AnsibleModule it gives that code. That both paths give the same results is shown by the
integration targets, which run both ways (tests/integration/test_ansible.py)."""
from __future__ import annotations

import pytest

from ansible_collections.multicluster.kube.plugins.plugin_utils.fleet_action import (
    ControllerModule, ModuleEnded, runs_on_controller)

HERE = dict(transport="local", become=False, async_seconds=0, environment=[{}], has_libraries=True)


def test_a_plain_local_task_runs_on_the_controller():
    assert runs_on_controller(**HERE)
    assert runs_on_controller(**(HERE | {"environment": None}))


@pytest.mark.parametrize("change", [
    {"transport": "ssh"},                       # the module belongs on another host
    {"become": True},                           # as another user
    {"async_seconds": 30},                      # in the background, polled by Ansible
    {"environment": [{}, {"HTTPS_PROXY": "http://proxy:3128"}]},  # with variables only the module would see
    {"environment": ["{{ proxy_env }}"]},       # ...even when they come from a template
    {"has_libraries": False},                   # the controller has no grpcio/protobuf; the host may
])
def test_anything_the_module_process_would_change_runs_the_module(change):
    assert not runs_on_controller(**(HERE | change))


def test_the_result_hides_no_log_values_and_reports_the_arguments():
    module = ControllerModule({"endpoint": "127.0.0.1:1", "token": "s3cret"}, {"s3cret"}, check_mode=False, diff=False)
    with pytest.raises(ModuleEnded) as ended:
        module.exit_json(changed=True, echoed="token s3cret")
    assert ended.value.result == {"changed": True, "echoed": "token ********",
                                  "invocation": {"module_args": {"endpoint": "127.0.0.1:1",
                                                                 "token": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}}}


def test_a_failure_ends_the_module_with_its_message_and_fields():
    module = ControllerModule({}, set(), check_mode=True, diff=True)
    with pytest.raises(ModuleEnded) as ended:
        module.fail_json(msg="invalid input: replicas: must be a whole number", field="replicas")
    assert ended.value.result["failed"] is True
    assert (ended.value.result["msg"], ended.value.result["field"]) == (
        "invalid input: replicas: must be a whole number", "replicas")
