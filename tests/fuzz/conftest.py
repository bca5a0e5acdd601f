"""Bad-input fuzzing against a real listener (in-process, real gRPC on loopback)."""
from __future__ import annotations

import collections
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))  # the lab package

import inprocess  # noqa: E402  (tests/, on the path from tests/conftest.py)


@pytest.fixture(scope="module")
def listener(tmp_path_factory):
    with inprocess.listener(tmp_path_factory.mktemp("fuzz"), clusters=(("us-west", "us"),)) as node:
        yield node


@pytest.fixture
def tried(request):
    """What kinds of case one fuzz test tried, counted by the test itself. At its end they are
    printed (run with -s), and each kind its `tries` marker names must have occurred, so a
    strategy that stopped producing, say, refused pushes fails the test that relies on them."""
    counts = collections.Counter()
    yield counts
    print(f"\n{request.node.name}: {sum(counts.values())} cases: {dict(sorted(counts.items()))}")
    marker = request.node.get_closest_marker("tries")
    missing = [kind for kind in (marker.args if marker else ()) if not counts[kind]]
    assert not missing, f"{request.node.name} tried no case of: {', '.join(missing)}"
