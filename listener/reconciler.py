"""The reconcile loop: this cluster's Deployments follow the placement; its status record
(desired and ready replicas per service, the cluster's free room) is written when it changes:
at once for a service's milestone (applied at new replicas or revision, a problem, rolled out),
at most once every status interval for counts on the way (a Deployment's life from created to
ready is a handful of changes within a second or two), at most once every room interval for
the room alone (every pod anywhere in the cluster changes it); every status write goes to every
member of the fleet. And while the passes succeed and the apiserver answers, the cluster
heartbeats (an apiserver that is away stops them, and the region fails the cluster over).

A pass lists the managed Deployments. It runs when a service placed on this cluster changed,
when the watch saw a managed Deployment change, after a failed pass, and every resync
interval; between passes, a heartbeat needs only the apiserver's /readyz. (Listing every
heartbeat interval cost each apiserver one LIST per member per second with the default
settings.) The watch resumes from the last resourceVersion it saw (listener/watching.py).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time

from ansible_collections.multicluster.kube.listener import watching
from ansible_collections.multicluster.kube.listener.namespaces import NamespacePolicy
from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    ObjectProblem, Service, ServiceStatus, ValidationError, cluster_key, problems_summary, status_key)

log = logging.getLogger("multicluster.listener.reconciler")


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which cluster this is and what of its apiserver the loop manages."""

    cluster: str
    region: str
    namespaces: tuple = ()  # manage only these (RBAC); empty: all
    deployment_namespace: str = ""  # every Deployment here, whatever the service's namespace
    namespaces_policy: NamespacePolicy = NamespacePolicy()  # where services may run at all


