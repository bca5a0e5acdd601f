from __future__ import annotations

import yaml

from ansible_collections.multicluster.kube.plugins.modules import region_replicas


def test_places_idempotently_with_check_and_diff(run_module, listener):
    args = {"region": "us", "service": "nginx", "replicas": 5}
    planned = run_module(region_replicas, args, check=True, diff=True)
    assert planned["changed"] and planned["placement"] == {"us-east": 3, "us-west": 2}
    assert listener.replica.record("service/us/nginx") is None, "check mode wrote"
    assert planned["diff"]["before"] == {} and planned["diff"]["after"]["placement"] == planned["placement"]

    first = run_module(region_replicas, args)
    assert first["changed"] and first["placement"] == {"us-east": 3, "us-west": 2}
    assert first["stamp"].endswith("@us-east")
    again = run_module(region_replicas, args)
    assert again["changed"] is False and again["placement"] == first["placement"]

    scaled = run_module(region_replicas, {**args, "replicas": 7}, diff=True)
    assert scaled["previous_placement"] == {"us-east": 3, "us-west": 2}
    assert scaled["diff"]["before"]["placement"] == {"us-east": 3, "us-west": 2}
    assert scaled["diff"]["after"]["placement"] == scaled["placement"]
    assert sum(scaled["placement"].values()) == 7


def test_rules_and_absent(run_module, listener):
    args = {"region": "us", "service": "api", "replicas": 4, "excluded": ["us-west"]}
    assert run_module(region_replicas, args)["placement"] == {"us-east": 4}
    args = {"region": "us", "service": "api", "replicas": 4, "clusters": [{"name": "us-west", "min": 3}]}
    assert run_module(region_replicas, args)["placement"]["us-west"] >= 3
    gone = run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"}, check=True)
    assert gone["changed"] and listener.replica.record("service/us/api").value is not None
    gone = run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"})
    assert gone["changed"] and listener.replica.record("service/us/api").deleted
    assert run_module(region_replicas, {"region": "us", "service": "api", "state": "absent"})["changed"] is False


def test_bad_input_names_the_field_and_changes_nothing(run_module, listener):
    before = {r.key: r for r in listener.replica.snapshot()}
    cases = [({"replicas": -1}, "replicas"), ({"service": "Nginx"}, "service"),
             ({"region": "mars"}, "region"), ({"clusters": [{"name": "eu-west", "min": 1}]}, "rules.clusters[eu-west]"),
             ({"clusters": [{"name": "us-east", "min": 3, "max": 1}]}, "rules.clusters[us-east].min"),
             ({"namespace": "kube-system"}, "namespace: is refused (refused_namespaces: kube-system")]
    for change, field in cases:
        result = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 2, **change})
        assert result["failed"] and field in result["msg"], result["msg"]
    assert {r.key: r for r in listener.replica.snapshot()} == before


def test_wrong_token_fails_with_a_hint(run_module):
    result = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 1, "token": "nope"})
    assert result["failed"] and "UNAUTHENTICATED" in result["grpc_status"] and "token" in result["msg"]


def example_definition():
    """The realistic service of the module's EXAMPLES, as YAML text of several documents."""
    example = next(task for task in yaml.safe_load(region_replicas.EXAMPLES)
                   if "definition" in task["multicluster.kube.region_replicas"]
                   and isinstance(task["multicluster.kube.region_replicas"]["definition"], list))
    return yaml.safe_dump_all(example["multicluster.kube.region_replicas"]["definition"])


SHOP_YAML = example_definition()


