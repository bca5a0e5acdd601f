"""How listeners reach each other: the interface the replication protocol calls, and the
liveness that calls reveal.

The protocol (listener/replication.py) knows peers only by endpoint and calls them through a
Transport; which wire carries the call is the transport's business: gRPC channels in
production (listener/grpc_transport.py), an in-process network in tests and simulations
(listener/memory_transport.py). What every transport shares lives here: each call updates
whether its peer is up, when a peer found down may be tried again, and a `trouble` event that
wakes anti-entropy when a call fails or a peer answers again. A call carries encoded
messages both ways: the protocol decides how they are read (records as the bytes their author
encoded, see PushRequestWire in fleet.proto). Every call is counted, with the bytes it carried
each way (`traffic`): what the protocol costs, in units a busy machine cannot blur.
"""
from __future__ import annotations

import collections
import threading

from ansible_collections.multicluster.kube.listener.timesource import SYSTEM

# A peer that failed is pushed to again at most this often (seconds); what it misses
# meanwhile, the digest exchange it gets when it answers again brings it.
RETRY_DOWN_PEER = 1.0


class PeerError(Exception):
    """A call to a peer failed: `code` says how (a gRPC status name), `detail` what it said."""

    def __init__(self, endpoint: str, code: str, detail: str = ""):
        self.endpoint, self.code, self.detail = endpoint, code, detail
        super().__init__(f"{endpoint}: {code}: {detail}" if detail else f"{endpoint}: {code}")


class PeerUnreachable(PeerError):
    """No answer: the peer could not be reached, or did not answer before the deadline."""


class PeerRefused(PeerError):
    """The peer answered with an error (it refused what we sent, or failed)."""


class Transport:
    """Calls to peers by endpoint. Subclasses implement _send; call() keeps the liveness."""

    def __init__(self, timeout: float, timesource=SYSTEM):
        self.timeout = timeout  # seconds a call may take before its peer counts as unreachable
        self.time = timesource
        self.trouble = threading.Event()  # a call failed, or a peer answered again: repair soon
        self.on_answer_again = None  # called (endpoint, method) when a peer that failed answers
        self._up = {}  # endpoint -> bool, from the last call
        self._retry_at = {}  # endpoint found down -> when a push may try it again (monotonic)
        # (method, "calls" | "bytes_out" | "bytes_in") -> count, of calls made, failed or not
        self.traffic = collections.Counter()
        self._counting = threading.Lock()

    def call(self, endpoint: str, method: str, request: bytes) -> bytes:
        """Send the encoded `request` to the peer's `method` ("Push", "Digest"); the encoded
        response, or PeerError."""
        with self._counting:
            self.traffic[method, "calls"] += 1
            self.traffic[method, "bytes_out"] += len(request)
        try:
            response = self._send(endpoint, method, request)
        except PeerError:
            self._up[endpoint] = False
            self._retry_at[endpoint] = self.time.monotonic() + RETRY_DOWN_PEER
            self.trouble.set()
            raise
        with self._counting:
            self.traffic[method, "bytes_in"] += len(response)
        came_back = self._up.get(endpoint) is False
        self._up[endpoint] = True
        if came_back:
            self.trouble.set()
            if self.on_answer_again is not None:
                self.on_answer_again(endpoint, method)
        return response

    def is_up(self, endpoint: str):
        """True or False from the last call to the peer; None when it was never called."""
        return self._up.get(endpoint)

    def may_try(self, endpoint: str) -> bool:
        """Whether a push should call the peer now: it is up, or its retry pause is over."""
        return self._up.get(endpoint, True) or self.time.monotonic() >= self._retry_at.get(endpoint, 0)

    def peers_up(self) -> int:
        return sum(self._up.values())

    def _send(self, endpoint: str, method: str, request: bytes) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release whatever the transport holds open."""