class Reconciler:
    def __init__(self, scope: Scope, kube, replica, write, beat, metrics, interval: float,
                 heartbeat_interval: float, room=None, status_interval: float = 0.0, room_interval: float = 0.0):
        """kube: an updater.KubernetesApi plus check_ready(); write: Writer.write; beat: called
        for each heartbeat; room: a listener.room.Room of this cluster, or None (not measured);
        status_interval, room_interval: seconds after a status write before the next one for a
        change of the services' counts alone, of the room alone (the changes meanwhile go
        together; a milestone does not wait)."""
        self.scope = scope
        self.kube = kube  # the API service's dry runs use it too
        self._kube, self._replica, self._write, self._beat_out = kube, replica, write, beat
        self._metrics = metrics
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self.status_interval, self.room_interval = status_interval, room_interval
        self.wake = threading.Event()  # this cluster's Deployments should change, or one drifted
        self.stopping = threading.Event()
        self._room = room
        self._last_status = None  # (services, room) last written
        self._status_written = float("-inf")  # when (monotonic)
        self._status_due = None  # when a changed status held back is to be written (monotonic)
        self._last_pass = None  # (desired, plan, failures) of the last pass: a report of room alone reuses it
        self._last_heartbeat = 0.0
        self._wanted = {}  # service key -> Desired: this cluster's objects, kept as services change
        self._labels = {}  # this cluster's labels (overrides choose clusters by them)
        self._unrenderable = {}  # service key -> (Service, why): an override that does not apply here
        self._wanted_lock = threading.Lock()

    def start(self) -> None:
        if self._room is not None:
            self._room.start(self.stopping)
        self.records_changed(self._replica.subscribe(self.records_changed))
        threading.Thread(target=self._loop, name="reconcile", daemon=True).start()
        for namespace in self.scope.namespaces or [None]:
            threading.Thread(target=follow_deployments, name=f"watch-{namespace or 'all'}", daemon=True,
                             args=(self._kube, updater.managed_selector(self.scope.cluster), namespace,
                                   self.wake.set, self.stopping)).start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _loop(self) -> None:
        last_pass = None  # when the last pass succeeded (monotonic); None: pass at once
        while not self.stopping.is_set():
            woken = self.wake.wait(timeout=self._next_wait())
            self.wake.clear()
            if self.stopping.is_set():
                return
            doing = "reconcile"
            try:
                if woken or last_pass is None or time.monotonic() - last_pass >= self.interval:
                    self.reconcile_once()
                    last_pass = time.monotonic()
                elif time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
                    doing = "apiserver check"
                    self._kube.check_ready(timeout=max(1.0, self.heartbeat_interval))
                    self._beat()
                    self._report(*self._last_pass)  # room and pods change between passes
                elif self._status_due is not None and time.monotonic() >= self._status_due:
                    doing = "status report"
                    self._report(*self._last_pass)
            except Exception as err:  # the apiserver may be away; keep trying, and stop heartbeating
                last_pass = None  # until a whole pass succeeds again
                self._metrics.reconcile_errors.inc()
                log.warning("%s failed: %s", doing, str(err).splitlines()[0] if str(err) else type(err).__name__)
                time.sleep(0.5)

    def _next_wait(self) -> float:
        """Seconds until the loop has something to do unwoken: a pass, a heartbeat, a held status."""
        wait = min(self.interval, self.heartbeat_interval)
        return wait if self._status_due is None else min(wait, max(0.0, self._status_due - time.monotonic()))

    def reconcile_once(self) -> None:
        scope = self.scope
        desired = self._desired_now()
        plan = updater.plan(self._kube, desired, scope.cluster, list(scope.namespaces) or None)
        failures = {}
        if plan.changed:
            log.info("reconcile: create %s update %s delete %s", [updater.ref_of(o) for o in plan.create],
                     [updater.ref_of(o) for _live, o in plan.update], [updater.ref_of(o) for o in plan.delete])
            failures = updater.apply(self._kube, plan)
            for service_ref, problems in failures.items():
                for problem in problems:
                    log.warning("reconcile: service %s: %s", service_ref, problem)
        self._metrics.reconciles.inc()
        self._last_pass = (desired, plan, failures)
        self._report(desired, plan, failures)
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
            self._beat()

    def _report(self, desired, plan, failures) -> None:
        """Write this cluster's status record if it changed: the pass's view of the services,
        with the room and the pods the watches see now. A milestone of a service (see
        _milestones) is written at once; a change of its counts alone within the status
        interval of the last write, of the room alone within the room interval, is held, and
        the loop reports again once the interval is over."""
        status = self._with_room(self._with_unrenderable(updater.status(desired, plan, self.scope.region, 0,
                                                                        failures)))
        services, room = self._last_status or ((), None)
        if self._last_status is not None and (status.services, status.room) == (services, room):
            self._status_due = None
            return
        if _milestones(status.services) != _milestones(services) or (status.room is None) != (room is None):
            wait = 0.0  # the room measured at last (or gone) is news too; its amounts change with every pod
        else:
            wait = self.status_interval if status.services != services else self.room_interval
        if time.monotonic() < self._status_written + wait:
            self._status_due = self._status_written + wait
            return
        self._write([(status_key(self.scope.cluster), dataclasses.replace(status, reported_ms=wall_clock_ms()))],
                    author=f"listener@{self.scope.cluster}")
        self._last_status, self._status_written, self._status_due = (status.services, status.room), time.monotonic(), None

    def _with_unrenderable(self, status):
        with self._wanted_lock:
            unrenderable = dict(self._unrenderable)
        if not unrenderable:
            return status
        by_service = {(s.region, s.service): s for s in status.services}
        for service, why in unrenderable.values():
            problem, spec, key = ObjectProblem("", why), service.spec, (service.spec.region, service.spec.service)
            held = by_service.get(key)
            if held is not None:
                problems = held.problems + (problem,)
                by_service[key] = dataclasses.replace(held, problems=problems, conflict=problems_summary(problems))
            elif service.placement.clusters.get(self.scope.cluster, 0) > 0:
                by_service[key] = ServiceStatus(
                    region=spec.region, service=spec.service,
                    namespace=self.scope.deployment_namespace or spec.namespace,
                    desired=service.placement.clusters[self.scope.cluster], conflict=str(problem),
                    problems=(problem,), blocked=True)
        return dataclasses.replace(status, services=tuple(sorted(by_service.values(),
                                                                 key=lambda s: (s.namespace, s.service))))

    def _with_room(self, status):
        if self._room is None or not self._room.synced.is_set():
            return status
        pods = self._room.pods_by_deployment()
        services = []
        for service in status.services:
            namespace = self.scope.deployment_namespace or service.namespace
            scheduled, unschedulable = pods.get((namespace, service.service), (0, 0))
            services.append(dataclasses.replace(service, scheduled=scheduled, unschedulable=unschedulable))
        return dataclasses.replace(status, services=tuple(services), room=self._room.report())

    def _beat(self) -> None:
        self._beat_out()
        self._last_heartbeat = time.monotonic()

    def records_changed(self, records) -> None:
        """Records were merged: keep this cluster's objects up to date, one service at a time
        (not a pass over 10,000), and wake the loop only when they changed. A change of this
        cluster's own labels may change what overrides choose it: every service again."""
        own = cluster_key(self.scope.cluster)
        mine = next((r for r in records if r.key == own), None)
        if mine is not None and mine.value is not None and mine.value.labels != self._labels:
            self._labels = dict(mine.value.labels)
            records = [r for key, service in self._replica.services(self.scope.region)
                       for r in [self._replica.record(key)] if r is not None] + list(records)
        changed = False
        with self._wanted_lock:
            for record in records:
                if record.key.startswith("service/"):
                    entry = self._entries(record, self._wanted.get(record.key))
                    if self._wanted.get(record.key) != entry.get(record.key):
                        changed = True
                        self._wanted.pop(record.key, None)
                        self._wanted.update(entry)
        if changed:
            self.wake.set()

    def _entries(self, record, held=None) -> dict:
        """{key: Desired} if the record is a service placing replicas on this cluster, else {};
        `held`: what the cluster runs of it now."""
        self._unrenderable.pop(record.key, None)
        if not isinstance(record.value, Service):
            return {}
        refused = self.scope.namespaces_policy.why_refused(record.value.spec.namespace)
        if refused:  # written at a listener whose settings allow it (or forged): not run here
            log.warning("reconcile: %s not applied in %s: namespace %s %s", record.key, self.scope.cluster,
                        record.value.spec.namespace, refused)
            return {}
        try:
            desired = updater.desired_for([record.value], self.scope.region, self.scope.cluster, self._labels)
        except ValidationError as error:
            # An override that does not apply here: this cluster's labels changed under a write
            # taken elsewhere (a listener refuses such a change itself). What runs stays; the
            # status says why, and a share never started here is blocked (rescued elsewhere).
            log.warning("reconcile: %s cannot be rendered for %s: %s", record.key, self.scope.cluster, error)
            self._unrenderable[record.key] = (record.value, f"cannot be rendered for {self.scope.cluster}: {error}")
            return {record.key: held} if held is not None else {}
        if self.scope.deployment_namespace:
            desired = [updater.in_namespace(d, self.scope.deployment_namespace) for d in desired]
        return {record.key: desired[0]} if desired else {}

    def _desired_now(self) -> list:
        with self._wanted_lock:
            return sorted(self._wanted.values(), key=lambda d: d.key)


def _milestones(services) -> tuple:
    """What of the services' statuses waits and rollouts act on: which services, each one's
    replicas and revision applied, its problems, and whether it is rolled out. Counts on the
    way (pods bound, ready, updated) are not: they wait for the status interval."""
    return tuple((s.region, s.service, s.namespace, s.desired, s.revision, s.release, s.problems, s.conflict,
                  s.blocked, s.rolled_out) for s in services)


def follow_deployments(kube, selector: str, namespace, on_change, stopping) -> None:
    """Call on_change() whenever a Deployment matching `selector` (in `namespace`, or in all:
    None) may have changed, until `stopping` is set."""
    watching.follow(lambda: kube.list_deployments(selector, namespace),
                    lambda version, seconds: kube.watch_deployments(selector, namespace, version, seconds),
                    lambda _items: on_change(), lambda kind, _obj: kind != "BOOKMARK" and on_change(),
                    stopping, f"Deployments in {namespace or 'all namespaces'}")
