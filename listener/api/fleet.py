"""The Fleet service: what clients (the modules, the inventory plugin) ask of any listener."""
from __future__ import annotations

import json
import logging

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils import rollout as ro
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import (
    ACTING_FOR_HEADER, AUTHOR_HEADER, MAX_ACTING_FOR)
from ansible_collections.multicluster.kube.plugins.module_utils.history import (
    HISTORY_PREFIX, MAX_CHANGES, Change, ServiceSummary)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Placement, Service, ValidationError, check_name, cluster_key, service_key)
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.scheduler import schedule
from ansible_collections.multicluster.kube.plugins.module_utils.workload import check_against, render, revision

from ansible_collections.multicluster.kube.listener.api.waits import check_wait, wait_for
from ansible_collections.multicluster.kube.listener import rolling
from ansible_collections.multicluster.kube.listener.features import HISTORY, RECORDS_WHOLE, ROLLOUT
from ansible_collections.multicluster.kube.listener.fitting import carrying, fits, held
from ansible_collections.multicluster.kube.listener.identities import ADMIN
from ansible_collections.multicluster.kube.listener.namespaces import NamespacePolicy

log = logging.getLogger("multicluster.listener.api")


class FleetService:
    """replica: its queries; writer: the one way to change state; health: who is unhealthy;
    features: what is held back; peer_counts: () -> (peers up, peers known); kube: this
    cluster's KubernetesApi, for dry runs (None: the listener manages no cluster)."""

    def __init__(self, cluster: str, region: str, replica, writer, health, features, peer_counts, metrics,
                 kube=None, namespaces=NamespacePolicy(), identity=None):
        """identity(context): the caller's identities.Identity (the interceptor let only
        callers with a role for the method through); None: every caller is an admin."""
        self.cluster, self.region = cluster, region
        self._identity = identity or (lambda _context: ADMIN)
        self._namespaces = namespaces
        self._replica, self._writer, self._health, self._features = replica, writer, health, features
        self._peer_counts, self._metrics, self._kube = peer_counts, metrics, kube

    def SetRegionReplicas(self, request, context):  # noqa: N802 (gRPC method names)
        replica = self._replica
        try:
            spec = messages.spec_from_message(request.spec if request.HasField("spec") else request.intent)
            self._may_write(context, spec.region, spec.namespace)
            self._namespaces.check(spec.namespace)
            region = replica.region_clusters(spec.region)
            if not region:
                raise ValidationError("region", f"must name a region with registered clusters "
                                      f"(known: {', '.join(replica.regions()) or 'none'})", spec.region)
            spec.check_rules_against(region)
            spec.check_rollout_against(region)
            clusters = [c for c in replica.members() if c.region == spec.region]
            check_against(spec, clusters)
            check_wait(request.wait, request.timeout_seconds)
            self._dry_run(spec, clusters)
        except ValidationError as error:
            _invalid(context, error)
        if not spec.workload.default and not self._features.supported(RECORDS_WHOLE):
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "workload: some members may drop it from the record "
                          f"({', '.join(self._features.lacking(RECORDS_WHOLE))}: not heard from yet, or older than "
                          "0.1.1); try again once they are heard, or upgrade them first (docs/upgrading.md)")
        if spec.rollout is not None and not self._features.supported(ROLLOUT, spec.region):
            lacking = ", ".join(self._features.lacking(ROLLOUT, spec.region))
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"rollout: some members of region {spec.region} "
                          f"would run a new release at once ({lacking}: not heard from yet, or older than 0.3); "
                          "upgrade them first (docs/upgrading.md)")
        with self._writer.lock:
            current = replica.record(spec.key)
            previous = current.value if current is not None else None
            fitting = fits(replica, spec)
            before = previous.placement if previous else None
            placement = carrying(schedule(
                spec, replica.members(), previous=before.clusters if before else None,
                unhealthy=self._health.unhealthy(), used=replica.used_by_others(spec.key),
                unable=self._features.unable(spec, spec.region), fits=held(fitting, before)), before)
            new = Service(spec, placement, rolling.begun(replica, previous, spec, wall_clock_ms()))
            response, acks = self._written(context, request.dry_run, current, new, "set_region_replicas")
        response.fits.update(fitting)
        self._wait_written(request, response, acks, new, previous)
        return response

    def ChangeRollout(self, request, context):  # noqa: N802
        """Resume a halted (or reverted) rollout, or roll a service back to its last good release."""
        try:
            key = service_key(check_name("region", request.region), check_name("service", request.service))
            check_wait(request.wait, request.timeout_seconds)
            if request.action not in (pb.RESUME, pb.ROLLBACK):
                raise ValidationError("action", "must be RESUME or ROLLBACK", request.action)
        except ValidationError as error:
            _invalid(context, error)
        with self._writer.lock:
            current = self._replica.record(key)
            previous = current.value if current is not None else None
            self._may_write(context, request.region, previous.spec.namespace if previous else "")
            if previous is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"service: there is no service {request.service} in "
                              f"region {request.region}")
            now = wall_clock_ms()
            if request.action == pb.RESUME:
                new = previous if previous.rollout is None else \
                    Service(previous.spec, previous.placement, ro.resumed(previous.rollout, now))
            elif request.revision and previous.spec.release.revision == request.revision:
                new = previous  # already back on it
            else:
                back = rolling.rolled_back(self._replica, previous, now)
                if back is None:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"rollout: {key} has no earlier release to "
                                  "roll back to (it has not been rolled out with a strategy)")
                if request.revision and back[0].release.revision != request.revision:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"revision: {key} runs "
                                  f"{previous.spec.release.revision}, and its last good revision is "
                                  f"{back[0].release.revision}, not {request.revision}")
                new = Service(back[0], previous.placement, back[1])
            response, acks = self._written(context, request.dry_run, current, new, "change_rollout")
        self._wait_written(request, response, acks, new, previous)
        return response

    def _written(self, context, dry_run: bool, current, new: Service, what: str) -> tuple:
        """Write `new` over the record `current` unless it is the same (or a dry run): (the
        response so far, the peers' acknowledgements). Under the writer's lock."""
        previous = current.value if current is not None else None
        changed = new != previous
        stamp = current.stamp if current is not None and not changed else None
        acks = {}
        if changed and not dry_run:
            records, acks = self._writer.write([(new.key, new)], author=self._author(context),
                                               follow=self._history(context, what, current))
            stamp = records[0].stamp
            self._metrics.writes.labels(what).inc()
        response = pb.SetRegionReplicasResponse(
            intent=messages.service_to_message(new), changed=changed,
            previous_placement=messages.placement_to_message(previous.placement.clusters if previous else {}))
        if stamp is not None:
            response.stamp.CopyFrom(messages.stamp_to_message(stamp))
        if previous is not None:
            response.previous.CopyFrom(messages.service_to_message(previous))
        return response, acks

    def _wait_written(self, request, response, acks, new: Service, previous) -> None:
        """Wait as the request asks for the write of `new`, each cluster for what it should run now."""
        labels = {c.name: c.labels for c in self._replica.members()}
        revisions = {c: revision(render(new.spec_for(c), c, n, labels.get(c))[-1])
                     for c, n in new.placement.clusters.items()}
        response.waited, response.wait_detail = self._wait(
            request, acks, new.key, new.placement, previous.placement if previous else Placement(), revisions,
            new.spec.release.revision)

    def DeleteService(self, request, context):  # noqa: N802
        try:
            key = service_key(check_name("region", request.region), check_name("service", request.service))
            check_wait(request.wait, request.timeout_seconds)
        except ValidationError as error:
            _invalid(context, error)
        with self._writer.lock:
            previous = self._replica.live(key)
            self._may_write(context, request.region, previous.spec.namespace if previous else "")
            response = pb.DeleteServiceResponse(changed=previous is not None)
            acks = {}
            if previous is not None:
                response.previous.CopyFrom(messages.service_to_message(previous))
                response.previous_placement.extend(messages.placement_to_message(previous.placement.clusters))
                if not request.dry_run:
                    records, acks = self._writer.write([(key, None)], author=self._author(context),
                                                       follow=self._history(context, "delete_service",
                                                                            self._replica.record(key)))
                    response.stamp.CopyFrom(messages.stamp_to_message(records[0].stamp))
                    self._metrics.writes.labels("delete_service").inc()
        response.waited, response.wait_detail = self._wait(
            request, acks, key, Placement(), previous.placement if previous else Placement())
        return response

    def _dry_run(self, spec, clusters) -> None:
        """Every object the region's clusters would run, checked by this cluster's apiserver
        (dryRun=All): what it refuses comes back naming the object and the field."""
        if self._kube is None or spec.workload.default:
            return
        held = self._replica.live(spec.key)
        if held is not None and held.spec.workload == spec.workload and held.spec.namespace == spec.namespace:
            return  # checked when it was written: a change of replicas or rules needs no second look
        seen = set()
        for cluster in clusters:
            for obj in render(spec, cluster.name, 1, cluster.labels):
                text = json.dumps({**obj, "metadata": {**obj["metadata"], "labels": {}}}, sort_keys=True)
                if text in seen:
                    continue
                seen.add(text)
                try:
                    self._kube.dry_run(obj)
                except ApiError as error:
                    raise ValidationError(f"{obj['kind']} {obj['metadata']['name']}",
                                          f"refused by the apiserver of {self.cluster} (dry run): {error.reason}",
                                          error.status) from None
                except Exception as error:  # the apiserver away: the write is still taken, checked by structure
                    log.warning("dry run of %s %s skipped: %s", obj["kind"], obj["metadata"]["name"], error)
                    return

    def _wait(self, request, acks, key, new: Placement, previous: Placement, revisions=None, release="") -> tuple:
        if request.dry_run:
            return True, ""
        return wait_for(self._replica, request.wait, request.timeout_seconds, acks, key, new.clusters,
                        previous.clusters, revisions, release)

    def GetGlobalConfig(self, request, context):  # noqa: N802
        replica = self._replica
        response = pb.GetGlobalConfigResponse(answered_by=self.cluster)
        if request.keys:
            held = [replica.record(k) for k in dict.fromkeys(request.keys)]
        else:
            held = replica.snapshot()
        response.records.extend(messages.record_to_message(r) for r in held if r is not None and not r.deleted
                                and (request.with_history or not r.key.startswith(HISTORY_PREFIX)))
        response.health.extend(pb.ClusterHealth(cluster=n, healthy=h, last_heard_seconds=s, version=v, features=f)
                               for n, h, s, v, f in self._health.report())
        response.held_back.extend(pb.HeldBack(feature=f, lacking=lacking, meanwhile=meanwhile)
                                  for f, lacking, meanwhile in self._features.held_back())
        return response

    def PutCluster(self, request, context):  # noqa: N802
        try:
            wanted = messages.cluster_from_message(request.cluster)
        except ValidationError as error:
            _invalid(context, error)
        with self._writer.lock:
            before = self._replica.live(wanted.key)
            _check_same_region(context, before, wanted.region)
            return self._cluster_change(context, wanted.key, before, wanted, request.dry_run)

    def UpdateCluster(self, request, context):  # noqa: N802
        change = request.change
        try:
            key = cluster_key(check_name("name", change.name))
            check_name("region", change.region)
        except ValidationError as error:
            _invalid(context, error)
        with self._writer.lock:
            before = self._replica.live(key)
            _check_same_region(context, before, change.region)
            try:
                wanted = messages.cluster_changed(before, change)
            except ValidationError as error:
                _invalid(context, error)
            return self._cluster_change(context, key, before, wanted, request.dry_run)

    def RemoveCluster(self, request, context):  # noqa: N802
        try:
            key = cluster_key(check_name("name", request.name))
        except ValidationError as error:
            _invalid(context, error)
        with self._writer.lock:
            return self._cluster_change(context, key, self._replica.live(key), None, request.dry_run)

    def _cluster_change(self, context, key, before, after, dry_run):
        if after is not None and (before is None or before.labels != after.labels):
            try:
                self._check_overrides_under(after)
            except ValidationError as error:
                _invalid(context, error)
        response = pb.ClusterResponse(changed=before != after)
        if before is not None:
            response.before.CopyFrom(messages.cluster_to_message(before))
        if after is not None:
            response.after.CopyFrom(messages.cluster_to_message(after))
        if response.changed and not dry_run:
            [record], _acks = self._writer.write([(key, after)], author=self._author(context))
            response.stamp.CopyFrom(messages.stamp_to_message(record.stamp))
            self._metrics.writes.labels("cluster").inc()
        return response

    def _check_overrides_under(self, cluster) -> None:
        """The overrides of the region's services still apply to what `cluster` runs with its
        new labels (one choosing it by a label may patch what is not there)."""
        for key, service in sorted(self._replica.services(cluster.region), key=lambda pair: pair[0]):
            try:
                render(service.spec, cluster.name, 1, cluster.labels)
            except ValidationError as error:
                raise ValidationError("labels", f"would choose {cluster.name} for {key}'s {error.field}, which "
                                      f"fails there ({error.rule})", dict(cluster.labels)) from None

    def _may_write(self, context, region: str, namespace: str) -> None:
        """PERMISSION_DENIED unless the caller may write services of `region` in `namespace`."""
        identity = self._identity(context)
        why = identity.why_not("operator", region, namespace)
        if why:
            log.warning("refused a write of %s/%s to %s: %s", region, namespace, identity.name, why)
            context.abort(grpc.StatusCode.PERMISSION_DENIED, why)

    def _history(self, context, what: str, current):
        """For Writer.write's follow: the service's history entry for the write made over
        `current` (its record, or None), and the deletion of the entries beyond MAX_CHANGES;
        nothing while a member would refuse history records."""
        def follow(records):
            if not self._features.supported(HISTORY):
                return []
            written = records[0]
            region, service = written.key.split("/")[1:]
            before = current.value if current is not None and isinstance(current.value, Service) else None
            entry = Change(region, service, written.stamp, current.stamp if current is not None else None,
                           self._identity(context).name, _acting_for(context), what,
                           ServiceSummary.of(before) if before else None,
                           ServiceSummary.of(written.value) if written.value is not None else None)
            older = self._replica.history(written.key)
            return [(entry.key, entry)] + [(c.key, None) for c in older[:max(0, len(older) + 1 - MAX_CHANGES)]]
        return follow

    def _author(self, context) -> str:
        """Who wrote it: the authenticated identity, whatever the call's metadata claims; what
        it claims is whom the caller acts for (checked here, so a write never half happens)."""
        _acting_for(context)
        return self._identity(context).name

    def Health(self, request, context):  # noqa: N802
        up, total = self._peer_counts()
        return pb.HealthResponse(cluster=self.cluster, region=self.region, peers_up=up, peers_total=total,
                                 records=self._replica.count())


def _check_same_region(context, before, region) -> None:
    if before is not None and before.region != region:
        context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                      f"region: cluster {before.name} is in region {before.region}; remove it first "
                      f"to move it to {region}")


def _acting_for(context) -> str:
    metadata = dict(context.invocation_metadata())
    acting_for = metadata.get(ACTING_FOR_HEADER) or metadata.get(AUTHOR_HEADER, "")  # AUTHOR_HEADER: clients of 0.2
    if len(acting_for) > MAX_ACTING_FOR:
        header = ACTING_FOR_HEADER if ACTING_FOR_HEADER in metadata else AUTHOR_HEADER
        context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                      f"metadata {header}: must be at most {MAX_ACTING_FOR} characters (got {len(acting_for)})")
    return acting_for


def _invalid(context, error: ValidationError):
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
