"""A service's history: which changes lost to a concurrent one (superseded), and the records
on the wire."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.history import (
    Change, ServiceSummary, histories, superseded)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Placement, Record, Service, ServiceSpec, ValidationError, check_key)


def change(ms, origin, before=None, author="alice", after=True):
    spec = ServiceSpec("us", "web", ms % 7)
    return Change("us", "web", Stamp(ms, 0, origin), before, author, "for-someone", "set_region_replicas", None,
                  ServiceSummary.of(Service(spec, Placement({"us-east": ms % 7}))) if after else None)


def test_of_two_writes_over_the_same_record_the_one_that_lost_is_superseded():
    v0 = change(100, "us-east")
    a = change(200, "us-east", before=v0.change)
    b = change(201, "us-west", before=v0.change)  # concurrent with a, at another listener: b's stamp wins
    c = change(300, "us-east", before=b.change)
    assert superseded([v0, a, b, c], current=c.change) == {a.change}
    assert superseded([v0, a, b], current=b.change) == {a.change}
    assert superseded([v0, a, b, c], current=None) == {a.change}, "a removed service: the newest change leads"


@given(st.lists(st.tuples(st.integers(1, 10**6), st.sampled_from(["us-east", "us-west", "eu-west"])),
                min_size=1, max_size=30, unique_by=lambda t: t), st.data())
def test_the_changes_that_are_not_superseded_are_one_chain_to_the_record(stamps, data):
    stamps = sorted(Stamp(ms, 0, o) for ms, o in stamps)
    changes = []
    for i, stamp in enumerate(stamps):  # each made over some earlier one (or none)
        before = data.draw(st.sampled_from([None] + stamps[:i]))
        changes.append(Change("us", "web", stamp, before, "alice"))
    current = stamps[-1]
    kept = {c.change for c in changes} - superseded(changes, current)
    assert current in kept
    by = {c.change: c for c in changes}
    for stamp in kept - {current}:
        assert sum(1 for k in kept if by[k].before == stamp) == 1, "each kept change leads to exactly one kept next"


def test_a_change_travels_as_a_record_and_its_key_names_its_stamp():
    c = change(1764700000000, "us-west", before=Stamp(1764699999000, 3, "us-east"))
    assert c.key == "history/us/web/1764700000000-0-us-west" and check_key("key", c.key) == c.key
    record = Record(c.key, Stamp(1764700000000, 1, "us-west"), "alice", c)
    back = messages.peer_record(messages.record_to_message(record).SerializeToString(), now_ms=1764700000000)
    assert back.value == c
    removal = change(5, "us-east", after=False)
    assert messages.record_from_message(messages.record_to_message(Record(removal.key, removal.change, "a",
                                                                          removal))).value == removal


def test_a_change_whose_key_is_not_its_stamp_or_is_malformed_is_refused():
    c = change(100, "us-east")
    message = messages.record_to_message(Record("history/us/web/101-0-us-east", c.change, "alice", c))
    for key, field in (("history/us/web/101-0-us-east", "record.key"), ("history/us/web/x", "record.key"),
                       ("history/us/web", "record.key")):
        message.key = key
        try:
            messages.record_from_message(message)
        except ValidationError as error:
            assert error.field == field
        else:
            raise AssertionError(f"{key} was taken")


def test_histories_are_shown_newest_first_with_who_for_whom_where_and_what():
    v0 = change(100, "us-east", author="client")
    a = change(200, "us-east", before=v0.change, author="alice")
    b = change(201, "us-west", before=v0.change, author="bob")
    spec = ServiceSpec("us", "web", 3)
    records = [Record(x.key, x.change, x.author, x) for x in (v0, a, b)] + \
        [Record(spec.key, b.change, "bob", Service(spec, Placement({"us-east": 3})))]
    [(name, shown)] = histories(records).items()
    assert name == "us/web"
    assert [(e["by"], e["at"], e["superseded"]) for e in shown] == [
        ("bob", "us-west", False), ("alice", "us-east", True), ("client", "us-east", False)]
    assert shown[0]["for"] == "for-someone" and shown[0]["before_stamp"] == str(v0.change)
    assert shown[-1]["before"] is None and shown[-1]["after"]["placement"] == {"us-east": 2}
