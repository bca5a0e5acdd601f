"""The updater's plan and apply, against a fake API: what it creates, changes and deletes, and
what it never touches."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import (
    CLUSTER_LABEL, MANAGED_BY_LABEL, MANAGER, ApiError, Desired)

from fake_kubernetes import FakeKubernetesApi

OURS = {MANAGED_BY_LABEL: MANAGER, CLUSTER_LABEL: "us-east", "app": "web"}


def want(service, replicas, namespace="default", image="nginx", port=8080):
    return Desired("us", service, namespace, replicas, image, port)


def test_a_plan_creates_what_is_missing_updates_what_differs_and_deletes_what_is_no_longer_placed():
    api = FakeKubernetesApi()
    api.add("default", "web", OURS, replicas=1, ready=1, image="nginx")
    api.add("default", "old", {**OURS, "app": "old"}, replicas=2, ready=2)
    plan = updater.plan(api, [want("web", 3), want("api", 2, namespace="apps")], "us-east")
    assert [d.service for d in plan.create] == ["api"]
    assert [(before["replicas"], after.replicas) for before, after in plan.update] == [(1, 3)]
    assert [d["name"] for d in plan.delete] == ["old"]
    assert plan.ready == {("default", "web"): 1, ("default", "old"): 2}
    assert api.calls == [("list", None)], "planning changed something"
    assert updater.apply(api, plan) == {}
    assert "apps" in api.namespaces
    assert api.deployments[("default", "web")]["spec"]["replicas"] == 3
    assert ("default", "old") not in api.deployments
    assert not updater.plan(api, [want("web", 3), want("api", 2, namespace="apps")], "us-east").changed


def test_objects_we_do_not_own_are_reported_and_never_touched():
    api = FakeKubernetesApi()
    api.add("default", "web", {"app": "web"})                                   # a user's
    api.add("default", "api", {MANAGED_BY_LABEL: MANAGER, CLUSTER_LABEL: "sim-2", "app": "api"})  # another member's
    plan = updater.plan(api, [want("web", 2), want("api", 1)], "us-east")
    assert not plan.changed
    assert "is not managed by multicluster-kube for us-east" in plan.conflicts["default/web"]
    assert "managed by fleet member sim-2" in plan.conflicts["default/api"]
    updater.apply(api, plan)
    assert not [c for c in api.calls if c[0] != "list"]
    status = updater.status([want("web", 2), want("api", 1)], plan, "us", 0)
    assert [(s.service, s.desired, s.ready, bool(s.conflict)) for s in status.services] == [
        ("web", 2, 0, True), ("api", 1, 0, True)]


def test_one_failure_does_not_stop_the_others_and_is_reported():
    api = FakeKubernetesApi()
    api.refuse[("default", "bad")] = ApiError(422, "Unprocessable Entity")
    plan = updater.plan(api, [want("bad", 1), want("good", 1), want("lost", 1, namespace="terminating")], "us-east")
    failures = updater.apply(api, plan)
    assert failures == {"default/bad": "apply failed: 422 Unprocessable Entity",
                        "terminating/lost": "apply failed: 403 namespace terminating is being deleted"}
    assert ("default", "good") in api.deployments


def test_a_listener_limited_to_namespaces_lists_only_those_and_reports_the_rest():
    api = FakeKubernetesApi()
    plan = updater.plan(api, [want("web", 1, namespace="apps"), want("api", 1, namespace="other")], "us-east",
                        namespaces=["apps"])
    assert api.calls == [("list", "apps")]
    assert [d.service for d in plan.create] == ["web"]
    assert "namespace this listener does not manage" in plan.conflicts["other/api"]


def test_the_manifest_carries_our_labels_and_the_placed_replicas():
    manifest = updater.manifest(want("web", 4, image="nginx:1.27", port=80), "us-east")
    assert manifest["metadata"]["labels"] == {**OURS}
    assert manifest["spec"]["replicas"] == 4
    assert manifest["spec"]["selector"]["matchLabels"] == {"app": "web"}
    [container] = manifest["spec"]["template"]["spec"]["containers"]
    assert (container["image"], container["ports"]) == ("nginx:1.27", [{"containerPort": 80}])
