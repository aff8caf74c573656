"""Throwaway network namespaces for tests, and traffic between them.

``NamespacePool`` makes uniquely named namespaces with ``ip netns add`` (an independent
tool, not the code under test) and removes them all, also when a test fails; the ``pool``
fixture gives a test one (a conftest imports it: ``from tests.support.netns import pool``).

Traffic uses real sockets made inside the namespaces (a socket stays in the namespace it
was created in): ``udp_echo`` for reachability, ``tcp_goodput`` for rates. ``ip_json``,
``links_by_name`` and ``qdiscs`` read what ``ip``/``tc`` see, a second opinion on the code
under test; the dataplane's tests read the kernel through pyroute2 instead (``oracle``).
``NetlinkWatcher`` subscribes to a namespace's change notifications, to prove that an
operation changed nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.netmeter import in_netns, netns_path

PREFIX = "kdtn-t"


def unique(prefix: str = PREFIX) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)


@dataclass
class NamespacePool:
    """Namespaces made for one test: ``make()`` returns names, ``paths()`` their files."""

    made: list[str] = field(default_factory=list)

    def make(self, count: int = 1) -> list[str]:
        names = [unique() for _ in range(count)]
        # One ip process for all (a process start costs ~0.2 s in the user-mode Linux lane).
        script = "".join(f"netns add {name}\n" for name in names)
        result = subprocess.run(
            ["ip", "-batch", "-"], input=script, check=False, capture_output=True, text=True, timeout=60
        )
        self.made += [n for n in names if os.path.exists(netns_path(n))]
        if result.returncode != 0:
            raise RuntimeError(f"ip netns add {' '.join(names)}: {result.stderr.strip()}")
        return names

    def cleanup(self) -> None:
        script = "".join(f"netns del {name}\n" for name in self.made)
        result = subprocess.run(
            ["ip", "-force", "-batch", "-"],
            input=script,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        left = [n for n in self.made if os.path.exists(netns_path(n))]
        self.made.clear()
        if left:
            raise RuntimeError(f"namespaces left behind: {', '.join(left)}: {result.stderr.strip()}")


@pytest.fixture
def pool() -> Iterator[NamespacePool]:
    """Namespaces for one test, removed afterwards (import this fixture into a conftest)."""
    namespaces = NamespacePool()
    try:
        yield namespaces
    finally:
        namespaces.cleanup()


def path(name: str) -> str:
    return netns_path(name)


def sh(netns: str | None, *argv: str) -> str:
    """Runs ``ip``/``tc``/... (optionally with -n netns) and returns stdout; raises on failure."""
    cmd = [argv[0], *(["-n", netns] if netns else []), *argv[1:]]
    result = _run(cmd)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result.stdout


def ip_json(netns: str, *args: str) -> list[dict[str, object]]:
    """``ip -j -d -n netns args`` parsed, e.g. ip_json("a", "link", "show")."""
    out = sh(netns, "ip", "-j", "-d", *args)
    return json.loads(out) if out.strip() else []


def links_by_name(netns: str) -> dict[str, dict[str, object]]:
    return {str(i["ifname"]): i for i in ip_json(netns, "link", "show")}


def qdiscs(netns: str, dev: str) -> list[dict[str, Any]]:
    """``tc -j qdisc show`` (nested JSON: tests index into its options)."""
    out = sh(netns, "tc", "-j", "qdisc", "show", "dev", dev)
    parsed: list[dict[str, Any]] = json.loads(out) if out.strip() else []
    return parsed


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _socket_in(netns: str, ip: str, kind: socket.SocketKind) -> socket.socket:
    with in_netns(netns):
        sock = socket.socket(_family(ip), kind)
    try:
        sock.bind((ip, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def udp_echo(
    *, client_ns: str, client_ip: str, server_ns: str, server_ip: str, count: int = 3, timeout_s: float = 3.0
) -> int:
    """Bounces count datagrams client -> server -> client; how many made the round trip.

    The first may need ARP/ND to resolve: each datagram is retried until timeout_s.
    """
    ok = 0
    with (
        contextlib.closing(_socket_in(client_ns, client_ip, socket.SOCK_DGRAM)) as client,
        contextlib.closing(_socket_in(server_ns, server_ip, socket.SOCK_DGRAM)) as server,
    ):
        dest = server.getsockname()[:2]
        for seq in range(count):
            payload = f"kubedtn {seq}".encode()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                client.sendto(payload, dest)
                if select.select([server], [], [], 0.2)[0]:
                    data, peer = server.recvfrom(2048)
                    server.sendto(data, peer)
                    if select.select([client], [], [], 0.5)[0] and client.recv(2048) == payload:
                        ok += 1
                        break
    return ok


def tcp_goodput(
    *,
    client_ns: str,
    client_ip: str,
    server_ns: str,
    server_ip: str,
    seconds: float = 3.0,
    warmup_s: float = 1.0,
) -> float:
    """Bits/s of TCP payload client -> server, counted at the receiver after warmup_s
    (so the token bucket's initial burst and slow start are left out)."""
    with (
        contextlib.closing(_socket_in(server_ns, server_ip, socket.SOCK_STREAM)) as listener,
        contextlib.closing(_socket_in(client_ns, client_ip, socket.SOCK_STREAM)) as client,
    ):
        listener.listen(1)
        client.connect(listener.getsockname()[:2])
        conn, _ = listener.accept()
        stop = threading.Event()
        chunk = bytes(64 * 1024)

        def send() -> None:
            with contextlib.suppress(OSError):
                while not stop.is_set():
                    client.send(chunk)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            start = time.monotonic()
            counted = 0
            window_start = start + warmup_s
            window_end = window_start + seconds
            while (now := time.monotonic()) < window_end:
                data = conn.recv(1 << 20)
                if not data:
                    raise RuntimeError("the sender closed early")
                if now >= window_start:
                    counted += len(data)
            elapsed = time.monotonic() - window_start
        finally:
            stop.set()
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            sender.join(timeout=10)
            conn.close()
    return counted * 8 / elapsed


_SO_NO_CHECK = 11  # <asm-generic/socket.h>: send IPv4 UDP without a checksum
_SO_RCVBUFFORCE = 33


def payload(seq: int, size: int) -> bytes:
    """The datagram number seq of udp_train: its number, then a pattern derived from it."""
    head = seq.to_bytes(4, "big")
    return head + bytes((seq + i) & 0xFF for i in range(size - 4))


def udp_train(
    *,
    client_ns: str,
    client_ip: str,
    server_ns: str,
    server_ip: str,
    count: int,
    size: int = 200,
    no_checksum: bool = False,
    idle_timeout_s: float = 2.0,
) -> list[bytes]:
    """Sends count datagrams (see payload) client -> server; the datagrams that arrived.

    With no_checksum (IPv4 only) the sender leaves the UDP checksum out, so a corrupted
    payload is delivered instead of dropped, and can be seen. Reading stops once nothing
    arrived for idle_timeout_s.
    """
    received: list[bytes] = []
    with (
        contextlib.closing(_socket_in(client_ns, client_ip, socket.SOCK_DGRAM)) as client,
        contextlib.closing(_socket_in(server_ns, server_ip, socket.SOCK_DGRAM)) as server,
    ):
        server.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 4 * count * (size + 1024))
        if no_checksum:
            client.setsockopt(socket.SOL_SOCKET, _SO_NO_CHECK, 1)
        dest = server.getsockname()[:2]
        for seq in range(count):
            client.sendto(payload(seq, size), dest)
        while select.select([server], [], [], idle_timeout_s)[0]:
            received.append(server.recv(65536))
    return received


