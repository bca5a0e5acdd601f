"""The gRPC services of a listener: Fleet for clients, Peer for other listeners.

Every request is validated before anything changes; a bad one is refused with
INVALID_ARGUMENT naming the field and the rule, and leaves the state as it was.
"""
from __future__ import annotations

import dataclasses
import hmac
import logging
import time

import grpc
from google.protobuf.message import DecodeError

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import AUTHOR_HEADER, TOKEN_HEADER
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    MAX_AUTHOR, ClusterStatus, ValidationError, check_name, cluster_key, service_key)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule

from ansible_collections.multicluster.kube.listener.digest import BUCKETS

log = logging.getLogger("multicluster.listener.api")
PEER_SERVICE = "/multicluster.kube.v1.Peer/"


class TokenCheck(grpc.ServerInterceptor):
    """Bearer tokens: `client_token` for the Fleet service, `peer_token` for the Peer service.
    A service whose token is empty is open (the listener logs that at start)."""

    def __init__(self, client_token: str, peer_token: str):
        self.client_token, self.peer_token = client_token, peer_token

    def intercept_service(self, continuation, handler_call_details):
        expected = self.peer_token if handler_call_details.method.startswith(PEER_SERVICE) else self.client_token
        if expected:
            sent = dict(handler_call_details.invocation_metadata).get(TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
                return grpc.unary_unary_rpc_method_handler(_refuse)
        return continuation(handler_call_details)


def _refuse(request, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (metadata 'authorization')")


def _author(context) -> str:
    author = dict(context.invocation_metadata()).get(AUTHOR_HEADER, "") or "anonymous"
    if len(author) > MAX_AUTHOR:  # peers would refuse the record
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"metadata {AUTHOR_HEADER}: must be at most {MAX_AUTHOR} characters (got {len(author)})")
    return author


def _invalid(context, error: ValidationError):
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))


class FleetService:
    """The client API. `listener` is the running Listener (listener/server.py)."""

    def __init__(self, listener):
        self.listener = listener

    # -- services --------------------------------------------------------------------------
    def SetRegionReplicas(self, request, context):  # noqa: N802 (gRPC method names)
        node = self.listener
        try:
            asked = messages.intent_from_message(request.intent)
            asked = dataclasses.replace(asked, placement={}, unplaced=0, reasons=())
            region = node.region_clusters(asked.region)
            if not region:
                raise ValidationError("region", f"must name a region with registered clusters "
                                      f"(known: {', '.join(node.regions()) or 'none'})", asked.region)
            asked.check_rules_against(region)
            _check_wait(request.wait, request.timeout_seconds)
        except ValidationError as error:
            _invalid(context, error)
        with node.write_lock:
            current = node.replica.get(asked.key)
            previous = current.value if current is not None and not current.deleted else None
            decision = schedule(asked, node.replica.members(), previous=previous.placement if previous else None,
                                unhealthy=node.health.unhealthy(), used=node.replica.used_by_others(asked.key))
            new = dataclasses.replace(asked, placement=decision.placement, unplaced=decision.unplaced,
                                      reasons=decision.reasons)
            changed = new != previous
            stamp = current.stamp if current is not None and not changed else None
            futures = {}
            if changed and not request.dry_run:
                [record], futures = node.write([(new.key, new)], author=_author(context))
                stamp = record.stamp
                node.metrics.writes.labels("set_region_replicas").inc()
        response = pb.SetRegionReplicasResponse(
            intent=messages.intent_to_message(new), changed=changed,
            previous_placement=messages.placement_to_message(previous.placement if previous else {}))
        if stamp is not None:
            response.stamp.CopyFrom(messages.stamp_to_message(stamp))
        if previous is not None:
            response.previous.CopyFrom(messages.intent_to_message(previous))
        response.waited, response.wait_detail = node.wait_for(
            request.wait, request.timeout_seconds, futures, new, previous, dry_run=request.dry_run)
        return response

    def DeleteService(self, request, context):  # noqa: N802
        node = self.listener
        try:
            key = service_key(check_name("region", request.region), check_name("service", request.service))
            _check_wait(request.wait, request.timeout_seconds)
        except ValidationError as error:
            _invalid(context, error)
        with node.write_lock:
            current = node.replica.get(key)
            previous = current.value if current is not None and not current.deleted else None
            response = pb.DeleteServiceResponse(changed=previous is not None)
            futures = {}
            if previous is not None:
                response.previous.CopyFrom(messages.intent_to_message(previous))
                response.previous_placement.extend(messages.placement_to_message(previous.placement))
                if not request.dry_run:
                    [record], futures = node.write([(key, None)], author=_author(context))
                    response.stamp.CopyFrom(messages.stamp_to_message(record.stamp))
                    node.metrics.writes.labels("delete_service").inc()
        gone = dataclasses.replace(previous, placement={}) if previous else None
        response.waited, response.wait_detail = node.wait_for(
            request.wait, request.timeout_seconds, futures, gone, previous, dry_run=request.dry_run)
        return response

    def GetGlobalConfig(self, request, context):  # noqa: N802
        node = self.listener
        response = pb.GetGlobalConfigResponse(answered_by=node.cluster)
        if request.keys:
            held = [node.replica.get(k) for k in dict.fromkeys(request.keys)]
            held = [r for r in held if r is not None and not r.deleted]
            response.received_ms.update({r.key: node.replica.received_ms.get(r.key, 0) for r in held})
        else:
            held = [r for r in node.replica.snapshot() if not r.deleted]
        response.records.extend(messages.record_to_message(r) for r in held)
        response.health.extend(pb.ClusterHealth(cluster=n, healthy=h, last_heard_seconds=s)
                               for n, h, s in node.health.report())
        return response

    def PutCluster(self, request, context):  # noqa: N802
        node = self.listener
        try:
            wanted = messages.cluster_from_message(request.cluster)
        except ValidationError as error:
            _invalid(context, error)
        with node.write_lock:
            current = node.replica.get(wanted.key)
            before = current.value if current is not None and not current.deleted else None
            if before is not None and before.region != wanted.region:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              f"region: cluster {wanted.name} is in region {before.region}; remove it first "
                              f"to move it to {wanted.region}")
            return self._cluster_change(context, wanted.key, before, wanted, request.dry_run)

    def RemoveCluster(self, request, context):  # noqa: N802
        node = self.listener
        try:
            key = cluster_key(check_name("name", request.name))
        except ValidationError as error:
            _invalid(context, error)
        with node.write_lock:
            current = node.replica.get(key)
            before = current.value if current is not None and not current.deleted else None
            return self._cluster_change(context, key, before, None, request.dry_run)

    def _cluster_change(self, context, key, before, after, dry_run):
        node = self.listener
        response = pb.ClusterResponse(changed=before != after)
        if before is not None:
            response.before.CopyFrom(messages.cluster_to_message(before))
        if after is not None:
            response.after.CopyFrom(messages.cluster_to_message(after))
        if response.changed and not dry_run:
            [record], _futures = node.write([(key, after)], author=_author(context))
            response.stamp.CopyFrom(messages.stamp_to_message(record.stamp))
            node.metrics.writes.labels("cluster").inc()
        return response

    def Health(self, request, context):  # noqa: N802
        node = self.listener
        return pb.HealthResponse(cluster=node.cluster, region=node.region, peers_up=sum(node.peers.up.values()),
                                 peers_total=len(node.peers.endpoints()), records=len(node.replica.state))


