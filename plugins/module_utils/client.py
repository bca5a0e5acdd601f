# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client of any listener's Fleet API, for the modules, the inventory plugin and the tests."""
from __future__ import annotations

from typing import NamedTuple

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import (
    HAS_GRPC, call_metadata, open_channel)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub

if HAS_GRPC:
    import grpc

WAIT_FOR = {"committed": 1, "propagated": 2, "applied": 3, "ready": 4, "rolled_out": 5}
ROLLOUT_ACTIONS = {"resume": 1, "rollback": 2}


class ClusterHealth(NamedTuple):
    """How the answering listener sees a cluster: healthy, seconds since its last heartbeat
    (-1: never), and its listener's version and features ("" and (): not heard yet)."""

    healthy: bool
    last_heard: float
    version: str = ""
    features: tuple = ()


class FleetView(NamedTuple):
    records: list  # live records
    health: dict  # cluster -> ClusterHealth
    answered_by: str  # the cluster whose listener answered
    held_back: dict  # feature -> {"lacking": [members], "meanwhile": what the fleet does instead}


class FleetError(Exception):
    """A listener refused or could not be reached: `code` is the gRPC status name."""

    def __init__(self, code: str, detail: str, endpoint: str):
        self.code, self.detail, self.endpoint = code, detail, endpoint
        super().__init__(f"{endpoint}: {code}: {detail}")


# A listener that does not answer (down, hung, cut off) is one of several: after this, the next.
CONNECT_TIMEOUT = 2.0
# What says a listener did not serve the call, so that another may: it was not reached, or hung.
ANOTHER_MAY_SERVE = ("UNAVAILABLE", "DEADLINE_EXCEEDED")


