"""The production transport: a gRPC channel per peer, calling the Peer service with encoded
messages (the protocol encodes and decodes them).

The one place in the listener that knows gRPC channels: how they are opened (TLS, keepalive,
reconnect back-off: module_utils/grpc_channel.py), the deadline of each call, and when a
channel is dropped.
"""
from __future__ import annotations

import logging
import threading

import grpc

from ansible_collections.multicluster.kube.plugins.module_utils.grpc_channel import call_metadata, open_channel

from ansible_collections.multicluster.kube.listener.transport import PeerRefused, PeerUnreachable, Transport

log = logging.getLogger("multicluster.listener.transport")
PEER_SERVICE = "/multicluster.kube.v1.Peer/"
METHODS = ("Push", "Digest")
_UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class GrpcTransport(Transport):
    def __init__(self, timeout: float, token: str = "", tls=None):
        super().__init__(timeout)
        self._metadata = call_metadata(token)
        self._tls = tls or {}  # ca, cert, key: mutual TLS among listeners
        self._channels = {}  # endpoint -> (open channel, {method: callable})
        self._lock = threading.Lock()

    def use_token(self, token: str) -> None:
        """Calls from now on present `token` (the peer token, reloaded)."""
        self._metadata = call_metadata(token)

    def _send(self, endpoint, method, request):
        channel, methods = self._channel(endpoint)
        try:
            return methods[method](request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            if self.is_up(endpoint) is not False:
                log.warning("peer %s unreachable: %s", endpoint, err.code().name)
            if err.code() in _UNREACHABLE:
                self._drop_channel(endpoint, channel)
                raise PeerUnreachable(endpoint, err.code().name, err.details() or "") from None
            raise PeerRefused(endpoint, err.code().name, err.details() or "") from None

    def _channel(self, endpoint) -> tuple:
        """(channel, {method: its callable, bytes in and out}) to `endpoint`, opened on first use."""
        with self._lock:
            if endpoint not in self._channels:
                channel = open_channel(endpoint, self._tls.get("ca"), self._tls.get("cert"), self._tls.get("key"))
                self._channels[endpoint] = (channel, {m: channel.unary_unary(PEER_SERVICE + m) for m in METHODS})
            return self._channels[endpoint]

    def _drop_channel(self, endpoint, channel) -> None:
        """Close the channel to a peer that failed. gRPC would otherwise keep dialling it in the
        background (every second, to notice it is back at once): across a 50/50 partition of a
        hundred listeners, 5,000 attempts a second. The next call, at most once a second
        (RETRY_DOWN_PEER, or one anti-entropy round), dials afresh instead."""
        with self._lock:
            if self._channels.get(endpoint, (None,))[0] is not channel:  # another call dropped it already
                return
            del self._channels[endpoint]
        channel.close()

    def close(self) -> None:
        with self._lock:
            for channel, _stub in self._channels.values():
                channel.close()
            self._channels.clear()
