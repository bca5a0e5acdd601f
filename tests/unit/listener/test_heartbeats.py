"""The heartbeat table: entries only grow, gossip in any order ends with the newest of each
cluster, a stale table never makes a dead cluster look alive, and no peer speaks for us."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.listener.heartbeats import Heartbeats

CLUSTERS = ["us-east", "us-west", "eu-west"]
tables = st.lists(st.tuples(st.sampled_from(CLUSTERS), st.integers(0, 10**6)), max_size=6)


@given(received=st.lists(tables, max_size=6))
def test_gossip_in_any_order_ends_with_the_newest_heartbeat_of_each_cluster(received):
    table = Heartbeats("eu-central")
    for peer_table in received:
        table.observe(peer_table)
    newest = {}
    for cluster, ms in (beat for peer_table in received for beat in peer_table):
        newest[cluster] = max(ms, newest.get(cluster, -1))
    assert dict(table.table()) == newest
    reversed_order = Heartbeats("eu-central")
    for peer_table in reversed(received):
        reversed_order.observe(peer_table)
    assert reversed_order.table() == table.table()


def test_an_old_heartbeat_passed_on_late_does_not_make_a_cluster_look_alive():
    table = Heartbeats("us-east")
    assert table.observe([("us-west", 500)]) == 1
    heard = table.heard("us-west")
    assert table.observe([("us-west", 500), ("us-west", 499)]) == 0
    assert table.heard("us-west") == heard
    assert table.observe([("us-west", 501)]) == 1 and table.heard("us-west") > heard


def test_only_this_listener_grows_its_own_entry():
    table = Heartbeats("us-east")
    table.beat()
    own = dict(table.table())["us-east"]
    assert table.observe([("us-east", own + 10**9)]) == 0  # a forged or confused peer
    assert dict(table.table())["us-east"] == own
    table.beat()
    assert dict(table.table())["us-east"] > own  # grows even if the clock did not move


def test_a_table_answers_with_only_what_the_asker_lacks():
    table = Heartbeats("us-east")
    table.observe([("us-west", 5), ("eu-west", 7)])
    assert table.table(newer_than=[("us-west", 5), ("eu-west", 3)]) == [("eu-west", 7)]
    assert table.table(newer_than=[("us-west", 9), ("eu-west", 7)]) == []
