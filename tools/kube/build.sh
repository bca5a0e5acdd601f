#!/usr/bin/env bash
# Builds the lab's Kubernetes binaries from Go modules into $KUBE_BIN_DIR
# (default .cache/kube/bin). Each binary comes from its own consumer module
# (kubernetes/, etcd/, kwok/) so their dependency versions cannot interfere.
# A binary already present with the expected version stamp is reused.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin_dir=${KUBE_BIN_DIR:-$root/.cache/kube/bin}
kube_version=v1.35.4
mkdir -p "$bin_dir"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# The same version stamps as Kubernetes' hack/lib/version.sh, so /version
# and `kubectl version` report v1.35.4 rather than v0.0.0-master.
kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$kube_version \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=35 \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z \
 -X k8s.io/client-go/pkg/version.gitVersion=$kube_version \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=35"

# build NAME MODULE_DIR PACKAGE [LDFLAGS]
build() {
  local name=$1 dir=$2 pkg=$3 ldflags=${4:--s -w}
  local out=$bin_dir/$name stamp=$bin_dir/.$name.stamp
  local want
  want=$(cat "$here/$dir/go.mod" "$here/$dir/go.sum" | sha256sum | cut -c1-16)
  if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "kube-bins: $name is up to date"
    return
  fi
  echo "kube-bins: building $name from $pkg (this takes a few minutes the first time)"
  local start=$SECONDS
  (cd "$here/$dir" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  echo "$want" > "$stamp"
  echo "kube-bins: built $name in $((SECONDS - start))s"
}

build etcd etcd go.etcd.io/etcd/server/v3
build kwok kwok sigs.k8s.io/kwok/cmd/kwok
build kube-apiserver kubernetes k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube-controller-manager kubernetes k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube-scheduler kubernetes k8s.io/kubernetes/cmd/kube-scheduler "$kube_ldflags"
build kubectl kubernetes k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
# kwok's standalone binary takes its Stage objects from --config: bundle the
# ones its module ships (nodes become Ready and keep heartbeating, pods become
# Ready, deleted pods go away) next to the binaries.
kwok_dir=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
stage_dir=$kwok_dir/kustomize/stage
stages=(node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml
        pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
for s in "${stages[@]}"; do echo "---"; cat "$stage_dir/$s"; done > "$bin_dir/kwok-stages.yaml.tmp"
mv "$bin_dir/kwok-stages.yaml.tmp" "$bin_dir/kwok-stages.yaml"
echo "kube-bins: all binaries in $bin_dir"
