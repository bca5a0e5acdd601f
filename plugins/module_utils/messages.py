# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lossless conversions between the model (model.py) and the gRPC messages (proto/fleet_pb2.py).

Messages from the wire are validated on the way in: from_* raises model.ValidationError
naming the field, exactly as building the model value directly would.
"""
from __future__ import annotations

import dataclasses

from ansible_collections.multicluster.kube.plugins.module_utils import model
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import MAX_AHEAD_MS, MAX_LOGICAL, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

try:
    from google.protobuf.message import DecodeError
except ImportError:  # the modules say protobuf is missing (fleet_pb2.HAS_PROTOBUF)
    DecodeError = ValueError

VERSION = "0.1.1"
FEATURES = ("records-whole",)  # keeps and passes on records exactly as received


def stamp_to_message(stamp: Stamp):
    return pb.Stamp(physical_ms=stamp.physical_ms, logical=stamp.logical, origin=stamp.origin)


def stamp_from_message(message) -> Stamp:
    return Stamp(message.physical_ms, message.logical, message.origin)


def checked_stamp(message, field_name: str = "stamp") -> Stamp:
    """A stamp that came from outside: a time since the epoch, a logical count the clock can
    still advance, an origin that is a cluster name."""
    if message.physical_ms < 0:
        raise model.ValidationError(f"{field_name}.physical_ms", "must not be negative", message.physical_ms)
    if message.logical > MAX_LOGICAL:
        raise model.ValidationError(f"{field_name}.logical", f"must be at most {MAX_LOGICAL}", message.logical)
    model.check_name(f"{field_name}.origin", message.origin)
    return stamp_from_message(message)


def placement_to_message(placement):
    return [pb.ClusterReplicas(cluster=c, replicas=n) for c, n in sorted(placement.items())]


def placement_from_message(entries) -> dict:
    return {e.cluster: e.replicas for e in entries}


def _optional(message, name):
    return getattr(message, name) if message.HasField(name) else None


def rules_to_message(rules: model.PlacementRules):
    return pb.PlacementRules(
        excluded=sorted(rules.excluded),
        clusters=[pb.ClusterRule(cluster=r.cluster, weight=r.weight, min=r.min, max=r.max) for r in rules.clusters],
    )


def rules_from_message(message) -> model.PlacementRules:
    return model.PlacementRules(
        excluded=frozenset(message.excluded),
        clusters=tuple(model.ClusterRule(cluster=r.cluster, weight=_optional(r, "weight"), min=r.min,
                                         max=_optional(r, "max")) for r in message.clusters),
    )


def intent_to_message(intent: model.ServiceIntent):
    return pb.ServiceIntent(
        region=intent.region, service=intent.service, replicas=intent.replicas, image=intent.image,
        port=intent.port, namespace=intent.namespace, rules=rules_to_message(intent.rules),
        rebalance=intent.rebalance, placement=placement_to_message(intent.placement),
        unplaced=intent.unplaced, reasons=list(intent.reasons),
    )


def intent_from_message(message) -> model.ServiceIntent:
    return model.ServiceIntent(
        region=message.region, service=message.service, replicas=message.replicas, image=message.image,
        port=message.port or model.DEFAULT_PORT, namespace=message.namespace or model.DEFAULT_NAMESPACE,
        rules=rules_from_message(message.rules), rebalance=message.rebalance,
        placement=placement_from_message(message.placement), unplaced=message.unplaced,
        reasons=tuple(message.reasons),
    )


def cluster_to_message(cluster: model.Cluster):
    return pb.ClusterSpec(name=cluster.name, region=cluster.region, endpoint=cluster.endpoint,
                          labels=dict(cluster.labels), weight=cluster.weight, capacity=cluster.capacity,
                          cordoned=cluster.cordoned)


def cluster_from_message(message) -> model.Cluster:
    return model.Cluster(name=message.name, region=message.region, endpoint=message.endpoint,
                         labels=dict(message.labels),
                         weight=message.weight if message.HasField("weight") else 1,
                         capacity=_optional(message, "capacity"), cordoned=message.cordoned)


def status_to_message(status: model.ClusterStatus):
    return pb.ClusterStatus(
        cluster=status.cluster, region=status.region, reported_ms=status.reported_ms,
        services=[pb.ServiceStatus(region=s.region, service=s.service, namespace=s.namespace,
                                   desired=s.desired, ready=s.ready, conflict=s.conflict)
                  for s in status.services],
    )


def status_from_message(message) -> model.ClusterStatus:
    return model.ClusterStatus(
        cluster=message.cluster, region=message.region, reported_ms=message.reported_ms,
        services=tuple(model.ServiceStatus(region=s.region, service=s.service, namespace=s.namespace,
                                           desired=s.desired, ready=s.ready, conflict=s.conflict)
                       for s in message.services),
    )


_VALUE_FIELDS = (
    ("service", model.ServiceIntent, intent_to_message, intent_from_message),
    ("cluster", model.Cluster, cluster_to_message, cluster_from_message),
    ("status", model.ClusterStatus, status_to_message, status_from_message),
)


def record_to_message(record: model.Record):
    message = pb.Record(key=record.key, stamp=stamp_to_message(record.stamp), author=record.author,
                        deleted=record.deleted)
    for field_name, kind, to_message, _from_message in _VALUE_FIELDS:
        if isinstance(record.value, kind):
            getattr(message, field_name).CopyFrom(to_message(record.value))
    return message


def record_bytes(record: model.Record) -> bytes:
    """The record as it travels and is stored: as its author encoded it, when it came so."""
    return record.raw or record_to_message(record).SerializeToString()


def record_from_bytes(raw: bytes) -> model.Record:
    """A record from its encoding, checked, keeping `raw` as it is."""
    try:
        message = pb.Record.FromString(raw)
    except DecodeError:
        raise model.ValidationError("record", "must be a Record encoded as protobuf", f"{len(raw)} bytes") from None
    return dataclasses.replace(record_from_message(message), raw=raw)


def record_from_message(message) -> model.Record:
    value = None
    if not message.deleted:
        which = message.WhichOneof("value")
        for field_name, _kind, _to_message, from_message in _VALUE_FIELDS:
            if which == field_name:
                value = from_message(getattr(message, field_name))
        if value is None:
            raise model.ValidationError("record.value", "a record that is not deleted must carry a value", which)
        if value.key != message.key:
            raise model.ValidationError("record.key", f"must be {value.key!r} for its value", message.key)
    model.check_key("record.key", message.key)
    if len(message.author) > model.MAX_AUTHOR:
        raise model.ValidationError("record.author", f"must be at most {model.MAX_AUTHOR} characters", len(message.author))
    return model.Record(key=message.key, stamp=checked_stamp(message.stamp, "record.stamp"), author=message.author,
                        value=value)


def peer_record(message, field_name: str = "record", now_ms=None) -> model.Record:
    """A record another listener sent: valid as any record, and not stamped further ahead of
    our clock than MAX_AHEAD_MS."""
    try:
        record = record_from_bytes(message) if isinstance(message, bytes) else record_from_message(message)
    except model.ValidationError as error:  # record.key -> records[2].key
        where = error.field[len("record"):] if error.field.startswith("record") else f".{error.field}"
        raise model.ValidationError(f"{field_name}{where}", error.rule, error.value) from None
    _check_not_ahead(f"{field_name}.stamp.physical_ms", record.stamp.physical_ms, now_ms)
    return record


def _check_not_ahead(field_name: str, ms: int, now_ms=None) -> None:
    """A peer's clock reading may be behind ours, but not more than MAX_AHEAD_MS ahead: one
    bad clock or forged value would otherwise drag every listener's along."""
    if ms - (now_ms if now_ms is not None else wall_clock_ms()) > MAX_AHEAD_MS:
        raise model.ValidationError(field_name, f"must not be more than {MAX_AHEAD_MS // 1000} s ahead of this "
                                    f"listener's clock (is the sender's clock right?)", ms)


