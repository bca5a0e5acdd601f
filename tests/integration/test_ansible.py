"""The Ansible surface against the lab's real clusters and listeners: the integration targets
under tests/integration/targets, the playbooks, and the collection as Galaxy would ship it."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import yaml
from kubernetes import client

from fleet_state import durable_state

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGETS = ROOT / "tests" / "integration" / "targets"
VENV_BIN = pathlib.Path(sys.executable).parent


def ansible_env(collections_path=None):
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections_path or ROOT / ".cache" / "collections"),
            "ANSIBLE_ROLES_PATH": str(TARGETS), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_STDOUT_CALLBACK": "default", "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}


def playbook(args, collections_path=None, check=True):
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), *args], capture_output=True, text=True,
                            env=ansible_env(collections_path), cwd=ROOT, timeout=600, check=False)
    if check:
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


@pytest.fixture
def inventory(listeners, lab, tmp_path):
    """The lab's fleet as an inventory: a group per region, a host per cluster, reaching the
    test listeners."""
    regions = {}
    for name in listeners.names:
        regions.setdefault(lab.clusters[name].region, {"hosts": {}})["hosts"][name] = {
            "listener_listen": listeners.endpoint(name)}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "listener_token": listeners.token}, "children": regions}}))
    return path


# The collection's action plugins run the fleet modules' code on the controller when the task
# runs there (plugins/plugin_utils/fleet_action.py); a task environment makes Ansible run the
# module instead. A target using them runs both ways; -vvv shows whether a module was sent.
FLEET_ACTIONS = sorted(p.stem for p in (ROOT / "plugins" / "action").glob("*.py"))


def fleet_actions_used(target) -> set:
    tasks = "".join(p.read_text() for p in (TARGETS / target / "tasks").glob("*.yml"))
    return {m for m in FLEET_ACTIONS if f"multicluster.kube.{m}:" in tasks}


@pytest.mark.parametrize("target,where", [
    (t, where) for t in sorted(p.name for p in TARGETS.iterdir() if p.is_dir())
    for where in (["controller", "module"] if fleet_actions_used(t) else ["controller"])])
def test_integration_target(target, where, listeners, lab, namespace, tmp_path):
    variables = {"fleet_endpoints": {n: listeners.endpoint(n) for n in listeners.names},
                 "fleet_token": listeners.token, "lab_kubeconfig": str(lab.kubeconfig),
                 "test_namespace": namespace}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    play = {"name": f"Integration target {target}", "hosts": "localhost", "gather_facts": False,
            "roles": [{"role": target}]}
    if where == "module":
        play["environment"] = {"MULTICLUSTER_TEST_RUN": "as a module"}
    (tmp_path / "run.yml").write_text(yaml.safe_dump([play]))
    aliases = (TARGETS / target / "aliases").read_text().split()
    paused = [a.split("/", 1)[1] for a in aliases if a.startswith("stop_listener/")]
    for name in paused:
        listeners.stop(name)
    try:
        result = playbook(["-i", "localhost,", "-c", "local", "-e", f"@{tmp_path / 'vars.json'}", "-vvv",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(tmp_path / "run.yml")])
    finally:
        for name in paused:
            listeners.start(name)
            listeners.wait_serving(name)
    sent = {m for m in FLEET_ACTIONS if f"AnsiballZ_{m}.py" in result.stdout}
    assert sent == (fleet_actions_used(target) if where == "module" else set())


def test_set_region_takes_a_manifest_file(inventory, heard, kube, namespace, tmp_path):
    manifest = tmp_path / "orders.yml"
    manifest.write_text(yaml.safe_dump_all([
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {
            "selector": {"matchLabels": {"app": "orders"}},
            "template": {"metadata": {"labels": {"app": "orders"}}, "spec": {"containers": [
                {"name": "orders", "image": "registry.example.com/orders:2", "env": [{"name": "MODE", "value": "x"}],
                 "resources": {"requests": {"cpu": "1"}}}]}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "orders"}, "data": {"a": "b"}}]))
    placed = playbook(["-i", str(inventory), "-e", f"service_namespace={namespace}", "playbooks/set_region.yml",
                       "-e", "region=eu", "-e", "service=orders", "-e", "replicas=3", "-e", f"manifest={manifest}",
                       "-e", "wait=ready"])
    assert "orders in eu: eu-central=2, eu-west=1" in placed.stdout
    apps, core = client.AppsV1Api(kube("eu-west")), client.CoreV1Api(kube("eu-west"))
    assert apps.read_namespaced_deployment("orders", namespace).spec.template.spec.containers[0].env[0].value == "x"
    assert core.read_namespaced_config_map("orders", namespace).data == {"a": "b"}
    status = playbook(["-i", str(inventory), "playbooks/status.yml", "-e", "region=eu"])
    [row] = [line.split() for line in status.stdout.splitlines() if line.split()[1:4] == ["eu-west", "healthy", "orders"]]
    assert row[4:7] == ["1", "1", "1"] and int(row[7]) > 3, f"FITS: 1 CPU each, 2 nodes of 32 CPUs: {row}"


def test_set_region_status_and_remove_playbooks(inventory, listeners, kube, namespace):
    common = ["-i", str(inventory), "-e", f"service_namespace={namespace}"]
    first = playbook([*common, "playbooks/set_region.yml", "-e", "region=us", "-e", "service=orders",
                      "-e", "replicas=4", "-e", "wait=ready"])
    assert "orders in us: us-east=2, us-west=2" in first.stdout
    second = playbook([*common, "playbooks/set_region.yml", "-e", "region=us", "-e", "service=orders",
                       "-e", "replicas=4"])
    assert "changed=0" in second.stdout
    status = playbook(["-i", str(inventory), "playbooks/status.yml"])
    assert any(line.split()[:7] == ['"us', "us-east", "healthy", "orders", "2", "2", "2"]
               for line in status.stdout.splitlines())
    assert any(line.split()[:3] == ['"us', "us-east", "room:"] and line.rstrip('",').endswith(
        "free on 2 schedulable nodes") for line in status.stdout.splitlines()), status.stdout
    playbook([*common, "playbooks/remove_service.yml", "-e", "region=us", "-e", "service=orders"])
    from fleet_state import managed_deployments
    assert managed_deployments(kube, "us-east", namespace) == {}


def test_set_region_rolls_a_new_image_out_and_status_shows_each_clusters_revision(inventory, heard, namespace):
    common = ["-i", str(inventory), "-e", f"service_namespace={namespace}", "playbooks/set_region.yml",
              "-e", "region=us", "-e", "service=front", "-e", "replicas=4", "-e", '{"rollout": {"max_parallel": 1}}']
    playbook([*common, "-e", "image=registry.example.com/front:1", "-e", "wait=ready"])
    second = playbook([*common, "-e", "image=registry.example.com/front:2", "-e", "wait=rolled_out"])
    [revision] = [line.split("revision ")[1].split(",")[0] for line in second.stdout.splitlines()
                  if "front in us: us-east=2, us-west=2; revision" in line]
    assert "rollout progressing" in second.stdout, second.stdout[-2000:]
    status = playbook(["-i", str(inventory), "playbooks/status.yml", "-e", "region=us"]).stdout
    rows = [line.split() for line in status.splitlines() if line.split()[3:4] == ["front"]]
    assert [row[1] for row in rows] == ["us-east", "us-west"] and all(row[8] == revision for row in rows), status
    assert f"rollout of front: done to {revision}" in status and "released: us-east, us-west" in status, status
    playbook(["-i", str(inventory), "playbooks/remove_service.yml", "-e", "region=us", "-e", "service=front"])


@pytest.mark.parametrize("fault", ["stopped", "killed"])
def test_the_playbooks_go_through_another_listener_when_the_first_hosts_is_down(inventory, listeners, namespace,
                                                                                fault):
    """SIGSTOP (hung: it accepts connections and never answers) or SIGKILL (its supervisor gone
    with it: nothing starts it again) of the listener of the inventory's first host."""
    first = listeners.names[0]  # the inventory fixture lists the hosts in this order
    plays = [["playbooks/set_region.yml", "-e", "region=eu", "-e", "service=spare", "-e", "replicas=2",
              "-e", f"service_namespace={namespace}"],
             ["playbooks/status.yml"],
             ["playbooks/remove_service.yml", "-e", "region=eu", "-e", "service=spare"]]

    def timed(args):
        started = time.monotonic()
        result = playbook(["-i", str(inventory), *args])
        return time.monotonic() - started, result.stdout
    baseline = [timed(args)[0] for args in plays]
    pid = listeners.pids[first]
    if fault == "stopped":
        os.kill(pid, signal.SIGSTOP)
    else:
        listeners.kill(first)
    try:
        for args, usual in zip(plays, baseline):
            took, out = timed(args)
            assert took <= usual + 5, f"{args[0]} took {took:.1f} s with {first} {fault}, {usual:.1f} s with all up"
            if args[0] == "playbooks/status.yml":
                assert "The fleet as the listener of" in out and f"listener of {first} sees" not in out, out[-3000:]
    finally:
        if fault == "stopped":
            os.kill(pid, signal.SIGCONT)
        else:
            listeners.start(first)
            listeners.wait_serving(first)


