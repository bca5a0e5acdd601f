#!/usr/bin/env bash
# The main job on the lab: a listener per cluster with the role, a service per region, the status.
set -euo pipefail
cd "$(dirname "$0")/.."
export ANSIBLE_COLLECTIONS_PATH="$PWD/.cache/collections" ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_NOCOLOR=1
inventory=.cache/lab/inventory.yml
play() { echo; echo "\$ ansible-playbook -i $inventory $*"; .venv/bin/ansible-playbook -i "$inventory" "$@"; }

play playbooks/bootstrap.yml
play playbooks/set-region.yml -e region=us -e service=nginx -e replicas=5 -e wait=ready
play playbooks/set-region.yml -e region=eu -e service=shop -e image=registry.local/shop:1.0 -e replicas=3 -e wait=ready
play playbooks/status.yml
echo
echo "The lab and its listeners keep running. Try: make lab-status; .cache/kube/bin/kubectl --kubeconfig .cache/lab/kubeconfig --context us-east get deploy"
echo "Stop everything with: make lab-down"
