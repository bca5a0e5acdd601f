"""The Peer service: other listeners' pushes and digest exchanges, answered by the
replication protocol, which reads and writes the encoded messages itself (records are kept as
their author encoded them); what it refuses comes back as INVALID_ARGUMENT naming the item."""
from __future__ import annotations

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError


class PeerService:
    def __init__(self, replication):
        self._replication = replication

    def Push(self, request, context):  # noqa: N802 (gRPC method names)
        return self._answer("Push", request, context)

    def Digest(self, request, context):  # noqa: N802
        return self._answer("Digest", request, context)

    def _answer(self, method, request, context):
        try:
            return self._replication.handle(method, request)
        except ValidationError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
