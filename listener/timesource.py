"""The time the listener's replication parts read: the system's clocks, or a simulation's.

Heartbeats, health, the transport's retry pauses, the replica's tombstone ages and promises,
and the protocol's tombstone collection read the time through a TimeSource, so that the same
code runs on simulated time (lab/simulation.py: a thousand members in one process) as it runs
on the system's clocks in a listener.
"""
from __future__ import annotations

import time

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms


class TimeSource:
    """monotonic(): seconds for intervals and deadlines; wall_ms(): the wall clock, in ms."""

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def wall_ms() -> int:
        return wall_clock_ms()


SYSTEM = TimeSource()
