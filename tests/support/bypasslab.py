"""Two network namespaces joined by a veth pair, processes run in them inside a cgroup made
for the test, and the counters that show whether TCP went through the stack.

For the eBPF bypass tests (and benchmarks): a sockops program sees sockets only of
processes in its cgroup, so every process here is moved into the test's cgroup before it
execs (``spawn``). Everything made here is removed on exit, also when the test failed:
processes first (a cgroup with processes cannot be removed), then the namespaces (their
veth goes with them), then the cgroup.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup/unified")
BPFFS = Path("/sys/fs/bpf")
PREFIX = "kdtn-ebpf"
CLSACT_EGRESS = 0xFFFFFFF3  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)


def unique(prefix: str = PREFIX) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _run(argv: list[str], *, check: bool = True) -> str:
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Pair:
    """Namespaces ``a`` and ``b``, interface ``eth1`` in each, addresses of both families."""

    cgroup: Path
    a: str
    b: str
    ifname: str = "eth1"
    ipv4: tuple[str, str] = ("10.231.0.1", "10.231.0.2")
    ipv6: tuple[str, str] = ("fd00:231::1", "fd00:231::2")
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, ns: str, argv: list[str], *, stdin: int | None = None) -> subprocess.Popen[str]:
        """``argv`` in namespace ``ns`` and in the test's cgroup (joined before exec, so its
        sockets belong to the cgroup from their creation)."""
        procs = str(self.cgroup / "cgroup.procs")
        # The shell moves itself into the cgroup, then becomes the command.
        process = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0" && exec "$@"', procs, "ip", "netns", "exec", ns, *argv],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def link_packets(self, ns: str) -> int:
        """Packets sent plus received by ``ifname`` in ``ns``."""
        shown = json.loads(_run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", self.ifname]))
        stats = shown[0]["stats64"]
        return int(stats["tx"]["packets"]) + int(stats["rx"]["packets"])

    def tcp_segments(self, ns: str) -> int:
        """TCP segments sent plus received in ``ns`` (/proc/net/snmp, Tcp: OutSegs + InSegs)."""
        lines = [
            line.split() for line in _run(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp"]).splitlines()
        ]
        names, values = [line for line in lines if line[0] == "Tcp:"][:2]
        row = dict(zip(names[1:], values[1:], strict=True))
        return int(row["OutSegs"]) + int(row["InSegs"])

    def wait_listening(self, ns: str, port: int, *, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f":{port} " in _run(["ip", "netns", "exec", ns, "ss", "-Hltn"]):
                return
            time.sleep(0.02)
        raise TimeoutError(f"nothing listens on port {port} in {ns} after {timeout} s")

    def iperf3(
        self, server: str, *, argv: list[str], listen: list[str] | None = None, port: int = 5201
    ) -> dict[str, Any]:
        """One iperf3 run from ``a`` to ``server`` (an address of ``b``): its JSON report.
        ``listen``: more arguments of the server (``-B ::``)."""
        listener = self.spawn(self.b, ["iperf3", "-s", "-1", "-p", str(port), *(listen or [])])
        self.wait_listening(self.b, port)
        client = self.spawn(self.a, ["iperf3", "-c", server, "-p", str(port), "--json", *argv])
        out, err = client.communicate(timeout=120)
        listener.wait(timeout=30)
        if client.returncode != 0:
            raise RuntimeError(f"iperf3 client: exit {client.returncode}: {out[-2000:]} {err[-2000:]}")
        report: dict[str, Any] = json.loads(out)
        return report

    def attach_marker(self, ns: str, program_fd: int) -> None:
        """The marker on ``ifname``'s clsact egress, direct action (through pyroute2, the
        tests' netlink: attaching it on link ends is the dataplane's job, not the loader's)."""
        from pyroute2 import NetNS

        with NetNS(ns) as ipr:
            index = ipr.link_lookup(ifname=self.ifname)[0]
            ipr.tc("add", "clsact", index=index)
            ipr.tc(
                "add-filter",
                "bpf",
                index=index,
                handle=1,
                fd=program_fd,
                name="kubedtn_marker",
                parent=CLSACT_EGRESS,
                direct_action=True,
            )

    def shape(self, ns: str, *, rate_bits: int) -> None:
        """A tbf root qdisc on ``ifname`` in ``ns``: what a link's rate property makes."""
        _run(
            [
                "tc",
                "-n",
                ns,
                "qdisc",
                "add",
                "dev",
                self.ifname,
                "root",
                "tbf",
                "rate",
                f"{rate_bits}bit",
                "burst",
                "32kb",
                "latency",
                "50ms",
            ]
        )

    def stop(self) -> None:
        kill_and_reap(self.processes)


def kill_and_reap(processes: list[subprocess.Popen[str]]) -> None:
    """Every process killed (SIGKILL) and waited for; the list emptied."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)
    processes.clear()


@contextlib.contextmanager
def test_cgroup() -> Iterator[Path]:
    """A cgroup v2 directory of its own, removed after (its processes must be gone)."""
    path = CGROUP_ROOT / unique()
    path.mkdir()
    try:
        yield path
    finally:
        deadline = time.monotonic() + 10
        while True:
            try:
                path.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a killed process leaves the cgroup a moment after it is reaped


@contextlib.contextmanager
def test_pin_dir() -> Iterator[Path]:
    """A pin directory under /sys/fs/bpf (not created: the code under test makes it)."""
    path = BPFFS / unique()
    try:
        yield path
    finally:
        if path.exists():
            for directory, _subdirs, files in os.walk(path, topdown=False):
                for name in files:
                    os.unlink(os.path.join(directory, name))
                os.rmdir(directory)


TCPPEER = [sys.executable, str(Path(__file__).with_name("tcppeer.py"))]


def read_line(process: subprocess.Popen[str]) -> str:
    """The next line a peer prints (its stdout is a pipe); its stderr when it printed none."""
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=30)
        raise RuntimeError(f"{process.args!r}: exit {process.returncode}: {err.strip()}")
    return line.strip()


@contextlib.contextmanager
def veth_pair(cgroup: Path) -> Iterator[Pair]:
    """Two namespaces joined by a veth (no qdisc but the default), both families up."""
    pair = Pair(cgroup=cgroup, a=unique(), b=unique())
    made: list[str] = []
    try:
        for ns in (pair.a, pair.b):
            _run(["ip", "netns", "add", ns])
            made.append(ns)
        _run(
            [
                "ip",
                "-n",
                pair.a,
                "link",
                "add",
                pair.ifname,
                "type",
                "veth",
                "peer",
                "name",
                pair.ifname,
                "netns",
                pair.b,
            ]
        )
        for ns, v4, v6 in ((pair.a, pair.ipv4[0], pair.ipv6[0]), (pair.b, pair.ipv4[1], pair.ipv6[1])):
            _run(["ip", "-n", ns, "addr", "add", f"{v4}/24", "dev", pair.ifname])
            _run(["ip", "-n", ns, "addr", "add", f"{v6}/64", "dev", pair.ifname, "nodad"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "link", "set", pair.ifname, "up"])
        yield pair
    finally:
        pair.stop()
        for ns in made:
            _run(["ip", "netns", "del", ns], check=False)
