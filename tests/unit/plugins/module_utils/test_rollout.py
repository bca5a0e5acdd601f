"""The rollout state machine (plugins/module_utils/rollout.py), by properties over random
status sequences, coordinator changes (the state read back from the record by another
listener) and superseding changes: a wave of at most max_parallel clusters, released only when
every cluster released before runs the target rolled out, so never more than max_parallel in
progress; clusters released in order and once; no release after a halt; every run ends done or
halted; a superseding change starts from what each cluster runs."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import rollout as ro
from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError

CLUSTERS = {"a": 1, "b": 3, "c": 2, "d": 1, "e": 5}


@dataclasses.dataclass(frozen=True)
class Rel:
    """A release as the state machine sees one: anything with a revision."""

    revision: str


strategies = st.builds(ro.Strategy, max_parallel=st.integers(0, 3),
                       order=st.sampled_from(["name", "weight", ("c", "a")]),
                       progress_deadline_s=st.integers(1, 60), pause_s=st.sampled_from([0, 5]),
                       on_failure=st.sampled_from([ro.HALT, ro.REVERT]))
steps = st.lists(st.tuples(st.dictionaries(st.sampled_from(sorted(CLUSTERS)), st.booleans()),
                           st.integers(0, 20_000), st.sampled_from(["tick", "tick", "tick", "new coordinator",
                                                                    "superseded"])), max_size=40)


def first(target="r1", previous="r0", now=0):
    return ro.superseding(None, Rel(previous), Rel(target), CLUSTERS, now)


def reports_of(drawn, state):
    """Each drawn cluster reports the revision it should run, rolled out or not."""
    return {c: ro.Report(state.expected(c), rolled) for c, rolled in drawn.items()}


@settings(max_examples=300, deadline=None)
@given(strategies, steps)
def test_in_order_at_most_max_parallel_and_nothing_after_a_halt(strategy, sequence):
    order = strategy.ordered(CLUSTERS)
    now, revision, seen = 0, 1, set()  # seen: the clusters seen rolled out on the target
    state = first()
    for drawn, elapsed, event in sequence:
        now += elapsed
        if event == "superseded":  # a new change: a new rollout from the clusters as they are
            revision += 1
            runs = {c: state.expected(c) for c in CLUSTERS}
            old = Rel(state.target)
            state = ro.superseding(state, old, Rel(f"r{revision}"), CLUSTERS, now)
            assert {c: state.expected(c) for c in CLUSTERS} == runs, "a new rollout starts from what runs"
            assert all(state.release_of(r) is not None for _c, r in state.held), "every held revision renders"
            seen = set()
        if event == "new coordinator":
            state = ro.Rollout(**{f.name: getattr(state, f.name) for f in dataclasses.fields(state)})
        reports = reports_of(drawn, state)
        before = state
        state = ro.advance(state, strategy, order, reports, now)
        assert state.released == tuple(c for c in order if c in state.released), "released in order"
        assert len(set(state.released)) == len(state.released), "each once"
        assert state.released[:len(before.released)] == before.released, "a release is never taken back"
        new = state.released[len(before.released):]
        if new:  # a wave: only when every cluster on the target has rolled it out
            assert not before.in_progress(order, reports), (before, reports)
            assert not strategy.max_parallel or len(new) <= strategy.max_parallel
            assert before.state not in ro.ENDED
        seen |= {c for c in order if c not in before.in_progress(order, reports)}
        assert not strategy.max_parallel or len(set(state.released) - seen) <= strategy.max_parallel, \
            "never more than max_parallel released and not yet seen rolled out"
        if before.ended:
            assert state == before, "an ended rollout stays as it ended"


@settings(max_examples=200, deadline=None)
@given(strategies, st.sets(st.sampled_from(sorted(CLUSTERS))))
def test_every_run_ends_done_or_halted(strategy, failing):
    """Clusters in `failing` never roll the target out; the others do as soon as released."""
    order = strategy.ordered(CLUSTERS)
    now, state = 0, first()
    for _step in range(3 * len(order) + 3):
        reports = {c: ro.Report(state.expected(c), c not in failing or not state.runs_target(c)) for c in CLUSTERS}
        state = ro.advance(state, strategy, order, reports, now)
        now += 61_000  # past any deadline and pause
        if state.ended:
            break
    if failing:
        assert state.state == (ro.HALTED if strategy.on_failure == ro.HALT else ro.REVERTED)
        assert state.why.startswith(next(c for c in state.released if c in failing))
        assert set(state.released) <= set(order[:len(state.released)])
        if state.state == ro.REVERTED:
            assert not any(state.runs_target(c) for c in CLUSTERS), "reverted: all on the revision they ran"
        else:
            assert all(state.runs_target(c) for c in state.released), "halted: the released stay where they are"
            assert not any(state.runs_target(c) for c in order if c not in state.released), "the rest stay"
    else:
        assert state.state == ro.DONE and state.released == order
        assert state.held == () and [r.revision for r in state.releases] == ["r0"], "the last good kept, nothing held"


def test_one_at_a_time_a_canary_first_and_a_halt_that_leaves_the_rest_alone():
    strategy = ro.Strategy(max_parallel=1, order=("c",), progress_deadline_s=30)
    clusters = {"a": 1, "b": 1, "c": 1}
    order = strategy.ordered(clusters)
    assert order == ("c", "a", "b")
    state = ro.advance(ro.superseding(None, Rel("r1"), Rel("r2"), clusters, 0), strategy, order, {}, 0)
    assert state.released == ("c",) and state.runs_target("c") and not state.runs_target("a")
    assert state.expected("a") == "r1" and state.last_good == "r1"
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", False)}, 10_000)
    assert state.released == ("c",), "the next waits for the canary"
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", True)}, 11_000)
    assert state.released == ("c", "a")
    state = ro.advance(state, strategy, order, {"c": ro.Report("r2", True), "a": ro.Report("r2", False)}, 42_000)
    assert state.state == ro.HALTED and state.why == "a did not roll revision r2 out within 30 s"
    assert not state.runs_target("b")
    again = ro.resumed(state, 50_000)
    assert again.state == ro.PROGRESSING and again.since_ms == 50_000 and again.released == ("c", "a")


def test_a_change_during_a_rollout_starts_from_the_clusters_as_they_are():
    strategy = ro.Strategy(max_parallel=1)
    clusters = {"a": 1, "b": 1, "c": 1}
    order = strategy.ordered(clusters)
    state = ro.advance(ro.superseding(None, Rel("r1"), Rel("r2"), clusters, 0), strategy, order, {}, 0)
    assert state.released == ("a",)
    newer = ro.superseding(state, Rel("r2"), Rel("r3"), clusters, 5_000)
    assert newer.held == (("a", "r2"), ("b", "r1"), ("c", "r1")) and newer.released == ()
    assert newer.last_good == "r1", "the last good is still the one before the rollout it superseded"
    assert {r.revision for r in newer.releases} == {"r1", "r2"}
    back = ro.superseding(newer, Rel("r3"), Rel("r1"), clusters, 6_000, all_at_once=True)
    assert back.held == (("a", "r2"),) and back.released == ("a",), "a rollback moves only who left, at once"
    assert back.runs_target("b") and back.expected("a") == "r1"


def test_a_change_back_to_what_every_cluster_runs_is_done_at_once():
    state = ro.superseding(None, Rel("r1"), Rel("r1"), {"a": 1}, 7)
    assert state.state == ro.DONE and state.held == ()


@pytest.mark.parametrize("bad, field", [({"max_parallel": -1}, "rollout.max_parallel"),
                                        ({"on_failure": "retry"}, "rollout.on_failure"),
                                        ({"order": ("a", "a")}, "rollout.order"),
                                        ({"order": ()}, "rollout.order"),
                                        ({"order": "random"}, "rollout.order"),
                                        ({"progress_deadline_s": 0}, "rollout.progress_deadline"),
                                        ({"pause_s": -1}, "rollout.pause")])
def test_a_bad_strategy_is_refused_naming_the_field(bad, field):
    with pytest.raises(ValidationError) as refused:
        ro.Strategy(**bad)
    assert refused.value.field == field
