# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lossless conversions between the model (model.py) and the gRPC messages (proto/fleet_pb2.py).

Messages from the wire are validated on the way in: from_* raises model.ValidationError
naming the field, exactly as building the model value directly would.
"""
from __future__ import annotations

import dataclasses
import json
import re
import weakref

from ansible_collections.multicluster.kube.plugins.module_utils import model
from ansible_collections.multicluster.kube.plugins.module_utils.fit import NodeRoom
from ansible_collections.multicluster.kube.plugins.module_utils.history import Change, ServiceSummary
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import MAX_AHEAD_MS, MAX_LOGICAL, Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rollout import DEFAULT_DEADLINE_S, Rollout, Strategy
from ansible_collections.multicluster.kube.plugins.module_utils.workload import SEED_WORKLOAD, Override, Workload

try:
    from google.protobuf.message import DecodeError
except ImportError:  # the modules say protobuf is missing (fleet_pb2.HAS_PROTOBUF)
    DecodeError = ValueError


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


def placement_to_message(clusters):
    """{cluster: replicas} as ClusterReplicas entries."""
    return [pb.ClusterReplicas(cluster=c, replicas=n) for c, n in sorted(clusters.items())]


def placement_from_message(entries) -> dict:
    return {e.cluster: e.replicas for e in entries}


def _optional(message, name):
    return getattr(message, name) if message.HasField(name) else None


def rules_to_message(rules: model.PlacementRules):
    return pb.PlacementRules(
        excluded=sorted(rules.excluded),
        clusters=[pb.ClusterRule(cluster=r.cluster, weight=r.weight, min=r.min, max=r.max) for r in rules.clusters],
        division="" if rules.division == model.WEIGHTED else rules.division,
    )


def rules_from_message(message) -> model.PlacementRules:
    if not message.excluded and not message.clusters and not message.division:
        return model.NO_RULES  # most services: no rules
    return model.PlacementRules(
        excluded=frozenset(message.excluded),
        clusters=tuple(model.ClusterRule(cluster=r.cluster, weight=_optional(r, "weight"), min=r.min,
                                         max=_optional(r, "max")) for r in message.clusters),
        division=message.division or model.WEIGHTED,
    )


def workload_to_message(workload: Workload):
    return pb.Workload(
        template_json=workload.template_json, companions_json=list(workload.companions_json),
        without_default_service=not workload.expose,
        overrides=[pb.Override(clusters=sorted(o.clusters), cluster_labels=dict(o.cluster_labels),
                               images=dict(o.images),
                               patches=[pb.Patch(target=t, ops_json=_json(list(ops))) for t, ops in o.patches])
                   for o in workload.overrides])


def workload_from_message(message) -> Workload:
    overrides = tuple(
        Override(clusters=frozenset(o.clusters), cluster_labels=dict(o.cluster_labels), images=dict(o.images),
                 patches=tuple((p.target, _parsed(f"overrides[{i}].patches[{j}].patch", p.ops_json))
                               for j, p in enumerate(o.patches)))
        for i, o in enumerate(message.overrides))
    return Workload(template=_parsed("workload.template", message.template_json) if message.template_json else None,
                    companions=tuple(_parsed(f"workload.companions[{i}]", c)
                                     for i, c in enumerate(message.companions_json)),
                    expose=not message.without_default_service, overrides=overrides)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _parsed(field_name: str, text: str):
    try:
        return json.loads(text)
    except ValueError as error:
        raise model.ValidationError(field_name, f"must be JSON ({error})", text[:80]) from None


def strategy_to_message(strategy: Strategy):
    explicit = isinstance(strategy.order, tuple)
    return pb.RolloutStrategy(
        max_parallel=strategy.max_parallel, order="" if explicit or strategy.order == "name" else strategy.order,
        order_clusters=list(strategy.order) if explicit else [],
        progress_deadline_seconds=strategy.progress_deadline_s, pause_seconds=strategy.pause_s,
        on_failure="" if strategy.on_failure == "halt" else strategy.on_failure)


def strategy_from_message(message) -> Strategy:
    return Strategy(max_parallel=message.max_parallel,
                    order=tuple(message.order_clusters) if message.order_clusters else message.order or "name",
                    progress_deadline_s=message.progress_deadline_seconds or DEFAULT_DEADLINE_S,
                    pause_s=message.pause_seconds, on_failure=message.on_failure or "halt")


def release_to_message(release: model.Release):
    message = pb.Release(image=release.image, port=release.port)
    if not release.workload.default:
        message.workload.CopyFrom(workload_to_message(release.workload))
    return message


def release_from_message(message) -> model.Release:
    model.check_image("rollout_state.releases[].image", message.image)
    model.check_int("rollout_state.releases[].port", message.port, 1, 65535)
    return model.Release(message.image, message.port,
                         workload_from_message(message.workload) if message.HasField("workload") else SEED_WORKLOAD)


def rollout_to_message(rollout: Rollout):
    return pb.RolloutState(
        target=rollout.target, last_good=rollout.last_good,
        held=[pb.ClusterRevision(cluster=c, revision=r) for c, r in rollout.held],
        releases=[release_to_message(r) for r in rollout.releases], released=list(rollout.released),
        since_ms=rollout.since_ms, state=rollout.state, why=rollout.why)


def rollout_from_message(message) -> Rollout:
    for name in list(message.released) + [h.cluster for h in message.held]:
        model.check_name("rollout_state.released[]", name)
    return Rollout(target=message.target, last_good=message.last_good,
                   held=tuple((h.cluster, h.revision) for h in message.held),
                   releases=tuple(release_from_message(r) for r in message.releases),
                   released=tuple(message.released), since_ms=message.since_ms, state=message.state,
                   why=message.why)


def _spec_fields(spec: model.ServiceSpec) -> dict:
    """The fields of ServiceSpec, which ServiceIntent shares by name and number."""
    fields = dict(region=spec.region, service=spec.service, replicas=spec.replicas, image=spec.image, port=spec.port,
                  namespace=spec.namespace, rules=rules_to_message(spec.rules), rebalance=spec.rebalance)
    if not spec.workload.default:  # the seed's workload is no workload on the wire, as before
        fields["workload"] = workload_to_message(spec.workload)
    if spec.rollout is not None:
        fields["rollout"] = strategy_to_message(spec.rollout)
    return fields


def spec_to_message(spec: model.ServiceSpec):
    return pb.ServiceSpec(**_spec_fields(spec))


def spec_from_message(message) -> model.ServiceSpec:
    """A spec from a ServiceSpec, or from the spec fields of a ServiceIntent."""
    return model.ServiceSpec(
        region=message.region, service=message.service, replicas=message.replicas, image=message.image,
        port=message.port or model.DEFAULT_PORT, namespace=message.namespace or model.DEFAULT_NAMESPACE,
        rules=rules_from_message(message.rules), rebalance=message.rebalance,
        workload=workload_from_message(message.workload) if message.HasField("workload") else SEED_WORKLOAD,
        rollout=strategy_from_message(message.rollout) if message.HasField("rollout") else None)


def _reason_numbers() -> dict:
    """{model code: the wire's ReasonCode number}; the names match, upper-case."""
    return {code: pb.ReasonCode.Value(code.upper()) for code in model.ReasonCode.ALL
            if code != model.ReasonCode.UNSPECIFIED}


def reason_to_message(reason: model.Reason):
    return pb.Reason(cluster=reason.cluster, code=_reason_numbers().get(reason.code, 0), text=reason.text)


def reason_from_message(message) -> model.Reason:
    # a code this version does not know (a newer listener's) reads as unspecified
    codes = {number: code for code, number in _reason_numbers().items()}
    return model.Reason(message.cluster, codes.get(message.code, model.ReasonCode.UNSPECIFIED), message.text)


def service_to_message(service: model.Service, for_older_readers: bool = False):
    """The wire form of a service; `for_older_readers`: without what listeners before 0.2
    would drop (reason codes: their texts carry the same, see _reason_from_01_text)."""
    placement = service.placement
    return pb.ServiceIntent(
        **_spec_fields(service.spec), placement=placement_to_message(placement.clusters),
        unplaced=placement.unplaced, reasons=[r.text for r in placement.reasons],
        reason_details=[] if for_older_readers else [reason_to_message(r) for r in placement.reasons],
        rollout_state=rollout_to_message(service.rollout) if service.rollout is not None else None)


# The texts listeners before 0.2 wrote, which had no codes: the one place a reason's text is
# read, to give the records those listeners write their codes (docs/upgrading.md).
_01_REASON_TEXTS = (
    (re.compile(r"^(?P<cluster>[a-z0-9-]+): excluded by the service's rules$"), model.ReasonCode.EXCLUDED),
    (re.compile(r"^(?P<cluster>[a-z0-9-]+): cordoned$"), model.ReasonCode.CORDONED),
    (re.compile(r"^(?P<cluster>[a-z0-9-]+): unhealthy \(no heartbeat\)$"), model.ReasonCode.UNHEALTHY),
    (re.compile(r"^(?P<cluster>[a-z0-9-]+): minimum \d+ lowered to "), model.ReasonCode.MINIMUM_LOWERED),
    (re.compile(r"^(?P<cluster>[a-z0-9-]+): replicas returning after recovery$"), model.ReasonCode.RETURNING),
    (re.compile(r"^no eligible cluster in region "), model.ReasonCode.NO_ELIGIBLE_CLUSTER),
    (re.compile(r"^minimums exceed \d+ replicas"), model.ReasonCode.MINIMUMS_EXCEED),
    (re.compile(r"^\d+ replicas unplaced: "), model.ReasonCode.NO_ROOM),
)


def _reason_from_01_text(text: str) -> model.Reason:
    for pattern, code in _01_REASON_TEXTS:
        found = pattern.match(text)
        if found:
            try:
                return model.Reason(found.groupdict().get("cluster", ""), code, text)
            except model.ValidationError:  # not a cluster's name after all
                break
    return model.Reason("", model.ReasonCode.UNSPECIFIED, text)


def service_from_message(message) -> model.Service:
    if message.reason_details:
        reasons = tuple(reason_from_message(r) for r in message.reason_details)
    else:  # written by a listener before 0.2, or for one: codes from the texts it wrote
        reasons = tuple(_reason_from_01_text(text) for text in message.reasons)
    placement = model.Placement(placement_from_message(message.placement), message.unplaced, reasons)
    rollout = rollout_from_message(message.rollout_state) if message.HasField("rollout_state") else None
    return model.Service(spec_from_message(message), placement, rollout)


def cluster_to_message(cluster: model.Cluster):
    return pb.ClusterSpec(name=cluster.name, region=cluster.region, endpoint=cluster.endpoint,
                          labels=dict(cluster.labels), weight=cluster.weight, capacity=cluster.capacity,
                          cordoned=cluster.cordoned, peer_endpoint=cluster.peer_endpoint)


def cluster_changed(current: model.Cluster, change) -> model.Cluster:
    """`current` (None: a new cluster) with the fields a ClusterChange gives; validated."""
    base = current if current is not None else model.Cluster(name=change.name, region=change.region)
    given = {name: getattr(change, name) for name in ("endpoint", "weight", "capacity", "cordoned")
             if change.HasField(name)}
    if change.HasField("labels"):
        given["labels"] = dict(change.labels.entries)
    return dataclasses.replace(base, **given)


def cluster_from_message(message) -> model.Cluster:
    return model.Cluster(name=message.name, region=message.region, endpoint=message.endpoint,
                         labels=dict(message.labels),
                         weight=message.weight if message.HasField("weight") else 1,
                         capacity=_optional(message, "capacity"), cordoned=message.cordoned,
                         peer_endpoint=message.peer_endpoint)


def status_to_message(status: model.ClusterStatus):
    return pb.ClusterStatus(
        cluster=status.cluster, region=status.region, reported_ms=status.reported_ms,
        services=[pb.ServiceStatus(region=s.region, service=s.service, namespace=s.namespace,
                                   desired=s.desired, ready=s.ready, conflict=s.conflict, updated=s.updated,
                                   available=s.available, reports_updated=s.reports_updated, revision=s.revision,
                                   problems=[pb.ObjectProblem(object=p.object, text=p.text) for p in s.problems],
                                   scheduled=s.scheduled, unschedulable=s.unschedulable, blocked=s.blocked,
                                   release=s.release, pods=s.pods)
                  for s in status.services],
        measures_room=status.room is not None,
        room=[pb.NodeRoom(cpu_milli=n.cpu_milli, memory_bytes=n.memory_bytes, pods=n.pods, count=n.count)
              for n in status.room or ()],
    )


def status_from_message(message) -> model.ClusterStatus:
    return model.ClusterStatus(
        cluster=message.cluster, region=message.region, reported_ms=message.reported_ms,
        services=tuple(model.ServiceStatus(region=s.region, service=s.service, namespace=s.namespace,
                                           desired=s.desired, ready=s.ready, conflict=s.conflict, updated=s.updated,
                                           available=s.available, reports_updated=s.reports_updated,
                                           revision=s.revision,
                                           problems=tuple(model.ObjectProblem(p.object, p.text) for p in s.problems),
                                           scheduled=s.scheduled, unschedulable=s.unschedulable, blocked=s.blocked,
                                           release=s.release, pods=s.pods)
                       for s in message.services),
        room=tuple(NodeRoom(n.cpu_milli, n.memory_bytes, n.pods, n.count) for n in message.room)
        if message.measures_room else None,
    )


def _summary_to_message(summary):
    return pb.ServiceSummary(replicas=summary.replicas, namespace=summary.namespace, revision=summary.revision,
                             image=summary.image, placement=dict(summary.placement))


def _summary_from_message(message):
    return ServiceSummary(message.replicas, message.namespace, message.revision, message.image,
                          dict(sorted(message.placement.items())))


def change_to_message(change: Change):
    message = pb.Change(region=change.region, service=change.service, change=stamp_to_message(change.change),
                        author=change.author, acting_for=change.acting_for, what=change.what)
    if change.before is not None:
        message.before.CopyFrom(stamp_to_message(change.before))
    for name in ("before_state", "after_state"):
        if getattr(change, name) is not None:
            getattr(message, name).CopyFrom(_summary_to_message(getattr(change, name)))
    return message


def change_from_message(message) -> Change:
    if len(message.author) > model.MAX_AUTHOR or len(message.acting_for) > model.MAX_AUTHOR:
        raise model.ValidationError("change.author", f"author and acting_for must be at most {model.MAX_AUTHOR} "
                                    "characters", max(len(message.author), len(message.acting_for)))
    return Change(message.region, message.service, checked_stamp(message.change, "change.change"),
                  checked_stamp(message.before, "change.before") if message.HasField("before") else None,
                  message.author, message.acting_for, message.what,
                  *(_summary_from_message(getattr(message, n)) if message.HasField(n) else None
                    for n in ("before_state", "after_state")))


_VALUE_FIELDS = (
    ("service", model.Service, service_to_message, service_from_message),
    ("cluster", model.Cluster, cluster_to_message, cluster_from_message),
    ("status", model.ClusterStatus, status_to_message, status_from_message),
    ("change", Change, change_to_message, change_from_message),
)


def record_to_message(record: model.Record, for_older_readers: bool = False):
    """The wire form of a record; `for_older_readers`: without the fields listeners before 0.2
    would drop, for a fleet where some are (listener/features.py)."""
    message = pb.Record(key=record.key, stamp=stamp_to_message(record.stamp), author=record.author,
                        deleted=record.deleted)
    for field_name, kind, to_message, _from_message in _VALUE_FIELDS:
        if isinstance(record.value, kind):
            value = record.value
            getattr(message, field_name).CopyFrom(
                to_message(value, for_older_readers) if kind is model.Service else to_message(value))
    return message


def record_bytes(record: model.Record) -> bytes:
    """The record as it travels and is stored: as its author encoded it, when it came so."""
    return record.raw or record_to_message(record).SerializeToString()


# Records decoded from these very bytes and still held somewhere in this process. A record
# comes again and again (a push, then a relay's copy, then several peers' after a partition
# heals): it is decoded and checked once; and the members of a simulated fleet, all in one
# process, share one copy of each record (Record is immutable) instead of a thousand.
_DECODED = weakref.WeakValueDictionary()


def record_from_bytes(raw: bytes) -> model.Record:
    """A record from its encoding (the store's, a peer's), checked, keeping `raw` as it is."""
    record = _DECODED.get(raw)
    if record is not None:
        return record
    try:
        message = pb.Record.FromString(raw)
    except DecodeError:
        raise model.ValidationError("record", "must be a Record encoded as protobuf", f"{len(raw)} bytes") from None
    record = record_from_message(message, raw)
    _DECODED[raw] = record
    return record


def record_from_message(message, raw: bytes = b"") -> model.Record:
    """A record from its message, checked; `raw`: the encoding it was read from, if any."""
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
                        value=value, raw=raw)


