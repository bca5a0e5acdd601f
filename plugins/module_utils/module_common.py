# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module of the collection shares: the listener connection options (mirrored by
doc_fragments/listener.py), the client built from them, and the one place where a listener's
error becomes a module failure (listener_client)."""
from __future__ import annotations

import contextlib
import getpass
import socket

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import GRPC_IMPORT_ERROR, HAS_GRPC
from ansible_collections.multicluster.kube.plugins.module_utils.proto.fleet_pb2 import (
    HAS_PROTOBUF, PROTOBUF_IMPORT_ERROR)

LISTENER_ARGS = dict(
    endpoint=dict(type="list", elements="str", aliases=["endpoints"], fallback=(env_fallback, ["MULTICLUSTER_ENDPOINT"])),
    token=dict(type="str", no_log=True, fallback=(env_fallback, ["MULTICLUSTER_TOKEN"])),
    ca_path=dict(type="path", fallback=(env_fallback, ["MULTICLUSTER_CA_PATH"])),
    tls_client_cert=dict(type="path", fallback=(env_fallback, ["MULTICLUSTER_TLS_CLIENT_CERT"])),
    tls_client_key=dict(type="path", no_log=False, fallback=(env_fallback, ["MULTICLUSTER_TLS_CLIENT_KEY"])),
    tls_server_name=dict(type="str"),
    timeout=dict(type="float", default=30.0, fallback=(env_fallback, ["MULTICLUSTER_TIMEOUT"])),
    acting_for=dict(type="str", fallback=(env_fallback, ["MULTICLUSTER_ACTING_FOR"])),
)
LISTENER_REQUIRED_TOGETHER = [("tls_client_cert", "tls_client_key")]
# The options of the modules that change the fleet and may wait for it (client.WAIT_FOR).
WAIT_ARGS = dict(
    wait=dict(type="str", choices=["committed", "propagated", "applied", "ready", "rolled_out"], default="committed"),
    wait_timeout=dict(type="float", default=120.0),
)


def listener_argument_spec(**module_args) -> dict:
    spec = dict(LISTENER_ARGS)
    spec.update(module_args)
    return spec


def require_libraries(module) -> None:
    if not HAS_GRPC:
        module.fail_json(msg=missing_required_lib("grpcio"), exception=GRPC_IMPORT_ERROR)
    if not HAS_PROTOBUF:
        module.fail_json(msg=missing_required_lib("protobuf"), exception=PROTOBUF_IMPORT_ERROR)


def fleet_client(module):
    """A FleetClient from the module's connection options; it acts for `acting_for`, by
    default the user running Ansible on this host (the listener records the author: the
    identity its token or certificate authenticates)."""
    require_libraries(module)
    from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetClient

    p = module.params
    if not p["endpoint"]:
        module.fail_json(msg="endpoint: a listener to talk to is required (host:port, or several), "
                             "as an option or as MULTICLUSTER_ENDPOINT")
    if p["tls_client_cert"] and not p["ca_path"]:
        module.fail_json(msg="tls_client_cert: mutual TLS needs ca_path too")
    return FleetClient(p["endpoint"], token=p["token"], ca_file=p["ca_path"], cert_file=p["tls_client_cert"],
                       key_file=p["tls_client_key"], server_name=p["tls_server_name"], timeout=p["timeout"],
                       acting_for=p["acting_for"] or f"ansible:{_user()}@{socket.gethostname()}")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


@contextlib.contextmanager
def listener_client(module, action: str):
    """A FleetClient for the block; a listener's error in it fails the module saying what to
    check, naming `action` ("reading the global configuration"); the channel is always closed."""
    from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError

    client = fleet_client(module)
    try:
        yield client
    except FleetError as error:
        fail_from_fleet_error(module, error, action)
    finally:
        client.close()


def fail_from_fleet_error(module, error, action: str) -> None:
    """Turn a listener's refusal into a module failure that says what to fix."""
    hints = {
        "UNAUTHENTICATED": "check the token option (or MULTICLUSTER_TOKEN)",
        "UNAVAILABLE": "check that a listener serves at endpoint, and ca_path for TLS",
        "DEADLINE_EXCEEDED": "the listener did not answer in time; raise timeout",
    }
    hint = hints.get(error.code, "")
    module.fail_json(msg=f"{action} failed: {error.detail or error.code}" + (f" ({hint})" if hint else ""),
                     grpc_status=error.code, endpoint=error.endpoint)


def exit_waited(module, response, result: dict) -> None:
    """End the module with `result`, failed if the change it committed did not reach what
    O(wait) asked for (a check mode run waits for nothing)."""
    if not response.waited and not module.check_mode:
        module.fail_json(msg=f"the change is committed, but {module.params['wait']} was not reached: "
                             f"{response.wait_detail}", **result)
    module.exit_json(**result)
