#!/usr/bin/env bash
# The main job on the lab: a listener per cluster with the role, a service per region, the status.
set -euo pipefail
cd "$(dirname "$0")/.."
# The collection is found through ./ansible.cfg, as it is for the commands printed here, which
# run as printed from the checkout's root.
export ANSIBLE_NOCOLOR=1
inventory=.cache/lab/inventory.yml
play() { echo; echo "\$ .venv/bin/ansible-playbook -i $inventory $*"; .venv/bin/ansible-playbook -i "$inventory" "$@"; }

play playbooks/bootstrap.yml
play playbooks/set_region.yml -e region=us -e service=nginx -e replicas=5 -e wait=ready
play playbooks/set_region.yml -e region=eu -e service=shop -e image=registry.local/shop:1.0 -e replicas=3 -e wait=ready
play playbooks/status.yml
page=$(.venv/bin/python -c 'import yaml; inv = yaml.safe_load(open(".cache/lab/inventory.yml"))["all"]
print("http://%s/#token=%s" % (inv["children"]["us"]["hosts"]["us-east"]["listener_page_listen"], inv["vars"]["listener_token"]))')
echo
echo "The fleet's status page, as us-east's listener serves it: $page"
echo "The lab and its listeners keep running. Try: make lab-status; .cache/kube/bin/kubectl --kubeconfig .cache/lab/kubeconfig --context us-east get deploy"
echo "Stop everything with: make lab-down"