def peer_record(message, field_name: str = "record", now_ms=None) -> model.Record:
    """A record another listener sent (a Record message, or its encoding, which is then kept
    as the record's `raw`): valid as any record, and not stamped further ahead of our clock
    than MAX_AHEAD_MS."""
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


MAX_VERSION = 32  # characters of a listener's version in its heartbeats
MAX_FEATURES = 32  # features one listener may advertise


def peer_heartbeat(message, field_name: str = "heartbeat") -> tuple:
    """(cluster, sent_ms, version, features) of a heartbeat another listener sent, checked."""
    entry = _heartbeat_entry(message, field_name)
    _check_not_ahead(f"{field_name}.sent_ms", entry[1])
    return entry


def _heartbeat_entry(message, field_name: str) -> tuple:
    """What peer_heartbeat checks, but the moment: a heartbeat's own rules."""
    model.check_name(f"{field_name}.cluster", message.cluster)
    if message.sent_ms < 0:
        raise model.ValidationError(f"{field_name}.sent_ms", "must not be negative", message.sent_ms)
    if len(message.version) > MAX_VERSION or any(c.isspace() for c in message.version):
        raise model.ValidationError(f"{field_name}.version", f"must be at most {MAX_VERSION} characters without "
                                    "spaces", message.version)
    if len(message.features) > MAX_FEATURES:
        raise model.ValidationError(f"{field_name}.features", f"must be at most {MAX_FEATURES}",
                                    len(message.features))
    for feature in message.features:
        model.check_name(f"{field_name}.features[]", feature)
    return message.cluster, message.sent_ms, message.version, tuple(message.features)


