"""Chaos tests: the lab, listeners behind cuttable proxies, and faults injected at random."""
from __future__ import annotations

import pytest

from lab_fixtures import kube, lab, namespace

__all__ = ["kube", "lab", "namespace"]  # fixtures, shared with the other suites


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)
