"""A minimal rtnetlink socket: batched requests, dumps, per-request errors.

Why not pyroute2's sockets and message classes: encoding one veth RTM_NEWLINK with
pyroute2's ``ifinfmsg`` costs more Python than the kernel needs to create the pair, and
the dataplane sends thousands of such messages per second (``python -m bench
netlink-encode`` compares the two). Here messages are plain ``bytes`` built with
``struct`` and replies are read only as far as the caller needs. pyroute2 is not a
runtime dependency: it is the tests' oracle, decoding every request built here
(tests/unit/dataplane/test_oracle.py) and reading the kernel back (tests/support/oracle.py).

A ``RouteSocket`` belongs to the network namespace it was opened in (``netns.py`` opens
it after ``setns()`` and switches back at once); it is not thread-safe — use one per
thread or per call. Requests go out in large ``sendmsg`` batches without NLM_F_ACK: the
kernel processes every message of a batch in order and queues an error only for those
that fail, so only the last message asks for an ACK and serves as the barrier.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

# ---- netlink and rtnetlink constants (linux/netlink.h, linux/rtnetlink.h) ------------------

NETLINK_ROUTE: Final = 0
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3

NLM_F_REQUEST: Final = 0x1
NLM_F_MULTI: Final = 0x2
NLM_F_ACK: Final = 0x4
NLM_F_DUMP_INTR: Final = 0x10
NLM_F_DUMP: Final = 0x300
NLM_F_REPLACE: Final = 0x100
NLM_F_EXCL: Final = 0x200
NLM_F_CREATE: Final = 0x400
# flags of an NLMSG_ERROR reply
NLM_F_CAPPED: Final = 0x100
NLM_F_ACK_TLVS: Final = 0x200
NLMSGERR_ATTR_MSG: Final = 1

SOL_NETLINK: Final = 270
NETLINK_CAP_ACK: Final = 10
NETLINK_EXT_ACK: Final = 11
SO_SNDBUFFORCE: Final = 32
SO_RCVBUFFORCE: Final = 33

RTM_NEWLINK: Final = 16
RTM_DELLINK: Final = 17
RTM_GETLINK: Final = 18
RTM_SETLINK: Final = 19
RTM_NEWADDR: Final = 20
RTM_DELADDR: Final = 21
RTM_GETADDR: Final = 22
RTM_NEWQDISC: Final = 36
RTM_DELQDISC: Final = 37
RTM_GETQDISC: Final = 38
RTM_GETNSID: Final = 90

# Netlink attribute type bits that are flags, not part of the type.
_NLA_TYPE_MASK: Final = 0x3FFF

_HEADER: Final = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_NLA: Final = struct.Struct("=HH")
_U8: Final = struct.Struct("=B")
_BE16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("=I")
_S32: Final = struct.Struct("=i")
_U64: Final = struct.Struct("=Q")
_ERR: Final = struct.Struct("=i")

# Bytes of requests per sendmsg (the kernel copies a batch into one skb).
_BATCH_BYTES: Final = 256 * 1024
_RECV_BYTES: Final = 64 * 1024  # dumps come in datagrams of at most 32 KiB
_BUFFER_BYTES: Final = 8 * 1024 * 1024

# ---- attribute encoding --------------------------------------------------------------------


def nla(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    size = 4 + len(payload)
    return _NLA.pack(size, kind) + payload + b"\0" * (-size & 3)


def nla_u8(kind: int, value: int) -> bytes:
    return _NLA.pack(5, kind) + _U8.pack(value) + b"\0\0\0"


def nla_be16(kind: int, value: int) -> bytes:
    return _NLA.pack(6, kind) + _BE16.pack(value) + b"\0\0"


def nla_u32(kind: int, value: int) -> bytes:
    return _NLA.pack(8, kind) + _U32.pack(value)


def nla_u64(kind: int, value: int) -> bytes:
    return _NLA.pack(12, kind) + _U64.pack(value)


def nla_str(kind: int, text: str) -> bytes:
    return nla(kind, text.encode() + b"\0")


# ---- attribute decoding --------------------------------------------------------------------


def parse_attrs(data: bytes | memoryview, start: int, end: int) -> dict[int, memoryview]:
    """Attributes between start and end as {type: payload}; a repeated type keeps the last."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    out: dict[int, memoryview] = {}
    pos = start
    while pos + 4 <= end:
        size, kind = _NLA.unpack_from(view, pos)
        if size < 4:
            break
        out[kind & _NLA_TYPE_MASK] = view[pos + 4 : pos + size]
        pos += (size + 3) & ~3
    return out


def attr_u8(value: memoryview) -> int:
    return int(_U8.unpack_from(value)[0])


def attr_be16(value: memoryview) -> int:
    return int(_BE16.unpack_from(value)[0])


def attr_u32(value: memoryview) -> int:
    return int(_U32.unpack_from(value)[0])


def attr_s32(value: memoryview) -> int:
    return int(_S32.unpack_from(value)[0])


def attr_u64(value: memoryview) -> int:
    return int(_U64.unpack_from(value)[0])


def attr_str(value: memoryview) -> str:
    return bytes(value).split(b"\0", 1)[0].decode(errors="replace")


# ---- requests and results ------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One netlink request: type, flags (NLM_F_REQUEST is added), body after nlmsghdr.

    ``what`` says in words what the request does ("create veth eth1"), for errors.
    """

    kind: int
    flags: int
    body: bytes
    what: str = ""


@dataclass(frozen=True)
class Failure:
    """A request of a batch the kernel refused: its index in the batch, errno, kernel text."""

    index: int
    request: Request
    code: int
    message: str  # the kernel's extended-ack text, "" when it gave none

    @property
    def cause(self) -> str:
        """errno name and text, plus the kernel's own words when it gave them."""
        name = errno.errorcode.get(self.code, str(self.code))
        text = f"{name}: {os.strerror(self.code)}"
        return f"{text} ({self.message})" if self.message else text


