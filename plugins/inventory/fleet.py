# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: fleet
short_description: The fleet's clusters as an inventory, read from any listener
version_added: 0.1.0
description:
  - Asks a listener of the fleet for the global configuration and makes a group per region
    and a host per cluster, with the cluster's listener endpoint, weight, health and replica totals
    as variables.
  - The inventory file's name must end in C(fleet.yml) or C(fleet.yaml).
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - inventory_cache
  - constructed
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [multicluster.kube.fleet]
  endpoint:
    description:
      - Listeners of the fleet, each C(host:port) (a list, or one string of them separated by commas); any of them
        answers. The first that connects within 2 seconds is asked; one that does not answer, the next.
    type: list
    elements: str
    required: true
    env:
      - name: MULTICLUSTER_ENDPOINT
  token:
    description: The listener's client token.
    type: str
    env:
      - name: MULTICLUSTER_TOKEN
  ca_path:
    description: CA certificate to verify the listener's TLS certificate; plain text without it.
    type: path
    env:
      - name: MULTICLUSTER_CA_PATH
  timeout:
    description: Seconds to wait for the listener.
    type: float
    default: 30
requirements:
  - grpcio
  - protobuf
"""

EXAMPLES = r"""
# fleet.yml
plugin: multicluster.kube.fleet
endpoint: us-east.example.com:7443
token: "{{ lookup('ansible.builtin.env', 'FLEET_TOKEN') }}"
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/multicluster-inventory
keyed_groups:
  - key: "'up' if multicluster_healthy else 'down'"
    prefix: health
"""

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import HAS_GRPC


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "multicluster.kube.fleet"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("fleet.yml", "fleet.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option("cache") and cache
        hosts = None
        if use_cache:
            try:
                hosts = self._cache[cache_key]
            except KeyError:
                pass
        if hosts is None:
            hosts = self._fetch()
            if self.get_option("cache"):
                self._cache[cache_key] = hosts
        self._populate(hosts)

    def _fetch(self) -> dict:
        if not HAS_GRPC:
            raise AnsibleError("the multicluster.kube.fleet inventory needs the grpcio and protobuf Python packages")
        from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient, FleetError
        from ansible_collections.multicluster.kube.plugins.module_utils.model import global_config

        endpoint = self.get_option("endpoint")
        if isinstance(endpoint, str):
            endpoint = [e.strip() for e in endpoint.split(",") if e.strip()]
        client = FleetClient(endpoint, token=self.get_option("token"), ca_file=self.get_option("ca_path"),
                             timeout=self.get_option("timeout"))
        try:
            records, health, _by = client.records()
        except FleetError as error:
            raise AnsibleError(f"multicluster.kube.fleet: listener {error.endpoint}: {error.code}: {error.detail}") from None
        finally:
            client.close()
        return hosts_from(global_config(records), health)

    def _populate(self, hosts: dict) -> None:
        for name, variables in sorted(hosts.items()):
            group = self.inventory.add_group(variables["multicluster_region"])
            self.inventory.add_host(name, group=group)
            for key, value in variables.items():
                self.inventory.set_variable(name, key, value)
            strict = self.get_option("strict")
            self._set_composite_vars(self.get_option("compose"), variables, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, name, strict=strict)


def hosts_from(tree: dict, health: dict) -> dict:
    """{cluster: its host variables} from the seed's tree (model.global_config) and the
    answering listener's {cluster: (healthy, seconds since heard)}."""
    hosts = {}
    for region_name, region in tree["regions"].items():
        for name, cluster in region["clusters"].items():
            services = cluster["services"].values()
            hosts[name] = {
                "multicluster_region": region_name,
                "multicluster_endpoint": cluster["endpoint"],
                "multicluster_weight": cluster["weight"],
                "multicluster_capacity": cluster["capacity"],
                "multicluster_cordoned": cluster["cordoned"],
                "multicluster_labels": cluster["labels"],
                "multicluster_healthy": health.get(name, (False, -1.0))[0],
                "multicluster_desired": sum(s["desired"] for s in services),
                "multicluster_ready": sum(s["ready"] for s in services),
            }
    return hosts
