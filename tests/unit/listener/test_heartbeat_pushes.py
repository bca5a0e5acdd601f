"""How often a listener pushes its heartbeat table to its region: every beat with the default
settings, and with a long failure timeout only as often as failure detection needs."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.listener.health import heartbeat_push_gap


def pushed_beats(beat_times, interval, failure_timeout):
    """The beats (their times) that the rule in Listener.heartbeat pushes."""
    gap, last, pushed = heartbeat_push_gap(interval, failure_timeout), None, []
    for now in beat_times:
        if last is None or now - last >= gap:
            last = now
            pushed.append(now)
    return pushed


def test_with_the_default_settings_every_beat_is_pushed_even_when_beats_come_early():
    beats = [0.0, 1.0, 1.9, 2.95, 3.8, 4.8, 5.9]  # heartbeat 1 s, give or take the scheduler
    assert pushed_beats(beats, 1.0, 5.0) == beats


def test_with_failover_off_the_region_hears_four_times_per_failure_timeout():
    # bench_scale.py's settings: a beat every 5 s, failure timeout 600 s -> a push every 150 s
    beats = [5.0 * i for i in range(200)]
    assert pushed_beats(beats, 5.0, 600.0) == [150.0 * i for i in range(7)]


def test_the_first_beat_after_a_pause_longer_than_the_gap_is_pushed_at_once():
    # beats stop while the apiserver is away, and come back 200 s later
    assert pushed_beats([0.0, 5.0, 205.0, 210.0], 5.0, 600.0) == [0.0, 205.0]


@given(interval=st.floats(0.1, 60.0), timeout_beats=st.floats(1.0, 1000.0),
       jitter=st.lists(st.floats(-0.1, 0.1), min_size=50, max_size=50))
def test_pushes_are_never_further_apart_than_a_quarter_of_the_failure_timeout_and_a_beat(
        interval, timeout_beats, jitter):
    failure_timeout = interval * timeout_beats
    beats, now = [], 0.0
    for wobble in jitter:  # each beat within 10 % of its interval after the last
        now += interval * (1 + wobble)
        beats.append(now)
    pushed = pushed_beats(beats, interval, failure_timeout)
    assert pushed[0] == beats[0]
    for earlier, later in zip(pushed, pushed[1:]):
        assert later - earlier <= max(failure_timeout / 4, interval) + 1.1 * interval
