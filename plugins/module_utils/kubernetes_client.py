# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one builder of Kubernetes API clients, for the modules (their kubernetes.core-style
options, kubernetes_auth.K8S_AUTH_ARGS) and the listener (its kubernetes settings) alike.
Imports nothing of Ansible: the listener runs without it."""
from __future__ import annotations


def api_client(params):
    """A kubernetes ApiClient: the pod's service account with `in_cluster`; else from `host`
    (+ token/certificates) when given; else from a kubeconfig (and context)."""
    from kubernetes import client, config

    if params.get("in_cluster"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    if params.get("host"):
        configuration = client.Configuration()
        configuration.host = params["host"]
        if params.get("api_key"):
            configuration.api_key = {"authorization": f"Bearer {params['api_key']}"}
        if params.get("validate_certs") is not None:
            configuration.verify_ssl = params["validate_certs"]
        configuration.ssl_ca_cert = params.get("ca_cert")
        configuration.cert_file = params.get("client_cert")
        configuration.key_file = params.get("client_key")
        return client.ApiClient(configuration)
    api = config.new_client_from_config(config_file=params.get("kubeconfig") or None,
                                        context=params.get("context") or None)
    if params.get("validate_certs") is False:
        api.configuration.verify_ssl = False
    return api
