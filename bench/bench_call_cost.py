"""What one peer call costs, the unit of every figure in bench_scale.py: CPU per Push of one
record to a listener (real gRPC on loopback, real SQLite), both ends in this one process; and,
as the baseline in the same run, a gRPC server holding 99 idle channels (the peers of a
listener in a fleet of 100) doing nothing.

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
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import HybridClock
from ansible_collections.multicluster.kube.plugins.module_utils.model import Placement, Record, Service, ServiceSpec
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb
from ansible_collections.multicluster.kube.plugins.module_utils.rpc import Stub
from lab.processes import free_port

PUSHES = int(sys.argv[1]) if len(sys.argv) > 1 else 500
IDLE_CHANNELS, IDLE_WINDOW = 99, 20.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def push_cost_ms(data_dir) -> float:
    config = Config.from_settings(cluster="us-east", region="us", listen=f"127.0.0.1:{free_port()}",
                                  data_dir=data_dir, insecure=True, manage_kubernetes=False, token="bench",
                                  peer_token="bench-peer", discover_peers=False, failure_timeout=3600.0)
    node = Listener(config)
    node.start()
    clock, channel = HybridClock("us-west"), open_channel(config.network.listen)
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
    idle = idle_channels_percent()
    common.save("call_cost", {"benchmark": "call_cost", "pushes": PUSHES, "cpu_ms_per_push_both_ends": per_push,
                              "idle_channels": IDLE_CHANNELS, "idle_cpu_percent": idle})
    print(f"call cost: a Push of one record costs {per_push:.2f} ms of CPU (both ends); "
          f"{IDLE_CHANNELS} idle channels cost {idle:.2f}% of a core")


if __name__ == "__main__":
    main()
