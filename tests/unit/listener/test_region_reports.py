"""Region reports (listener/heartbeats.py, health.py): other regions judge a region's members by
what its first two healthy members report, so a member's resting traffic grows with its region
and not with the fleet; a crash is still seen everywhere soon after the failure timeout, the
end of a reporter takes no live member for dead, and a fleet with a member that does not
report keeps passing every heartbeat on."""
from __future__ import annotations

import pytest

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock, Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record, ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.version import VERSION
from ansible_collections.multicluster.kube.listener.features import FEATURES
from ansible_collections.multicluster.kube.listener.health import Health
from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats
from ansible_collections.multicluster.kube.listener.memory_transport import MemoryNetwork, MemoryTransport
from ansible_collections.multicluster.kube.listener.metrics import Metrics
from ansible_collections.multicluster.kube.listener.replica import Replica
from ansible_collections.multicluster.kube.listener.replication import Replication
from ansible_collections.multicluster.kube.listener.store import Store

from lab.simulation import EPOCH_MS, Settings, Simulation, SimTime
from memory_fleet import node

TIMEOUT = Settings().failure_timeout


def resting_bytes_per_member_per_second(sim, start=3.0, window=5.0) -> float:
    sim.run_until(start)
    before = sim.traffic()
    sim.run_until(start + window)
    sent = sum(n - before.get(key, 0) for key, n in sim.traffic().items() if key[1] == "bytes_out")
    return sent / len(sim.members) / window


def test_a_members_resting_traffic_grows_with_its_region_not_with_the_fleet():
    one_region = resting_bytes_per_member_per_second(Simulation(20, 1))
    four_regions = resting_bytes_per_member_per_second(Simulation(80, 4))
    assert four_regions <= 1.1 * one_region, (one_region, four_regions)
    # one member that does not say it reports: every table travels whole, as before
    whole = resting_bytes_per_member_per_second(Simulation(80, 4, not_reporting=["m0079"]))
    assert whole > 1.5 * four_regions, (whole, four_regions)


def watch_crash(sim, victim, watchers) -> dict:
    """{watcher: simulated seconds after the crash it held `victim` dead}; asserts that no
    watcher ever holds another member dead."""
    sim.crash(victim)
    crashed_at, seen = sim.time.now, {}
    while len(seen) < len(watchers) and sim.time.now < crashed_at + 30:
        sim.run_until(sim.time.now + 0.1)
        for name in watchers:
            unhealthy = sim.members[name].health.unhealthy()
            assert unhealthy <= {victim}, f"{name} holds {sorted(unhealthy - {victim})} dead"
            if name not in seen and victim in unhealthy:
                seen[name] = sim.time.now - crashed_at
    assert len(seen) == len(watchers), sorted(set(watchers) - set(seen))
    return seen


def test_other_regions_see_a_crash_by_its_regions_reports_and_no_live_member_is_taken_for_dead():
    sim = Simulation(80, 4)
    sim.run_until(10.0)
    assert not any(m.health.unhealthy() for m in sim.alive()), "a false alarm at rest"
    far = [n for n, m in sim.members.items() if m.region != "r1"][::3]
    seen = watch_crash(sim, "m0009", far)  # r1's members are m0001, m0005, m0009...: not a reporter
    # its reporters hold it down after the failure timeout; the reports reach the other regions
    # within a gossip round or two
    assert TIMEOUT - 1 <= min(seen.values()) and max(seen.values()) <= TIMEOUT + 3, sorted(seen.values())


def test_the_end_of_a_reporter_takes_none_of_its_region_for_dead_elsewhere():
    sim = Simulation(80, 4)
    sim.run_until(10.0)
    # r0's members are m0000, m0004, ...: m0000 and m0004 report it
    far = [n for n, m in sim.members.items() if m.region != "r0"][::3]
    seen = watch_crash(sim, "m0000", far + ["m0008"])
    assert max(seen.values()) <= TIMEOUT + 3, sorted(seen.values())
    sim.run_until(sim.time.now + 3 * TIMEOUT)
    for name in far:  # m0008 reports in its place, and no member of r0 went missing meanwhile
        assert sim.members[name].health.unhealthy() == {"m0000"}


def test_a_member_whose_heartbeats_stop_reaching_other_regions_is_not_taken_for_dead():
    """Once every member reports, a far member's own beats no longer travel: its region's
    reports keep it alive, and its entry here grows old."""
    sim = Simulation(40, 2)
    sim.run_until(6 * TIMEOUT)
    far = sim.members["m0000"]  # r0; m0001 is in r1
    assert "m0001" not in far.health.unhealthy()
    assert far.heartbeats.heard("m0001") < sim.time.now - TIMEOUT, "its own beats stay in its region"
    seconds = {name: age for name, _healthy, age, _version, _features in far.health.report()}
    assert 0 <= seconds["m0001"] < 2, "the age of the freshest word of it: its region's report"


# -- one listener's view, on a clock of its own ------------------------------------------------
MEMBERS = (("us-east", "us"), ("us-west", "us"), ("eu-west", "eu"), ("eu-north", "eu"), ("eu-south", "eu"))


