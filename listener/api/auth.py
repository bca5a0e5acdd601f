"""Who may call what: clients (the Fleet service) with a token of an identity whose role allows
the method (listener/identities.py; the scope of a write is checked where the request is read,
api/fleet.py), peers (the Peer service) with the peer token - never a client's - and, when the
listener serves TLS, a peer only with a certificate the fleet's CA signed. The listener serves peers on a port of its
own that requires one (grpcio asks for client certificates per port, not per method): a Peer
call that came without a verified certificate came through the clients' port and is refused."""
from __future__ import annotations

import hmac
import logging

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import TOKEN_HEADER

from ansible_collections.multicluster.kube.listener.identities import Clients

PEER_SERVICE = "/multicluster.kube.v1.Peer/"
log = logging.getLogger("multicluster.listener.auth")


FLEET_SERVICE = "/multicluster.kube.v1.Fleet/"
# The least role each Fleet method needs; an operator's scope is checked by the method itself.
ROLE_OF_METHOD = {"Health": "viewer", "GetGlobalConfig": "viewer", "SetRegionReplicas": "operator",
                  "DeleteService": "operator", "ChangeRollout": "operator"}  # the rest: admin


class TokenCheck(grpc.ServerInterceptor):
    """Fleet calls need the token of one of `clients` whose role allows the method; Peer calls
    the `peer_token`, and with `peers_by_certificate` a verified client certificate as well.
    reload() swaps the credentials for calls that begin after it."""

    def __init__(self, clients: Clients, peer_token: str, peers_by_certificate: bool = False):
        self.clients, self.peer_token = clients, peer_token
        self.peers_by_certificate = peers_by_certificate

    def reload(self, clients: Clients, peer_token: str) -> None:
        self.clients, self.peer_token = clients, peer_token

    def identity(self, metadata):
        """The identity the call's token belongs to, or None."""
        sent = dict(metadata).get(TOKEN_HEADER, "")
        return self.clients.identify(sent[len("Bearer "):] if sent.startswith("Bearer ") else "")

    def intercept_service(self, continuation, handler_call_details):
        method, metadata = handler_call_details.method, handler_call_details.invocation_metadata
        if method.startswith(PEER_SERVICE):
            sent = dict(metadata).get(TOKEN_HEADER, "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {self.peer_token}".encode()):
                return _refusal(grpc.StatusCode.UNAUTHENTICATED, f"{method}: missing or wrong bearer token (metadata "
                                "'authorization'; Peer calls take the peer token)")
            handler = continuation(handler_call_details)
            return _with_certificate_check(handler, method) if self.peers_by_certificate and handler else handler
        identity = self.identity(metadata)
        if identity is None:
            return _refusal(grpc.StatusCode.UNAUTHENTICATED, f"{method}: missing or wrong bearer token (metadata "
                            "'authorization'; clients take the client token, or their own from the clients file)")
        name = method[len(FLEET_SERVICE):] if method.startswith(FLEET_SERVICE) else method
        why = identity.why_not(ROLE_OF_METHOD.get(name, "admin"))
        if why:
            log.warning("refused %s to %s: %s", name, identity.name, why)
            return _refusal(grpc.StatusCode.PERMISSION_DENIED, f"{why} ({name})")
        return continuation(handler_call_details)


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
    return grpc.unary_unary_rpc_method_handler(refuse)