# ---- change notifications ------------------------------------------------------------------

_RTNLGRP = {"link": 1, "ipv4_ifaddr": 5, "ipv6_ifaddr": 9, "tc": 4}
_TYPES = {16: "newlink", 17: "dellink", 20: "newaddr", 21: "deladdr", 36: "newqdisc", 37: "delqdisc"}


class NetlinkWatcher:
    """Collects rtnetlink notifications (links, addresses, qdiscs) of some namespaces."""

    def __init__(self, namespaces: list[str]) -> None:
        self._socks: list[socket.socket] = []
        for ns in namespaces:
            with in_netns(ns):
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            sock.bind((0, 0))
            for group in _RTNLGRP.values():
                sock.setsockopt(270, 1, group)  # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP
            sock.setblocking(False)
            self._socks.append(sock)

    def drain(self) -> list[str]:
        """Notifications received since the last drain, as "type ifindex" words.

        IPv6 link-local address events are left out: the kernel makes those on its own,
        seconds after an interface comes up (duplicate address detection).
        """
        seen: list[str] = []
        for sock in self._socks:
            while True:
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    break
                pos = 0
                while pos + 16 <= len(data):
                    length, kind = struct.unpack_from("=IH", data, pos)
                    if length < 16:
                        break
                    body = data[pos + 16 : pos + length]
                    if kind in (20, 21) and len(body) >= 8 and body[3] == 253:  # RTM_NEW/DELADDR, link scope
                        pass
                    else:
                        index = struct.unpack_from("=i", body, 4)[0] if len(body) >= 8 else 0
                        seen.append(f"{_TYPES.get(kind, kind)} {index}")
                    pos += (length + 3) & ~3
        return seen

    def settle(self, *, quiet_s: float = 1.5, timeout_s: float = 20.0) -> None:
        """Waits until the kernel's own follow-up events (carrier, link-local addresses)
        are over: no notification for quiet_s."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < quiet_s:
            if time.monotonic() > deadline:
                raise AssertionError(f"namespaces still changing after {timeout_s} s")
            time.sleep(0.1)
            if self.drain():
                quiet_since = time.monotonic()

    def close(self) -> None:
        for sock in self._socks:
            sock.close()


@contextlib.contextmanager
def watching(namespaces: list[str]) -> Iterator[NetlinkWatcher]:
    watcher = NetlinkWatcher(namespaces)
    try:
        yield watcher
    finally:
        watcher.close()


def wait_until(condition: object, *, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Polls condition() until it is true; raises naming what did not happen."""
    deadline = time.monotonic() + timeout_s
    while True:
        if callable(condition) and condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