def listener(time, name="us-east", members=MEMBERS):
    replica = Replica(name, Store(":memory:"), HybridClock(name, time.wall_ms), Metrics(), timesource=time)
    replica.receive([Record(f"cluster/{n}", Stamp(EPOCH_MS, 0, n), "test", Cluster(name=n, region=r, endpoint=n))
                     for n, r in members])
    heartbeats = Heartbeats(name, "0.3.0", ("region-reports",), timesource=time, failure_timeout=TIMEOUT)
    return replica, heartbeats, Health(replica, heartbeats, TIMEOUT, hold_down=10.0)


def test_another_regions_member_is_healthy_while_a_fresh_report_of_it_does_not_hold_it_down():
    time = SimTime()
    _replica, heartbeats, health = listener(time)
    time.now = 2 * TIMEOUT  # past the start's grace: nothing heard of anyone but us
    heartbeats.beat()
    assert health.unhealthy() == {"us-west", "eu-west", "eu-north", "eu-south"}
    heartbeats.observe_reports([("eu", "eu-north", EPOCH_MS + 1, (), 0)])
    assert health.unhealthy() == {"us-west"}, "eu by its report; our own region by heartbeats only"
    heartbeats.observe_reports([("us", "us-west", EPOCH_MS + 1, (), 0)])
    assert "us-west" in health.unhealthy(), "no report speaks for a member of our own region"
    # two reporters: a member is down once every fresh report holds it down
    heartbeats.observe_reports([("eu", "eu-west", EPOCH_MS + 1, ("eu-south",), 0)])
    assert "eu-south" not in health.unhealthy(), "eu-north's report does not hold it down"
    heartbeats.observe_reports([("eu", "eu-north", EPOCH_MS + 2, ("eu-south",), 0)])
    assert health.unhealthy() == {"us-west", "eu-south"}
    heartbeats.observe([("eu-south", EPOCH_MS + 5)])
    assert "eu-south" in health.unhealthy(), "its region's reports decide, not a beat passed on"
    # reports that stop growing are no longer trusted: heartbeats judge again
    time.now += TIMEOUT + 0.1
    heartbeats.observe([("eu-south", EPOCH_MS + 6)])
    assert heartbeats.region_word("eu") == [] and heartbeats.reports() == []
    assert "eu-south" not in health.unhealthy() and "eu-north" in health.unhealthy()


def test_an_old_report_passed_on_late_neither_grows_nor_revives():
    time = SimTime()
    _replica, heartbeats, _health = listener(time)
    assert heartbeats.observe_reports([("eu", "eu-west", 500, (), 0)]) == ["eu"]
    time.now += TIMEOUT + 0.1
    assert heartbeats.observe_reports([("eu", "eu-west", 500, (), 0), ("eu", "eu-west", 499, (), 0)]) == []
    assert heartbeats.region_word("eu") == [], "a stale report is not made fresh by being passed on again"
    assert heartbeats.observe_reports([("us", "us-east", 10 ** 9, ("us-west",), 0)]) == [], "ours alone to grow"


def test_the_first_two_healthy_members_of_a_region_report_it():
    time = SimTime()
    members = [(n, "eu") for n in ("eu-a", "eu-b", "eu-c", "eu-d")]
    views = {n: listener(time, n, members) for n, _region in members}

    def reporters():
        for replica, heartbeats, health in views.values():
            heartbeats.beat()
            health.report_region("eu")
        return sorted(h.cluster for _r, h, _h in views.values() if h.reports())

    assert reporters() == ["eu-a", "eu-b"], "all four healthy by the start's grace"
    time.now = 2 * TIMEOUT
    for _replica, heartbeats, _health in views.values():  # no one hears eu-a any more
        heartbeats.observe([(n, time.wall_ms()) for n in ("eu-b", "eu-c", "eu-d")])
    assert reporters() == ["eu-a", "eu-b", "eu-c"], "eu-a, cut off, still counts itself first; the rest count eu-c"
    [report] = views["eu-c"][1].reports()
    assert report[:2] == ("eu", "eu-c") and report[3] == ("eu-a",)


