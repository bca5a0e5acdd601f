"""What this listener's version does that older listeners may not honour, and when a fleet may
do it: only once every member concerned says, in its heartbeats, that it supports it. Until
then the fleet behaves as the older version would, and the status says what is held back and
which members hold it (docs/upgrading.md).

A member whose listener has not said what it is (not heard yet, or a listener before 0.2,
which says nothing) counts as lacking every feature: holding back is always safe.
"""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils.version import VERSION

# Keeps, stores and passes on records exactly as their author encoded them (fields it does not
# know included). Listeners before 0.1.1 re-encode records from what they understand: while
# one is a member, records are written without the fields such a listener would drop (and
# one stamp would then travel with two contents).
RECORDS_WHOLE = "records-whole"
# Runs a service's workload: its Deployment template and companions (listeners before 0.2 run
# the seed's image on its port). A service with one is placed only on clusters whose listener
# can run it, and refused while some member would drop it from the record (no records-whole).
WORKLOADS = "workloads"
# Reports its cluster's room and the pods of each service, and caps shares by what fits. A
# cluster whose listener does not report room is placed without that cap (by weight and
# capacity, as before); `division: dynamic` divides by the weights while one of its region's
# clusters reports none.
ROOM = "room"
# Runs the release a rollout holds its cluster on, reports the release its Deployment runs, and
# advances rollouts as a coordinator. A service with a rollout strategy is refused while a
# member of its region lacks it (that member would run the new release at once).
ROLLOUT = "rollout"
# Keeps services' histories (history/... records). Listeners before 0.3 refuse a push that
# carries one (an unknown kind of key): while a member lacks it, no history is written.
HISTORY = "history"
# Reports its region at each beat when one of its first two healthy members, passes reports on,
# and judges other regions' members by their reports (listener/heartbeats.py). Once every member
# has it, anti-entropy leaves other regions' heartbeats out (listeners before 0.3 judge every
# member by its own heartbeats, so they need every table whole).
REGION_REPORTS = "region-reports"
FEATURES = (RECORDS_WHOLE, WORKLOADS, ROOM, ROLLOUT, HISTORY, REGION_REPORTS)
MEANWHILE = {RECORDS_WHOLE: "records are written without the fields older listeners would drop (reason codes: "
                            "their texts say the same); services with a workload are refused",
             WORKLOADS: "services with a workload (a template or companions) are not placed on these clusters",
             ROOM: "these clusters' shares are not capped by what fits in them; dynamic division goes by the weights "
                   "in their regions",
             ROLLOUT: "services with a rollout strategy are refused in their regions",
             HISTORY: "changes are not recorded in services' histories",
             REGION_REPORTS: "anti-entropy carries every member's heartbeats to every region (resting traffic grows "
                             "with the fleet, not only with the region)"}


class Features:
    def __init__(self, replica, heartbeats):
        self._replica, self._heartbeats = replica, heartbeats

    def lacking(self, feature: str, region=None) -> list:
        """The members (of `region`, or of the whole fleet) that have not said they support it."""
        names = self._replica.region_clusters(region) if region else sorted(c.name for c in self._replica.members())
        return [n for n in names if feature not in (self._heartbeats.about(n) or ("", ()))[1]]

    def supported(self, feature: str, region=None) -> bool:
        return not self.lacking(feature, region)

    def unable(self, spec, region: str) -> set:
        """The clusters of `region` whose listener cannot run `spec`'s workload yet."""
        return set() if spec.workload.default else set(self.lacking(WORKLOADS, region))

    def held_back(self) -> list:
        """[(feature, members lacking it, what the fleet does meanwhile)] for the status."""
        return [(f, lacking, MEANWHILE[f]) for f in FEATURES for lacking in [self.lacking(f)] if lacking]


def advertised() -> tuple:
    """(version, features) this listener puts in its heartbeats."""
    return VERSION, FEATURES
