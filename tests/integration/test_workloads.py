"""Real workloads on the lab: a Deployment template and its companions, placed in a region,
run as written in exactly the clusters the placement names; removed where the service
leaves; what the fleet does not own left alone and reported."""
from __future__ import annotations

import pytest
from kubernetes import client

pytestmark = pytest.mark.usefixtures("heard")

from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError
from ansible_collections.multicluster.kube.plugins.module_utils.model import PlacementRules, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.workload import Workload

from fleet_state import converged, intent_of
from support import wait_for

US, EU = ("us-east", "us-west"), ("eu-central", "eu-west")


def shop(namespace, replicas=5, log_level="info", excluded=()):
    template = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "spec": {"selector": {"matchLabels": {"app": "shop"}},
                 "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {
                     "containers": [{"name": "shop", "image": "registry.example.com/shop:1.5",
                                     "env": [{"name": "LOG_LEVEL", "value": log_level}],
                                     "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                   "limits": {"memory": "64Mi"}},
                                     "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                                     "volumeMounts": [{"name": "config", "mountPath": "/etc/shop"}]}],
                     "volumes": [{"name": "config", "configMap": {"name": "shop-config"}}]}}}}
    companions = ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config"},
                   "data": {"shop.yaml": "currency: EUR"}},
                  {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
                   "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    return ServiceSpec("us", "shop", replicas, namespace=namespace, rules=PlacementRules(excluded=frozenset(excluded)),
                       workload=Workload(template=template, companions=companions))


def objects_in(kube, cluster, namespace):
    apps, core = client.AppsV1Api(kube(cluster)), client.CoreV1Api(kube(cluster))
    deployments = {d.metadata.name: d for d in apps.list_namespaced_deployment(namespace).items}
    config_maps = {c.metadata.name for c in core.list_namespaced_config_map(namespace).items} - {"kube-root-ca.crt"}
    services = {s.metadata.name for s in core.list_namespaced_service(namespace).items}
    return deployments, config_maps, services


def test_a_realistic_service_runs_as_written_where_it_is_placed_and_nowhere_else(listeners, kube, namespace):
    with listeners.client("eu-west") as c:  # any listener, any region
        response = c.set_region_replicas(shop(namespace), wait="ready", wait_timeout=90)
    assert response.waited, response.wait_detail
    placement = {p.cluster: p.replicas for p in response.intent.placement}
    assert placement == {"us-east": 3, "us-west": 2}
    for cluster, replicas in placement.items():
        deployments, config_maps, services = objects_in(kube, cluster, namespace)
        shop_deployment = deployments["shop"]
        assert shop_deployment.spec.replicas == replicas
        [container] = shop_deployment.spec.template.spec.containers
        assert container.image == "registry.example.com/shop:1.5" and container.env[0].value == "info"
        assert container.resources.requests == {"cpu": "10m", "memory": "16Mi"}
        assert container.readiness_probe.http_get.path == "/healthz"
        assert shop_deployment.spec.template.spec.volumes[0].config_map.name == "shop-config"
        assert (shop_deployment.status.ready_replicas or 0) == replicas
        assert config_maps == {"shop-config"} and services == {"shop"}
    for cluster in EU:
        assert objects_in(kube, cluster, namespace) == ({}, set(), set())


def test_a_template_change_rolls_out_and_ready_means_the_new_template(listeners, kube, namespace):
    with listeners.client("us-east") as c:
        c.set_region_replicas(shop(namespace, replicas=2), wait="ready", wait_timeout=90)
        changed = c.set_region_replicas(shop(namespace, replicas=2, log_level="debug"), wait="ready", wait_timeout=90)
    assert changed.changed and changed.waited, changed.wait_detail
    for cluster in US:
        deployments, _config_maps, _services = objects_in(kube, cluster, namespace)
        shop_deployment = deployments["shop"]
        assert shop_deployment.spec.template.spec.containers[0].env[0].value == "debug"
        assert shop_deployment.status.observed_generation >= shop_deployment.metadata.generation
        assert shop_deployment.status.updated_replicas == shop_deployment.spec.replicas == 1


