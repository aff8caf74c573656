"""Processes the test starts in a pod of a containerd node, placed as the pod's own container
processes are: in the pod's network namespace and in the pod's cgroup.

The cgroup matters for the eBPF TCP/IP bypass: its sockops program sees the sockets of the
processes in the cgroup it is attached to and below (the DaemonSet attaches it to the
host's cgroup v2 root; on a test's node, the node's own cgroup). runc puts a pod's
processes into ``<cgroup_parent>/<container id>`` of every hierarchy, the v2 one too on a
hybrid host. A process the test merely ``nsenter``'s into the pod's namespace would stay in
the test's cgroup, outside the node's, and its TCP would never be seen. So ``spawn`` writes
the process into the cgroup v2 directory of the pod's sandbox (its pause process's), as
``runc exec`` does, before it execs: its sockets belong to the pod from their creation.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedtn.ebpf.bpffs import cgroup2_root
from tests.support.bypasslab import kill_and_reap
from tests.support.cri.client import CriClient


def unified_entry(proc_cgroup: str) -> str:
    """The cgroup v2 path in a ``/proc/PID/cgroup`` text (its ``0::`` line)."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise LookupError(f"no cgroup v2 entry (0::) in {proc_cgroup!r}")


def sandbox_pid(cri: CriClient, sandbox_id: str) -> int:
    """The pid of the sandbox's pause process, from the runtime's verbose status."""
    _, info = cri.status(sandbox_id)
    return int(info["pid"])


def process_cgroup(pid: int) -> Path:
    """The cgroup v2 directory process ``pid`` is in, as a path of the host."""
    entry = unified_entry(Path(f"/proc/{pid}/cgroup").read_text())
    return cgroup2_root() / entry.lstrip("/")


def ns_json(netns: Path, *argv: str) -> Any:
    out = subprocess.run(
        ["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(out.stdout or "null")


def link_packets(netns: Path, dev: str) -> int:
    """Packets sent plus received by ``dev`` in the namespace ``netns``."""
    (shown,) = ns_json(netns, "ip", "-s", "-j", "link", "show", "dev", dev)
    stats = shown["stats64"]
    return int(stats["tx"]["packets"]) + int(stats["rx"]["packets"])


def listening(netns: Path, port: int) -> bool:
    """Whether a TCP socket listens on ``port`` in ``netns``."""
    shown = subprocess.run(
        ["nsenter", f"--net={netns}", "ss", "-Hltn", f"sport = :{port}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return bool(shown.stdout.strip())


@dataclass
class PodProcesses:
    """What ``pod_processes`` started; every one is killed and reaped on exit."""

    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, *, netns: Path, cgroup: Path | None, argv: Sequence[str]) -> subprocess.Popen[str]:
        """``argv`` in the pod's network namespace and cgroup (joined before exec); with
        ``cgroup`` None, in the namespace only (it stays in the test's cgroup)."""
        # The shell writes itself into the cgroup, then becomes nsenter, then the command.
        join = ["sh", "-c", 'echo $$ > "$0" && exec "$@"', str(cgroup / "cgroup.procs")] if cgroup else []
        process = subprocess.Popen(
            [*join, "nsenter", f"--net={netns}", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(process)
        return process

    def stop(self) -> None:
        kill_and_reap(self.started)


@contextlib.contextmanager
def pod_processes() -> Iterator[PodProcesses]:
    """Processes in pods, gone afterwards (before the pods are: a sandbox's cgroup with a
    process left in it could not be removed)."""
    processes = PodProcesses()
    try:
        yield processes
    finally:
        processes.stop()


def iperf3(
    processes: PodProcesses,
    *,
    server: tuple[Path, Path | None, str],
    client: tuple[Path, Path | None],
    argv: Sequence[str],
    port: int = 5201,
) -> dict[str, Any]:
    """One iperf3 run between two pods: ``server`` (netns, cgroup, address) listens once,
    ``client`` (netns, cgroup) sends with ``argv``; the client's JSON report."""
    server_ns, server_cgroup, address = server
    client_ns, client_cgroup = client
    listener = processes.spawn(
        netns=server_ns, cgroup=server_cgroup, argv=["iperf3", "-s", "-1", "-B", address, "-p", str(port)]
    )
    deadline = time.monotonic() + 10
    while not listening(server_ns, port):
        if listener.poll() is not None or time.monotonic() > deadline:
            _, err = listener.communicate(timeout=10)
            raise RuntimeError(f"iperf3 -s on {address}:{port} does not listen: {err.strip()}")
        time.sleep(0.02)
    sender = processes.spawn(
        netns=client_ns, cgroup=client_cgroup, argv=["iperf3", "-c", address, "-p", str(port), "-J", *argv]
    )
    out, err = sender.communicate(timeout=120)
    listener.wait(timeout=30)
    if sender.returncode != 0:
        raise RuntimeError(f"iperf3 -c {address}: exit {sender.returncode}: {out[-2000:]} {err[-2000:]}")
    report: dict[str, Any] = json.loads(out)
    return report
