"""The updater's plan and apply, against a fake API: what it creates, changes and deletes
(companions included), what it never touches, and what the status says."""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils import kubernetes_updater as updater
from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError
from ansible_collections.multicluster.kube.plugins.module_utils.model import ObjectProblem, Placement, Service, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

from fake_kubernetes import FakeKubernetesApi

CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"greeting": "hi"}}


def desired(*services, cluster="us-east"):
    return updater.desired_for([Service(spec, Placement({cluster: spec.replicas})) for spec in services], "us", cluster)


def kinds(objects):
    return [(o["kind"], o["metadata"]["name"]) for o in objects]


def test_a_new_service_creates_its_companions_before_its_deployment_and_a_second_plan_is_empty():
    api = FakeKubernetesApi()
    want = desired(ServiceSpec("us", "web", 3, workload=Workload(companions=(CONFIG,))),
                   ServiceSpec("us", "api", 2, namespace="apps"))
    plan = updater.plan(api, want, "us-east")
    assert kinds(plan.create) == [("Service", "api"), ("Deployment", "api"), ("ConfigMap", "web-config"),
                                  ("Service", "web"), ("Deployment", "web")]
    assert not [c for c in api.calls if c[0] != "list"], "planning changed something"
    assert updater.apply(api, plan) == {}
    assert "apps" in api.namespaces
    assert api.objects[("apps/v1", "Deployment", "default", "web")]["spec"]["replicas"] == 3
    assert not updater.plan(api, want, "us-east").changed


def test_drift_is_repaired_and_what_is_no_longer_wanted_goes_companions_included():
    api = FakeKubernetesApi()
    with_config = desired(ServiceSpec("us", "web", 3, workload=Workload(companions=(CONFIG,))))
    updater.apply(api, updater.plan(api, with_config, "us-east"))
    api.objects[("apps/v1", "Deployment", "default", "web")]["spec"]["replicas"] = 9  # kubectl scale by hand
    api.objects[("v1", "ConfigMap", "default", "web-config")]["metadata"]["annotations"]["someone"] = "else"
    plan = updater.plan(api, with_config, "us-east")
    assert [(live["spec"]["replicas"], want["spec"]["replicas"]) for live, want in plan.update] == [(9, 3)]
    without = desired(ServiceSpec("us", "web", 3))  # the ConfigMap left out of the spec
    plan = updater.plan(api, without, "us-east")
    assert kinds(plan.delete) == [("ConfigMap", "web-config")], "found by the kinds its Deployment noted"
    updater.apply(api, plan)
    plan = updater.plan(api, [], "us-east")
    assert sorted(kinds(plan.delete)) == [("Deployment", "web"), ("Service", "web")]


def test_objects_we_do_not_own_are_reported_and_never_touched():
    api = FakeKubernetesApi()
    api.add({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}}})
    api.add({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "labels": {
        updater.MANAGED_BY_LABEL: updater.MANAGER, updater.CLUSTER_LABEL: "sim-2"}}})
    want = desired(ServiceSpec("us", "web", 2, workload=Workload(expose=False)), ServiceSpec("us", "api", 1))
    plan = updater.plan(api, want, "us-east")
    assert kinds(plan.create) == [("Deployment", "api")]
    [web] = plan.conflicts["default/web"]
    assert web.object == "Deployment default/web" and web.text.startswith("exists and is not managed by multicluster")
    [api_in_the_way] = plan.conflicts["default/api"]
    assert api_in_the_way.object == "Service default/api" and "managed by fleet member sim-2" in api_in_the_way.text
    updater.apply(api, plan)
    assert api.objects[("apps/v1", "Deployment", "default", "web")]["metadata"]["labels"] == {"app": "web"}
    status = updater.status(want, plan, "us", 0)
    assert [(s.service, s.desired, [p.object for p in s.problems]) for s in status.services] == [
        ("api", 1, ["Service default/api"]), ("web", 2, ["Deployment default/web"])]
    assert status.services[1].conflict == str(web), "the one line older readers show"


