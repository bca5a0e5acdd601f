# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's history: the recent changes clients made to it, who made them, for whom, at
which listener, when, and what it was before and after.

Each change is a record of its own (history/<region>/<service>/<its stamp>), written with the
service's record in one write, so a write that lost to a concurrent one at another listener
is kept as well: both were made over the same record (`before`), and the one whose stamp lost
is superseded. A listener keeps the last MAX_CHANGES of a service, deleting older ones as it
writes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError, check_name

MAX_CHANGES = 100  # kept per service
HISTORY_PREFIX = "history/"
WHAT = ("set_region_replicas", "delete_service", "change_rollout")
_CHANGE_ID = re.compile(r"^(\d{1,19})-(\d{1,10})-([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$")


def change_id(stamp: Stamp) -> str:
    return f"{stamp.physical_ms}-{stamp.logical}-{stamp.origin}"


def history_key(region: str, service: str, stamp: Stamp) -> str:
    return f"{HISTORY_PREFIX}{region}/{service}/{change_id(stamp)}"


def check_change_id(field_name: str, value: str) -> str:
    if not _CHANGE_ID.match(value):
        raise ValidationError(field_name, "must be <physical_ms>-<logical>-<origin cluster> of the change", value)
    return value


@dataclass(frozen=True)
class ServiceSummary:
    """What a change is about, in brief: replicas, namespace, the release's revision (and the
    original design's image), and where the replicas were placed."""

    replicas: int
    namespace: str
    revision: str
    image: str = ""
    placement: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, service) -> "ServiceSummary":
        spec = service.spec
        return cls(spec.replicas, spec.namespace, spec.release.revision,
                   spec.image if spec.workload.default else "", dict(sorted(service.placement.clusters.items())))

    def as_dict(self) -> dict:
        return {"replicas": self.replicas, "namespace": self.namespace, "revision": self.revision,
                "image": self.image, "placement": dict(self.placement)}


@dataclass(frozen=True)
class Change:
    region: str
    service: str
    change: Stamp  # the stamp of the service record the write made
    before: Optional[Stamp]  # the record it replaced where it was taken; None: there was none
    author: str
    acting_for: str = ""
    what: str = "set_region_replicas"
    before_state: Optional[ServiceSummary] = None  # None: there was none
    after_state: Optional[ServiceSummary] = None  # None: deleted

    def __post_init__(self):
        check_name("change.region", self.region)
        check_name("change.service", self.service)
        if self.what not in WHAT:
            raise ValidationError("change.what", f"must be one of {', '.join(WHAT)}", self.what)
        check_change_id("change.change", change_id(self.change))

    @property
    def key(self) -> str:
        return history_key(self.region, self.service, self.change)

    @property
    def service_key(self) -> str:
        return f"service/{self.region}/{self.service}"


def superseded(changes, current: Optional[Stamp]) -> set:
    """The stamps of the changes that lost: those not on the chain that leads, change by
    change through each one's `before`, to the service's record as it is (`current`, or the
    newest change when the record is gone)."""
    by_stamp = {c.change: c for c in changes}
    head = current if current in by_stamp else max(by_stamp, default=None)
    kept = set()
    while head is not None and head in by_stamp and head not in kept:
        kept.add(head)
        head = by_stamp[head].before
    return set(by_stamp) - kept


def history_view(changes, current: Optional[Stamp]) -> list:
    """The changes, newest first, as global_config_info shows them."""
    lost = superseded(changes, current)
    return [{"when_ms": c.change.physical_ms, "by": c.author, "for": c.acting_for, "at": c.change.origin,
             "what": c.what, "stamp": str(c.change), "before_stamp": str(c.before) if c.before else "",
             "superseded": c.change in lost,
             "before": c.before_state.as_dict() if c.before_state else None,
             "after": c.after_state.as_dict() if c.after_state else None}
            for c in sorted(changes, key=lambda c: c.change, reverse=True)]


def histories(records) -> dict:
    """{"<region>/<service>": its history_view} of the live records given: the history records
    and the services' own (whose stamps say which changes they are)."""
    current = {r.key: r.stamp for r in records if r.key.startswith("service/") and not r.deleted}
    changes = {}
    for record in records:
        if isinstance(record.value, Change):
            changes.setdefault(record.value.service_key, []).append(record.value)
    return {key[len("service/"):]: history_view(entries, current.get(key)) for key, entries in sorted(changes.items())}
