"""Bad-input fuzzing against a real listener (in-process, real gRPC on loopback)."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the lab package

import inprocess  # noqa: E402  (tests/, on the path from tests/conftest.py)


@pytest.fixture(scope="module")
def listener(tmp_path_factory):
    with inprocess.listener(tmp_path_factory.mktemp("fuzz"), clusters=(("us-west", "us"),)) as node:
        yield node
