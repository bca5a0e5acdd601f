# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of the modules that only talk to a listener: when the task would run the
module on the controller anyway, the module's own code runs in the controller's worker process,
with the same argument checks and the same result, and no module process.

Such a module spends most of its time being started: Ansible packs it (AnsiballZ), starts a
Python and imports ansible.module_utils, about 0.3 s a task, several times the gRPC call itself.
Only a task on a local connection, without become, async or a task environment, runs here; any
other (another host, a different user or environment, or no grpcio/protobuf on the controller)
runs the module as Ansible always does."""
from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import HAS_GRPC
from ansible_collections.multicluster.kube.plugins.module_utils.proto.fleet_pb2 import HAS_PROTOBUF


class ModuleEnded(Exception):
    """Raised by exit_json/fail_json: the module's result."""

    def __init__(self, result: dict):
        super().__init__()
        self.result = result


class ControllerModule:
    """What the fleet modules use of AnsibleModule, for their code run by the action plugin."""

    def __init__(self, params: dict, no_log_values: set, check_mode: bool, diff: bool):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self._no_log_values = no_log_values

    def exit_json(self, **result):
        result.setdefault("invocation", {"module_args": self.params})
        raise ModuleEnded(remove_values(result, self._no_log_values))

    def fail_json(self, msg: str, **result):
        self.exit_json(failed=True, msg=msg, **result)


def runs_on_controller(transport: str, become: bool, async_seconds: int, environment, has_libraries: bool) -> bool:
    """Whether the module would run here, as this user, in this environment, and can. A task's
    environment is a list of mappings, [{}] when none is set."""
    return transport == "local" and not become and not async_seconds and not any(environment or ()) and has_libraries


class FleetModuleAction(ActionBase):
    """Each action plugin sets `module`: the module's Python module, with MODULE_SPEC and run()."""

    _supports_check_mode = True
    _supports_async = True
    module = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # deprecated by ActionBase.run, unused
        if not runs_on_controller(self._connection.transport, self._play_context.become, self._task.async_val,
                                  self._task.environment, HAS_GRPC and HAS_PROTOBUF):
            return merge_hash(result, self._run_as_module(task_vars))

        module = ControllerModule(*self._checked_arguments(), bool(self._task.check_mode), bool(self._task.diff))
        try:
            self.module.run(module)
        except ModuleEnded as ended:
            return merge_hash(result, ended.result)
        raise RuntimeError(f"{self._task.action} ended without a result")  # run() always ends with exit/fail

    def _checked_arguments(self):
        """(parameters, values to hide) as AnsibleModule would check them, failing with its words."""
        spec = {k: v for k, v in self.module.MODULE_SPEC.items() if k != "supports_check_mode"}
        validation = ArgumentSpecValidator(**spec).validate(self._task.args)
        if validation.error_messages:
            msg = validation.errors.msg
            if isinstance(validation.errors[0], UnsupportedError):
                msg = f"Unsupported parameters for ({self._task.resolved_action}) module: {msg}"
            raise AnsibleActionFail(msg)
        return validation.validated_parameters, validation._no_log_values  # pylint: disable=protected-access

    def _run_as_module(self, task_vars):
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)  # pylint: disable=protected-access
        return result
