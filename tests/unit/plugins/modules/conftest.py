"""Modules run in-process against a real listener: real gRPC on loopback, real SQLite,
no Kubernetes (that part is the integration tests')."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4]))  # the lab package

import inprocess  # noqa: E402  (tests/, on the path from tests/conftest.py)


@pytest.fixture
def listener(tmp_path):
    with inprocess.listener(tmp_path / "data") as node:
        yield node


@pytest.fixture
def run_module(listener, capsys):
    """run_module(module, args, check=False, diff=False) -> the module's JSON result."""

    def run(module, args, check=False, diff=False):
        return inprocess.run_module(module, {"endpoint": listener.config.network.listen, "token": inprocess.TOKEN, **args},
                                    capsys, check=check, diff=diff)

    return run
