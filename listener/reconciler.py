"""The reconcile loop: this cluster's Deployments follow the placement; its status record
(desired and ready replicas per service) is written when it changes; and while the passes
succeed and the apiserver answers, the cluster heartbeats (an apiserver that is away stops
them, and the region fails the cluster over).

A pass lists the managed Deployments. It runs when an intent for this cluster changed, when
the watch saw a managed Deployment change, after a failed pass, and every resync interval;
between passes, a heartbeat needs only the apiserver's /readyz. (Listing every heartbeat
interval cost each apiserver one LIST per member per second with the default settings.)"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time

from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceIntent, status_key

log = logging.getLogger("multicluster.listener.reconciler")
SERVICE_PREFIX = "service/"  # the keys of intents, as model.service_key writes them


class Reconciler:
    def __init__(self, listener, api_client, interval: float, heartbeat_interval: float):
        self.listener = listener
        self.api_client = api_client
        self.interval = interval
        self.heartbeat_interval = heartbeat_interval
        self.wake = threading.Event()  # this cluster's Deployments should change, or one drifted
        self.stopping = threading.Event()
        self._last_status = None
        self._last_heartbeat = 0.0
        self._wanted = None  # service key -> Desired: this cluster's Deployments, kept as intents change
        self._wanted_lock = threading.Lock()

    def start(self) -> None:
        replica = self.listener.replica
        with replica.changed:  # no intent can be merged between this snapshot and taking changes
            wanted = {}
            for record in replica.state.values():
                wanted.update(self._entries(record))
            self._wanted = wanted
        threading.Thread(target=self._loop, name="reconcile", daemon=True).start()
        threading.Thread(target=self._watch, name="watch-deployments", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    def _loop(self) -> None:
        last_pass = None  # when the last pass succeeded (monotonic); None: pass at once
        while not self.stopping.is_set():
            woken = self.wake.wait(timeout=min(self.interval, self.heartbeat_interval))
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
                    self._check_apiserver()
                    self._beat()
            except Exception as err:  # the apiserver may be away; keep trying, and stop heartbeating
                last_pass = None  # until a whole pass succeeds again
                self.listener.metrics.reconcile_errors.inc()
                log.warning("%s failed: %s", doing, str(err).splitlines()[0] if str(err) else type(err).__name__)
                time.sleep(0.5)

    def reconcile_once(self) -> None:
        node = self.listener
        desired = self._desired_now()
        namespaces = node.config.namespaces or None
        plan = updater.plan(self.api_client, desired, node.cluster, namespaces)
        failures = {}
        if plan.changed:
            log.info("reconcile: create %s update %s delete %s",
                     [d.service for d in plan.create], [d.service for _b, d in plan.update],
                     [d["name"] for d in plan.delete])
            failures = updater.apply(self.api_client, plan)
            for what, why in failures.items():
                log.warning("reconcile: %s: %s", what, why)
        node.metrics.reconciles.inc()
        status = updater.status(desired, plan, node.region, 0, failures)
        if status.services != self._last_status:
            node.write([(status_key(node.cluster), _stamped(status))], author=f"listener@{node.cluster}")
            self._last_status = status.services
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval:
            self._beat()

    def _beat(self) -> None:
        self.listener.heartbeat()
        self._last_heartbeat = time.monotonic()

    def _check_apiserver(self) -> None:
        """Raise unless the apiserver says it is ready to serve (etcd reachable)."""
        method, url, headers, body, post = self.api_client.param_serialize("GET", "/readyz",
                                                                           auth_settings=["BearerToken"])
        response = self.api_client.call_api(method, url, headers, body, post,
                                            _request_timeout=max(1.0, self.heartbeat_interval))
        response.read()
        if response.status != 200:
            raise RuntimeError(f"apiserver /readyz answered {response.status}")

    def records_changed(self, records) -> None:
        """Records were merged: keep this cluster's Deployments up to date, one intent at a
        time (not a pass over 10,000), and wake the loop only when they changed."""
        if self._wanted is None:
            return
        changed = False
        with self._wanted_lock:
            for record in records:
                if record.key.startswith(SERVICE_PREFIX):
                    entry = self._entries(record)
                    if self._wanted.get(record.key) != entry.get(record.key):
                        changed = True
                        self._wanted.pop(record.key, None)
                        self._wanted.update(entry)
        if changed:
            self.wake.set()

    def _entries(self, record) -> dict:
        """{key: Desired} if the record is an intent placing replicas on this cluster, else {}."""
        node = self.listener
        if not isinstance(record.value, ServiceIntent):
            return {}
        desired = updater.desired_for([record.value], node.region, node.cluster)
        if node.config.deployment_namespace:
            desired = [dataclasses.replace(d, namespace=node.config.deployment_namespace) for d in desired]
        return {record.key: desired[0]} if desired else {}

    def _desired_now(self) -> list:
        with self._wanted_lock:
            return sorted(self._wanted.values(), key=lambda d: d.key)

    def _watch(self) -> None:
        """Wake the loop at once when a managed Deployment changes (drift, readiness)."""
        from kubernetes import client, watch

        apps = client.AppsV1Api(self.api_client)
        selector = updater.managed_selector(self.listener.cluster)
        while not self.stopping.is_set():
            try:
                namespaces = self.listener.config.namespaces
                if namespaces:  # RBAC may cover only these: watch the first, poll the rest
                    stream = watch.Watch().stream(apps.list_namespaced_deployment, namespaces[0],
                                                  label_selector=selector, timeout_seconds=30)
                else:
                    stream = watch.Watch().stream(apps.list_deployment_for_all_namespaces,
                                                  label_selector=selector, timeout_seconds=30)
                for _event in stream:
                    self.wake.set()
                    if self.stopping.is_set():
                        return
            except Exception:  # apiserver away: the loop notices and reports; retry the watch
                time.sleep(1.0)


def _stamped(status):
    return dataclasses.replace(status, reported_ms=wall_clock_ms())