def test_excluding_a_cluster_removes_the_service_and_its_companions_there_and_leaves_others_objects(
        listeners, kube, namespace):
    core = client.CoreV1Api(kube("us-west"))
    with listeners.client("us-east") as c:
        c.set_region_replicas(shop(namespace, replicas=4), wait="ready", wait_timeout=90)
        c.set_region_replicas(shop(namespace, replicas=4, excluded=("us-west",)), wait="applied", wait_timeout=60)
    wait_for(lambda: objects_in(kube, "us-west", namespace) == ({}, set(), set()), 30,
             what="us-west to lose the shop's Deployment, ConfigMap and Service")
    assert objects_in(kube, "us-east", namespace)[0]["shop"].spec.replicas == 4
    # a ConfigMap of the same name that someone else made is left alone and reported
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "shop-config"}, "data": {"mine": "yes"}})
    with listeners.client("us-east") as c:  # scaled up, the service comes back to us-west
        back = c.set_region_replicas(shop(namespace, replicas=6), wait="applied", wait_timeout=60)
    assert {p.cluster: p.replicas for p in back.intent.placement} == {"us-east": 4, "us-west": 2}
    assert core.read_namespaced_config_map("shop-config", namespace).data == {"mine": "yes"}

    def reported():
        with listeners.client("us-east") as c:
            records, _health, _by = c.records(["status/us-west"])
        entry = next((s for r in records for s in r.value.services if s.service == "shop"), None)
        return entry is not None and "ConfigMap" in entry.conflict and "not managed by" in entry.conflict
    wait_for(reported, 30, what="us-west to report the ConfigMap in the way")


def test_bad_workloads_are_refused_naming_the_field_and_change_nothing(listeners, namespace):
    before = converged(listeners)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "stringData": {"password": "x"}}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "all"}}
    base = shop(namespace)
    template = base.workload.template
    cases = [
        ({"companions": (secret,)}, "companions[0].kind: must not be a Secret"),
        ({"companions": (role,)}, "companions[0].kind: must be a namespaced kind"),
        ({"template": {**template, "spec": {**template["spec"], "selector": {"matchLabels": {"app": "other"}}}}},
         "template.spec.selector.matchLabels[app]: must match"),
        ({"template": {**template, "spec": {**template["spec"], "replicas": 3}}}, "template.spec.replicas"),
        ({"companions": ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                          "data": {"x": "y" * 300_000}},)}, "workload: must be at most 256 KiB"),
    ]
    for change, message in cases:
        try:
            Workload(**{**{"template": template, "companions": base.workload.companions}, **change}).check(
                "shop", namespace)
        except ValueError as error:
            assert str(error).startswith(message), error
        else:
            raise AssertionError(f"{change} was taken")
    with listeners.client("us-west") as c:  # and the listener refuses the same on the wire
        from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
        request = pb.SetRegionReplicasRequest(spec=pb.ServiceSpec(
            region="us", service="shop", replicas=1, namespace=namespace,
            workload=pb.Workload(companions_json=['{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}'])))
        try:
            c.call("SetRegionReplicas", request)
        except FleetError as refused:
            assert refused.code == "INVALID_ARGUMENT" and refused.detail.startswith("companions[0].kind: must not be a Secret")
        else:
            raise AssertionError("a Secret companion was taken")
    assert converged(listeners) == before
    assert intent_of(listeners, "us-east", "us", "shop") is None


def test_an_image_override_for_one_cluster_changes_only_its_deployment(listeners, kube, namespace):
    from ansible_collections.multicluster.kube.plugins.module_utils.workload import Override
    base = shop(namespace, replicas=4)
    overridden = ServiceSpec(base.region, base.service, 4, namespace=namespace, workload=Workload(
        template=base.workload.template, companions=base.workload.companions,
        overrides=(Override(clusters=frozenset({"us-west"}), images={"shop": "registry.eu.example.com/shop:1.5"}),)))
    with listeners.client("eu-central") as c:
        response = c.set_region_replicas(overridden, wait="ready", wait_timeout=90)
    assert response.waited, response.wait_detail
    images = {cluster: objects_in(kube, cluster, namespace)[0]["shop"].spec.template.spec.containers[0].image
              for cluster in US}
    assert images == {"us-east": "registry.example.com/shop:1.5", "us-west": "registry.eu.example.com/shop:1.5"}


def test_what_the_apiserver_refuses_is_refused_before_anything_replicates_naming_the_object_and_field(
        listeners, namespace):
    before = converged(listeners)
    base = shop(namespace)
    template = base.workload.template
    pod = template["spec"]["template"]
    unknown = {**template, "spec": {**template["spec"], "template": {**pod, "spec": {
        **pod["spec"], "containers": [{**pod["spec"]["containers"][0], "imagePullPolicyy": "Always"}]}}}}
    bad_port = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
                "spec": {"selector": {"app": "shop"}, "ports": [{"port": 700000}]}}
    for workload, names in ((Workload(template=unknown, companions=base.workload.companions), "Deployment shop"),
                            (Workload(template=template, companions=(bad_port,)), "Service shop")):
        with listeners.client("us-east") as c:  # a listener that manages a cluster: it asks its apiserver
            try:
                c.set_region_replicas(ServiceSpec("us", "shop", 2, namespace=namespace, workload=workload))
            except FleetError as refused:
                assert refused.code == "INVALID_ARGUMENT", refused
                assert refused.detail.startswith(f"{names}: refused by the apiserver of us-east (dry run)"), refused
            else:
                raise AssertionError(f"{names} with a field the apiserver refuses was taken")
    assert "imagePullPolicyy" in refused_detail(listeners, namespace, unknown, base)
    assert converged(listeners) == before


