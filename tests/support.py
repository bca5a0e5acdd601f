"""Helpers shared by the integration tests."""
from __future__ import annotations

import time


def wait_for(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Poll predicate until it returns something true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
