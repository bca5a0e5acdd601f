"""Bearer tokens in front of the services: one for the Fleet service, one for the Peer service."""
from __future__ import annotations

import hmac

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import TOKEN_HEADER

PEER_SERVICE = "/multicluster.kube.v1.Peer/"


class TokenCheck(grpc.ServerInterceptor):
    """`client_token` for the Fleet service, `peer_token` for the Peer service. A service
    whose token is empty is open (the listener logs that at start)."""

    def __init__(self, client_token: str, peer_token: str):
        self.client_token, self.peer_token = client_token, peer_token

    def intercept_service(self, continuation, handler_call_details):
        expected = self.peer_token if handler_call_details.method.startswith(PEER_SERVICE) else self.client_token
        if expected:
            sent = dict(handler_call_details.invocation_metadata).get(TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
                return grpc.unary_unary_rpc_method_handler(_refuse)
        return continuation(handler_call_details)


def _refuse(request, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (metadata 'authorization')")
