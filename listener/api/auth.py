"""Who may call what: clients (the Fleet service) with the client token, peers (the Peer
service) with the peer token - never the same token - and, when the listener serves TLS, a
peer only with a certificate the fleet's CA signed. The listener serves peers on a port of its
own that requires one (grpcio asks for client certificates per port, not per method): a Peer
call that came without a verified certificate came through the clients' port and is refused."""
from __future__ import annotations

import hmac
import logging

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import TOKEN_HEADER

PEER_SERVICE = "/multicluster.kube.v1.Peer/"
log = logging.getLogger("multicluster.listener.auth")


class TokenCheck(grpc.ServerInterceptor):
    """`client_token` for the Fleet service (empty: open, the listener logs that at start),
    `peer_token` for the Peer service; with `peers_by_certificate`, Peer calls need a verified
    client certificate as well."""

    def __init__(self, client_token: str, peer_token: str, peers_by_certificate: bool = False):
        self.client_token, self.peer_token = client_token, peer_token
        self.peers_by_certificate = peers_by_certificate

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        peer = method.startswith(PEER_SERVICE)
        expected = self.peer_token if peer else self.client_token
        if expected:
            sent = dict(handler_call_details.invocation_metadata).get(TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
                return grpc.unary_unary_rpc_method_handler(_refusal(
                    grpc.StatusCode.UNAUTHENTICATED, f"{method}: missing or wrong bearer token (metadata "
                    f"'authorization'; {'Peer calls take the peer token' if peer else 'clients take the client token'})"))
        handler = continuation(handler_call_details)
        if peer and self.peers_by_certificate and handler is not None:
            return _with_certificate_check(handler, method)
        return handler


def _with_certificate_check(handler, method):
    def checked(request, context):
        if not context.auth_context().get("x509_pem_cert"):
            log.warning("refused %s from %s: no certificate of the fleet's CA", method, context.peer())
            context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method}: peers are served on the peer port only, "
                          "with a certificate the fleet's CA signed")
        return handler.unary_unary(request, context)
    return grpc.unary_unary_rpc_method_handler(checked, request_deserializer=handler.request_deserializer,
                                               response_serializer=handler.response_serializer)


def _refusal(code, detail):
    def refuse(request, context):
        context.abort(code, detail)
    return refuse