@dataclass(frozen=True)
class Message:
    """One reply message of a dump: its type and the bytes after nlmsghdr."""

    kind: int
    body: memoryview


class NetlinkError(OSError):
    """A netlink exchange failed as a whole (socket error, lost replies, dump error)."""


class RouteSocket:
    """An NETLINK_ROUTE socket in the namespace it was opened in; close() it (or use with)."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        try:
            # groups=0: no multicast subscriptions, so notifications of our own bulk
            # changes never fill the receive queue (ENOBUFS).
            self._sock.bind((0, 0))
            for force, plain in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    self._sock.setsockopt(socket.SOL_SOCKET, force, _BUFFER_BYTES)
                except PermissionError:
                    self._sock.setsockopt(socket.SOL_SOCKET, plain, _BUFFER_BYTES)
            self._sock.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
            self._sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
        except BaseException:
            self._sock.close()
            raise
        self._seq = 0
        self._buf = bytearray(_RECV_BYTES)
        self.sent_changes = 0  # requests sent that may change kernel state (not GET)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RouteSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def execute(self, requests: Sequence[Request]) -> list[Failure]:
        """Sends the requests in order (large batches) and returns those that failed.

        Every request is executed by the kernel even when an earlier one failed.
        """
        if not requests:
            return []
        first_seq = self._seq + 1
        chunk: list[bytes] = []
        size = 0
        last = len(requests) - 1
        for i, req in enumerate(requests):
            flags = NLM_F_REQUEST | req.flags | (NLM_F_ACK if i == last else 0)
            msg = _HEADER.pack(16 + len(req.body), req.kind, flags, self._next_seq(), 0) + req.body
            if size + len(msg) > _BATCH_BYTES and chunk:
                self._send(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(msg)
            size += len(msg)
            if req.kind not in (RTM_GETLINK, RTM_GETADDR, RTM_GETQDISC, RTM_GETNSID):
                self.sent_changes += 1
        self._send(b"".join(chunk))
        last_seq = self._seq
        failures: list[Failure] = []
        done = False
        while not done:
            for kind, seq, body, mflags in self._receive():
                index = (seq - first_seq) & 0xFFFFFFFF
                if index > last:
                    continue  # a reply to an earlier, abandoned exchange
                if kind == NLMSG_ERROR:
                    code, text = _parse_error(body, mflags)
                    if code:
                        failures.append(Failure(index, requests[index], code, text))
                if seq == last_seq:
                    done = True
        return failures

    def request(self, req: Request) -> list[Message]:
        """One request whose replies are wanted (a GET, or a dump with NLM_F_DUMP).

        Raises NetlinkError when the kernel refuses it; an answer cut short by a concurrent
        change (NLM_F_DUMP_INTR) is retried.
        """
        for _attempt in range(5):
            seq = self._next_seq()
            flags = NLM_F_REQUEST | req.flags
            self._send(_HEADER.pack(16 + len(req.body), req.kind, flags, seq, 0) + req.body)
            out: list[Message] = []
            interrupted = False
            finished = False
            while not finished:
                for kind, rseq, body, mflags in self._receive():
                    if rseq != seq:
                        continue
                    interrupted |= bool(mflags & NLM_F_DUMP_INTR)
                    if kind == NLMSG_DONE:
                        finished = True
                    elif kind == NLMSG_ERROR:
                        code, text = _parse_error(body, mflags)
                        if code:
                            failure = Failure(0, req, code, text)
                            raise NetlinkError(code, f"{req.what or 'netlink request'}: {failure.cause}")
                        finished = True
                    else:
                        out.append(Message(kind, body))
                        if not mflags & NLM_F_MULTI:
                            finished = True
            if not interrupted:
                return out
        raise NetlinkError(errno.EAGAIN, f"{req.what}: the dump kept changing under us (NLM_F_DUMP_INTR)")

    def _send(self, data: bytes) -> None:
        self._sock.sendto(data, (0, 0))

    def _receive(self) -> Iterator[tuple[int, int, memoryview, int]]:
        """The messages of one datagram: (type, seq, body, flags)."""
        try:
            size = self._sock.recv_into(self._buf)
        except OSError as e:
            if e.errno == errno.ENOBUFS:
                raise NetlinkError(
                    errno.ENOBUFS, "netlink replies were lost (receive queue overflow); results unknown"
                ) from e
            raise
        # Copy: the buffer is reused by the next recv while callers may keep the bodies.
        view = memoryview(bytes(memoryview(self._buf)[:size]))
        pos = 0
        while pos + 16 <= size:
            length, kind, flags, seq, _pid = _HEADER.unpack_from(view, pos)
            if length < 16:
                break
            yield kind, seq, view[pos + 16 : pos + length], flags
            pos += (length + 3) & ~3


def _parse_error(body: memoryview, flags: int) -> tuple[int, str]:
    """errno (positive, 0 for an ACK) and the extended-ack message of an NLMSG_ERROR body."""
    code = -_ERR.unpack_from(body)[0]
    if not code or not flags & NLM_F_ACK_TLVS:
        return code, ""
    # With NETLINK_CAP_ACK the echoed request is capped to its 16-byte header.
    orig_len = _HEADER.unpack_from(body, 4)[0]
    tlv_start = 4 + (16 if flags & NLM_F_CAPPED else (orig_len + 3) & ~3)
    attrs = parse_attrs(body, tlv_start, len(body))
    message = attr_str(attrs[NLMSGERR_ATTR_MSG]) if NLMSGERR_ATTR_MSG in attrs else ""
    return code, message