@pytest.mark.parametrize("play,extra,message", [
    ("set_region", ["region=us", "service=web", "replicas=-1"], "replicas: must be a whole number from 0 to 1000000"),
    ("set_region", ["region=us", "service=web", "replicas=many"], "argument 'replicas' is of type str"),
    ("set_region", ["region=us", "service=Web", "replicas=2"], "service: must be a DNS-1123 label"),
    ("set_region", ["region=mars", "service=web", "replicas=2"], "region: must name a region with registered clusters"),
    ("set_region", ["region=us", "service=web"], "replicas is required"),
    ("remove_service", ["region=us", "service=Web"], "service: must be a DNS-1123 label"),
    ("remove_service", ["service=web"], "region is required"),
])
def test_playbooks_refuse_bad_input_and_change_nothing(inventory, listeners, play, extra, message):
    before = {n: durable_state(listeners, n) for n in listeners.names}
    result = playbook(["-i", str(inventory), f"playbooks/{play}.yml", *(a for v in extra for a in ("-e", v))],
                      check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr, result.stdout[-3000:] + result.stderr[-3000:]
    assert {n: durable_state(listeners, n) for n in listeners.names} == before


def test_a_playbook_runs_from_the_checkout_as_the_readme_prints_it(inventory, listeners, namespace):
    """No ANSIBLE_COLLECTIONS_PATH: the checkout's ansible.cfg finds the collection."""
    env = {k: v for k, v in ansible_env().items() if not k.startswith("ANSIBLE_COLLECTIONS")}
    result = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/set_region.yml",
                             "-e", "region=us", "-e", "service=as-printed", "-e", "replicas=2",
                             "-e", f"service_namespace={namespace}"], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "as-printed in us: us-east=1, us-west=1" in result.stdout


