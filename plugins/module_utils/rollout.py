# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A progressive rollout across a region's clusters, as a pure state machine.

The state (Rollout) travels in the service's replicated record, so that whichever listener
coordinates the region advances it from the clusters' status reports, and a new coordinator
(the previous one's cluster gone mid-rollout) continues from where the record says, releasing
no cluster twice or out of order. `advance` is the one transition: given the state, the
strategy, the region's clusters in release order and what each reports, it gives the next
state. `superseding` starts a rollout for a new revision from the clusters as they are (a
change during a rollout supersedes it). Strings, integers and sorted tuples only, so every
listener computes the same.

A revision is what a service runs apart from how many replicas and where (model.Release); a
cluster held by a rollout runs the revision it ran when the rollout began until it is
released, and goes back to it when the rollout is reverted.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError, check_int

HALT, REVERT = "halt", "revert"
PROGRESSING, PAUSED, DONE, HALTED, REVERTED = "progressing", "paused", "done", "halted", "reverted"
STATES = (PROGRESSING, PAUSED, DONE, HALTED, REVERTED)
ENDED = (DONE, HALTED, REVERTED)
ORDERS = ("name", "weight")
DEFAULT_DEADLINE_S = 600


@dataclass(frozen=True)
class Strategy:
    """max_parallel: clusters in progress at once (0: all at once, as without a strategy);
    order: "name", "weight" (heaviest first) or an explicit tuple of cluster names (the
    rest after them, by name); progress_deadline_s: how long a wave may take; pause_s: the
    wait between waves; on_failure: HALT (the rest stay on the old revision) or REVERT (those
    released go back to the revision they ran)."""

    max_parallel: int = 0
    order: object = "name"
    progress_deadline_s: int = DEFAULT_DEADLINE_S
    pause_s: int = 0
    on_failure: str = HALT

    def __post_init__(self):
        check_int("rollout.max_parallel", self.max_parallel, 0, 10_000)
        check_int("rollout.progress_deadline", self.progress_deadline_s, 1, 86_400)
        check_int("rollout.pause", self.pause_s, 0, 86_400)
        if self.on_failure not in (HALT, REVERT):
            raise ValidationError("rollout.on_failure", "must be halt or revert", self.on_failure)
        if isinstance(self.order, (list, tuple)):
            object.__setattr__(self, "order", tuple(self.order))
            if not self.order:
                raise ValidationError("rollout.order", "must name at least one cluster when it is a list", [])
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

    def as_dict(self) -> dict:
        return {"max_parallel": self.max_parallel,
                "order": list(self.order) if isinstance(self.order, tuple) else self.order,
                "progress_deadline": self.progress_deadline_s, "pause": self.pause_s, "on_failure": self.on_failure}


@dataclass(frozen=True)
class Report:
    """What a cluster's status says of the service: the revision it runs, and whether that
    revision is rolled out there (all its replicas updated, available and ready, no old pods)."""

    revision: str
    rolled_out: bool


@dataclass(frozen=True)
class Rollout:
    """The replicated state of a rollout to `target`. held: ((cluster, revision)), sorted: the
    clusters that ran another revision when it began, each with that revision; releases: the
    revisions `held` and `last_good` name, as what a cluster renders (anything with a
    `revision`; opaque here); released: the held clusters let go to the target, in release
    order; since_ms: when the wave in progress (or the pause, or the end) began; state, why."""

    target: str
    last_good: str = ""
    held: tuple = ()
    releases: tuple = ()
    released: tuple = ()
    since_ms: int = 0
    state: str = PROGRESSING
    why: str = ""

    def __post_init__(self):
        if self.state not in STATES:
            raise ValidationError("rollout.state", "must be one of " + ", ".join(STATES), self.state)
        object.__setattr__(self, "held", tuple(sorted((c, r) for c, r in self.held)))
        object.__setattr__(self, "releases", tuple(sorted(self.releases, key=lambda r: r.revision)))
        object.__setattr__(self, "released", tuple(self.released))

    @property
    def held_map(self) -> dict:
        return dict(self.held)

    def runs_target(self, cluster: str) -> bool:
        """Whether `cluster` should run the target revision now (else the revision it holds)."""
        held = self.held_map
        return cluster not in held or (cluster in self.released and self.state != REVERTED)

    def expected(self, cluster: str) -> str:
        """The revision `cluster` should run now."""
        return self.target if self.runs_target(cluster) else self.held_map[cluster]

    def release_of(self, revision: str):
        """The release of a held (or the last good) revision, or None."""
        return next((r for r in self.releases if r.revision == revision), None)

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def as_dict(self) -> dict:
        return {"target": self.target, "last_good": self.last_good, "state": self.state, "why": self.why,
                "released": list(self.released), "held": dict(self.held), "since_ms": self.since_ms}

    def in_progress(self, order: tuple, reports: dict) -> list:
        """The clusters running the target that have not rolled it out yet, in `order`."""
        return [c for c in order if self.runs_target(c) and not _rolled_out(reports, c, self.target)]


def superseding(previous, previous_release, release, clusters, now_ms: int, all_at_once: bool = False) -> Rollout:
    """A rollout to `release` (anything with a `revision`) of a service that ran
    `previous_release` under the rollout `previous` (None: none), from the region's
    `clusters` as they are: each that should run another revision now holds it until it is
    released. all_at_once: one wave of every cluster (a rollback by hand)."""
    target = release.revision
    runs = {c: previous.expected(c) if previous is not None else previous_release.revision for c in clusters}
    held = {c: r for c, r in runs.items() if r != target}
    if previous is not None and not previous.state == DONE and previous.last_good:
        last_good = previous.last_good
    else:
        last_good = previous_release.revision
    if last_good == target:
        last_good = previous_release.revision
    pool = {r.revision: r for r in (previous.releases if previous is not None else ())}
    pool[previous_release.revision] = previous_release
    wanted = set(held.values()) | {last_good}
    rollout = Rollout(target=target, last_good=last_good, held=tuple(held.items()),
                      releases=tuple(r for v, r in pool.items() if v in wanted and v != target), since_ms=now_ms)
    if not held:
        return _done(rollout, now_ms)
    if all_at_once:
        return replace(rollout, released=tuple(sorted(held)))
    return rollout


def advance(rollout: Rollout, strategy: Strategy, order: tuple, reports: dict, now_ms: int) -> Rollout:
    """The next state. order: the region's clusters in release order (Strategy.ordered);
    reports: {cluster: Report} of those that reported."""
    if rollout.ended:
        return rollout
    waiting = rollout.in_progress(order, reports)
    late = [c for c in waiting if now_ms - rollout.since_ms > strategy.progress_deadline_s * 1000]
    if late:
        ended = HALTED if strategy.on_failure == HALT else REVERTED
        return replace(rollout, state=ended, since_ms=now_ms,
                       why=f"{late[0]} did not roll revision {rollout.target} out within "
                           f"{strategy.progress_deadline_s} s")
    if waiting:
        return rollout
    held = rollout.held_map
    remaining = [c for c in order if c in held and c not in rollout.released]
    if not remaining:
        return _done(rollout, now_ms)
    if rollout.released and strategy.pause_s:
        if rollout.state != PAUSED:
            return replace(rollout, state=PAUSED, since_ms=now_ms, why=f"pause of {strategy.pause_s} s between waves")
        if now_ms - rollout.since_ms < strategy.pause_s * 1000:
            return rollout
    wave = remaining if not strategy.max_parallel else remaining[:strategy.max_parallel]
    return replace(rollout, released=rollout.released + tuple(wave), since_ms=now_ms, state=PROGRESSING, why="")


def resumed(rollout: Rollout, now_ms: int) -> Rollout:
    """A halted or reverted rollout going on: its released clusters (back) on the target, the
    wave's deadline from now."""
    if rollout.state not in (HALTED, REVERTED):
        return rollout
    return replace(rollout, state=PROGRESSING, since_ms=now_ms, why="")


def _done(rollout: Rollout, now_ms: int) -> Rollout:
    """Every cluster on the target: nothing held any more; the last good release is kept for a
    rollback by hand."""
    keep = tuple(r for r in rollout.releases if r.revision == rollout.last_good)
    return replace(rollout, held=(), releases=keep, state=DONE, since_ms=now_ms,
                   why="every cluster runs the target revision")


def _rolled_out(reports: dict, cluster: str, target: str) -> bool:
    report = reports.get(cluster)
    return report is not None and report.revision == target and report.rolled_out
