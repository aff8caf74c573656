"""The bypass on the host kernel: TCP between two namespaces skips the stack when the link
has no properties, never when the marker is on it; IPv4, IPv6 and v4-mapped."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from kubedtn.ebpf.bypass import Bypass
from tests.support.bypasslab import TCPPEER, Pair, read_line

pytestmark = pytest.mark.root

VOLUME = 200 * 2**20
WRITE = 64 * 2**10


@dataclass(frozen=True)
class Transfer:
    sent: int  # bytes, as iperf3's sender counted them (its receiver stops counting when the
    # end message on the control connection arrives, which may overtake the data: byte-exact
    # delivery is test_twins' and test_disabling_while_bytes_flow_loses_none's)
    link_packets: int  # both veth ends, both directions
    tcp_segments: int  # both namespaces, in and out
    counters: dict[str, int]


def transfer(pair: Pair, bypass: Bypass | None, *, server: str, listen: list[str] | None = None) -> Transfer:
    before_counters = bypass.counters() if bypass else {}
    before_packets = pair.link_packets(pair.a) + pair.link_packets(pair.b)
    before_segments = pair.tcp_segments(pair.a) + pair.tcp_segments(pair.b)
    report = pair.iperf3(server, argv=["-n", str(VOLUME), "-l", str(WRITE)], listen=listen or [])
    after_counters = bypass.counters() if bypass else {}
    return Transfer(
        sent=int(report["end"]["sum_sent"]["bytes"]),
        link_packets=pair.link_packets(pair.a) + pair.link_packets(pair.b) - before_packets,
        tcp_segments=pair.tcp_segments(pair.a) + pair.tcp_segments(pair.b) - before_segments,
        counters={k: after_counters[k] - before_counters[k] for k in after_counters},
    )


# Without the bypass, 200 MiB are ~145,000 segments of 1448 bytes each way counted; the
# handshakes, iperf3's control messages and the FINs of two connections are a few dozen.
FLAT = 500


def assert_bypassed(moved: Transfer) -> None:
    assert moved.sent >= VOLUME, moved
    assert moved.link_packets < FLAT, moved
    assert moved.tcp_segments < FLAT, moved
    # one redirect per write of WRITE bytes (at least: the kernel may split a send)
    assert moved.counters["redirected"] >= VOLUME // WRITE, moved


def test_without_bypass_every_byte_crosses_the_link(pair: Pair) -> None:
    """The control: the same transfer without the bypass moves the counters the bypass
    tests expect to stay flat."""
    moved = transfer(pair, None, server=pair.ipv4[1])
    assert moved.sent >= VOLUME, moved
    assert moved.link_packets > 10 * FLAT
    assert moved.tcp_segments > 10 * FLAT


def test_ipv4_skips_the_stack(pair: Pair, bypass: Bypass) -> None:
    bypass.enable()
    assert_bypassed(transfer(pair, bypass, server=pair.ipv4[1]))


def test_ipv6_skips_the_stack(pair: Pair, bypass: Bypass) -> None:
    bypass.enable()
    assert_bypassed(transfer(pair, bypass, server=pair.ipv6[1]))


def test_v4_mapped_skips_the_stack(pair: Pair, bypass: Bypass) -> None:
    """A dual-stack listener (AF_INET6 on ::) accepts an IPv4 client: its socket holds
    ::ffff:10.231.0.1 while the client's AF_INET socket holds 10.231.0.1."""
    bypass.enable()
    assert_bypassed(transfer(pair, bypass, server=pair.ipv4[1], listen=["-B", "::"]))


def test_disabling_while_bytes_flow_loses_none(pair: Pair, bypass: Bypass) -> None:
    """Sends already redirected sit in the peer's queue when the maps go: the receiver
    still reads every byte, in order (the SHA-256 of the whole stream)."""
    bypass.enable()
    listening = pair.spawn(pair.b, [*TCPPEER, "serve", pair.ipv4[1], "7000"])
    assert read_line(listening) == "listening"
    sender = pair.spawn(
        pair.a, [*TCPPEER, "send", pair.ipv4[0], "41000", pair.ipv4[1], "7000", "abc", "1024"]
    )
    assert read_line(sender) == "connected"
    deadline = time.monotonic() + 30
    while bypass.counters()["redirected"] < 100:  # mid-stream, on the bypass
        assert time.monotonic() < deadline and sender.poll() is None, (
            "the transfer ended before it was bypassed"
        )
        time.sleep(0.001)
    bypass.disable()
    assert sender.poll() is None, "the transfer ended before the bypass was disabled"
    sent, received = read_line(sender), read_line(listening)
    assert sent == received
    assert sent.startswith(str(1024 * 2**20))
