"""Bad-input fuzzing against a real listener (in-process, real gRPC on loopback)."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the lab package


@pytest.fixture(scope="module")
def listener(tmp_path_factory):
    from ansible_collections.multicluster.kube.listener.config import Config
    from ansible_collections.multicluster.kube.listener.server import Listener
    from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster
    from lab.processes import free_port

    cfg = Config(cluster="us-east", region="us", listen=f"127.0.0.1:{free_port()}",
                 data_dir=str(tmp_path_factory.mktemp("fuzz")), insecure=True, manage_kubernetes=False,
                 token="sesame", discover_peers=False, failure_timeout=3600.0).finish()
    node = Listener(cfg)
    node.start()
    node.write([(Cluster(name="us-west", region="us").key, Cluster(name="us-west", region="us"))], author="fuzz")
    yield node
    node.stop(grace=0)
