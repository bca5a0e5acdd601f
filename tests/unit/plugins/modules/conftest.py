"""Modules run in-process against a real listener: real gRPC on loopback, real SQLite,
no Kubernetes (that part is the integration tests')."""
from __future__ import annotations

import json
import pathlib
import sys

import pytest

from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4]))  # the lab package


@pytest.fixture
def listener(tmp_path):
    """A listener of cluster us-east (region us) with us-west and eu-west registered."""
    from ansible_collections.multicluster.kube.listener.config import Config
    from ansible_collections.multicluster.kube.listener.server import Listener
    from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster
    from lab.processes import free_port

    port = free_port()
    cfg = Config(cluster="us-east", region="us", listen=f"127.0.0.1:{port}", data_dir=str(tmp_path / "data"),
                 insecure=True, manage_kubernetes=False, token="sesame", discover_peers=False,
                 failure_timeout=3600.0).finish()
    node = Listener(cfg)
    node.start()
    node.write([(c.key, c) for c in (Cluster(name="us-west", region="us"), Cluster(name="eu-west", region="eu"))],
               author="test")
    yield node
    node.stop(grace=0)


@pytest.fixture
def run_module(listener, capsys):
    """run_module(module, args, check=False, diff=False) -> the module's JSON result."""

    def run(module, args, check=False, diff=False):
        args = {"endpoint": listener.config.listen, "token": "sesame", **args,
                "_ansible_check_mode": check, "_ansible_diff": diff}
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        return json.loads(capsys.readouterr().out)

    return run
