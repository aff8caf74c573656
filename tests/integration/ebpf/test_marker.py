"""A link with properties is never bypassed: the marker on its ends keeps its sockets out
of the socket map, so the emulated rate holds. Without the marker it would not."""

from __future__ import annotations

import pytest

from kubedtn.ebpf.bypass import Bypass
from tests.support.bypasslab import Pair

pytestmark = pytest.mark.root

RATE = 100_000_000  # bit/s


def goodput(pair: Pair, *, reverse: bool = False, family: str = "ipv4") -> float:
    """Bits per second iperf3's receiver saw over 3 s (the first second, tbf's burst, left
    out). ``family``: ipv4, ipv6, or v4-mapped (an IPv4 client, a dual-stack server)."""
    server = pair.ipv6[1] if family == "ipv6" else pair.ipv4[1]
    listen = ["-B", "::"] if family == "v4-mapped" else []
    report = pair.iperf3(server, argv=["-t", "3", "-O", "1", *(["-R"] if reverse else [])], listen=listen)
    return float(report["end"]["sum_received"]["bits_per_second"])


def test_a_shaped_link_without_the_marker_is_bypassed(pair: Pair, bypass: Bypass) -> None:
    """The trap the marker exists for (the control of the tests below): sends skip tc."""
    bypass.enable()
    pair.shape(pair.a, rate_bits=RATE)
    assert goodput(pair) > 3 * RATE
    assert bypass.counters()["redirected"] > 0


@pytest.mark.parametrize("family", ["ipv4", "ipv6", "v4-mapped"])
def test_the_marker_keeps_the_rate(pair: Pair, bypass: Bypass, family: str) -> None:
    bypass.enable()
    for ns in (pair.a, pair.b):
        pair.attach_marker(ns, bypass.marker_program_fd())
    pair.shape(pair.a, rate_bits=RATE)
    rate = goodput(pair, family=family)
    counters = bypass.counters()
    assert 0.5 * RATE < rate <= 1.05 * RATE
    assert counters["redirected"] == 0
    # the SYN and the SYN-ACK of iperf3's two connections
    assert counters["marked"] >= 4


def test_a_marker_on_one_end_keeps_both_directions(pair: Pair, bypass: Bypass) -> None:
    """Only a's end marks: a's socket stays out of the map, so b's sends find no peer and
    go through the stack (counted as passed), through b's shaped end."""
    bypass.enable()
    pair.attach_marker(pair.a, bypass.marker_program_fd())
    pair.shape(pair.b, rate_bits=RATE)
    rate = goodput(pair, reverse=True)
    counters = bypass.counters()
    assert 0.5 * RATE < rate <= 1.05 * RATE
    assert counters["redirected"] == 0
    assert counters["passed"] > 0
    assert counters["marked"] >= 2