# Heartbeats travel as the bytes of their Heartbeat messages (the Wire messages of fleet.proto),
# and one entry (a cluster's beat, passed on) reaches a listener from several peers a second
# and leaves in most of its calls: it is encoded once and decoded and checked once, not at
# every call (a hundred-member region's table, read and written each call, was most of a
# resting listener's own CPU). The check against our clock, which depends on the moment, still
# runs every time. Each map is forgotten whole when full, and learnt again.
_ENTRY_OF = {}  # encoded heartbeat -> (cluster, sent_ms, version, features), checked
_ENCODING_OF = {}  # (cluster, sent_ms, version, features) -> its encoding
_HEARTBEATS_KEPT = 20_000


def _remember(kept: dict, key, value):
    if len(kept) >= _HEARTBEATS_KEPT:
        kept.clear()
    kept[key] = value
    return value


def peer_heartbeats(encoded, field_name: str) -> tuple:
    """([(cluster, sent_ms, version, features)] of the encoded heartbeats that pass
    peer_heartbeat, [ValidationError per one that does not])."""
    passed, refused, now_ms = [], [], wall_clock_ms()
    latest = now_ms + MAX_AHEAD_MS
    for i, raw in enumerate(encoded):
        entry = _ENTRY_OF.get(raw)
        if entry is not None and entry[1] <= latest:  # most of them: read before, and not ahead of us
            passed.append(entry)
            continue
        try:
            if entry is None:
                where = f"{field_name}[{i}]"
                entry = _remember(_ENTRY_OF, raw, _heartbeat_entry(_decoded_heartbeat(raw, where), where))
            _check_not_ahead(f"{field_name}[{i}].sent_ms", entry[1], now_ms)
        except model.ValidationError as error:
            refused.append(error)
            continue
        passed.append(entry)
    return passed, refused


