"""Rolling upgrades on the lab: listeners of an earlier release (its code taken from this
repository's history, lab/releases.py) and of this checkout in one fleet, then upgraded one by
one. Records written by the newer listeners keep, through the older ones, the fields those do
not know, byte for byte; everything converges; nothing is lost; and while a member would drop
such fields, the fleet does not write them, and says so (docs/upgrading.md)."""
from __future__ import annotations

import contextlib
import sqlite3

from ansible_collections.multicluster.kube.plugins.module_utils.model import PlacementRules, ReasonCode, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.version import VERSION

from fleet_state import converged, intent_of, managed_deployments
from lab import releases
from lab.listeners import ListenerFleet, Member
from support import wait_for

# Members of their own on the lab's clusters (the session's default fleet manages those too, and
# leaves what other members' labels mark alone): us-a on us-east, us-b on us-west, eu-a on
# eu-central, eu-b on eu-west; the b's run the older release.
ON = {"us-a": "us-east", "us-b": "us-west", "eu-a": "eu-central", "eu-b": "eu-west"}
OLD = ("eu-b", "us-b")  # sorted, as held_back lists them
SHOP = "service/eu/shop"


def stored(fleet, name, key):
    """The bytes listener `name` stores for `key` (read from its SQLite file), or None."""
    path = fleet.workdir / name / f"{name}.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT record FROM records WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def seen_from(fleet, name):
    """(version of each member's listener, held back features) as listener `name` sees them."""
    with fleet.client(name) as c:
        view = c.view()
    return {n: h.version for n, h in view.health.items()}, view.held_back


def shop(namespace="default", replicas=3, excluded="eu-b"):
    return ServiceSpec("eu", "shop", replicas, namespace=namespace, rules=PlacementRules(excluded={excluded}))


def test_two_versions_side_by_side_keep_what_the_older_does_not_know_and_lose_nothing(lab, kube, namespace, tmp_path):
    old = releases.checkout("0.1.1", tmp_path / "v0.1.1")
    members = [Member(n, n[:2], on, collections=old if n in OLD else "") for n, on in ON.items()]
    with ListenerFleet(lab, tmp_path / "mixed", members=members, proxies=True) as fleet:
        everyone = {"us-a": VERSION, "us-b": "0.1.1", "eu-a": VERSION, "eu-b": "0.1.1"}

        def as_expected():
            versions, held = seen_from(fleet, "us-a")
            return versions == everyone and sorted(held) == [
                "history", "region-reports", "rollout", "room", "workloads"] and all(
                held[f]["lacking"] == list(OLD) for f in held)
        wait_for(as_expected, 20, what="every member's version; workloads, room, rollout, history and region reports "
                                       "held back, not records-whole (0.1.1 keeps records whole)")
        # us-a and eu-a, the newer two, hear each other only through the older two
        fleet.partition(["us-a"], ["eu-a"])
        with fleet.client("us-a") as c:
            c.set_region_replicas(shop(namespace))
        written = stored(fleet, "us-a", SHOP)
        assert [r.code for r in pb.Record.FromString(written).service.reason_details] == [pb.EXCLUDED], \
            "the newer field is written"
        for name in ("us-b", "eu-b", "eu-a"):
            wait_for(lambda n=name: stored(fleet, n, SHOP) == written, 20, interval=0.2,
                     what=f"{name} to store the record byte for byte")
        assert intent_of(fleet, "eu-a", "eu", "shop").placement.has_reason("eu-b", ReasonCode.EXCLUDED)
        wait_for(lambda: managed_deployments(kube, "eu-central", namespace) == {"shop": (3, 3)}, 60,
                 what="eu-a to run the service it learnt through older listeners")
        with fleet.client("us-b") as c:  # an older listener's write reaches the newer ones
            c.set_region_replicas(ServiceSpec("us", "api", 2, namespace=namespace))
        fleet.partition(["us-a"], ["eu-a"], cut=False)
        before = wait_for(lambda: converged(fleet), 20, interval=0.2, what="convergence of both versions")
        assert {SHOP, "service/us/api"} <= set(before)
        for name in OLD:  # the upgrade, one member at a time, on the same data
            fleet.run_version(name)
            after = wait_for(lambda: converged(fleet), 30, interval=0.2, what=f"convergence after upgrading {name}")
            assert {k: s for k, s in after.items() if k in before} == before, "something was lost or changed"
            assert stored(fleet, name, SHOP) == written
        wait_for(lambda: seen_from(fleet, "eu-a") == ({n: VERSION for n in ON}, {}), 20,
                 what="every member to say it runs this version, and nothing held back")
        with fleet.client("us-a") as c:  # out of the way of the namespace's clean-up
            for region, service in (("eu", "shop"), ("us", "api")):
                c.delete_service(region, service, wait="applied", wait_timeout=30)


def test_while_a_member_would_drop_what_it_does_not_know_records_are_written_without_it(lab, tmp_path):
    first = releases.checkout("0.1.0", tmp_path / "v0.1.0")
    members = [Member(n, lab.clusters[n].region, n, collections=first if n == "eu-west" else "") for n in lab.clusters]
    with ListenerFleet(lab, tmp_path / "gated", members=members, manage_kubernetes=False) as fleet:
        def held_back():
            held = seen_from(fleet, "us-east")[1]
            return held if held.get("records-whole", {}).get("lacking") == ["eu-west"] else None
        held = wait_for(held_back, 20, what="us-east to hold records-whole back for eu-west alone (once it has "
                                            "heard every member)")
        assert "reason codes" in held["records-whole"]["meanwhile"]
        with fleet.client("us-east") as c:
            c.set_region_replicas(shop(excluded="eu-west"))
        without = pb.Record.FromString(stored(fleet, "us-east", SHOP)).service
        assert not without.reason_details and list(without.reasons) == ["eu-west: excluded by the service's rules"]
        wait_for(lambda: converged(fleet), 20, interval=0.2, what="convergence with 0.1.0")
        # the codes are there all the same, read from the texts
        assert intent_of(fleet, "eu-central", "eu", "shop").placement.has_reason("eu-west", ReasonCode.EXCLUDED)
        fleet.run_version("eu-west")
        wait_for(lambda: seen_from(fleet, "us-east")[1] == {}, 20, what="nothing held back once eu-west is upgraded")
        with fleet.client("us-east") as c:
            c.set_region_replicas(shop(replicas=4, excluded="eu-west"))
        assert pb.Record.FromString(stored(fleet, "us-east", SHOP)).service.reason_details
        wait_for(lambda: converged(fleet), 20, interval=0.2, what="convergence after the upgrade")
