"""How far anti-entropy rounds slow down: quiet rounds back off up to 8 intervals, but rounds
that bring heartbeat news only as far as failure detection allows."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.listener.replication import ANTI_ENTROPY_BACKOFF, quiet_rounds, rounds_until_next


def paces(rounds, failure_timeout, interval):
    """Intervals until the next round after each of `rounds`: (records repaired, heartbeat news)."""
    quiet, out = 0, []
    for repaired, news in rounds:
        quiet = quiet_rounds(quiet, repaired, news, failure_timeout, interval)
        out.append(rounds_until_next(quiet))
    return out


def test_quiet_rounds_back_off_doubling_every_two_rounds_up_to_eight_intervals():
    assert paces([(0, 0)] * 10, 5.0, 1.0) == [1, 2, 2, 4, 4, 8, 8, 8, 8, 8]


def test_a_repair_brings_back_the_pace():
    assert paces([(0, 0)] * 6 + [(3, 0), (0, 0)], 5.0, 1.0) == [1, 2, 2, 4, 4, 8, 1, 1]


def test_with_the_default_settings_rounds_bringing_heartbeats_keep_their_pace():
    # and one round without news after many with it does not jump to a long rest
    assert paces([(0, 2)] * 20 + [(0, 0)], 5.0, 1.0) == [1] * 21


def test_with_failover_off_rounds_bringing_heartbeats_may_rest_like_quiet_ones():
    # bench_scale.py's settings: anti-entropy every 2 s, failure timeout 600 s
    assert paces([(0, 2)] * 8, 600.0, 2.0) == [1, 2, 2, 4, 4, 8, 8, 8]


@given(rounds=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=40),
       interval=st.floats(0.01, 100.0), timeout_intervals=st.floats(1.01, 10_000.0))
def test_after_a_round_with_heartbeat_news_the_next_is_within_a_quarter_of_the_failure_timeout(
        rounds, interval, timeout_intervals):
    failure_timeout = interval * timeout_intervals
    for (_repaired, news), factor in zip(rounds, paces(rounds, failure_timeout, interval)):
        assert factor in (1, 2, 4, 8) and factor <= ANTI_ENTROPY_BACKOFF
        if news and factor > 1:
            assert factor * interval <= failure_timeout / 4