class PeerService:
    """Served with encoded messages (rpc.add_servicer(encoded=True)): records are read as the
    bytes their author encoded (PushRequestWire), and stored and passed on as they are."""

    def __init__(self, listener):
        self.listener = listener

    def Push(self, data, context):  # noqa: N802
        request = _decoded(pb.PushRequestWire, data, context)
        records = _all_or_none(messages.peer_records(request.records, "records"), context)
        beats = _all_or_none(messages.peer_heartbeats(request.heartbeats, "heartbeats"), context)
        self.listener.heartbeats.observe(beats)
        # Relayed even when nothing was new here (the rest of the region may still lack them),
        # and before our own copy is stored: the region's copies are stored meanwhile.
        relayed = self.listener.peers.relay(records, list(request.relay_to)) if request.relay_to else None
        accepted = self.listener.replica.receive(records)
        now_ms = time.time() * 1000
        for record in accepted:
            if not isinstance(record.value, ClusterStatus):
                self.listener.metrics.propagation_delay.observe(max(0.0, (now_ms - record.stamp.physical_ms) / 1000))
        not_reached = []
        if relayed is not None:
            not_reached = relayed()
            self.listener.metrics.relayed.inc(len(records))
        return pb.PushResponse(accepted=len(accepted), not_reached=not_reached).SerializeToString()

    def Digest(self, data, context):  # noqa: N802
        request = _decoded(pb.DigestRequest, data, context)
        replica, heartbeats = self.listener.replica, self.listener.heartbeats
        if request.bucket_hashes and not request.entries:
            beats = _all_or_none(messages.peer_heartbeats(request.heartbeats, "heartbeats"), context)
            heartbeats.observe(beats)
            return pb.DigestResponseWire(
                differing_buckets=replica.answer_summary(request.bucket_hashes, request.from_cluster),
                answered_by=self.listener.cluster,
                heartbeats=self.listener.peers.heartbeat_table(newer_than=beats)).SerializeToString()
        if any(b >= BUCKETS for b in request.buckets):
            _invalid(context, ValidationError("buckets", f"each must be below {BUCKETS}", max(request.buckets)))
        newer, wanted = replica.answer_digest(request.entries, request.from_cluster, request.buckets,
                                              promise_for=self.listener.config.peer_timeout)
        return pb.DigestResponseWire(newer=[messages.record_bytes(r) for r in newer], wanted=wanted,
                                     answered_by=self.listener.cluster).SerializeToString()


def _decoded(kind, data, context):
    try:
        return kind.FromString(data)
    except DecodeError:
        _invalid(context, ValidationError("request", f"must be a {kind.DESCRIPTOR.name} encoded as protobuf",
                                          f"{len(data)} bytes"))


def _all_or_none(checked, context) -> list:
    """What a peer sent, each item checked as a client's input is: (passed, refused) from
    messages.peer_records or peer_heartbeats. One bad item refuses the whole request."""
    passed, refused = checked
    if refused:
        _invalid(context, refused[0])
    return passed


def _check_wait(wait, timeout) -> None:
    if wait not in pb.WaitFor.values():
        raise ValidationError("wait", "must be one of " + ", ".join(pb.WaitFor.keys()), wait)
    if not 0 <= timeout <= 3600:
        raise ValidationError("timeout_seconds", "must be from 0 to 3600", timeout)
