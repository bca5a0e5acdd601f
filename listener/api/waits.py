"""What a write may wait for before it is answered: committed (the default: persisted here),
propagated (every reachable peer acknowledged), applied (the clusters it places on, and those
it takes replicas from, report their Deployments at the new replicas) or ready (and the new
template rolled out there: that many replicas updated to it and ready, not an old
ReplicaSet's), each cluster on what it should run now (a rollout may hold some on the revision
they ran); or rolled_out: the whole region runs the new release, its rollout done (failing at
once when the rollout halts, or a newer change supersedes it)."""
from __future__ import annotations

import concurrent.futures
import time

from ansible_collections.multicluster.kube.plugins.module_utils import rollout as ro
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

DEFAULT_TIMEOUT = 30.0


def check_wait(wait, timeout) -> None:
    if wait not in pb.WaitFor.values():
        raise ValidationError("wait", "must be one of " + ", ".join(pb.WaitFor.keys()), wait)
    if not 0 <= timeout <= 3600:
        raise ValidationError("timeout_seconds", "must be from 0 to 3600", timeout)


def wait_for(replica, wait, timeout: float, acks: dict, key: str, new: dict, previous: dict,
             revisions=None, release: str = "") -> tuple:
    """Block until the write's wait condition holds: (met, what is missing). acks: {peer:
    future of its acknowledgement}; new, previous: the service's placement after and before
    the write ({cluster: replicas}) under `key` (service/<region>/<service>); revisions:
    {cluster: the pod template revision it should report} (workload.revision); release: the
    revision of the release written (model.Release)."""
    revisions = revisions or {}
    if wait in (pb.WAIT_FOR_UNSPECIFIED, pb.COMMITTED):
        return True, ""
    deadline = time.monotonic() + (timeout or DEFAULT_TIMEOUT)
    if wait == pb.ROLLED_OUT:
        return _rolled_out_everywhere(replica, key, release, deadline)
    if wait == pb.PROPAGATED:
        done, pending = concurrent.futures.wait(acks.values(), timeout=max(0, deadline - time.monotonic()))
        missing = sorted(e for e, f in acks.items() if f not in done or not f.result())
        return (not pending, f"not acknowledged by: {', '.join(missing)}" if missing else "")
    targets = {cluster: 0 for cluster in previous}
    targets.update(new)
    _kind, region, service = key.split("/")
    ready = wait == pb.READY

    def progress() -> tuple:
        """(the clusters not there yet, those of them that report they cannot get there: their
        status at the new revision and replicas names objects it could not make as wanted)."""
        behind, stuck = [], []
        for cluster, want in sorted(targets.items()):
            status = replica.status_of(cluster)
            entry = status.entry(region, service) if status else None
            have = (_rolled_out(entry) if ready else entry.desired) if entry else 0
            stale = want and entry is not None and entry.reports_updated and entry.revision != revisions.get(cluster)
            if stale:
                have = 0
            problems = entry.problems if want and entry is not None and not stale and entry.desired == want else ()
            if (entry.desired if entry else 0) != want or stale or (ready and have < want) or problems:
                behind.append(f"{cluster} ({'ready' if ready else 'applied'} {have}/{want})")
                if problems:
                    stuck.append(f"{cluster}: " + "; ".join(map(str, problems)))
        return behind, stuck

    def settled() -> bool:
        behind, stuck = progress()
        return len(stuck) == len(behind)

    began = time.monotonic()
    replica.wait_until(settled, max(0.0, deadline - began))
    behind, stuck = progress()
    if not behind:
        return True, ""
    if len(stuck) == len(behind):
        return False, "reported that they cannot: " + " | ".join(stuck)
    waited = time.monotonic() - began
    return False, f"after {waited:.0f}s still waiting for: " + ", ".join(behind) + (
        " (reported that they cannot: " + " | ".join(stuck) + ")" if stuck else "")


def _rolled_out_everywhere(replica, key: str, release: str, deadline: float) -> tuple:
    """Wait until every cluster of the service's placement runs `release` rolled out and its
    rollout (if it has one) is done; fail at once when the rollout ends otherwise or the
    service no longer asks for `release`."""
    _kind, region, name = key.split("/")

    def progress() -> tuple:
        """(what is not there yet, why it never will be: "" while it may)."""
        service = replica.live(key)
        if service is None:
            return ["the service"], "the service was deleted"
        if service.spec.release.revision != release:
            return ["the service"], (f"a newer change superseded it: the service asks for revision "
                                     f"{service.spec.release.revision} now, not {release}")
        rollout = service.rollout
        if rollout is not None and rollout.target == release and rollout.state in (ro.HALTED, ro.REVERTED):
            return ["the rollout"], (f"the rollout of revision {release} {rollout.state}: {rollout.why} "
                                     f"(released: {', '.join(rollout.released) or 'none'}); resume it or roll it "
                                     "back with multicluster.kube.rollout")
        behind = []
        for cluster, want in sorted(service.placement.clusters.items()):
            status = replica.status_of(cluster)
            entry = status.entry(region, name) if status else None
            if entry is None or entry.release != release or entry.desired != want or not entry.rolled_out:
                runs = f"on {entry.release or 'an unknown revision'}, updated {entry.updated}/{want}, " \
                    f"ready {entry.ready}/{want}, pods {entry.pods}" if entry else "no status"
                behind.append(f"{cluster} ({runs})")
        if rollout is not None and rollout.target == release and rollout.state != ro.DONE:
            behind.append(f"the rollout ({rollout.state}, released: {', '.join(rollout.released) or 'none'})")
        return behind, ""

    def settled() -> bool:
        behind, never = progress()
        return bool(never) or not behind

    began = time.monotonic()
    replica.wait_until(settled, max(0.0, deadline - began))
    behind, never = progress()
    if never:
        return False, never
    if not behind:
        return True, ""
    return False, f"after {time.monotonic() - began:.0f}s still waiting for: " + ", ".join(behind)


def _rolled_out(entry) -> int:
    """Replicas of the new template that are ready (a listener before 0.2: ready replicas)."""
    return min(entry.ready, entry.updated) if entry.reports_updated else entry.ready
