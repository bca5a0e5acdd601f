# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs multicluster.kube.rollout on the controller when its task would run there (plugin_utils/fleet_action.py)."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.modules import rollout
from ansible_collections.multicluster.kube.plugins.plugin_utils.fleet_action import FleetModuleAction


class ActionModule(FleetModuleAction):
    module = rollout