def test_a_region_report_is_refused_by_field_refuses_the_whole_digest_and_speaks_only_for_its_region():
    good = pb.RegionReport(region="eu", reporter="eu-west", sent_ms=EPOCH_MS, down=["eu-north"], said_hash=7)
    assert messages.peer_region_report(good) == ("eu", "eu-west", EPOCH_MS, ("eu-north",), 7)
    for bad, field in ((pb.RegionReport(region="EU", reporter="eu-west"), "region_report.region"),
                       (pb.RegionReport(region="eu", reporter=""), "region_report.reporter"),
                       (pb.RegionReport(region="eu", reporter="eu-west", sent_ms=-1), "region_report.sent_ms"),
                       (pb.RegionReport(region="eu", reporter="eu-west", sent_ms=10 ** 15), "region_report.sent_ms"),
                       (pb.RegionReport(region="eu", reporter="eu-west", down=["a b"]), "region_report.down[]")):
        with pytest.raises(ValidationError) as refused:
            messages.peer_region_report(bad)
        assert refused.value.field == field, bad
    time = SimTime()
    replica, heartbeats, _health = listener(time)
    replication = Replication(replica, heartbeats, MemoryTransport(MemoryNetwork(), "us-east"))
    for asked, field in (({"region_reports": [good, pb.RegionReport(region="eu", reporter="")]},
                          "region_reports[1].reporter"),
                         ({"region_reports": [good], "regions_wanted": ["us", "US EAST"]}, "regions_wanted[]")):
        request = pb.DigestRequestWire(from_cluster="eu-west", bucket_hashes=replica.bucket_hashes(), **asked)
        with pytest.raises(ValidationError) as refused:
            replication.handle("Digest", request.SerializeToString())
        assert refused.value.field == field
        assert heartbeats.region_word("eu") == [], "nothing of a refused request is taken"
    # only a member of a region speaks for it
    posing = pb.RegionReport(region="eu", reporter="us-west", sent_ms=EPOCH_MS, said_hash=7)
    replication.handle("Digest", pb.DigestRequestWire(from_cluster="us-west", bucket_hashes=replica.bucket_hashes(),
                                                      region_reports=[posing]).SerializeToString())
    assert heartbeats.region_word("eu") == []
    replication.handle("Digest", pb.DigestRequestWire(from_cluster="eu-west", bucket_hashes=replica.bucket_hashes(),
                                                      region_reports=[good]).SerializeToString())
    assert heartbeats.region_word("eu") == [(time.now, frozenset({"eu-north"}), 7)]
    replication.close()


def test_listeners_before_region_reports_read_a_digest_that_carries_them():
    wire = pb.DigestRequestWire(from_cluster="us-east", bucket_hashes=[1, 2], regions_wanted=["eu"],
                                region_reports=[pb.RegionReport(region="eu", reporter="eu-west", sent_ms=5)])
    older = pb.DigestRequest.FromString(wire.SerializeToString())
    assert older.from_cluster == "us-east" and list(older.bucket_hashes) == [1, 2]


class Digests:
    """The liveness each digest request of one member carries, as sent."""

    def __init__(self, member):
        self.sent, send = [], member.replication.transport._send  # pylint: disable=protected-access

        def recording(endpoint, method, request):
            if method == "Digest":
                self.sent.append((endpoint, pb.DigestRequestWire.FromString(request)))
            return send(endpoint, method, request)
        member.replication.transport._send = recording  # pylint: disable=protected-access

    def last(self, endpoint):
        request = [r for e, r in self.sent if e == endpoint][-1]
        return sorted(messages.peer_heartbeats(request.heartbeats, "heartbeats")[0]), list(request.regions_wanted)


def test_digests_leave_far_heartbeats_out_once_every_member_reports_and_ask_for_changed_words():
    time, network = SimTime(), MemoryNetwork()
    regions = {"us-east": "us", "us-west": "us", "eu-west": "eu", "eu-north": "eu"}
    records = [Record(f"cluster/{n}", Stamp(EPOCH_MS, 0, n), "test", Cluster(name=n, region=r, endpoint=n))
               for n, r in regions.items()]

    def start(name, version=VERSION):
        member = node(network, name, records, version=version, features=FEATURES, timesource=time)
        return member, Health(member.replica, member.heartbeats, TIMEOUT, hold_down=10.0)
    fleet = {n: start(n) for n in regions}
    near, near_digests = fleet["us-east"][0], Digests(fleet["us-east"][0])

    def second(syncs=()):
        time.now += 1.0
        for member, health in fleet.values():
            member.heartbeats.beat()
            health.report_region(regions[member.name])
        for a, b in syncs:
            fleet[a][0].replication.sync_with(b)

    second([("us-east", "eu-west")])
    table, _wanted = near_digests.last("eu-west")
    assert [e[0] for e in table] == ["us-east"], "before it has heard the others: its whole table"
    everyone = [(a, b) for a in regions for b in regions if a != b]
    for _second in range(3):  # words, then reports of them, go round
        second(everyone)
    second([("us-east", "eu-west"), ("us-east", "us-west")])
    assert near_digests.last("eu-west") == ([], []), "to another region: its reports, no heartbeats"
    assert [e[0] for e in near_digests.last("us-west")[0]] == ["us-east", "us-west"], "to its region: the region's"
    # eu-west restarts as 0.3.1; its region hears it, so its reports' hash changes
    fleet["eu-west"][0].replication.close()
    fleet["eu-west"] = start("eu-west", "0.3.1")
    second([("eu-west", "eu-north")])
    assert fleet["eu-north"][0].heartbeats.about("eu-west")[0] == "0.3.1"
    second([("us-east", "eu-north")])  # brings eu's new reports
    assert near.heartbeats.about("eu-west")[0] == VERSION
    second([("us-east", "eu-north")])
    assert near_digests.last("eu-north")[1] == ["eu"], "asks for eu's words"
    assert near.heartbeats.about("eu-west")[0] == "0.3.1"
    second([("us-east", "eu-north")])
    assert near_digests.last("eu-north") == ([], []), "and stops asking once it holds them"
    for member, _health in fleet.values():
        member.replication.close()
