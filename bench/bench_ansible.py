"""Ansible: set_region.yml over a region of 4 clusters, against a playbook doing the same with
kubernetes.core.k8s cluster by cluster (kubernetes.core from the ansible package), in one run.
Both wait until the Deployments are applied in every cluster; wall time of ansible-playbook.
Also timed in the same run: set_region.yml with its module run as a module (a task environment
keeps the action plugin from running it on the controller), a playbook of one no-op task, the
start-up cost all pay, and one of a single ansible.builtin.ping task, the least a playbook that
runs any module costs. And a realistic workload (a Deployment template, a ConfigMap and a Service)
both ways: set_region.yml -e manifest=FILE against kubernetes.core.k8s applying the same three
objects cluster by cluster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import common
import yaml

from lab.cluster import Lab
from lab.listeners import ListenerFleet
from lab.topology import from_mapping

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
CLUSTERS = ["us-1", "us-2", "us-3", "us-4"]

BASELINE = """
- name: The same placement with kubernetes.core.k8s, cluster by cluster
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the Deployment in each cluster
      kubernetes.core.k8s:
        kubeconfig: "{{ kubeconfig }}"
        context: "{{ item.key }}"
        wait: false
        definition:
          apiVersion: apps/v1
          kind: Deployment
          metadata: {name: baseline, namespace: default}
          spec:
            replicas: "{{ item.value }}"
            selector: {matchLabels: {app: baseline}}
            template:
              metadata: {labels: {app: baseline}}
              spec: {containers: [{name: baseline, image: baseline, ports: [{containerPort: 8080}]}]}
      loop: "{{ placement | dict2items }}"
"""

SHOP = [
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "spec": {"selector": {"matchLabels": {"app": "shop"}},
              "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {
                  "containers": [{"name": "shop", "image": "registry.example.com/shop:1.5",
                                  "env": [{"name": "LOG_LEVEL", "value": "info"}], "ports": [{"containerPort": 8080}],
                                  "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                  "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                                  "volumeMounts": [{"name": "config", "mountPath": "/etc/shop"}]}],
                  "volumes": [{"name": "config", "configMap": {"name": "shop-config"}}]}}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config"}, "data": {"shop.yaml": "a: b"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop"},
     "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80, "targetPort": 8080}]}},
]
BASELINE_MANIFEST = """
- name: The same workload with kubernetes.core.k8s, cluster by cluster
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Apply the Deployment, its ConfigMap and its Service in each cluster
      kubernetes.core.k8s:
        kubeconfig: "{{ kubeconfig }}"
        context: "{{ item.key }}"
        namespace: default
        wait: false
        definition: "{{ manifests }}"
      loop: "{{ placement | dict2items }}"
"""
FLOOR = """
- name: Nothing but ansible-playbook starting and ending
  hosts: localhost
  gather_facts: false
  tasks:
    - name: No-op
      ansible.builtin.meta: noop
"""

ONE_MODULE = """
- name: One task of the smallest module
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def run(args, env) -> float:
    begin = time.perf_counter()
    result = subprocess.run([str(common.ROOT / ".venv" / "bin" / "ansible-playbook"), *args], env=env,
                            capture_output=True, text=True, check=False, cwd=common.ROOT)
    if result.returncode:
        raise RuntimeError(result.stdout[-3000:] + result.stderr[-2000:])
    return time.perf_counter() - begin


def as_module(playbook: str, out: str) -> str:
    """The playbook with a play environment, which makes Ansible run the module as a module."""
    plays = yaml.safe_load((common.ROOT / playbook).read_text())
    for play in plays:
        play["environment"] = {"BENCH_RUN": "as a module"}
    with open(out, "w") as f:
        yaml.safe_dump(plays, f, sort_keys=False)
    return out


