#!/usr/bin/env bash
# The propagation and failover benchmarks of an earlier commit and of this checkout, taking
# turns in one sitting (the machine's load drifts: alternating rounds see the same drift).
#   bash bench/against.sh COMMIT [ROUNDS]      e.g. bash bench/against.sh 600f4da 3
# The earlier commit runs from a temporary worktree sharing this checkout's .venv and
# Kubernetes binaries; its result files stay in that worktree.
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?usage: bench/against.sh COMMIT [ROUNDS]}
rounds=${2:-3}
here=$PWD
there=$(mktemp -d)/earlier
git worktree add --detach -q "$there" "$commit"
trap 'git -C "$here" worktree remove --force "$there"' EXIT
mkdir -p "$there/.cache/collections/ansible_collections/multicluster"
ln -s "$there" "$there/.cache/collections/ansible_collections/multicluster/kube"
ln -s "$here/.cache/kube" "$there/.cache/kube"
for round in $(seq "$rounds"); do
  for side in "$there" "$here"; do
    label=$([ "$side" = "$here" ] && echo "this checkout" || echo "$commit")
    for bench in bench_propagation bench_failover; do
      echo "=== round $round, $label, $bench"
      (cd "$side" && "$here/.venv/bin/python" "bench/$bench.py" | grep -E "^(propagation|failover):")
    done
  done
done
