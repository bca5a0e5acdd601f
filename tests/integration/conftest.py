"""Integration tests: everything here runs against the lab's real clusters."""
from __future__ import annotations

import pytest

from lab_fixtures import kube, lab, listeners, namespace  # noqa: F401 (fixtures)


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)
