"""Chaos tests: the lab, listeners behind cuttable proxies, and faults injected at random."""
from __future__ import annotations

import pytest

from lab_fixtures import kube, lab, namespace  # noqa: F401 (fixtures)


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)