def _decoded_heartbeat(raw: bytes, field_name: str):
    try:
        return pb.Heartbeat.FromString(raw)
    except DecodeError:
        raise model.ValidationError(field_name, "must be a Heartbeat encoded as protobuf", f"{len(raw)} bytes") from None


def heartbeats_to_wire(entries) -> list:
    """The encoding of each heartbeat (cluster, sent_ms, version, features) of
    listener/heartbeats.py, as the Wire messages carry them."""
    encoded = []
    for entry in entries:
        raw = _ENCODING_OF.get(entry)
        if raw is None:
            cluster, ms, version, features = entry
            message = pb.Heartbeat(cluster=cluster, sent_ms=ms, version=version, features=features)
            raw = _remember(_ENCODING_OF, entry, message.SerializeToString())
        encoded.append(raw)
    return encoded


MAX_DOWN = 10_000  # members one region report may hold down


def peer_region_report(message, field_name: str = "region_report") -> tuple:
    """(region, reporter, sent_ms, down, said_hash) of a region report another listener sent,
    checked (listener/heartbeats.py)."""
    model.check_name(f"{field_name}.region", message.region)
    model.check_name(f"{field_name}.reporter", message.reporter)
    if message.sent_ms < 0:
        raise model.ValidationError(f"{field_name}.sent_ms", "must not be negative", message.sent_ms)
    _check_not_ahead(f"{field_name}.sent_ms", message.sent_ms)
    if len(message.down) > MAX_DOWN:
        raise model.ValidationError(f"{field_name}.down", f"must be at most {MAX_DOWN}", len(message.down))
    for name in message.down:
        model.check_name(f"{field_name}.down[]", name)
    return message.region, message.reporter, message.sent_ms, tuple(message.down), message.said_hash


def peer_region_reports(messages_in, field_name: str) -> tuple:
    """(the reports that pass peer_region_report, [ValidationError per one that does not])."""
    return _checked_each(peer_region_report, messages_in, field_name)


def check_region_names(field_name: str, names) -> None:
    """Regions a peer names (a digest's regions_wanted): at most MAX_DOWN, each a name."""
    if len(names) > MAX_DOWN:
        raise model.ValidationError(field_name, f"must be at most {MAX_DOWN}", len(names))
    for name in names:
        model.check_name(f"{field_name}[]", name)


def region_reports_to_wire(reports) -> list:
    """The RegionReport message of each (region, reporter, sent_ms, down, said_hash)."""
    return [pb.RegionReport(region=region, reporter=reporter, sent_ms=ms, down=down, said_hash=said)
            for region, reporter, ms, down, said in reports]


def _checked_each(check, messages_in, field_name: str) -> tuple:
    passed, refused = [], []
    for i, message in enumerate(messages_in):
        try:
            passed.append(check(message, f"{field_name}[{i}]"))
        except model.ValidationError as error:
            refused.append(error)
    return passed, refused