def test_one_failure_does_not_stop_the_others_and_is_reported():
    api = FakeKubernetesApi()
    api.refuse[("Deployment", "default", "bad")] = ApiError(422, "spec.template.spec.containers[0].image: Required")
    plan = updater.plan(api, desired(ServiceSpec("us", "bad", 1), ServiceSpec("us", "good", 1),
                                     ServiceSpec("us", "lost", 1, namespace="terminating")), "us-east")
    failures = updater.apply(api, plan)
    assert failures == {
        "default/bad": [ObjectProblem("Deployment default/bad", "apply failed: 422 spec.template.spec.containers[0]"
                                                                ".image: Required")],
        "terminating/lost": [
            ObjectProblem(f"{kind} terminating/lost", "namespace terminating could not be made: 403 namespace "
                                                      "terminating is being deleted") for kind in ("Service", "Deployment")]}
    assert ("apps/v1", "Deployment", "default", "good") in api.objects
    assert ("v1", "Service", "default", "bad") in api.objects, "its Service was applied: only the Deployment failed"


def test_every_object_of_a_service_that_fails_is_reported_and_the_status_sums_them_up():
    api = FakeKubernetesApi()
    api.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"mine": "yes"}})
    api.refuse[("Service", "default", "web")] = ApiError(422, "spec.ports[0].port: Invalid value: 0")
    with_config = Workload(companions=({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"},
                                        "data": {"a": "b"}},))
    want = desired(ServiceSpec("us", "web", 2, workload=with_config))
    plan = updater.plan(api, want, "us-east")
    failures = updater.apply(api, plan)
    [status] = updater.status(want, plan, "us", 0, failures).services
    assert [(p.object, p.text.split(":")[0]) for p in status.problems] == [
        ("ConfigMap default/web-config", "exists and is not managed by multicluster-kube for us-east (no "
                                         "app.kubernetes.io/managed-by=multicluster-kube and multicluster.kube/cluster=us-east labels)"),
        ("Service default/web", "apply failed")]
    assert status.conflict == f"{status.problems[0]} (and 1 more)"
    assert ("apps/v1", "Deployment", "default", "web") in api.objects, "what could be applied was"


def test_a_listener_limited_to_namespaces_lists_only_those_and_reports_the_rest():
    api = FakeKubernetesApi()
    plan = updater.plan(api, desired(ServiceSpec("us", "web", 1, namespace="apps"),
                                     ServiceSpec("us", "api", 1, namespace="other")), "us-east", namespaces=["apps"])
    assert {c[2] for c in api.calls} == {"apps"}
    assert kinds(plan.create) == [("Service", "web"), ("Deployment", "web")]
    [outside] = plan.conflicts["other/api"]
    assert "namespace this listener does not manage" in str(outside)


def test_the_status_counts_only_replicas_of_the_template_it_should_run():
    api = FakeKubernetesApi()
    old = desired(ServiceSpec("us", "web", 3, image="web:1", workload=Workload(expose=False)))
    updater.apply(api, updater.plan(api, old, "us-east"))
    live = api.objects[("apps/v1", "Deployment", "default", "web")]
    live["status"] = {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3}
    [done] = updater.status(old, updater.plan(api, old, "us-east"), "us", 0).services
    assert (done.ready, done.updated, done.available) == (3, 3, 3)
    new = desired(ServiceSpec("us", "web", 3, image="web:2", workload=Workload(expose=False)))
    plan = updater.plan(api, new, "us-east")
    [rolling] = updater.status(new, plan, "us", 0).services
    assert (rolling.ready, rolling.updated) == (3, 0), "an old ReplicaSet's ready pods are not the new template's"
    updater.apply(api, plan)  # generation 2, not observed yet
    live = api.objects[("apps/v1", "Deployment", "default", "web")]
    live["status"] = {"observedGeneration": 1, "readyReplicas": 3, "updatedReplicas": 3}
    assert updater.status(new, updater.plan(api, new, "us-east"), "us", 0).services[0].updated == 0
    live["status"] = {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 1, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "too slow"}]}
    [stuck] = updater.status(new, updater.plan(api, new, "us-east"), "us", 0).services
    assert stuck.updated == 1 and stuck.problems == (ObjectProblem("Deployment default/web",
                                                                   "ProgressDeadlineExceeded: too slow"),)
