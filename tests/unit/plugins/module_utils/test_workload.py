"""A workload: what the fleet can carry, field by field, and what one cluster applies."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.model import ServiceSpec, ValidationError
from ansible_collections.multicluster.kube.plugins.module_utils.workload import (
    CLUSTER_LABEL, SERVICE_LABEL, Workload, render, revision)

TEMPLATE = {"apiVersion": "apps/v1", "kind": "Deployment",
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", "tier": "front"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"a": "b"}}


def refusal(**workload):
    with pytest.raises(ValidationError) as refused:
        ServiceSpec("us", "web", 2, namespace="apps", workload=Workload(**workload))
    return refused.value.field, refused.value.rule


def with_spec(**spec):
    return {**TEMPLATE, "spec": {**TEMPLATE["spec"], **spec}}


@pytest.mark.parametrize("workload, field", [
    ({"template": {**TEMPLATE, "kind": "StatefulSet"}}, "template.kind"),
    ({"template": {**TEMPLATE, "metadata": {"name": "other"}}}, "template.metadata.name"),
    ({"template": {**TEMPLATE, "metadata": {"namespace": "kube-system"}}}, "template.metadata.namespace"),
    ({"template": with_spec(replicas=3)}, "template.spec.replicas"),
    ({"template": with_spec(selector={"matchLabels": {"app": "api"}})}, "template.spec.selector.matchLabels[app]"),
    ({"template": with_spec(selector=None)}, "template.spec.selector.matchLabels"),
    ({"template": with_spec(template={"spec": {"containers": []}})}, "template.spec.template.spec.containers"),
    ({"template": with_spec(template={"spec": {"containers": [{"name": "x"}]}})},
     "template.spec.template.spec.containers[0]"),
    ({"companions": ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}},)}, "companions[0].kind"),
    ({"companions": ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},)}, "companions[0].kind"),
    ({"companions": ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}},)},
     "companions[0].metadata.name"),
    ({"companions": ({"kind": "ConfigMap", "metadata": {"name": "x"}},)}, "companions[0].apiVersion"),
    ({"companions": (CONFIG, CONFIG)}, "companions[1].metadata.name"),
    ({"companions": ({**CONFIG, "metadata": {"name": "x", "namespace": "other"}},)}, "companions[0].metadata.namespace"),
    ({"companions": ({**CONFIG, "data": {"x": "y" * 300_000}},)}, "workload"),
    ({"companions": ({**CONFIG, "data": {"x": float("nan")}},)}, "companions[0]"),
    ({"companions": CONFIG}, "companions"),
])
def test_what_the_fleet_cannot_carry_is_refused_naming_the_field(workload, field):
    assert refusal(**workload)[0] == field


def test_a_secret_companion_is_refused_saying_how_to_provide_it():
    _field, rule = refusal(companions=({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}},))
    assert "plain text" in rule and "in each cluster" in rule


def test_a_rendering_carries_our_labels_the_placed_replicas_and_the_users_fields():
    spec = ServiceSpec("us", "web", 5, namespace="apps", workload=Workload(template=TEMPLATE, companions=(CONFIG,)))
    config, deployment = render(spec, "us-east", 3)
    assert [o["kind"] for o in (config, deployment)] == ["ConfigMap", "Deployment"]
    assert deployment["metadata"]["name"] == "web" and deployment["metadata"]["namespace"] == "apps"
    assert config["metadata"]["namespace"] == "apps" and config["data"] == {"a": "b"}
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app": "web", "tier": "front"}
    for obj in (config, deployment):
        assert obj["metadata"]["labels"][CLUSTER_LABEL] == "us-east" and obj["metadata"]["labels"][SERVICE_LABEL] == "web"
    assert TEMPLATE["spec"].get("replicas") is None, "the spec's template was changed by rendering"


def test_the_default_is_the_seeds_workload_with_a_service_unless_turned_off():
    service, deployment = render(ServiceSpec("us", "web", 2, port=80), "us-east", 2)
    assert (service["kind"], service["spec"]["ports"]) == ("Service", [{"port": 80, "targetPort": 80}])
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "web"
    [alone] = render(ServiceSpec("us", "web", 2, workload=Workload(expose=False)), "us-east", 2)
    assert alone["kind"] == "Deployment"


def test_the_revision_follows_the_pod_template_not_the_replicas_or_the_cluster():
    spec = ServiceSpec("us", "web", 5, workload=Workload(template=TEMPLATE))
    assert revision(render(spec, "us-east", 3)[-1]) == revision(render(spec, "us-west", 2)[-1])
    changed = with_spec(template={**TEMPLATE["spec"]["template"], "spec": {"containers": [
        {"name": "web", "image": "nginx:1.28"}]}})
    assert revision(render(ServiceSpec("us", "web", 5, workload=Workload(template=changed)), "us-east", 3)[-1]) != \
        revision(render(spec, "us-east", 3)[-1])


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=12)


@given(st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=4))
def test_any_plain_json_companion_survives_the_wire_as_it_was(data):
    companion = {**CONFIG, "data": data}
    spec = ServiceSpec("us", "web", 1, workload=Workload(template=TEMPLATE, companions=(companion,)))
    assert messages.spec_from_message(messages.spec_to_message(spec)) == spec
