"""region_replicas' rollout option and the rollout module, against a real listener without
Kubernetes: no cluster ever reports a wave done, so a rollout stays at its first wave, which is
what these tests look at (the lab's tests/integration/test_rollout.py runs them through)."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.modules import region_replicas, rollout

SHOP = {"region": "us", "service": "shop", "replicas": 4, "rollout": {"max_parallel": 1, "on_failure": "revert"}}


def test_a_new_image_releases_the_first_cluster_only_and_a_second_run_changes_nothing(run_module, listener):
    first = run_module(region_replicas, {**SHOP, "image": "shop:1"})
    assert first["changed"] and "rollout" not in first, "a new service has nothing to roll out from"
    planned = run_module(region_replicas, {**SHOP, "image": "shop:2"}, check=True, diff=True)
    assert planned["rollout"]["released"] == ["us-east"] and planned["rollout"]["target"] == planned["revision"]
    assert planned["diff"]["after"]["clusters"]["us-west"]["Deployment shop"]["spec"]["template"]["spec"][
        "containers"][0]["image"] == "shop:1", "diff mode shows us-west held on the image it runs"
    assert listener.replica.record("service/us/shop").value.spec.image == "shop:1", "check mode wrote"

    moved = run_module(region_replicas, {**SHOP, "image": "shop:2"})
    ro = moved["rollout"]
    assert (ro["state"], ro["released"], ro["last_good"]) == ("progressing", ["us-east"], first["revision"])
    assert ro["held"] == {"us-east": first["revision"], "us-west": first["revision"]}
    again = run_module(region_replicas, {**SHOP, "image": "shop:2"})
    assert again["changed"] is False and again["rollout"] == ro
    scaled = run_module(region_replicas, {**SHOP, "image": "shop:2", "replicas": 6})
    assert scaled["changed"] and scaled["rollout"] == ro, "replicas alone are no new release"


def test_rollback_to_a_given_revision_is_idempotent_and_resume_changes_nothing_that_is_not_halted(
        run_module, listener):
    old = run_module(region_replicas, {**SHOP, "image": "shop:1"})["revision"]
    new = run_module(region_replicas, {**SHOP, "image": "shop:2"})["revision"]
    assert run_module(rollout, {"region": "us", "service": "shop", "action": "resume"})["changed"] is False

    args = {"region": "us", "service": "shop", "action": "rollback", "revision": old}
    planned = run_module(rollout, args, check=True, diff=True)
    assert planned["changed"] and planned["revision"] == old
    assert planned["diff"]["before"]["image"] == "shop:2" and planned["diff"]["after"]["image"] == "shop:1"
    assert listener.replica.record("service/us/shop").value.spec.image == "shop:2", "check mode wrote"
    back = run_module(rollout, args)
    assert back["changed"] and back["revision"] == old
    # us-east, the one released to shop:2, goes back in one wave of every cluster on it
    assert (back["rollout"]["held"], back["rollout"]["released"]) == ({"us-east": new}, ["us-east"])
    assert listener.replica.record("service/us/shop").value.spec.image == "shop:1"
    assert run_module(rollout, args)["changed"] is False

    wrong = run_module(rollout, {**args, "revision": "0123456789ab"})
    assert wrong["failed"] and "revision" in wrong["msg"] and f"last good revision is {new}" in wrong["msg"], \
        wrong["msg"]


def test_bad_input_names_the_field_and_changes_nothing(run_module, listener):
    run_module(region_replicas, {**SHOP, "image": "shop:1"})
    before = {r.key: r for r in listener.replica.snapshot()}
    cases = [({"order": 5}, "rollout.order"), ({"order": ["eu-west"]}, "rollout.order"),
             ({"max_parallel": -1}, "rollout.max_parallel"), ({"progress_deadline": 0}, "rollout.progress_deadline")]
    for change, field in cases:
        result = run_module(region_replicas, {**SHOP, "image": "shop:2", "rollout": {**SHOP["rollout"], **change}})
        assert result["failed"] and field in result["msg"], result["msg"]
    for args, field in [({"action": "resume", "revision": "abc"}, "revision"),
                        ({"action": "rollback", "service": "nope"}, "service")]:
        result = run_module(rollout, {"region": "us", "service": "shop", **args})
        assert result["failed"] and field in result["msg"], result["msg"]
    assert {r.key: r for r in listener.replica.snapshot()} == before
