"""A cluster's status record goes to every member of the fleet at each write, so the reconcile
loop writes a service's milestone at once (rolled out, here), its counts on the way at most
once every status interval, and a change of its free room alone at most once every room
interval (every pod in the cluster changes that); what changed meanwhile is written together,
and no change is lost."""
from __future__ import annotations

import threading
import types

import pytest

from ansible_collections.multicluster.kube.listener import reconciler as reconciler_module
from ansible_collections.multicluster.kube.listener.reconciler import Reconciler, Scope
from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.fit import NodeRoom
from ansible_collections.multicluster.kube.plugins.module_utils.model import ClusterStatus, ServiceStatus

STATUS_INTERVAL, ROOM_INTERVAL = 1.0, 10.0


class Room:
    """What the watches of Nodes and Pods would say now."""

    def __init__(self):
        self.synced = threading.Event()
        self.free_cpu = 4000

    def report(self):
        return (NodeRoom(self.free_cpu, 8 << 30, 110, 1),)

    def pods_by_deployment(self):
        return {}


@pytest.fixture
def loop(monkeypatch):
    """(reconciler, its room, the statuses written, the clock: a list holding the time now)."""
    now = [100.0]
    monkeypatch.setattr(reconciler_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    # a pass finds the service `shop` with as many of its 3 replicas ready as the plan says
    monkeypatch.setattr(updater, "status", lambda _desired, plan, *_rest: ClusterStatus("us-east", "us", services=(
        ServiceStatus("us", "shop", desired=3, ready=plan.ready, updated=3, available=plan.ready, pods=3),)))
    written, room = [], Room()
    r = Reconciler(Scope("us-east", "us"), kube=None, replica=None, metrics=None, interval=5, heartbeat_interval=1,
                   write=lambda items, author: written.extend(v for _k, v in items), beat=None, room=room,
                   status_interval=STATUS_INTERVAL, room_interval=ROOM_INTERVAL)
    return r, room, written, now


def report(r, ready: int) -> None:
    """A pass that finds `ready` of the service's replicas ready."""
    r._last_pass = ([], types.SimpleNamespace(ready=ready), {})
    r._report(*r._last_pass)


def passes(r, now, steps) -> None:
    """A pass after each (seconds since the last, ready replicas found)."""
    for seconds, ready in steps:
        now[0] += seconds
        report(r, ready)


def due_now(r, now) -> bool:
    """What the loop would find: a held status due (it reports it then), after sleeping _next_wait."""
    now[0] += r._next_wait()
    return r._status_due is not None and now[0] >= r._status_due


def test_changes_of_the_services_within_the_status_interval_are_written_together_once_it_is_over(loop):
    r, _room, written, now = loop
    report(r, ready=0)
    assert [s.services[0].ready for s in written] == [0], "the first change is written at once"
    passes(r, now, [(0.2, 1), (0.2, 2)])
    assert len(written) == 1, "held within the status interval"
    assert r._next_wait() == pytest.approx(0.6), "the loop wakes when the interval is over"
    assert due_now(r, now)
    report(r, ready=2)
    assert [s.services[0].ready for s in written] == [0, 2], "then the latest, once"
    assert r._status_due is None and r._next_wait() == 1
    now[0] += 5
    report(r, ready=1)
    assert [s.services[0].ready for s in written] == [0, 2, 1], "a change after a quiet while: at once"


def test_a_service_rolled_out_is_written_at_once_with_the_counts_held_before_it(loop):
    r, _room, written, now = loop
    passes(r, now, [(0, 0), (0.2, 2), (0.2, 3)])
    assert [s.services[0].ready for s in written] == [0, 3] and written[-1].services[0].rolled_out
    assert r._status_due is None


def test_a_change_undone_before_it_was_due_is_not_written(loop):
    r, _room, written, now = loop
    passes(r, now, [(0, 0), (0.1, 1), (0.1, 0)])
    assert r._status_due is None
    passes(r, now, [(5, 0)])
    assert len(written) == 1


def test_the_room_alone_is_written_at_most_every_room_interval_and_with_any_change_of_the_services(loop):
    r, room, written, now = loop
    report(r, ready=0)
    assert written[-1].room is None, "not measured yet"
    room.synced.set()
    now[0] += 1
    report(r, ready=0)
    assert written[-1].room == room.report(), "the room measured at last is news: written as the services are"
    for _beat in range(4):  # pods come and go elsewhere in the cluster
        room.free_cpu -= 500
        now[0] += 1
        report(r, ready=0)
    assert len(written) == 2, "the room alone waits for the room interval"
    assert r._status_due == pytest.approx(101 + ROOM_INTERVAL)
    now[0] += 1
    report(r, ready=1)
    assert len(written) == 3 and written[-1].room == room.report(), "a change of the services takes the room along"
    room.free_cpu -= 500
    for _wake in range(100):  # the loop reports at each heartbeat, and when a held status is due
        now[0] += r._next_wait()
        report(r, ready=1)
        if len(written) == 4:
            break
    assert now[0] == pytest.approx(106 + ROOM_INTERVAL) and written[-1].room == room.report()
