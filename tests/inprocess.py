"""A listener and modules run inside the test process: real gRPC on loopback and real SQLite,
no Kubernetes. Shared by the module unit tests and the fuzz tests."""
from __future__ import annotations

import contextlib
import json
import pathlib

import pytest

from ansible.module_utils.testing import patch_module_args

TOKEN = "sesame"  # the clients'
PEER_TOKEN = "open-sesame"  # the peers'
COLLECTIONS = pathlib.Path(__file__).resolve().parent.parent / ".cache" / "collections"  # holds this checkout


@contextlib.contextmanager
def listener(data_dir, clusters=(("us-west", "us"), ("eu-west", "eu")), **settings):
    """The listener of us-east (region us), with `clusters` (name, region) registered too;
    `settings` replace the defaults (a clients_file replaces the one client token)."""
    from ansible_collections.multicluster.kube.listener.config import Config
    from ansible_collections.multicluster.kube.listener.features import advertised
    from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
    from ansible_collections.multicluster.kube.listener.server import Listener
    from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster
    from lab.processes import free_port

    defaults = dict(cluster="us-east", region="us", listen=f"127.0.0.1:{free_port()}", data_dir=str(data_dir),
                    insecure=True, manage_kubernetes=False, peer_token=PEER_TOKEN, discover_peers=False,
                    failure_timeout=3600.0, **({} if "clients_file" in settings else {"token": TOKEN}))
    cfg = Config.from_settings(**{**defaults, **settings})
    node = Listener(cfg)
    node.start()
    node.writer.write([(c.key, c) for c in (Cluster(name=n, region=r) for n, r in clusters)], author="test")
    # the other members have no listener here: they say, as their listeners would, what they run
    node.heartbeats.observe([(n, wall_clock_ms(), *advertised()) for n, _r in clusters])
    try:
        yield node
    finally:
        node.stop(grace=0)


def send_bytes(listener, method: str, raw: bytes):
    """Call `method` ("/multicluster.kube.v1.Fleet/PutCluster", ...) with `raw` as the request,
    with the token of its service; returns the RpcError it ended with, or None if it succeeded."""
    import grpc
    from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel

    channel = open_channel(listener.config.network.listen)
    try:
        channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)(
            raw, metadata=call_metadata(PEER_TOKEN if "/multicluster.kube.v1.Peer/" in method else TOKEN),
            timeout=10)
    except grpc.RpcError as err:
        return err
    finally:
        channel.close()
    return None


def run_module(module, args, capsys, check=False, diff=False) -> dict:
    """Run a module's main() in-process; returns its JSON result."""
    with patch_module_args({**args, "_ansible_check_mode": check, "_ansible_diff": diff}):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)
