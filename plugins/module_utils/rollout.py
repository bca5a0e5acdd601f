# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A progressive rollout across a region's clusters, as a pure state machine.

The state (Rollout) is meant to travel in the service's replicated record, so that whichever
listener coordinates the region advances it from the clusters' status reports, and a new
coordinator (the previous one's cluster gone mid-rollout) continues from where the record
says, releasing no cluster twice or out of order. `advance` is the one transition: given the
state, the strategy, the region's clusters in release order and what each reports, it gives
the next state. Integers and sorted tuples only, so every listener computes the same.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError, check_int

HALT, REVERT = "halt", "revert"
PROGRESSING, PAUSED, DONE, HALTED, REVERTED = "progressing", "paused", "done", "halted", "reverted"
ORDERS = ("name", "weight")


@dataclass(frozen=True)
class Strategy:
    """max_parallel: clusters in progress at once (0: all at once, as without a strategy);
    order: "name", "weight" (heaviest first) or an explicit tuple of cluster names (the
    rest after them, by name); progress_deadline_s: how long a released cluster may take;
    pause_s: the wait between waves; on_failure: HALT (the rest stay on the old revision) or
    REVERT (those released go back to the last good revision)."""

    max_parallel: int = 0
    order: object = "name"
    progress_deadline_s: int = 600
    pause_s: int = 0
    on_failure: str = HALT

    def __post_init__(self):
        check_int("rollout.max_parallel", self.max_parallel, 0, 10_000)
        check_int("rollout.progress_deadline_s", self.progress_deadline_s, 1, 86_400)
        check_int("rollout.pause_s", self.pause_s, 0, 86_400)
        if self.on_failure not in (HALT, REVERT):
            raise ValidationError("rollout.on_failure", "must be halt or revert", self.on_failure)
        if isinstance(self.order, (list, tuple)):
            object.__setattr__(self, "order", tuple(self.order))
            if len(set(self.order)) != len(self.order):
                raise ValidationError("rollout.order", "must name each cluster once", list(self.order))
        elif self.order not in ORDERS:
            raise ValidationError("rollout.order", "must be name, weight or a list of clusters", self.order)

    def ordered(self, clusters) -> tuple:
        """The release order of `clusters` ({name: weight})."""
        if isinstance(self.order, tuple):
            first = [c for c in self.order if c in clusters]
            return tuple(first + sorted(c for c in clusters if c not in first))
        if self.order == "weight":
            return tuple(sorted(clusters, key=lambda c: (-clusters[c], c)))
        return tuple(sorted(clusters))


@dataclass(frozen=True)
class Report:
    """What a cluster's status says of the service: the revision it runs, and whether that
    revision is rolled out there (all its replicas updated, available and ready)."""

    revision: str
    rolled_out: bool


@dataclass(frozen=True)
class Rollout:
    """The replicated state of a rollout: from last_good to target; released: the clusters
    let go to the target, in release order; since_ms: when the wave in progress (or the
    pause) began; state and why."""

    target: str
    last_good: str
    released: tuple = ()
    since_ms: int = 0
    state: str = PROGRESSING
    why: str = ""

    def runs_target(self, cluster: str) -> bool:
        """Whether `cluster` should run the target revision now (else the last good one)."""
        return cluster in self.released and self.state != REVERTED


def start(target: str, last_good: str, now_ms: int) -> Rollout:
    """A new rollout; a change during one supersedes it: start again from what runs."""
    return Rollout(target=target, last_good=last_good, since_ms=now_ms)


def advance(rollout: Rollout, strategy: Strategy, order: tuple, reports: dict, now_ms: int) -> Rollout:
    """The next state. order: the region's clusters in release order (Strategy.ordered);
    reports: {cluster: Report} of those that reported."""
    if rollout.state in (DONE, HALTED, REVERTED):
        return rollout
    waiting = [c for c in rollout.released if c in order and not _rolled_out(reports, c, rollout.target)]
    late = [c for c in waiting if now_ms - rollout.since_ms > strategy.progress_deadline_s * 1000]
    if late:
        halted = HALTED if strategy.on_failure == HALT else REVERTED
        return replace(rollout, state=halted, since_ms=now_ms,
                       why=f"{late[0]} did not run revision {rollout.target} within {strategy.progress_deadline_s} s")
    if waiting:
        return rollout
    remaining = [c for c in order if c not in rollout.released]
    if not remaining:
        return replace(rollout, state=DONE, since_ms=now_ms, why="every cluster runs the target revision")
    if rollout.released and strategy.pause_s:
        if rollout.state != PAUSED:
            return replace(rollout, state=PAUSED, since_ms=now_ms, why="pause between waves")
        if now_ms - rollout.since_ms < strategy.pause_s * 1000:
            return rollout
    wave = remaining if not strategy.max_parallel else remaining[:strategy.max_parallel]
    return replace(rollout, released=rollout.released + tuple(wave), since_ms=now_ms, state=PROGRESSING, why="")


def _rolled_out(reports: dict, cluster: str, target: str) -> bool:
    report = reports.get(cluster)
    return report is not None and report.revision == target and report.rolled_out
