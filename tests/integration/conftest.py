"""Integration tests: everything here runs against the lab's real clusters."""
from __future__ import annotations

import pytest

from lab_fixtures import heard, kube, lab, listeners, namespace

__all__ = ["heard", "kube", "lab", "listeners", "namespace"]  # fixtures, shared with the other suites


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)
