# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # The same option names and K8S_AUTH_* variables as kubernetes.core, so AWX's
    # "OpenShift or Kubernetes API Bearer Token" credential works unchanged.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file. If not set, the environment variable E(K8S_AUTH_KUBECONFIG) is used,
        then the client's default (E(KUBECONFIG), C(~/.kube/config)).
    type: path
  context:
    description:
      - The kubeconfig context to use. If not set, the environment variable E(K8S_AUTH_CONTEXT) is used.
    type: str
  host:
    description:
      - URL of the Kubernetes API server; with O(api_key) it replaces the kubeconfig.
        If not set, the environment variable E(K8S_AUTH_HOST) is used.
    type: str
  api_key:
    description:
      - Bearer token for the API server. If not set, the environment variable E(K8S_AUTH_API_KEY) is used.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's certificate. If not set, the environment variable
        E(K8S_AUTH_VERIFY_SSL) is used.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA certificate of the API server. If not set, the environment variable E(K8S_AUTH_SSL_CA_CERT) is used.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate for the API server. If not set, the environment variable E(K8S_AUTH_CERT_FILE) is used.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Key of O(client_cert). If not set, the environment variable E(K8S_AUTH_KEY_FILE) is used.
    type: path
    aliases: [key_file]
requirements:
  - kubernetes
"""