def refused_detail(listeners, namespace, template, base) -> str:
    with listeners.client("us-west") as c:
        try:
            c.set_region_replicas(ServiceSpec("us", "shop", 2, namespace=namespace, workload=Workload(
                template=template, companions=base.workload.companions)))
        except FleetError as refused:
            return refused.detail
    return ""


WIDGETS = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_what_one_cluster_cannot_apply_is_reported_object_by_object_and_the_rest_goes_on(listeners, kube, namespace):
    """A companion of a kind only us-east serves (a CRD us-west lacks) and a ConfigMap someone
    else made in us-west: us-west reports both, each naming its object, and runs the rest."""
    extensions = client.ApiextensionsV1Api(kube("us-east"))
    extensions.create_custom_resource_definition(WIDGETS)
    try:
        wait_for(lambda: any(c.type == "Established" and c.status == "True" for c in
                             extensions.read_custom_resource_definition("widgets.example.com").status.conditions or ()),
                 30, what="the Widget CRD to be established in us-east")
        client.CoreV1Api(kube("us-west")).create_namespaced_config_map(
            namespace, {"metadata": {"name": "shop-config"}, "data": {"mine": "yes"}})
        base = shop(namespace, replicas=4)
        widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "shop"}, "size": 3}
        with listeners.client("us-east") as c:  # its apiserver serves Widgets: the dry run passes
            response = c.set_region_replicas(ServiceSpec("us", "shop", 4, namespace=namespace, workload=Workload(
                template=base.workload.template, companions=base.workload.companions + (widget,))),
                wait="applied", wait_timeout=60)
        assert {p.cluster: p.replicas for p in response.intent.placement} == {"us-east": 2, "us-west": 2}

        def reported():
            with listeners.client("eu-west") as c:
                records, _health, _by = c.records(["status/us-west"])
            entry = next((s for r in records for s in r.value.services if s.service == "shop"), None)
            return entry if entry is not None and len(entry.problems) == 2 else None
        entry = wait_for(reported, 30, what="us-west to report both objects it could not make as wanted")
        assert [p.object for p in entry.problems] == [f"ConfigMap {namespace}/shop-config", f"Widget {namespace}/shop"]
        assert entry.problems[0].text.startswith("exists and is not managed by multicluster-kube")
        assert entry.problems[1].text == "apply failed: 404 this apiserver serves no Widget in example.com/v1"
        assert entry.conflict == f"{entry.problems[0]} (and 1 more)"
        deployments, _config_maps, services = objects_in(kube, "us-west", namespace)
        assert deployments["shop"].spec.replicas == 2 and services == {"shop"}, "the rest was applied"
        widgets = client.CustomObjectsApi(kube("us-east")).list_namespaced_custom_object(
            "example.com", "v1", namespace, "widgets")["items"]
        assert [w["size"] for w in widgets] == [3]
        with listeners.client("us-east") as c:
            [us_east] = [r.value for r in c.records(["status/us-east"])[0]]
        assert [s.problems for s in us_east.services if s.service == "shop"] == [()]
    finally:
        extensions.delete_custom_resource_definition("widgets.example.com")


def test_a_label_change_that_would_make_an_override_fail_is_refused_and_changes_nothing(listeners, namespace):
    """An override choosing clusters by a label patches a path the Deployment lacks: nothing
    has the label, so the write is taken; giving a cluster that label is then refused, naming
    the labels, the service and the override, and no listener holds a changed cluster."""
    from ansible_collections.multicluster.kube.plugins.module_utils.workload import Override
    base = shop(namespace, replicas=2)
    broken = Override(cluster_labels={"tier": "gold"}, patches=(
        ("Deployment", ({"op": "replace", "path": "/spec/template/spec/containers/3/image", "value": "x:1"},)),))
    with listeners.client("us-east") as c:
        c.set_region_replicas(ServiceSpec("us", "shop", 2, namespace=namespace, workload=Workload(
            template=base.workload.template, companions=base.workload.companions, overrides=(broken,))),
            wait="applied", wait_timeout=60)
    before = wait_for(lambda: converged(listeners), 30, what="every listener to hold the service")
    with listeners.client("eu-west") as c:
        with pytest.raises(FleetError) as refused:
            c.update_cluster("us-west", "us", labels={"tier": "gold"})
    assert refused.value.code == "INVALID_ARGUMENT", refused.value
    assert refused.value.detail.startswith("labels: would choose us-west for service/us/shop's "
                                           "overrides[0].patches[0], which fails there"), refused.value.detail
    assert converged(listeners) == before
