"""How far anti-entropy rounds slow down: quiet rounds back off up to 8 intervals, but rounds
that bring heartbeat news only as far as failure detection allows."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.listener.server import ANTI_ENTROPY_BACKOFF, rounds_until_next


def test_quiet_rounds_back_off_doubling_every_two_rounds_up_to_eight_intervals():
    assert [rounds_until_next(q, False, 5.0, 1.0) for q in range(10)] == [1, 1, 2, 2, 4, 4, 8, 8, 8, 8]


def test_with_the_default_settings_rounds_bringing_heartbeats_keep_their_pace():
    assert {rounds_until_next(q, True, 5.0, 1.0) for q in range(20)} == {1}


def test_with_failover_off_rounds_bringing_heartbeats_may_rest_like_quiet_ones():
    # bench_scale.py's settings: anti-entropy every 2 s, failure timeout 600 s
    assert [rounds_until_next(q, True, 600.0, 2.0) for q in range(8)] == [1, 1, 2, 2, 4, 4, 8, 8]


@given(quiet=st.integers(0, 1000), news=st.booleans(), interval=st.floats(0.01, 100.0),
       timeout_intervals=st.floats(1.01, 10_000.0))
def test_rounds_with_heartbeat_news_stay_within_a_quarter_of_the_failure_timeout(
        quiet, news, interval, timeout_intervals):
    failure_timeout = interval * timeout_intervals
    factor = rounds_until_next(quiet, news, failure_timeout, interval)
    assert factor in (1, 2, 4, 8) and factor <= ANTI_ENTROPY_BACKOFF
    assert factor <= rounds_until_next(quiet + 1, news, failure_timeout, interval)
    if news and factor > 1:
        assert factor * interval <= failure_timeout / 4
