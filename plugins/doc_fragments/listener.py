# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  endpoint:
    description:
      - The listeners to talk to, each as C(host:port) - one, or several (a list, or a string of them separated by
        commas). Any listener of the fleet can serve any request.
      - With several, a request goes to the first that connects within 2 seconds; one that is down, hung or cut
        off is passed over, and a request it did not serve goes to the next. Every request is safe to make
        twice (the same intent again changes nothing) but M(multicluster.kube.rollout)'s V(rollback) without a
        revision, which is not moved on.
      - If not set, the environment variable E(MULTICLUSTER_ENDPOINT) is used; one of them is required.
    type: list
    elements: str
    aliases: [endpoints]
  token:
    description:
      - Bearer token the listener expects from clients.
      - If not set, the environment variable E(MULTICLUSTER_TOKEN) is used.
    type: str
  ca_path:
    description:
      - CA certificate (PEM) to verify the listener's TLS certificate. Without it the connection is plain text.
      - If not set, the environment variable E(MULTICLUSTER_CA_PATH) is used.
    type: path
  tls_client_cert:
    description:
      - Client certificate (PEM) for mutual TLS. Needs O(tls_client_key) and O(ca_path).
      - If not set, the environment variable E(MULTICLUSTER_TLS_CLIENT_CERT) is used.
    type: path
  tls_client_key:
    description:
      - Private key (PEM) of O(tls_client_cert).
      - If not set, the environment variable E(MULTICLUSTER_TLS_CLIENT_KEY) is used.
    type: path
  tls_server_name:
    description:
      - Name to expect in the listener's certificate when it differs from the host in O(endpoint).
    type: str
  acting_for:
    description:
      - Whom the change is made for, such as the AWX user who launched the job (C(awx_user_name)).
      - Recorded in the service's history beside the author, which is always the identity the listener
        authenticated (its O(token)); never taken as the author.
      - If not set, the environment variable E(MULTICLUSTER_ACTING_FOR) is used, and without it
        C(ansible:USER@HOST) of the user running the module.
    type: str
  timeout:
    description:
      - Seconds to wait for the listener to answer a call (a wait a module is asked for comes on top).
      - If not set, the environment variable E(MULTICLUSTER_TIMEOUT) is used.
    type: float
    default: 30
requirements:
  - grpcio
  - protobuf
notes:
  - All modules of this collection are in the action group C(multicluster.kube.fleet), so
    C(module_defaults) can set the connection options once for a play.
"""
