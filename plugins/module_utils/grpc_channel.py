# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gRPC channels to listeners, for clients (the modules) and for peers alike."""
from __future__ import annotations

import traceback

try:
    import grpc
except ImportError:
    HAS_GRPC = False
    GRPC_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_GRPC = True
    GRPC_IMPORT_ERROR = None

TOKEN_HEADER = "authorization"
# Whom a client acts for (AWX's user, say): recorded in the service's history beside the
# authenticated identity, never as the author. Listeners before 0.3 took the same words from
# AUTHOR_HEADER as the author: clients send both.
ACTING_FOR_HEADER = "x-multicluster-acting-for"
AUTHOR_HEADER = "x-multicluster-author"
MAX_ACTING_FOR = 256
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# A connection cut off by a partition looks alive to TCP for minutes (retransmissions back
# off up to two minutes), and every call on it would wait for its deadline: ping it, and drop
# it when a ping goes unanswered, so that calls fail fast and a healed peer is dialled again.
# Idle connections too (a listener's next call to a peer may come much later, and would hang
# for its whole deadline), but only every 20 s: a listener holds a connection to every peer.
KEEPALIVE_MS = 20000
# What a server must accept for that; without it, gRPC answers such pings with GOAWAY
# "too_many_pings" and the connection is torn down and dialled again, over and over.
KEEPALIVE_SERVER_OPTIONS = [("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MS // 2),
                            ("grpc.keepalive_permit_without_calls", 1)]


def _read(path):
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def open_channel(endpoint: str, ca_file=None, cert_file=None, key_file=None, server_name=None):
    """A channel to `endpoint` (host:port): TLS when ca_file is given (mutual TLS when a
    client certificate is given too), plain text otherwise."""
    options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
               ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
               ("grpc.enable_retries", 0),
               # A listener that comes back must be reached again within a second, not after
               # gRPC's default backoff of up to two minutes. (Not min_reconnect_backoff_ms:
               # gRPC also takes it as the connect timeout, which must stay generous under load.)
               ("grpc.initial_reconnect_backoff_ms", 100),
               ("grpc.max_reconnect_backoff_ms", 1000),
               ("grpc.keepalive_time_ms", KEEPALIVE_MS), ("grpc.keepalive_timeout_ms", KEEPALIVE_MS // 2),
               ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    if ca_file:
        credentials = grpc.ssl_channel_credentials(_read(ca_file), _read(key_file), _read(cert_file))
        return grpc.secure_channel(endpoint, credentials, options=options)
    return grpc.insecure_channel(endpoint, options=options)


def call_metadata(token=None, acting_for=None) -> tuple:
    metadata = []
    if token:
        metadata.append((TOKEN_HEADER, f"Bearer {token}"))
    if acting_for:
        metadata += [(ACTING_FOR_HEADER, acting_for), (AUTHOR_HEADER, acting_for)]
    return tuple(metadata)
