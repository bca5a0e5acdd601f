"""Validation of the model: bad input names the field and the rule."""
from __future__ import annotations

import pytest

from ansible_collections.multicluster.kube.plugins.module_utils.model import (
    Cluster, ClusterRule, PlacementRules, Placement, Service, ServiceSpec, ValidationError, global_config, Record)
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.validation import NAMES_REMEMBERED, check_name


def error_of(build):
    with pytest.raises(ValidationError) as info:
        build()
    return info.value


@pytest.mark.parametrize("replicas", [-1, 1_000_001, True, 2.5, "3"])
def test_replicas_out_of_range(replicas):
    error = error_of(lambda: ServiceSpec("us", "web", replicas))
    assert error.field == "replicas"
    assert "0 to 1000000" in error.rule


@pytest.mark.parametrize("field_name,build", [
    ("service", lambda: ServiceSpec("us", "Nginx", 1)),
    ("service", lambda: ServiceSpec("us", "web_1", 1)),
    ("region", lambda: ServiceSpec("-us", "web", 1)),
    ("namespace", lambda: ServiceSpec("us", "web", 1, namespace="a" * 64)),
    ("name", lambda: Cluster(name="US-East", region="us")),
    ("rules.excluded[]", lambda: PlacementRules(excluded={"Bad"})),
])
def test_names_must_be_dns_labels(field_name, build):
    error = error_of(build)
    assert error.field == field_name
    assert "DNS-1123" in error.rule


def test_names_seen_valid_before_let_no_invalid_one_through():
    """check_name remembers its verdicts (every record repeats its region's and clusters'
    names); what it refused stays refused, and a str subclass posing as a remembered name is
    checked for what it is."""
    class Posing(str):
        def __eq__(self, other):
            return True

        def __hash__(self):
            return hash("web")

    assert check_name("service", "web") == "web"
    for _twice in range(2):
        assert error_of(lambda: check_name("service", "Web")).field == "service"
    assert error_of(lambda: check_name("service", Posing("Not_A_Label"))).field == "service"
    assert error_of(lambda: check_name("service", ["web"])).field == "service"
    for i in range(NAMES_REMEMBERED + 10):  # past what it remembers: the rest still checked alike
        check_name("service", f"s{i}")
    assert check_name("service", "web") == "web"
    assert error_of(lambda: ServiceSpec("us", "Web", 1)).field == "service"


def test_negative_weights():
    assert error_of(lambda: Cluster(name="a", region="us", weight=-1)).field == "weight"
    assert error_of(lambda: ClusterRule("a", weight=-2)).field == "rules.clusters[a].weight"


def test_min_above_max():
    error = error_of(lambda: ClusterRule("a", min=3, max=2))
    assert error.field == "rules.clusters[a].min"
    assert "must not exceed max (2)" in error.rule


def test_rules_naming_a_cluster_outside_the_region():
    intent = ServiceSpec("us", "web", 2, rules=PlacementRules(clusters=(ClusterRule("eu-west", min=1),)))
    error = error_of(lambda: intent.check_rules_against(["us-east", "us-west"]))
    assert error.field == "rules.clusters[eu-west].cluster"
    assert "region us" in error.rule
    excluded = ServiceSpec("us", "web", 2, rules=PlacementRules(excluded={"nowhere"}))
    assert error_of(lambda: excluded.check_rules_against(["us-east"])).field == "rules.excluded"


def test_a_cluster_named_twice_in_rules():
    error = error_of(lambda: PlacementRules(clusters=(ClusterRule("a"), ClusterRule("a", min=1))))
    assert error.field == "rules.clusters[a]"


def test_port_and_image():
    assert error_of(lambda: ServiceSpec("us", "web", 1, port=0)).field == "port"
    assert error_of(lambda: ServiceSpec("us", "web", 1, image="nginx latest")).field == "image"


def test_defaults_follow_the_seed():
    intent = ServiceSpec("us", "nginx", 5)
    assert (intent.image, intent.port, intent.namespace) == ("nginx", 8080, "default")


def test_label_validation():
    assert error_of(lambda: Cluster(name="a", region="us", labels={"bad key": "x"})).field == "labels[bad key]"


def test_global_config_tree_is_derived_from_records():
    stamp = Stamp(1000, 0, "us-east")
    records = [
        Record("cluster/us-east", stamp, "alice", Cluster(name="us-east", region="us")),
        Record("cluster/us-west", stamp, "alice", Cluster(name="us-west", region="us")),
        Record("service/us/web", Stamp(2000, 1, "us-west"), "bob",
               Service(ServiceSpec("us", "web", 3), Placement({"us-east": 2, "us-west": 1}))),
        Record("service/us/gone", stamp, "bob", None),
    ]
    tree = global_config(records)
    us = tree["regions"]["us"]
    assert us["clusters"]["us-east"]["services"]["web"]["desired"] == 2
    assert us["clusters"]["us-west"]["services"]["web"]["desired"] == 1
    assert us["services"]["web"]["changed"] == {
        "by": "bob", "where": "us-west", "when_ms": 2000, "stamp": "2000.1@us-west"}
    assert "gone" not in us["services"]
