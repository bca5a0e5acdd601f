"""Writes a store with the record kinds of commit 600f4da, for the compatibility test."""
import sys
sys.path.insert(0, ".cache/collections")
from ansible_collections.multicluster.kube.listener.store import Store
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import *
s = Store(sys.argv[1])
T = 1795000000000
recs = [
  Record("cluster/us-east", Stamp(T, 0, "us-east"), "listener@us-east", Cluster(name="us-east", region="us", endpoint="127.0.0.1:7443", labels={"tier": "gold"}, weight=2)),
  Record("cluster/us-west", Stamp(T, 1, "us-west"), "listener@us-west", Cluster(name="us-west", region="us", endpoint="127.0.0.1:7444", capacity=10, cordoned=False)),
  Record("cluster/eu-west", Stamp(T, 2, "eu-west"), "listener@eu-west", Cluster(name="eu-west", region="eu", endpoint="127.0.0.1:7445", cordoned=True)),
  Record("service/us/nginx", Stamp(T + 5, 0, "us-east"), "failover@us-east",
         ServiceIntent(region="us", service="nginx", replicas=5, image="nginx:1.27", port=80, namespace="web",
                       rules=PlacementRules(excluded=frozenset({"us-north"}), clusters=(ClusterRule("us-east", weight=3, min=1, max=4),)),
                       placement={"us-east": 5}, unplaced=0, reasons=("us-north: excluded by the service's rules", "us-west: unhealthy (no heartbeat)"))),
  Record("service/eu/shop", Stamp(T + 6, 0, "eu-west"), "ansible:alice@laptop",
         ServiceIntent(region="eu", service="shop", replicas=3, placement={}, unplaced=3, reasons=("eu-west: cordoned", "no eligible cluster in region eu"))),
  Record("service/us/gone", Stamp(T + 7, 0, "us-east"), "ansible:alice@laptop", None),
  Record("status/us-east", Stamp(T + 8, 0, "us-east"), "listener@us-east",
         ClusterStatus(cluster="us-east", region="us", reported_ms=T + 8, services=(ServiceStatus(region="us", service="nginx", namespace="web", desired=5, ready=4, conflict=""),))),
  Record("status/us-west", Stamp(T + 9, 0, "us-west"), "listener@us-west",
         ClusterStatus(cluster="us-west", region="us", reported_ms=T + 9, services=(ServiceStatus(region="us", service="nginx", namespace="web", desired=2, ready=0, conflict="Deployment web/nginx exists and is not managed by multicluster-kube"),))),
]
s.save(recs)
s.close()
print(len(recs))