def test_the_galaxy_tarball_installs_documents_and_runs(inventory, listeners, tmp_path, namespace):
    build = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path)],
                           cwd=ROOT, capture_output=True, text=True, env=ansible_env(), check=False)
    assert build.returncode == 0, build.stderr
    tarball = next(tmp_path.glob("multicluster-kube-*.tar.gz"))
    installed = tmp_path / "collections"
    install = subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p",
                              str(installed), str(tarball)], capture_output=True, text=True, env=ansible_env(),
                             check=False)
    assert install.returncode == 0, install.stderr
    home = installed / "ansible_collections" / "multicluster" / "kube"
    assert (home / "listener" / "server.py").exists() and not (home / "lab").exists()
    assert not (home / "ansible.cfg").exists() and not (home / ".cache").exists() and not (home / ".venv").exists()
    doc = subprocess.run([str(VENV_BIN / "ansible-doc"), "multicluster.kube.region_replicas"], capture_output=True,
                         text=True, env={**ansible_env(installed), "ANSIBLE_NOCOLOR": "1"}, check=False)
    assert doc.returncode == 0, doc.stderr
    assert "Sets how many replicas of a service run in a region" in doc.stdout
    assert "wait_timeout" in doc.stdout and "EXAMPLES" in doc.stdout
    # an installed collection's playbooks, by their names (valid identifiers, as Ansible requires)
    run = playbook(["-i", str(inventory), "multicluster.kube.set_region", "-e", "region=eu",
                    "-e", "service=from-galaxy", "-e", "replicas=2", "-e", f"service_namespace={namespace}"],
                   collections_path=installed)
    assert "from-galaxy in eu: eu-central=1, eu-west=1" in run.stdout
    status = playbook(["-i", str(inventory), "multicluster.kube.status", "-e", "region=eu"], collections_path=installed)
    assert any(line.split()[1:4] == ["eu-west", "healthy", "from-galaxy"] for line in status.stdout.splitlines()), \
        status.stdout


