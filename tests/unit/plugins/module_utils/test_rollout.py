"""The rollout state machine (plugins/module_utils/rollout.py), by properties over random
status sequences, coordinator changes (the state read back from the record by another
listener) and superseding changes: a wave of at most max_parallel clusters, released only when
every cluster released before runs the target rolled out, so never more than max_parallel in
progress; clusters released in order and once; no release after a halt; every run ends done or
halted."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import rollout as ro
from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError

CLUSTERS = {"a": 1, "b": 3, "c": 2, "d": 1, "e": 5}

strategies = st.builds(ro.Strategy, max_parallel=st.integers(0, 3),
                       order=st.sampled_from(["name", "weight", ("c", "a")]),
                       progress_deadline_s=st.integers(1, 60), pause_s=st.sampled_from([0, 5]),
                       on_failure=st.sampled_from([ro.HALT, ro.REVERT]))
steps = st.lists(st.tuples(st.dictionaries(st.sampled_from(sorted(CLUSTERS)), st.tuples(st.booleans(), st.booleans())),
                           st.integers(0, 20_000), st.sampled_from(["tick", "tick", "tick", "new coordinator",
                                                                    "superseded"])), max_size=40)


def reports_of(drawn, target, old):
    return {c: ro.Report(target if on_target else old, rolled) for c, (on_target, rolled) in drawn.items()}


def in_progress(state, reports):
    return [c for c in state.released if not (c in reports and reports[c].revision == state.target
                                              and reports[c].rolled_out)]


@settings(max_examples=300, deadline=None)
@given(strategies, steps)
def test_in_order_at_most_max_parallel_and_nothing_after_a_halt(strategy, sequence):
    order = strategy.ordered(CLUSTERS)
    now, revision = 0, 1
    state = ro.start("r1", "r0", now)
    for drawn, elapsed, event in sequence:
        now += elapsed
        if event == "superseded":  # a new change: a new rollout from the clusters as they are
            revision += 1
            state = ro.start(f"r{revision}", state.target if state.state == ro.DONE else state.last_good, now)
        if event == "new coordinator":
            state = ro.Rollout(**dataclasses.asdict(state))  # as another listener reads it from the record
        reports = reports_of(drawn, state.target, state.last_good)
        before = state
        state = ro.advance(state, strategy, order, reports, now)
        assert state.released == order[:len(state.released)], "released in order, each once"
        assert state.released[:len(before.released)] == before.released, "a release is never taken back"
        new = state.released[len(before.released):]
        if new:  # a wave: only when every cluster released before runs the target, rolled out
            assert not in_progress(before, reports), (before, reports)
            assert not strategy.max_parallel or len(new) <= strategy.max_parallel
            assert before.state not in (ro.HALTED, ro.REVERTED, ro.DONE)
        if before.state in (ro.HALTED, ro.REVERTED, ro.DONE):
            assert state == before, "an ended rollout stays as it ended"


@settings(max_examples=200, deadline=None)
@given(strategies, st.sets(st.sampled_from(sorted(CLUSTERS))))
def test_every_run_ends_done_or_halted(strategy, failing):
    """Clusters in `failing` never roll the target out; the others do as soon as released."""
    order = strategy.ordered(CLUSTERS)
    now, state = 0, ro.start("r1", "r0", 0)
    for _step in range(3 * len(order) + 3):
        reports = {c: ro.Report("r1", c not in failing) for c in state.released}
        state = ro.advance(state, strategy, order, reports, now)
        now += 61_000  # past any deadline and pause
        if state.state in (ro.DONE, ro.HALTED, ro.REVERTED):
            break
    if failing:
        assert state.state == (ro.HALTED if strategy.on_failure == ro.HALT else ro.REVERTED)
        assert state.why.startswith(next(c for c in state.released if c in failing))
        if state.state == ro.REVERTED:
            assert not any(state.runs_target(c) for c in CLUSTERS), "reverted: all on the last good revision"
        else:
            assert all(state.runs_target(c) for c in state.released), "halted: the released stay where they are"
    else:
        assert state.state == ro.DONE and state.released == order


def test_one_at_a_time_a_canary_first_and_a_halt_that_leaves_the_rest_alone():
    strategy = ro.Strategy(max_parallel=1, order=("c",), progress_deadline_s=30)
    order = strategy.ordered({"a": 1, "b": 1, "c": 1})
    assert order == ("c", "a", "b")
    state = ro.advance(ro.start("r2", "r1", 0), strategy, order, {}, 0)
    assert state.released == ("c",) and state.runs_target("c") and not state.runs_target("a")
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", False)}, 10_000)
    assert state.released == ("c",), "the next waits for the canary"
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", True)}, 11_000)
    assert state.released == ("c", "a")
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", True), "a": ro.Report("r2", False)}, 42_000)
    assert state.state == ro.HALTED and state.why == "a did not run revision r2 within 30 s"
    assert not state.runs_target("b")


@pytest.mark.parametrize("bad, field", [({"max_parallel": -1}, "rollout.max_parallel"),
                                        ({"on_failure": "retry"}, "rollout.on_failure"),
                                        ({"order": ("a", "a")}, "rollout.order"),
                                        ({"order": "random"}, "rollout.order"),
                                        ({"progress_deadline_s": 0}, "rollout.progress_deadline_s")])
def test_a_bad_strategy_is_refused_naming_the_field(bad, field):
    with pytest.raises(ValidationError) as refused:
        ro.Strategy(**bad)
    assert refused.value.field == field
