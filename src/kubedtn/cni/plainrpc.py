"""Unary calls of the daemon's Local service over a plain unix socket, without gRPC.

The CNI plugin is exec'd for every pod, and importing grpc (its Cython core loads
asyncio and ssl) costs the ADD of a topology pod more than the daemon's whole work for
it. The daemon therefore also serves its Local methods on a second socket beside the
gRPC one (``plain_socket_path``; kubedtn.daemon.plainserver), one call per connection:

    request:  version (1 byte, 1) | method name length (1 byte) | method name (ASCII)
              | payload length (4 bytes, big-endian) | payload (the protobuf request)
    reply:    status (1 byte, the gRPC status code number; 0 = OK)
              | body length (4 bytes, big-endian) | body (the protobuf reply when OK,
              else the daemon's message, UTF-8)

The messages and statuses are the gRPC service's, so both sockets answer alike. A
daemon without the plain socket (an older build) is asked over gRPC: ``NotServed``.
"""

from __future__ import annotations

import _socket
import struct

VERSION = 1
MAX_MESSAGE = 4 * 1024 * 1024  # gRPC's default receive limit
SUFFIX = ".plain"

_REQUEST_HEAD = struct.Struct(">BB")
_LENGTH = struct.Struct(">I")
_REPLY_HEAD = struct.Struct(">BI")

# gRPC status code numbers → names (grpc.StatusCode, without importing grpc).
STATUS_NAMES: dict[int, str] = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
OK = 0
INVALID_ARGUMENT = 3
UNIMPLEMENTED = 12
INTERNAL = 13


class ProtocolError(ValueError):
    """The bytes on the socket are not a request or reply of this protocol."""


class NotServed(Exception):  # noqa: N818 -- a signal to take the gRPC path, not a failure
    """Nothing serves the plain socket (no daemon, or one without it): ask over gRPC."""


class CallFailed(Exception):  # noqa: N818 -- carries the daemon's status, as grpc.RpcError does
    """The call did not succeed: ``status`` is the gRPC status name, ``message`` why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def unix_socket() -> _socket.socket:
    """A new AF_UNIX stream socket. From _socket, the C module under the standard library's
    socket: the plugin is exec'd for every pod, and socket.py imports selectors and builds
    its enums, which no call here needs."""
    return _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)


def plain_socket_path(grpc_socket: str) -> str:
    """The plain socket of the daemon whose gRPC unix socket is ``grpc_socket``."""
    return grpc_socket + SUFFIX


def encode_request(method: str, payload: bytes) -> bytes:
    name = method.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError(f"method name {method!r}: 1 to 255 ASCII characters")
    return _REQUEST_HEAD.pack(VERSION, len(name)) + name + _LENGTH.pack(len(payload)) + payload


def encode_reply(status: int, body: bytes) -> bytes:
    return _REPLY_HEAD.pack(status, len(body)) + body


def read_exactly(sock: _socket.socket, size: int) -> bytes:
    """``size`` bytes from the socket; ProtocolError when it closes before."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ProtocolError(f"the connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def _read_length(sock: _socket.socket) -> int:
    (length,) = _LENGTH.unpack(read_exactly(sock, _LENGTH.size))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"a message of {length} bytes; at most {MAX_MESSAGE} are accepted")
    return int(length)


def read_request(sock: _socket.socket) -> tuple[str, bytes]:
    """(method, payload) of one request; ProtocolError when it is not one."""
    version, name_length = _REQUEST_HEAD.unpack(read_exactly(sock, _REQUEST_HEAD.size))
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}; this daemon speaks version {VERSION}")
    try:
        method = read_exactly(sock, name_length).decode("ascii")
    except UnicodeDecodeError as e:
        raise ProtocolError(f"the method name is not ASCII: {e}") from e
    return method, read_exactly(sock, _read_length(sock))


def read_reply(sock: _socket.socket) -> tuple[int, bytes]:
    """(status code, body) of one reply; ProtocolError when it is not one."""
    status, length = _REPLY_HEAD.unpack(read_exactly(sock, _REPLY_HEAD.size))
    if length > MAX_MESSAGE:
        raise ProtocolError(f"a reply of {length} bytes; at most {MAX_MESSAGE} are accepted")
    return int(status), read_exactly(sock, length)


def call(path: str, method: str, payload: bytes, *, timeout_s: float) -> bytes:
    """The reply payload of ``method``. NotServed when nothing listens on ``path``;
    CallFailed with the daemon's status, or UNAVAILABLE / DEADLINE_EXCEEDED when the
    connection breaks or the reply does not come in time."""
    sock = unix_socket()
    try:
        sock.settimeout(timeout_s)
        try:
            sock.connect(path)
        except OSError as e:
            raise NotServed(f"{path}: {e.strerror or e}") from e
        try:
            try:  # noqa: SIM105 (no contextlib: the plugin imports as little as it can)
                sock.sendall(encode_request(method, payload))
            except (BrokenPipeError, ConnectionResetError):
                pass  # answered unread (a daemon at its limit refuses at once): the reply is here
            status, body = read_reply(sock)
        except TimeoutError as e:
            raise CallFailed("DEADLINE_EXCEEDED", f"no reply within {timeout_s:g}s") from e
        except (OSError, ProtocolError) as e:
            raise CallFailed("UNAVAILABLE", f"the daemon's connection broke: {e}") from e
    finally:
        sock.close()
    if status != OK:
        raise CallFailed(STATUS_NAMES.get(status, "UNKNOWN"), body.decode("utf-8", "replace"))
    return body
