# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  action:
    support: full
    description:
      - The module has an action plugin. When the task would run the module on the controller
        (a local connection, without C(become), C(async) or a task C(environment)) and the
        controller has grpcio and protobuf, the action plugin runs the module's code in Ansible's
        worker process, with the same argument checks and result, without starting a module process.
      - Anywhere else the module runs on the host as usual.
"""
