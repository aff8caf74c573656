"""The daemon's limits on what one caller can make it hold: requests in flight, message
and batch sizes, connections kept open, peer channels kept.

Each value is a constant with the reason for it; only the number of requests in flight is
an operator's setting (``--max-concurrent-rpcs``), since it depends on how many pods a node
starts at once.
"""

from __future__ import annotations

from typing import Final

from kubedtn.cni.plainrpc import MAX_MESSAGE
from kubedtn.errors import ValidationError

# Requests in flight (running or queued for a worker) per listener, and connections open
# at once on the plain socket. Above it a request is answered RESOURCE_EXHAUSTED at once
# (the CNI plugin turns that into "try again later") instead of queueing without bound.
# More than a node's pods (kubelet's default is 110, large nodes run 250), so a node
# starting all its pods at once is never refused.
DEFAULT_MAX_CONCURRENT_RPCS: Final = 512

# Items (pods, link ends, links) in one SetupPods/DestroyPods/UpdateMany/DeleteMany/
# AddLinks/DelLinks/UpdateLinks request. A 1000-link lab has at most 2000 pods and at most
# 1000 far ends on one peer, so it fits in one call; 5000 items of a few hundred bytes stay
# under the message size below. Clients of our own (the lab, the peer client) split longer
# lists into several calls.
MAX_BATCH: Final = 5000

# Bytes of one request or reply, both ways: the plain socket's limit (gRPC's default
# receive limit), so both sockets accept the same requests.
MAX_MESSAGE_BYTES: Final = MAX_MESSAGE

# Server connections. A peer daemon or client that vanished without closing (node lost,
# NAT state dropped) is found by keepalive pings and its connection closed; a connection
# idle for 5 minutes is closed (the client reconnects when it calls again); and every
# connection is closed after an hour, after its running calls had a minute to finish, so
# a peer reconnects, and shows its (possibly renewed) certificate again.
KEEPALIVE_TIME_MS: Final = 60_000
KEEPALIVE_TIMEOUT_MS: Final = 20_000
MIN_CLIENT_PING_INTERVAL_MS: Final = 30_000  # clients may ping this often (ours: PEER_KEEPALIVE)
MAX_CONNECTION_IDLE_MS: Final = 300_000
MAX_CONNECTION_AGE_MS: Final = 3_600_000
MAX_CONNECTION_AGE_GRACE_MS: Final = 60_000

# Peer channels (kubedtn.daemon.remote): a channel unused this long is closed, and at most
# this many are kept, so a cluster whose nodes come and go does not keep a channel to
# every address it ever called. An open channel costs a connection and its buffers; a new
# one costs a TLS handshake, once per peer after a quiet spell.
PEER_IDLE_S: Final = 600.0
MAX_PEER_CHANNELS: Final = 256
PEER_KEEPALIVE_MS: Final = 60_000


def server_options() -> list[tuple[str, int]]:
    """gRPC server options of both listeners (without SO_REUSEPORT: a second daemon on the
    port fails to bind instead of silently sharing the requests with the first)."""
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_CLIENT_PING_INTERVAL_MS),
        ("grpc.max_connection_idle_ms", MAX_CONNECTION_IDLE_MS),
        ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_MS),
        ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
    ]


def channel_options() -> list[tuple[str, int]]:
    """gRPC options of the peer channels: the same message size; pings while calls run, at
    the pace the peer's server allows."""
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", PEER_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
    ]


def check_batch(count: int, *, method: str, what: str) -> None:
    """ValidationError when one request carries more than ``MAX_BATCH`` items."""
    if count > MAX_BATCH:
        raise ValidationError(
            f"{method}: {count} {what} in one request; at most {MAX_BATCH} are accepted: "
            f"send them in several requests"
        )


def chunks(count: int) -> list[slice]:
    """Slices of at most ``MAX_BATCH`` items covering ``count`` items (one empty for 0)."""
    return [slice(i, i + MAX_BATCH) for i in range(0, count, MAX_BATCH)] or [slice(0, 0)]
