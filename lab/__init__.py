"""The local lab: a fleet of real Kubernetes control planes on loopback.

Each cluster is etcd, kube-apiserver (RBAC on), kube-controller-manager,
kube-scheduler and kwok (fake nodes whose pods become Running and Ready), all
built from Kubernetes' own Go modules by tools/kube/build.sh. Used by the tests,
the benchmarks and `make demo`; `python -m lab --help` is its command line.
"""
