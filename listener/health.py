"""Liveness as the rest of the listener uses it: this cluster's own heartbeats (Beacon) and
every cluster's health judged from theirs (Health).

A cluster of our region is healthy while its heartbeats (listener/heartbeats.py) keep
arriving within the failure timeout. A cluster of another region is judged by that region's
reports while some arrive (fresh within the failure timeout): healthy unless every fresh report
holds it down; without fresh reports, by its own heartbeats as well. The coordinator of a
region is its healthy cluster with the lowest name, a rule every survivor computes alike; its
first REPORTERS healthy clusters report it at each beat.
"""
from __future__ import annotations

from ansible_collections.multicluster.kube.listener.config import Timing


def heartbeat_push_gap(heartbeat_interval: float, failure_timeout: float) -> float:
    """Seconds a beat waits after the last push of the heartbeat table to the region: none with
    the defaults (1 s, 5 s: every beat is pushed); with a failure timeout many beats long, as
    many beats as still reach the region four times within it. Each push is a call to several
    region peers: with failover off, 100 listeners pushing every beat spent 40 % of their
    resting CPU on it."""
    beats = max(1, int(failure_timeout / (4 * heartbeat_interval)))
    return (beats - 0.5) * heartbeat_interval  # half a beat early: beats are not evenly spaced


# A beat is pushed to at most this many peers of the region (setting heartbeat_fanout): to each
# of them in a region of up to HEARTBEAT_FANOUT + 1 members, as before; in a larger one to that
# many in turn, and the rest hear it from them (each push carries the region's beats, and its
# answer what the pusher lacked). So a member's resting calls do not grow with its region (a
# region of N pushing to all made N×(N−1) calls a beat); a large region hears a beat a gossip
# round or two later (bench/bench_simulation.py measures both).
HEARTBEAT_FANOUT = Timing.heartbeat_fanout
REPORTERS = 2  # members reporting their region at each beat: the end of one leaves the other


class Beacon:
    """This cluster's heartbeats: each beat grows its entry in the table and, paced by
    heartbeat_push_gap, pushes the table to up to HEARTBEAT_FANOUT peers of its region; the
    rest of the region, and other regions, hear it by gossip. The first beat after a while
    without any (a start, an apiserver back) is pushed at once. When this cluster is one of its
    region's reporters, each beat also reports the region."""

    def __init__(self, region: str, heartbeats, replication, heartbeat_interval: float, failure_timeout: float,
                 fanout: int = HEARTBEAT_FANOUT, health=None):
        self._region, self._heartbeats, self._replication = region, heartbeats, replication
        self._health = health
        self._fanout = fanout
        self._gap = heartbeat_push_gap(heartbeat_interval, failure_timeout)
        self._pushed_at = None  # monotonic time of the last push to the region

    def beat(self) -> None:
        self._heartbeats.beat()
        if self._health is not None:
            self._health.report_region(self._region)
        now = self._heartbeats.time.monotonic()
        if self._pushed_at is None or now - self._pushed_at >= self._gap:
            self._pushed_at = now
            self._replication.push_heartbeats(self._replication.gossip_targets(self._region, self._fanout))


class Health:
    """This listener's view of every cluster's health, from heartbeat arrival times and region
    reports."""

    def __init__(self, replica, heartbeats, failure_timeout: float, hold_down: float):
        self._replica = replica
        self._heartbeats = heartbeats
        self.failure_timeout = failure_timeout
        self.hold_down = hold_down
        self._down_since = {}   # cluster -> when we saw it fail
        self._back_since = {}   # cluster -> when it came back after a failure

    def _by_heartbeat(self, name: str, now: float) -> tuple:
        """(healthy, monotonic time last heard or None) from the cluster's own heartbeats."""
        heard = self._heartbeats.heard(name)
        if heard is None:  # not heard from since we started: give it one timeout
            return now - self._heartbeats.started < self.failure_timeout, None
        return now - heard < self.failure_timeout, heard

    def _judged(self, now: float) -> dict:
        """{member: (healthy, monotonic time this listener last heard it was alive, or None)}."""
        own = self._replica.region_of(self._replica.cluster)
        words, judged = {}, {}
        for member in self._replica.members():
            healthy, heard = self._by_heartbeat(member.name, now)
            if member.region != own:
                if member.region not in words:
                    words[member.region] = self._heartbeats.region_word(member.region)
                if words[member.region]:  # its region's reports decide
                    vouching = [grew for grew, down, _said in words[member.region] if member.name not in down]
                    healthy = bool(vouching)
                    heard = max(vouching + ([heard] if heard is not None else [])) if vouching else heard
            judged[member.name] = (healthy, heard)
        return judged

    def refresh(self) -> None:
        now = self._heartbeats.time.monotonic()
        for name, (healthy, _heard) in self._judged(now).items():
            if not healthy:
                self._down_since.setdefault(name, now)
                self._back_since.pop(name, None)
            elif name in self._down_since:
                del self._down_since[name]
                self._back_since[name] = now

    def unhealthy(self) -> set:
        return {name for name, (healthy, _heard) in self._judged(self._heartbeats.time.monotonic()).items()
                if not healthy}

    def settling(self) -> set:
        """Clusters back from a failure for less than the hold-down time: no new replicas yet."""
        now = self._heartbeats.time.monotonic()
        return {n for n, since in self._back_since.items() if now - since < self.hold_down}

    def report(self) -> list:
        """[(cluster, healthy, seconds since this listener last heard it was alive (its
        heartbeat, or a report of its region) or -1, its listener's version, features)] for the
        API; version "" while its heartbeats have not said."""
        now = self._heartbeats.time.monotonic()
        out = []
        for name, (healthy, heard) in sorted(self._judged(now).items()):
            version, features = self._heartbeats.about(name) or ("", ())
            out.append((name, healthy, -1.0 if heard is None else now - heard, version, features))
        return out

    def coordinator(self, region: str):
        down = self.unhealthy()
        healthy = [n for n in self._replica.region_clusters(region) if n not in down]
        return healthy[0] if healthy else None

    def report_region(self, region: str) -> None:
        """Report our region (listener/heartbeats.py) when this cluster is one of its first
        REPORTERS healthy members, judged by their heartbeats."""
        now = self._heartbeats.time.monotonic()
        names = self._replica.region_clusters(region)
        down = [n for n in names if not self._by_heartbeat(n, now)[0]]
        if self._replica.cluster in [n for n in names if n not in down][:REPORTERS]:
            self._heartbeats.report(region, names, down)