class FleetClient:
    """endpoint: one listener (host:port) or several, any of which serves any call. With
    several, a call goes to the first that is connected within connect_timeout, and a call it
    does not serve (ANOTHER_MAY_SERVE) moves on to the next; only calls that are safe to make
    twice move on (every one but a rollback without a revision: the same intent twice changes
    nothing). `endpoint` is the listener that answered last."""

    def __init__(self, endpoint, token=None, ca_file=None, cert_file=None, key_file=None,
                 server_name=None, timeout: float = 30.0, acting_for=None, connect_timeout: float = CONNECT_TIMEOUT):
        self.endpoints = [endpoint] if isinstance(endpoint, str) else list(dict.fromkeys(endpoint))
        if not self.endpoints:
            raise ValueError("endpoint: at least one listener is needed")
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._metadata = call_metadata(token, acting_for)
        self._tls = (ca_file, cert_file, key_file, server_name)
        self._current = 0
        self._channel = self._stub = None
        self._connect(0)

    @property
    def endpoint(self) -> str:
        return self.endpoints[self._current]

    def _connect(self, index: int) -> None:
        if self._channel is not None:
            self._channel.close()
        self._current = index
        self._channel = open_channel(self.endpoint, *self._tls)
        self._stub = Stub(self._channel, "Fleet")

    def _ready(self, tried: set) -> None:
        """Stay with the listener that answered last, or move to the next endpoint not tried
        whose listener connects in time (with one endpoint: that one, as it is)."""
        if len(self.endpoints) == 1:
            return
        n = len(self.endpoints)
        for index in [i % n for i in range(self._current, self._current + n) if i % n not in tried]:
            if index != self._current:
                self._connect(index)
            if self._answers():
                return
            tried.add(index)
        raise FleetError("UNAVAILABLE", f"no listener connected within {self.connect_timeout:g} s",
                         ", ".join(self.endpoints))

    def _answers(self) -> bool:
        """Whether the current listener answers within connect_timeout: a Health call that waits
        for the connection (any answer will do, a refusal too). Not grpc.channel_ready_future:
        its watching thread outlives it and fails on the channel closed after a timeout."""
        try:
            self._stub.Health(pb.HealthRequest(), timeout=self.connect_timeout, metadata=self._metadata,
                              wait_for_ready=True)
        except grpc.RpcError as err:
            return err.code().name not in ANOTHER_MAY_SERVE
        return True

    def call(self, method: str, request, timeout=None, retry: bool = True):
        tried = set()
        while True:
            self._ready(tried)
            try:
                return getattr(self._stub, method)(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as err:
                tried.add(self._current)
                code = err.code().name
                if not (retry and code in ANOTHER_MAY_SERVE and len(tried) < len(self.endpoints)):
                    raise FleetError(code, err.details() or "", self.endpoint) from None

    def set_region_replicas(self, spec, dry_run=False, wait="committed", wait_timeout=60.0):
        """Ask for a service's spec; the response's `intent` is the service as placed. The spec
        goes in `intent` too (its fields, same numbers): listeners before 0.2 read only that."""
        message = messages.spec_to_message(spec)
        return self.call("SetRegionReplicas", pb.SetRegionReplicasRequest(
            spec=message, intent=pb.ServiceIntent.FromString(message.SerializeToString()), dry_run=dry_run,
            wait=WAIT_FOR[wait], timeout_seconds=wait_timeout), timeout=self.timeout + wait_timeout)

    def delete_service(self, region, service, dry_run=False, wait="committed", wait_timeout=60.0):
        return self.call("DeleteService", pb.DeleteServiceRequest(
            region=region, service=service, dry_run=dry_run, wait=WAIT_FOR[wait], timeout_seconds=wait_timeout),
            timeout=self.timeout + wait_timeout)

    def change_rollout(self, region, service, action, revision="", dry_run=False, wait="committed",
                       wait_timeout=60.0):
        """Resume a service's halted rollout, or roll it back to its last good release (to
        `revision`, when given: nothing changes when it runs that already)."""
        return self.call("ChangeRollout", pb.ChangeRolloutRequest(
            region=region, service=service, action=ROLLOUT_ACTIONS[action], revision=revision, dry_run=dry_run,
            wait=WAIT_FOR[wait], timeout_seconds=wait_timeout), timeout=self.timeout + wait_timeout,
            retry=action != "rollback" or bool(revision))  # a second rollback without one rolls back again

    def records(self, keys=(), with_history=False):
        """(live records, {cluster: ClusterHealth}, answering cluster): all of them, or only
        those of `keys`; the services' histories too `with_history`."""
        return self.view(keys, with_history)[:3]

    def view(self, keys=(), with_history=False):
        """The fleet as the listener sees it: a FleetView."""
        response = self.call("GetGlobalConfig", pb.GetGlobalConfigRequest(keys=list(keys), with_history=with_history))
        health = {h.cluster: ClusterHealth(h.healthy, h.last_heard_seconds, h.version, tuple(h.features))
                  for h in response.health}
        held_back = {h.feature: {"lacking": list(h.lacking), "meanwhile": h.meanwhile} for h in response.held_back}
        return FleetView([messages.record_from_message(r) for r in response.records], health, response.answered_by,
                         held_back)

    def put_cluster(self, cluster, dry_run=False):
        """Register `cluster` as given, replacing what was registered."""
        return self.call("PutCluster", pb.PutClusterRequest(cluster=messages.cluster_to_message(cluster),
                                                            dry_run=dry_run))

    def update_cluster(self, name, region, dry_run=False, labels=None, **fields):
        """Change only the given fields (endpoint, weight, capacity, cordoned, labels) of a
        cluster's registration; the listener applies them to what it holds."""
        change = pb.ClusterChange(name=name, region=region, **{k: v for k, v in fields.items() if v is not None})
        if labels is not None:
            change.labels.entries.update(labels)
            change.labels.SetInParent()
        try:
            return self.call("UpdateCluster", pb.UpdateClusterRequest(change=change, dry_run=dry_run))
        except FleetError as error:
            if error.code != "UNIMPLEMENTED":
                raise
        # a listener before 0.2: the change applied here to what it holds, and the whole sent back
        held = next((r.value for r in self.records([f"cluster/{name}"])[0]), None)
        if held is not None and held.region != region:
            raise FleetError("FAILED_PRECONDITION", f"region: cluster {name} is in region {held.region}; remove it "
                             f"first to move it to {region}", self.endpoint)
        return self.put_cluster(messages.cluster_changed(held, change), dry_run=dry_run)

    def remove_cluster(self, name, dry_run=False):
        return self.call("RemoveCluster", pb.RemoveClusterRequest(name=name, dry_run=dry_run))

    def health(self):
        return self.call("Health", pb.HealthRequest())

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