def peer_records(messages_in, field_name: str) -> tuple:
    """(the records that pass peer_record, [ValidationError naming `field_name[i]` per one that does not])."""
    return _checked_each(peer_record, messages_in, field_name)


def peer_heartbeat(message, field_name: str = "heartbeat") -> tuple:
    """(cluster, sent_ms) of a heartbeat another listener sent, checked."""
    model.check_name(f"{field_name}.cluster", message.cluster)
    if message.sent_ms < 0:
        raise model.ValidationError(f"{field_name}.sent_ms", "must not be negative", message.sent_ms)
    _check_not_ahead(f"{field_name}.sent_ms", message.sent_ms)
    return message.cluster, message.sent_ms


def peer_heartbeats(messages_in, field_name: str) -> tuple:
    """([(cluster, sent_ms)] that pass peer_heartbeat, [ValidationError per one that does not])."""
    return _checked_each(peer_heartbeat, messages_in, field_name)


def heartbeats_to_messages(table, own=None) -> list:
    """Heartbeat messages; `own`: (cluster, version, features) of this listener, said in its entry."""
    messages_out = [pb.Heartbeat(cluster=cluster, sent_ms=ms) for cluster, ms in table]
    for message in messages_out:
        if own is not None and message.cluster == own[0]:
            message.version, message.features[:] = own[1], own[2]
    return messages_out


def _checked_each(check, messages_in, field_name: str) -> tuple:
    passed, refused = [], []
    for i, message in enumerate(messages_in):
        try:
            passed.append(check(message, f"{field_name}[{i}]"))
        except model.ValidationError as error:
            refused.append(error)
    return passed, refused
