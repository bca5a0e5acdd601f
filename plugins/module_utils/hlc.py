# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hybrid logical clock: stamps that follow wall time yet are totally ordered.

A stamp is (physical_ms, logical, origin). Comparing stamps as tuples gives a
total order that every listener computes alike; `origin` (the cluster name)
breaks the last tie, so two clusters never produce equal stamps.
"""
from __future__ import annotations

import threading
import time
from typing import NamedTuple


MAX_LOGICAL = 2**31 - 1  # the logical counter never reaches the end of the wire's uint32
# A stamp from a peer more than this ahead of our wall clock is refused: one listener with a
# wrong clock (or a forged stamp) would otherwise drag every clock in the fleet along.
MAX_AHEAD_MS = 5 * 60 * 1000


class Stamp(NamedTuple):
    physical_ms: int
    logical: int
    origin: str

    def __str__(self) -> str:
        return f"{self.physical_ms}.{self.logical}@{self.origin}"


ZERO = Stamp(0, 0, "")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class HybridClock:
    """Issues stamps for one origin; `observe` keeps it ahead of stamps seen from peers."""

    def __init__(self, origin: str, now_ms=wall_clock_ms):
        self.origin = origin
        self._now_ms = now_ms
        self._last = Stamp(0, 0, origin)
        self._lock = threading.Lock()

    def now(self) -> Stamp:
        with self._lock:
            physical = self._now_ms()
            if physical > self._last.physical_ms:
                self._last = Stamp(physical, 0, self.origin)
            elif self._last.logical >= MAX_LOGICAL:  # borrow a millisecond rather than overflow
                self._last = Stamp(self._last.physical_ms + 1, 0, self.origin)
            else:
                self._last = Stamp(self._last.physical_ms, self._last.logical + 1, self.origin)
            return self._last

    def observe(self, seen: Stamp) -> None:
        """Move past a stamp received from elsewhere so later local stamps order after it."""
        with self._lock:
            if (seen.physical_ms, seen.logical) > (self._last.physical_ms, self._last.logical):
                self._last = Stamp(seen.physical_ms, seen.logical, self.origin)
