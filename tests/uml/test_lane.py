"""The user-mode Linux lane is real: netem and tbf shape traffic the way they are told to.

These tests run in hack/uml/run-tests (make test-uml); on a kernel without sch_netem they
are skipped (tests/conftest.py). They also guard tests/support/netmeter.py, which the
link-property tests use to measure what a link does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support import kernel
from tests.support.netmeter import measure_delay, measure_rate, netns_run

pytestmark = pytest.mark.netem

only_in_uml = pytest.mark.skipif(not kernel.in_uml(), reason="checks the user-mode Linux guest itself")


@dataclass(frozen=True)
class VethLink:
    """Two namespaces joined by a veth pair: a (10.77.0.1, dev_a) and b (10.77.0.2, dev_b)."""

    ns_a: str
    ns_b: str
    dev_a: str = "veth-a"
    dev_b: str = "veth-b"
    ip_a: str = "10.77.0.1"
    ip_b: str = "10.77.0.2"

    def tc(self, *args: str) -> None:
        """Runs `tc ARGS` in a's namespace."""
        netns_run(self.ns_a, ["tc", *args])

    def delay(self, *, count: int = 20) -> float:
        """Median one-way delay a -> b in ms."""
        stats = measure_delay(
            client_ns=self.ns_a, client_ip=self.ip_a, server_ns=self.ns_b, server_ip=self.ip_b, count=count
        )
        assert stats.lost == 0
        return stats.median_forward_ms


def _ip_batch(commands: list[str], *, netns: str | None = None, ignore_errors: bool = False) -> None:
    # One ip process for many commands: a process start costs ~0.2 s in the guest.
    argv = ["ip", *(["-n", netns] if netns else []), *(["-force"] if ignore_errors else []), "-batch", "-"]
    script = "\n".join(commands) + "\n"
    result = subprocess.run(argv, input=script, text=True, capture_output=True, check=False)
    if result.returncode != 0 and not ignore_errors:
        raise RuntimeError(f"{' '.join(argv)} failed on {commands}: {result.stderr.strip()}")


def assert_limited_to(measured: float, rate: float) -> None:
    """The rate holds: never above it (beyond the measuring error), and not far below.

    A token bucket saves at most `burst` of unused time: when the host deschedules the
    guest for longer (a busy CI machine, two guests at once), that link time is lost and
    the rate comes out low (-12 % seen), never high. Without tbf it would be ~100x higher.
    """
    assert 0.75 * rate <= measured <= 1.05 * rate, f"{measured / 1e6:.3f} Mbit/s, set {rate / 1e6:.3f}"


@pytest.fixture
def link() -> Iterator[VethLink]:
    suffix = uuid.uuid4().hex[:8]
    ln = VethLink(ns_a=f"kdtn-uml-a-{suffix}", ns_b=f"kdtn-uml-b-{suffix}")
    try:
        _ip_batch(
            [
                f"netns add {ln.ns_a}",
                f"netns add {ln.ns_b}",
                f"link add {ln.dev_a} netns {ln.ns_a} type veth peer {ln.dev_b} netns {ln.ns_b}",
            ]
        )
        for ns, dev, ip in ((ln.ns_a, ln.dev_a, ln.ip_a), (ln.ns_b, ln.dev_b, ln.ip_b)):
            _ip_batch([f"addr add {ip}/24 dev {dev}", f"link set {dev} up"], netns=ns)
        yield ln
    finally:
        _ip_batch([f"netns del {ns}" for ns in (ln.ns_a, ln.ns_b)], ignore_errors=True)


@only_in_uml
def test_the_guest_runs_the_uml_kernel() -> None:
    # The host has no modules tree for this release; the UML package does.
    assert os.path.isdir(f"/usr/lib/uml/modules/{os.uname().release}")
    assert kernel.has_netem()


@only_in_uml
def test_the_guest_has_the_tools_and_mounts_tests_use() -> None:
    missing = [tool for tool in ("ip", "tc", "nsenter", "iperf3", "modprobe") if shutil.which(tool) is None]
    assert missing == []
    # Namespaces need /run/netns on a writable mount.
    assert os.path.ismount("/run")
    with open("/sys/class/net/lo/flags") as f:
        assert int(f.read(), 16) & 0x1  # IFF_UP


@only_in_uml
def test_qdisc_modules_autoload(link: VethLink) -> None:
    # sch_sfq is not loaded at boot: the kernel must load it through the modprobe wrapper.
    link.tc("qdisc", "add", "dev", link.dev_a, "root", "sfq")
    assert os.path.isdir("/sys/module/sch_sfq")


def test_netem_delay_shows_in_the_measured_delay(link: VethLink) -> None:
    before = link.delay()
    link.tc("qdisc", "add", "dev", link.dev_a, "root", "netem", "delay", "20ms")
    delayed = measure_delay(
        client_ns=link.ns_a, client_ip=link.ip_a, server_ns=link.ns_b, server_ip=link.ip_b, count=20
    )
    assert before < 5
    assert 20 <= delayed.median_forward_ms < 30
    assert 20 <= delayed.median_rtt_ms < 30
    # netem shapes a's egress only: the way back is undelayed.
    assert delayed.median_backward_ms < 5


def test_netem_delay_changes_live(link: VethLink) -> None:
    link.tc("qdisc", "add", "dev", link.dev_a, "root", "netem", "delay", "20ms")
    assert 20 <= link.delay() < 30
    link.tc("qdisc", "change", "dev", link.dev_a, "root", "netem", "delay", "5ms")
    assert 5 <= link.delay() < 10


def test_tbf_limits_the_rate(link: VethLink) -> None:
    link.tc("qdisc", "add", "dev", link.dev_a, "root", "tbf", "rate", "4mbit", "burst", "5kb", "limit", "1mb")
    stats = measure_rate(
        client_ns=link.ns_a, client_ip=link.ip_a, server_ns=link.ns_b, server_ip=link.ip_b, packets=100
    )
    assert stats.received == stats.sent
    assert_limited_to(stats.bits_per_s, 4e6)


def test_netem_with_a_tbf_child_delays_and_limits(link: VethLink) -> None:
    # The shape the dataplane uses for a link with latency and rate: netem, then tbf under it.
    link.tc("qdisc", "add", "dev", link.dev_a, "root", "handle", "1:", "netem", "delay", "20ms")
    link.tc("qdisc", "add", "dev", link.dev_a, "parent", "1:1", "handle", "10:", "tbf", "rate", "4mbit",
            "burst", "5kb", "limit", "1mb")  # fmt: skip
    assert 20 <= link.delay() < 30
    stats = measure_rate(
        client_ns=link.ns_a, client_ip=link.ip_a, server_ns=link.ns_b, server_ip=link.ip_b, packets=100
    )
    assert stats.received == stats.sent
    assert_limited_to(stats.bits_per_s, 4e6)
