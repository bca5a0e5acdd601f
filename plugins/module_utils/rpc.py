# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gRPC stubs and servicer registration, built from the service descriptors in fleet.proto.

Equivalent to what grpcio-tools would generate as fleet_pb2_grpc.py, derived at run time
from fleet_pb2's descriptors so no second generated file has to be kept current.
"""
from __future__ import annotations

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import HAS_GRPC
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2

if HAS_GRPC:
    import grpc


def _methods(service_name: str):
    service = fleet_pb2.DESCRIPTOR.services_by_name[service_name]
    for method in service.methods:
        yield (method.name, f"/{service.full_name}/{method.name}",
               getattr(fleet_pb2, method.input_type.name), getattr(fleet_pb2, method.output_type.name))


class Stub:
    """Client of one service: Stub(channel, "Fleet").SetRegionReplicas(request, timeout=..., metadata=...)."""

    def __init__(self, channel, service_name: str):
        for name, path, request_type, response_type in _methods(service_name):
            setattr(self, name, channel.unary_unary(path, request_serializer=request_type.SerializeToString,
                                                    response_deserializer=response_type.FromString))


def add_servicer(server, service_name: str, servicer, encoded: bool = False) -> None:
    """Serve `servicer`'s methods (named as in the .proto) as the service `service_name`; with
    `encoded`, the methods take and return the encoded messages (they decode them themselves)."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name), request_deserializer=None if encoded else request_type.FromString,
            response_serializer=None if encoded else response_type.SerializeToString)
        for name, _path, request_type, response_type in _methods(service_name)
    }
    full_name = fleet_pb2.DESCRIPTOR.services_by_name[service_name].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(full_name, handlers),))
