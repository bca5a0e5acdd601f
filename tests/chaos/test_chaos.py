"""Random writes at random listeners mixed with SIGKILLs, restarts, partitions and apiserver
restarts. Afterwards: identical state on every listener, every acknowledged write present or
superseded by a later stamp on the same key, every cluster's Deployments matching its placement,
and no process left behind.

Short by default (make test); CHAOS_WRITES=1000 CHAOS_FAULTS=50 for the long run (make chaos).
"""
from __future__ import annotations

import os
import random

from ansible_collections.multicluster.kube.plugins.module_utils.client import FleetError
from ansible_collections.multicluster.kube.plugins.module_utils.model import Service, ServiceSpec
from lab import processes
from lab.listeners import PYTHON, ListenerFleet

from fleet_state import converged, managed_deployments
from support import wait_for

WRITES = int(os.environ.get("CHAOS_WRITES", "120"))
FAULTS = int(os.environ.get("CHAOS_FAULTS", "12"))
SERVICES = [f"svc-{i}" for i in range(8)]
REGIONS = {"us": ("us-east", "us-west"), "eu": ("eu-central", "eu-west")}


def test_chaos(lab, kube, namespace, tmp_path):
    rnd = random.Random(int(os.environ.get("CHAOS_SEED", "7")))
    acked = []       # (key, stamp) of every acknowledged write
    faults = {"sigkill": 0, "restart": 0, "partition": 0, "apiserver": 0}
    down, cut, apiserver_down = set(), None, set()
    fleet = ListenerFleet(lab, tmp_path / "chaos", proxies=True,
                          settings={"failure_timeout": 5.0, "hold_down": 5.0, "anti_entropy_interval": 0.5})
    started_pids = []
    with fleet:
        started_pids += list(fleet.pids.values())
        fault_at = set(rnd.sample(range(5, WRITES), min(FAULTS, WRITES - 5)))
        for i in range(WRITES):
            if i in fault_at:
                # heal what the previous fault broke, then break something else
                for name in list(down):
                    fleet.start(name)
                    fleet.wait_serving(name)
                    started_pids.append(fleet.pids[name])
                    down.discard(name)
                if cut:
                    fleet.partition(*cut, cut=False)
                    cut = None
                for name in list(apiserver_down):
                    lab.start_cluster(name)
                    apiserver_down.discard(name)
                kind = rnd.choice(list(faults))
                victim = rnd.choice(fleet.names)
                faults[kind] += 1
                if kind == "sigkill":
                    fleet.kill(victim)
                    down.add(victim)
                elif kind == "restart":
                    fleet.stop(victim)
                    fleet.start(victim)
                    fleet.wait_serving(victim)
                    started_pids.append(fleet.pids[victim])
                elif kind == "partition":
                    cut = (REGIONS["us"], REGIONS["eu"])
                    fleet.partition(*cut)
                else:
                    lab.stop_cluster(victim)
                    apiserver_down.add(victim)
            region = rnd.choice(list(REGIONS))
            intent = ServiceSpec(region, rnd.choice(SERVICES), rnd.randint(0, 4), namespace=namespace)
            at = rnd.choice([n for n in fleet.names if n not in down])
            try:
                with fleet.client(at, timeout=5) as c:
                    response = c.set_region_replicas(intent)
                if response.changed:
                    s = response.stamp
                    acked.append((intent.key, (s.physical_ms, s.logical, s.origin)))
            except FleetError:
                pass  # refused or unreachable: not acknowledged, so nothing is owed

        for name in list(down):
            fleet.start(name)
            fleet.wait_serving(name)
            started_pids.append(fleet.pids[name])
        if cut:
            fleet.partition(*cut, cut=False)
        for name in list(apiserver_down):
            lab.start_cluster(name)

        state = wait_for(lambda: converged(fleet), 30, interval=0.5, what="every listener to hold the same state")
        lost = [(key, stamp) for key, stamp in acked
                if key not in state or tuple(state[key]) < stamp]
        print(f"chaos: {len(acked)} acknowledged writes, {sum(faults.values())} faults {faults}, {len(lost)} lost")
        assert not lost, lost[:5]

        def deployments_match():
            with fleet.client(fleet.names[0]) as c:
                intents = [r.value for r in c.records()[0] if isinstance(r.value, Service)]
            for region, clusters in REGIONS.items():
                for cluster in clusters:
                    want = {i.spec.service: i.placement.clusters[cluster] for i in intents
                            if i.region == region and i.placement.clusters.get(cluster)}
                    have = {name: spec for name, (spec, _ready) in managed_deployments(kube, cluster, namespace).items()}
                    if want != have:
                        return False
            return True

        wait_for(deployments_match, 90, interval=1.0, what="every cluster's Deployments to match its placement")
    assert not [pid for pid in started_pids if processes.is_ours(pid, PYTHON)], "listener processes left behind"
