"""0.1.1 keeps records as their author encoded them: a record with fields this version does not
know is stored and answered in a digest byte for byte (what a newer listener writes travels
through this one intact)."""
from __future__ import annotations

import sqlite3

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel
from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp, wall_clock_ms
from ansible_collections.multicluster.kube.plugins.module_utils.model import Record, ServiceIntent
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2 as pb

import inprocess


def test_a_record_with_unknown_fields_is_stored_and_answered_byte_for_byte(tmp_path):
    record = Record("service/us/web", Stamp(wall_clock_ms(), 0, "us-west"), "newer",
                    ServiceIntent("us", "web", 2, placement={"us-east": 2}))
    message = messages.record_to_message(record)
    unknown = b"\xa2\x06\x03new"  # field 100, length-delimited: "new"
    message.service.MergeFromString(unknown)
    raw = message.SerializeToString() + unknown
    with inprocess.listener(tmp_path / "data") as node:
        channel = open_channel(node.config.listen)
        try:
            push = channel.unary_unary("/multicluster.kube.v1.Peer/Push")
            push(pb.PushRequestWire(from_cluster="us-west", records=[raw]).SerializeToString(),
                 metadata=call_metadata(inprocess.TOKEN), timeout=10)
            digest = channel.unary_unary("/multicluster.kube.v1.Peer/Digest")
            answer = pb.DigestResponseWire.FromString(digest(pb.DigestRequest(from_cluster="us-west").SerializeToString(),
                                                             metadata=call_metadata(inprocess.TOKEN), timeout=10))
        finally:
            channel.close()
        assert raw in answer.newer
        with sqlite3.connect(tmp_path / "data" / "us-east.sqlite3") as db:
            [(stored,)] = db.execute("SELECT record FROM records WHERE key = 'service/us/web'").fetchall()
    assert stored == raw
