"""Two twins with the same addresses: the netns cookie keeps their sockets apart. The same
4-tuple open in both at once is never redirected (which peer is meant is not known), and
each receiver gets exactly its own sender's bytes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.ebpf.bypass import Bypass
from tests.support import bypasslab
from tests.support.bypasslab import TCPPEER, Pair, read_line

pytestmark = pytest.mark.root

PORT, CLIENT_PORT, MEGABYTES = 7000, 40000, 64


@pytest.fixture
def second(cgroup: Path) -> Iterator[Pair]:
    with bypasslab.veth_pair(cgroup) as made:
        yield made


def client(pair: Pair, label: str, *, hold: bool) -> subprocess.Popen[str]:
    source, dest = pair.ipv4
    argv = [*TCPPEER, "send", source, str(CLIENT_PORT), dest, str(PORT), label, str(MEGABYTES)]
    return pair.spawn(pair.a, [*argv, "--hold"] if hold else argv, stdin=subprocess.PIPE if hold else None)


def server(pair: Pair) -> subprocess.Popen[str]:
    process = pair.spawn(pair.b, [*TCPPEER, "serve", pair.ipv4[1], str(PORT)])
    assert read_line(process) == "listening"
    return process


def test_the_same_flow_in_two_twins_never_crosses(pair: Pair, second: Pair, bypass: Bypass) -> None:
    bypass.enable()
    servers = [server(pair), server(second)]
    # the second twin's connection is open (its flow held) while the first one sends
    held = client(second, "two", hold=True)
    assert read_line(held) == "connected"
    before = bypass.counters()
    first = client(pair, "one", hold=False)
    assert read_line(first) == "connected"
    sent_one = read_line(first)
    assert held.stdin is not None
    held.stdin.write("go\n")
    held.stdin.flush()
    sent_two = read_line(held)
    received = [read_line(s) for s in servers]
    after = bypass.counters()
    assert received == [sent_one, sent_two]
    assert sent_one != sent_two and sent_one.startswith(str(MEGABYTES * 2**20))
    assert after["redirected"] == before["redirected"]
    assert after["passed"] - before["passed"] >= 2 * MEGABYTES * 2**20 // (64 * 2**10)


def test_the_same_flow_in_one_twin_at_a_time_is_redirected(pair: Pair, second: Pair, bypass: Bypass) -> None:
    """The control: the flow closed in one twin is free for the other, and bypassed there."""
    bypass.enable()
    for twin, label in ((pair, "one"), (second, "two")):
        listening = server(twin)
        before = bypass.counters()["redirected"]
        sender = client(twin, label, hold=False)
        assert read_line(sender) == "connected"
        assert read_line(listening) == read_line(sender)
        assert bypass.counters()["redirected"] - before >= MEGABYTES * 2**20 // (64 * 2**10)