def test_the_inventory_plugin_reads_the_fleet_from_any_listener(listeners, tmp_path):
    source = tmp_path / "lab.fleet.yml"
    source.write_text(yaml.safe_dump({"plugin": "multicluster.kube.fleet", "endpoint": listeners.endpoint("eu-west"),
                                      "token": listeners.token, "keyed_groups": [{"key": "'up' if multicluster_healthy else 'down'",
                                                                                  "prefix": "health"}]}))
    result = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], capture_output=True,
                            text=True, env=ansible_env(), check=False)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert "us" in inventory, result.stderr
    assert sorted(inventory["us"]["hosts"]) == ["us-east", "us-west"]
    assert sorted(inventory["eu"]["hosts"]) == ["eu-central", "eu-west"]
    assert sorted(inventory["health_up"]["hosts"]) == sorted(listeners.names)
    # Values read from a listener come marked unsafe (never templated): unwrap them.
    east = {k: v.get("__ansible_unsafe", v) if isinstance(v, dict) else v
            for k, v in inventory["_meta"]["hostvars"]["us-east"].items()}
    assert east["multicluster_endpoint"] == listeners.endpoint("us-east")
    assert east["multicluster_region"] == "us" and east["multicluster_weight"] == 1

    source.write_text(yaml.safe_dump({"plugin": "multicluster.kube.fleet", "endpoint": listeners.endpoint("eu-west"),
                                      "token": "wrong"}))
    refused = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(source), "--list"], capture_output=True,
                             text=True, env={**ansible_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "1"}, check=False)
    assert refused.returncode != 0 and "UNAUTHENTICATED" in refused.stderr


def test_bootstrap_runs_a_supervised_listener_per_cluster_idempotently(lab, tmp_path):
    """The listener role's process runtime, driven by the inventory (these listeners replicate
    only, so they do not compete with the session's listeners for the lab's Deployments)."""
    from lab.processes import free_port

    regions = {}
    for name, cluster in lab.clusters.items():
        regions.setdefault(cluster.region, {"hosts": {}})["hosts"][name] = {
            "listener_listen": f"127.0.0.1:{free_port()}", "listener_data_dir": str(tmp_path / name)}
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "listener_insecure": True,
        "listener_token": "bootstrap-token", "listener_peer_token": "bootstrap-peer-token", "listener_settings": {"manage_kubernetes": False}},
        "children": regions}}))
    try:
        first = playbook(["-i", str(inventory), "playbooks/bootstrap.yml"])
        assert "failed=0" in first.stdout
        second = playbook(["-i", str(inventory), "playbooks/bootstrap.yml"])
        assert all("changed=0" in line for line in second.stdout.splitlines() if "ok=" in line), second.stdout[-2000:]
        placed = playbook(["-i", str(inventory), "playbooks/set_region.yml", "-e", "region=eu", "-e", "service=boot",
                           "-e", "replicas=2", "-e", "wait=propagated"])
        assert "boot in eu: eu-central=1, eu-west=1" in placed.stdout
        pids = [int((tmp_path / n / "listener.pid").read_text()) for n in lab.clusters]
        assert all(pathlib.Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        playbook(["-i", str(inventory), "playbooks/bootstrap.yml", "-e", "listener_state=stopped"], check=False)
    assert not any((tmp_path / n / "listener.pid").exists() for n in lab.clusters)