def test_a_definition_as_yaml_text_or_a_file_becomes_the_services_workload(run_module, listener, tmp_path):
    args = {"region": "us", "service": "shop", "replicas": 3, "definition": SHOP_YAML}
    placed = run_module(region_replicas, args, diff=True)
    assert placed["changed"] and placed["diff"]["after"]["workload"]["template"]["kind"] == "Deployment"
    workload = listener.replica.live("service/us/shop").spec.workload
    assert workload.template["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "info"
    assert [c["kind"] for c in workload.companions] == ["ConfigMap", "Service"]
    assert run_module(region_replicas, args)["changed"] is False
    source = tmp_path / "shop.yml"
    source.write_text(SHOP_YAML)
    assert run_module(region_replicas, {**{k: v for k, v in args.items() if k != "definition"},
                                        "src": str(source)})["changed"] is False, "the same workload from a file"
    source.write_text(yaml.safe_dump(list(yaml.safe_load_all(SHOP_YAML))))  # one document: a list of manifests
    assert run_module(region_replicas, {**{k: v for k, v in args.items() if k != "definition"},
                                        "src": str(source)})["changed"] is False, "the same workload, as one list"
    changed = run_module(region_replicas, {**args, "definition": SHOP_YAML.replace("info", "debug")}, check=True)
    assert changed["changed"] and listener.replica.live("service/us/shop").spec.workload == workload


def test_a_bad_definition_fails_naming_the_object_and_the_field(run_module, listener):
    before = {r.key: r for r in listener.replica.snapshot()}
    for definition, field in (
            ([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}}], "companions[0].kind"),
            (SHOP_YAML + "\n---\n" + SHOP_YAML.split("---")[0], "definition"),  # two Deployments
            ("key: [unclosed", "definition"),
            (["not a mapping"], "definition[0]")):
        result = run_module(region_replicas, {"region": "us", "service": "shop", "replicas": 1,
                                              "definition": definition})
        assert result["failed"] and result["field"] == field, result
    result = run_module(region_replicas, {"region": "us", "service": "shop", "replicas": 1, "src": "/nonexistent"})
    assert result["failed"] and result["field"] == "src"
    assert {r.key: r for r in listener.replica.snapshot()} == before


def test_an_image_override_changes_only_the_clusters_it_chooses_and_check_mode_with_diff_shows_it(
        run_module, listener):
    args = {"region": "us", "service": "shop", "replicas": 4, "definition": SHOP_YAML}
    run_module(region_replicas, args)
    overridden = {**args, "overrides": [{"clusters": ["us-west"], "images": {"shop": "registry.eu/shop:1.5"}}]}
    planned = run_module(region_replicas, overridden, check=True, diff=True)
    assert planned["changed"]

    def image(side, cluster):
        return planned["diff"][side]["clusters"][cluster]["Deployment shop"]["spec"]["template"]["spec"][
            "containers"][0]["image"]
    assert image("before", "us-west") == image("before", "us-east") == image("after", "us-east") == \
        "registry.example.com/shop:1.5"
    assert image("after", "us-west") == "registry.eu/shop:1.5"
    assert listener.replica.live("service/us/shop").spec.workload.overrides == (), "check mode wrote"


def test_overrides_that_name_an_unknown_cluster_or_do_not_apply_are_refused_naming_them(run_module, listener):
    before = {r.key: r for r in listener.replica.snapshot()}
    base = {"region": "us", "service": "shop", "replicas": 2, "definition": SHOP_YAML}
    for override, field in (
            ({"clusters": ["eu-west"], "images": {"shop": "x"}}, "overrides[0].clusters[]"),
            ({"clusters": ["us-west"], "images": {"nope": "x"}}, "overrides[0].images[nope]"),
            ({"clusters": ["us-west"], "patches": [{"target": "Deployment", "patch": [
                {"op": "replace", "path": "/spec/nothing/here", "value": 1}]}]}, "overrides[0].patches[0]"),
            ({"clusters": ["us-west"], "patches": [{"target": "Secret/db", "patch": []}]},
             "overrides[0].patches[0].target"),
            ({"images": {"shop": "x"}}, "overrides[0]")):
        result = run_module(region_replicas, {**base, "overrides": [override]})
        assert result["failed"] and result.get("field", "") == field or field in result["msg"], (override, result)
    assert {r.key: r for r in listener.replica.snapshot()} == before


def test_given_several_listeners_the_module_passes_over_one_that_is_down(run_module, listener):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{s.getsockname()[1]}"
    live = listener.config.network.listen
    placed = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 2, "endpoint": [down, live]})
    assert placed["changed"] and placed["answered_by"] == live
    as_text = run_module(region_replicas, {"region": "us", "service": "web", "replicas": 2, "endpoint": f"{down},{live}"})
    assert as_text["changed"] is False and as_text["answered_by"] == live
