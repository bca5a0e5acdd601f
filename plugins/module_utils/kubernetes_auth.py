# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes API clients from kubernetes.core-style options (mirrored by doc_fragments/k8s_auth.py)."""
from __future__ import annotations

from ansible.module_utils.basic import env_fallback

K8S_AUTH_ARGS = dict(
    kubeconfig=dict(type="path", fallback=(env_fallback, ["K8S_AUTH_KUBECONFIG"])),
    context=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_CONTEXT"])),
    host=dict(type="str", fallback=(env_fallback, ["K8S_AUTH_HOST"])),
    api_key=dict(type="str", no_log=True, fallback=(env_fallback, ["K8S_AUTH_API_KEY"])),
    validate_certs=dict(type="bool", aliases=["verify_ssl"], fallback=(env_fallback, ["K8S_AUTH_VERIFY_SSL"])),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"], fallback=(env_fallback, ["K8S_AUTH_SSL_CA_CERT"])),
    client_cert=dict(type="path", aliases=["cert_file"], fallback=(env_fallback, ["K8S_AUTH_CERT_FILE"])),
    client_key=dict(type="path", aliases=["key_file"], no_log=False,
                    fallback=(env_fallback, ["K8S_AUTH_KEY_FILE"])),
)


def api_client(params):
    """A kubernetes ApiClient: from host (+ token/certificates) when given, else from a kubeconfig."""
    from kubernetes import client, config

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
    api = config.new_client_from_config(config_file=params.get("kubeconfig"), context=params.get("context"))
    if params.get("validate_certs") is False:
        api.configuration.verify_ssl = False
    return api
