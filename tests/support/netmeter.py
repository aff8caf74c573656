"""Measuring delay and rate between two network namespaces, for tests of emulated link properties.

One process holds a UDP socket in each namespace (a socket stays in the namespace it was
created in) and sends numbered probes between them. The kernel stamps every arrival
(SO_TIMESTAMPNS), so results exclude Python's turnaround and this process's wake-up
latency.

measure_delay bounces probes one at a time: the sender reads the clock the kernel stamps
with just before each send, so a one-way delay is the path (qdiscs, veth/vxlan, the
stack) plus a few microseconds of send syscall, and probes never queue behind each other.

    stats = measure_delay(client_ns="a", client_ip="10.0.0.1", server_ns="b", server_ip="10.0.0.2")
    stats.median_forward_ms   # a -> b, e.g. netem delay on a's egress
    stats.median_rtt_ms       # forward + backward, probe by probe

measure_rate sends a train of packets as fast as the socket takes them and times their
arrivals, after the token bucket's burst has drained.

Namespaces are names under /run/netns (as `ip netns add` makes) or paths to a netns file
(/proc/PID/ns/net, a bind mount). Precision measured in the user-mode Linux lane is in
hack/uml/README.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import select
import socket
import statistics
import struct
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

_CLONE_NEWNET = 0x40000000
# Not exported by Python's socket module; the values of <asm-generic/socket.h> (x86-64, arm64).
_SO_TIMESTAMPNS = 35
_SCM_TIMESTAMPNS = _SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
_SO_RCVBUFFORCE = 33
_PROBE = struct.Struct("!Q")
_libc = ctypes.CDLL(None, use_errno=True)


def netns_path(netns: str) -> str:
    """The file of a namespace given by `ip netns` name or by path."""
    return netns if "/" in netns else f"/run/netns/{netns}"


def netns_run(
    netns: str, argv: Sequence[str], *, check: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Runs a command inside a namespace, capturing its output as text.

    On failure (with check) the error carries the command, exit code and stderr.
    """
    result = subprocess.run(
        ["nsenter", f"--net={netns_path(netns)}", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"in netns {netns}: {' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def in_netns(netns: str) -> Iterator[None]:
    """Switches the calling thread into a namespace for the block (sockets made there stay there)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path(netns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


@dataclass(frozen=True)
class DelayStats:
    """One-way delays in milliseconds, per probe that made the round trip."""

    forward_ms: tuple[float, ...]
    backward_ms: tuple[float, ...]
    lost: int

    @property
    def median_forward_ms(self) -> float:
        return statistics.median(self.forward_ms)

    @property
    def median_backward_ms(self) -> float:
        return statistics.median(self.backward_ms)

    @property
    def rtt_ms(self) -> tuple[float, ...]:
        return tuple(f + b for f, b in zip(self.forward_ms, self.backward_ms, strict=True))

    @property
    def median_rtt_ms(self) -> float:
        return statistics.median(self.rtt_ms)


def _udp_socket(*, netns: str, ip: str) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    with in_netns(netns):
        sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        sock.bind((ip, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _send(sock: socket.socket, *, seq: int, dest: tuple[str, int], pad: bytes) -> int:
    """Sends probe seq; returns when it was sent (ns, the clock the kernel stamps arrivals with)."""
    probe = _PROBE.pack(seq) + pad
    sent_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
    sock.sendto(probe, dest)
    return sent_ns


def _receive_any(sock: socket.socket, *, deadline: float, busy_poll: bool = False) -> int | None:
    """Kernel arrival time (ns, CLOCK_REALTIME) of the next datagram; None if none came in time."""
    return _receive(sock, seq=None, deadline=deadline, busy_poll=busy_poll)


def _receive(sock: socket.socket, *, seq: int | None, deadline: float, busy_poll: bool) -> int | None:
    """Kernel arrival time (ns, CLOCK_REALTIME) of probe seq (any probe: None); None if it did
    not come in time. Late answers to earlier probes are read and dropped.
    """
    flags = socket.MSG_DONTWAIT if busy_poll else 0
    while (left := deadline - time.monotonic()) > 0:
        if not busy_poll and not select.select([sock], [], [], left)[0]:
            return None
        try:
            data, ancdata, _flags, _addr = sock.recvmsg(65535, socket.CMSG_SPACE(_TIMESPEC.size), flags)
        except BlockingIOError:
            continue
        if len(data) < _PROBE.size or (seq is not None and _PROBE.unpack_from(data)[0] != seq):
            continue
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == _SCM_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(value)
                return int(sec) * 1_000_000_000 + int(nsec)
        raise RuntimeError("the kernel did not timestamp a probe (SO_TIMESTAMPNS)")
    return None


def measure_delay(
    *,
    client_ns: str,
    client_ip: str,
    server_ns: str,
    server_ip: str,
    count: int = 50,
    size: int = 64,
    timeout_s: float = 2.0,
    busy_poll: bool = True,
) -> DelayStats:
    """Bounces count UDP probes of size bytes client -> server -> client, one at a time.

    A probe not back within timeout_s (either leg) counts as lost. Raises when every
    probe was lost: there is nothing to take a median of.

    busy_poll keeps this process spinning on the socket instead of sleeping in select().
    A CPU that never idles wakes no later than its timers: in user-mode Linux on this
    VM host it takes the excess of a netem delay from ~0.15 ms down to ~0.06 ms
    (an idle vCPU is slow to wake). It costs a CPU for as long as a measurement runs.
    """
    pad = bytes(max(0, size - _PROBE.size))
    forward: list[float] = []
    backward: list[float] = []
    lost = 0
    with (
        contextlib.closing(_udp_socket(netns=client_ns, ip=client_ip)) as client,
        contextlib.closing(_udp_socket(netns=server_ns, ip=server_ip)) as server,
    ):
        server_addr, client_addr = server.getsockname()[:2], client.getsockname()[:2]
        for seq in range(count):
            deadline = time.monotonic() + timeout_s
            sent = _send(client, seq=seq, dest=server_addr, pad=pad)
            arrived = _receive(server, seq=seq, deadline=deadline, busy_poll=busy_poll)
            if arrived is None:
                lost += 1
                continue
            returned = _send(server, seq=seq, dest=client_addr, pad=pad)
            back = _receive(client, seq=seq, deadline=deadline, busy_poll=busy_poll)
            if back is None:
                lost += 1
                continue
            forward.append((arrived - sent) / 1e6)
            backward.append((back - returned) / 1e6)
    if not forward:
        raise RuntimeError(
            f"all {count} probes from {client_ip} (netns {client_ns}) to {server_ip} "
            f"(netns {server_ns}) were lost"
        )
    return DelayStats(forward_ms=tuple(forward), backward_ms=tuple(backward), lost=lost)


# Bytes a qdisc counts beyond the UDP payload on a veth/vxlan device: UDP + IP + Ethernet.
_L2_OVERHEAD = {4: 8 + 20 + 14, 6: 8 + 40 + 14}


@dataclass(frozen=True)
class RateStats:
    """A packet train's arrival rate, counting the bytes a qdisc sees (payload + UDP/IP/Ethernet)."""

    sent: int
    received: int
    bits_per_s: float


def measure_rate(
    *,
    client_ns: str,
    client_ip: str,
    server_ns: str,
    server_ip: str,
    packets: int = 200,
    size: int = 1000,
    idle_timeout_s: float = 2.0,
) -> RateStats:
    """Sends packets UDP datagrams of size payload bytes client -> server, back to back.

    The rate is taken over the arrivals after the first quarter, so a token bucket's burst
    (which passes at line rate) must be well under a quarter of the train. The train must
    also fit the shaping qdisc's queue, or its drops show as received < sent. Reading stops
    once nothing arrived for idle_timeout_s.
    """
    if packets < 8:
        raise ValueError(f"measure_rate: packets={packets}; at least 8 are needed for a rate")
    overhead = _L2_OVERHEAD[ipaddress.ip_address(server_ip).version]
    arrivals: list[int] = []
    with (
        contextlib.closing(_udp_socket(netns=client_ns, ip=client_ip)) as client,
        contextlib.closing(_udp_socket(netns=server_ns, ip=server_ip)) as server,
    ):
        # Room for the whole train, so the receiver may read it after the sender is done.
        with contextlib.suppress(OSError):
            server.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 4 * packets * (size + 1024))
        dest = server.getsockname()[:2]
        pad = bytes(max(0, size - _PROBE.size))
        for seq in range(packets):
            client.sendto(_PROBE.pack(seq) + pad, dest)
        while (
            len(arrivals) < packets
            and (arrived := _receive_any(server, deadline=time.monotonic() + idle_timeout_s)) is not None
        ):
            arrivals.append(arrived)
    if len(arrivals) < 8:
        raise RuntimeError(
            f"only {len(arrivals)} of {packets} packets from {client_ip} (netns {client_ns}) "
            f"reached {server_ip} (netns {server_ns}); a rate needs at least 8"
        )
    first = len(arrivals) // 4
    span_ns = arrivals[-1] - arrivals[first]
    bits = (len(arrivals) - 1 - first) * (size + overhead) * 8
    return RateStats(sent=packets, received=len(arrivals), bits_per_s=bits * 1e9 / span_ns)
