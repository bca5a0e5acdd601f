"""What a write waits for: applied once every target cluster reports its replicas at the new
revision; and no longer than it takes every cluster not there yet to report that it cannot."""
from __future__ import annotations

import time

from ansible_collections.multicluster.kube.listener.api.waits import wait_for
from ansible_collections.multicluster.kube.plugins.module_utils.model import ClusterStatus, ObjectProblem, ServiceStatus
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

KEY, NEW = "service/us/shop", {"us-east": 2, "us-west": 2}
REVISIONS = {"us-east": "r2", "us-west": "r2"}
WIDGET = ObjectProblem("Widget default/shop", "apply failed: 404 this apiserver serves no Widget in example.com/v1")


class Statuses:
    """The replica's status queries, over statuses a test sets."""

    def __init__(self, **services):
        self.statuses = {c: ClusterStatus(c, "us", services=(s,)) for c, s in services.items()}

    def status_of(self, cluster):
        return self.statuses.get(cluster)

    def wait_until(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def shop(desired=2, revision="r2", problems=()):
    return ServiceStatus("us", "shop", desired=desired, revision=revision, problems=problems)


def test_applied_is_met_when_every_cluster_reports_the_new_replicas_and_revision():
    statuses = Statuses(**{"us-east": shop(), "us-west": shop()})
    assert wait_for(statuses, pb.APPLIED, 5, {}, KEY, NEW, {}, REVISIONS) == (True, "")


def test_a_cluster_that_reports_it_cannot_ends_the_wait_at_once_naming_the_object_and_why():
    statuses = Statuses(**{"us-east": shop(), "us-west": shop(problems=(WIDGET,))})
    began = time.monotonic()
    met, detail = wait_for(statuses, pb.APPLIED, 30, {}, KEY, NEW, {}, REVISIONS)
    assert time.monotonic() - began < 5, "it waited although nothing more was coming"
    assert not met
    assert detail == ("reported that they cannot: us-west: Widget default/shop: apply failed: 404 this apiserver "
                      "serves no Widget in example.com/v1")


def test_problems_of_an_older_revision_or_replicas_are_no_reason_to_stop_waiting():
    for old in (shop(revision="r1", problems=(WIDGET,)), shop(desired=1, problems=(WIDGET,))):
        statuses = Statuses(**{"us-east": shop(), "us-west": old})
        met, detail = wait_for(statuses, pb.APPLIED, 0.3, {}, KEY, NEW, {}, REVISIONS)
        assert not met and detail.startswith("after 0s still waiting for: us-west (applied "), detail
        assert "cannot" not in detail


def test_while_another_cluster_is_on_its_way_the_wait_goes_on_and_says_both():
    statuses = Statuses(**{"us-east": shop(desired=1), "us-west": shop(problems=(WIDGET,))})
    met, detail = wait_for(statuses, pb.APPLIED, 0.3, {}, KEY, NEW, {}, REVISIONS)
    assert not met
    assert detail == ("after 0s still waiting for: us-east (applied 1/2), us-west (applied 2/2) (reported that they "
                      f"cannot: us-west: {WIDGET})")