def replicas_in(manifests, replicas: int) -> list:
    """The same objects as the loop applies them: named apart from the fleet's (`-k8s`), the
    Deployment with its name and `replicas` (what the fleet sets in each cluster)."""
    out = json.loads(json.dumps(manifests))
    for obj in out:
        metadata = obj.setdefault("metadata", {})
        metadata["name"] = metadata.get("name", "shop") + "-k8s"
        if obj["kind"] == "Deployment":
            obj["spec"]["replicas"] = replicas
            obj["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = "shop-config-k8s"
    return out


def wait_until_heard(fleet) -> None:
    """Listeners take workloads once they have heard every member say what it is."""
    with fleet.client(fleet.names[0]) as c:
        common.wait(lambda: not c.view().held_back, 30, interval=0.2)


def main():
    ours, ours_as_module, baseline, floor, one_module = [], [], [], [], []
    ours_manifest, baseline_manifest = [], []
    topology = from_mapping({"regions": {"us": CLUSTERS}, "nodes": {"count": 1}})
    with tempfile.TemporaryDirectory() as tmp, Lab(f"{tmp}/lab", topology) as lab:
        with ListenerFleet(lab, f"{tmp}/listeners") as fleet:
            inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                          "listener_token": fleet.token},
                                 "children": {"us": {"hosts": {n: {"listener_listen": fleet.endpoint(n)}
                                                               for n in CLUSTERS}}}}}
            (common.ROOT / ".cache").mkdir(exist_ok=True)
            inv = f"{tmp}/inventory.yml"
            with open(inv, "w") as f:
                yaml.safe_dump(inventory, f)
            with open(f"{tmp}/baseline.yml", "w") as f:
                f.write(BASELINE)
            set_region_as_module = as_module("playbooks/set_region.yml", f"{tmp}/set-region-as-module.yml")
            with open(f"{tmp}/floor.yml", "w") as f:
                f.write(FLOOR)
            with open(f"{tmp}/shop.yml", "w") as f:
                yaml.safe_dump_all(SHOP, f)
            with open(f"{tmp}/baseline-manifest.yml", "w") as f:
                f.write(BASELINE_MANIFEST)
            wait_until_heard(fleet)
            with open(f"{tmp}/one_module.yml", "w") as f:
                f.write(ONE_MODULE)
            env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(common.ROOT / ".cache" / "collections"),
                   "ANSIBLE_NOCOLOR": "1"}
            for i in range(ROUNDS):
                replicas = 8 + 4 * (i % 2)  # 8, 10 (as a module), 12, 14, 8...: every run changes something
                placement = {c: replicas // 4 for c in CLUSTERS}
                ours.append(run(["-i", inv, "playbooks/set_region.yml", "-e", "region=us", "-e", "service=web",
                                 "-e", f"replicas={replicas}", "-e", "wait=applied"], env))
                ours_as_module.append(run(["-i", inv, set_region_as_module, "-e", "region=us", "-e", "service=web",
                                           "-e", f"replicas={replicas + 2}", "-e", "wait=applied"], env))
                baseline.append(run([f"{tmp}/baseline.yml", "-e", f"kubeconfig={lab.kubeconfig}",
                                     "-e", yaml.safe_dump({"placement": placement}, default_flow_style=True).strip()],
                                    env))
                ours_manifest.append(run(["-i", inv, "playbooks/set_region.yml", "-e", "region=us", "-e", "service=shop",
                                          "-e", f"replicas={replicas}", "-e", f"manifest={tmp}/shop.yml",
                                          "-e", "wait=applied"], env))
                baseline_manifest.append(run([f"{tmp}/baseline-manifest.yml", "-e", f"kubeconfig={lab.kubeconfig}",
                                              "-e", yaml.safe_dump({"placement": placement, "manifests": replicas_in(
                                                  SHOP, replicas // 4)}, default_flow_style=True).strip()], env))
                floor.append(run([f"{tmp}/floor.yml"], env))
                one_module.append(run([f"{tmp}/one_module.yml"], env))
                print(f"ansible: round {i + 1}: set_region.yml {ours[-1]:.2f}s (as a module {ours_as_module[-1]:.2f}s), "
                      f"kubernetes.core loop {baseline[-1]:.2f}s, with a manifest {ours_manifest[-1]:.2f}s "
                      f"vs {baseline_manifest[-1]:.2f}s, "
                      f"no-op playbook {floor[-1]:.2f}s, one ping task {one_module[-1]:.2f}s")
    start_up = common.percentile(floor, 50)
    results = {"benchmark": "ansible", "clusters": 4, "rounds": ROUNDS, "set_region_seconds": ours,
               "set_region_as_module_seconds": ours_as_module,
               "kubernetes_core_loop_seconds": baseline, "noop_playbook_seconds": floor,
               "one_ping_task_playbook_seconds": one_module,
               "ratio_of_one_ping_task": common.percentile(baseline, 50) / common.percentile(one_module, 50),
               "ratio_median": common.percentile(baseline, 50) / common.percentile(ours, 50),
               "set_region_manifest_seconds": ours_manifest, "kubernetes_core_manifest_loop_seconds": baseline_manifest,
               "ratio_manifest": common.percentile(baseline_manifest, 50) / common.percentile(ours_manifest, 50),
               "ratio_as_module": common.percentile(baseline, 50) / common.percentile(ours_as_module, 50),
               "ratio_after_start_up": (common.percentile(baseline, 50) - start_up)
               / (common.percentile(ours, 50) - start_up)}
    common.save("ansible", results)
    common.plot_rounds("ansible", f"ansible-playbook wall time, region of 4 clusters, {ROUNDS} rounds", {
        "set_region.yml": ours, "set_region.yml, as a module": ours_as_module,
        "kubernetes.core.k8s loop": baseline, "set_region.yml with a manifest": ours_manifest,
        "kubernetes.core.k8s loop of the manifest": baseline_manifest, "one ping task": one_module,
        "no-op (start-up)": floor})
    print(f"ansible: set_region.yml over 4 clusters is {results['ratio_median']:.2f}x the speed of a "
          f"kubernetes.core.k8s loop (median {common.percentile(ours, 50):.2f}s vs "
          f"{common.percentile(baseline, 50):.2f}s); {results['ratio_as_module']:.2f}x with its module run as a "
          f"module ({common.percentile(ours_as_module, 50):.2f}s); {results['ratio_after_start_up']:.1f}x once the "
          f"{start_up:.2f}s start-up of ansible-playbook both pay is taken off; a playbook of one "
          f"ansible.builtin.ping task takes {common.percentile(one_module, 50):.2f}s, "
          f"{results['ratio_of_one_ping_task']:.2f}x the loop's speed: the most a playbook sending one module reaches")
    print(f"ansible: with a manifest (Deployment, ConfigMap, Service), set_region.yml is {results['ratio_manifest']:.2f}x "
          f"the speed of the kubernetes.core.k8s loop (median {common.percentile(ours_manifest, 50):.2f}s vs "
          f"{common.percentile(baseline_manifest, 50):.2f}s)")


if __name__ == "__main__":
    main()
