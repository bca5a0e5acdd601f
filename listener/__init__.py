"""The per-cluster listener of multicluster.kube.

It serves the gRPC API (api.py), replicates records to every other listener
(replication.py), keeps them in SQLite (store.py), makes its own cluster's
Deployments match (reconciler.py, using plugins/module_utils/kubernetes_updater.py),
and moves replicas off clusters that stop heartbeating (failover.py).
Run it with `python -m ansible_collections.multicluster.kube.listener --help`.
"""
