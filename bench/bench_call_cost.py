"""What one peer call costs, the unit of every figure in bench_scale.py: CPU per Push of one
record to a listener (real gRPC on loopback, real SQLite), both ends in this one process; and,
as the baseline in the same run, a gRPC server holding 99 idle channels (the peers of a
listener in a fleet of 100) doing nothing.

And what a heal is made of: CPU per record when a listener takes Pushes of 500 new records as
clients' writes make them (a service and its history entry each, encoded beforehand, so only
what the listener does is counted: decode, check, store, index).

Usage: bench_call_cost.py [PUSHES]
"""
from __future__ import annotations

import concurrent.futures
import resource
import sys
import tempfile
import time

import common

import grpc

from ansible_collections.multicluster.kube.listener.config import Config
from ansible_collections.multicluster.kube.listener.server import Listener
from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import (
    KEEPALIVE_SERVER_OPTIONS, call_metadata, open_channel)
from ansible_collections.multicluster.kube.plugins.module_utils.history import Change, ServiceSummary
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Record, Service, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub
from lab.processes import free_port

PUSHES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
IDLE_CHANNELS, IDLE_WINDOW = 99, 20.0
BATCH, BATCHES = 500, 20  # records a Push, as a heal's transfer carries them; Pushes timed


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def listener(data_dir) -> Listener:
    config = Config.from_settings(cluster="us-east", region="us", listen=f"127.0.0.1:{free_port()}",
                                  data_dir=data_dir, insecure=True, manage_kubernetes=False, token="bench",
                                  peer_token="bench-peer", discover_peers=False, failure_timeout=3600.0)
    node = Listener(config)
    node.start()
    return node


def push_cost_ms(data_dir) -> float:
    node = listener(data_dir)
    clock, channel = HybridClock("us-west"), open_channel(node.config.network.listen)
    try:
        stub = Stub(channel, "Peer")

        def push(i):
            record = Record(f"service/us/s{i}", clock.now(), "bench", Service(ServiceSpec("us", f"s{i}", 1), Placement()))
            stub.Push(pb.PushRequest(from_cluster="us-west", records=[messages.record_to_message(record)]),
                      metadata=call_metadata("bench-peer"), timeout=10)
        for i in range(50):  # warm-up
            push(i)
        begin = cpu_seconds()
        for i in range(PUSHES):
            push(1000 + i)
        return (cpu_seconds() - begin) / PUSHES * 1000
    finally:
        channel.close()
        node.stop(grace=0)


def written(clock, i) -> list:
    """The records of one client's write of service s{i} in region eu: the service, placed on
    a cluster, and its history entry (in another region than the listener's, as most of what a
    heal brings a listener is)."""
    spec = ServiceSpec("eu", f"s{i}", 1)
    service = Record(spec.key, clock.now(), "bench", Service(spec, Placement({"eu-west": 1})))
    change = Change("eu", spec.service, service.stamp, None, "bench", "", "set_region_replicas", None,
                    ServiceSummary.of(service.value))
    return [service, Record(change.key, service.stamp, "bench", change)]


def batch_cost_us(data_dir) -> float:
    """CPU per record, in microseconds, of Pushes of BATCH new records (both ends)."""
    node = listener(data_dir)
    clock, channel = HybridClock("eu-west"), open_channel(node.config.network.listen)
    try:
        stub = Stub(channel, "Peer")
        requests = [pb.PushRequest(from_cluster="eu-west", records=[
            messages.record_to_message(r) for i in range(n * BATCH // 2, (n + 1) * BATCH // 2)
            for r in written(clock, i)]).SerializeToString() for n in range(BATCHES + 1)]
        push = channel.unary_unary("/multicluster.kube.v1.Peer/Push")
        push(requests[0], metadata=call_metadata("bench-peer"), timeout=30)  # warm-up
        begin = cpu_seconds()
        for request in requests[1:]:
            push(request, metadata=call_metadata("bench-peer"), timeout=30)
        used = cpu_seconds() - begin
        held = node.replica.count()
        if held < (BATCHES + 1) * BATCH:
            raise RuntimeError(f"the listener holds {held} records, not all {(BATCHES + 1) * BATCH} pushed")
        return used / (BATCHES * BATCH) * 1e6
    finally:
        channel.close()
        node.stop(grace=0)


def idle_channels_percent() -> float:
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=8), options=KEEPALIVE_SERVER_OPTIONS)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # A channel each, as a listener holds one per peer (not gRPC's shared subchannel).
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
                for _channel in range(IDLE_CHANNELS)]
    try:
        for channel in channels:
            grpc.channel_ready_future(channel).result(timeout=10)
        begin = cpu_seconds()
        time.sleep(IDLE_WINDOW)
        return 100 * (cpu_seconds() - begin) / IDLE_WINDOW
    finally:
        for channel in channels:
            channel.close()
        server.stop(0)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        per_push = push_cost_ms(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        per_record = batch_cost_us(tmp)
    idle = idle_channels_percent()
    common.save("call_cost", {"benchmark": "call_cost", "pushes": PUSHES, "cpu_ms_per_push_both_ends": per_push,
                              "batch_records": BATCH, "cpu_us_per_record_in_batches": per_record,
                              "idle_channels": IDLE_CHANNELS, "idle_cpu_percent": idle})
    print(f"call cost: a Push of one record costs {per_push:.2f} ms of CPU (both ends); in Pushes of {BATCH} "
          f"new records (a service and its history entry a write) {per_record:.0f} us a record; "
          f"{IDLE_CHANNELS} idle channels cost {idle:.2f}% of a core")


if __name__ == "__main__":
    main()
