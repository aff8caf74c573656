"""The eBPF TCP/IP bypass: TCP between two pods on one node, bypass on against off.

    python -m bench bypass

Two namespaces joined by a veth link without properties, made by the dataplane with the
bypass's marker program (as the daemon does). The programs run in two cgroups made for
the run: the bypass is attached to one ("on"), the other has nothing ("off"), and the
measurements alternate between them, so drift and the machine's other load hit both sides
alike. Measured: iperf3 throughput (one stream) and the round-trip time of one byte each
way (``bench/pingpong.c``, compiled for the run). An iperf3 run that fails (a redirected
send can fail with ENOMEM when the receiver's memory is short) is counted in the details,
not measured. The bypass's own counter must show the
"on" side was redirected and the "off" side was not, or the run fails.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `kubedtn` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import Context, Result, Skip, benchmark
from kubedtn.daemon.bypass import resolve_cgroup
from kubedtn.dataplane import Endpoint, NetlinkDataplane, VethSpec, create_namespaces, delete_namespaces

ROUNDS = 5  # per side, alternating (the medians count)
IPERF_SECONDS = 3
PINGPONG_ROUNDS = 20_000
A_IP, B_IP = "10.251.0.1", "10.251.0.2"
PORT = 5201


@contextmanager
def _cgroup(path: Path) -> Iterator[Path]:
    path.mkdir()
    try:
        yield path
    finally:
        for pid in (path / "cgroup.procs").read_text().split():  # (a program left running)
            with open(path.parent / "cgroup.procs", "w") as f:
                f.write(pid)
        path.rmdir()


def _in(cgroup: Path, netns: str, argv: Sequence[str]) -> list[str]:
    """A command line that runs argv in the cgroup (joined first) and the namespace."""
    return ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec ip netns exec "$@"', "sh", netns, *argv]


class IperfError(RuntimeError):
    """An iperf3 run that did not complete; its words."""


def _listening(netns: str, port: int, process: subprocess.Popen[str]) -> None:
    """Returns once something listens on port in netns (the server process started)."""
    deadline = time.monotonic() + 30
    while (
        f":{port} "
        not in subprocess.run(
            ["ip", "netns", "exec", netns, "ss", "-Hltn"], capture_output=True, text=True, check=True
        ).stdout
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port} in {netns}")
        time.sleep(0.01)


def _iperf(cgroup: Path, a: str, b: str) -> float:
    """Gb/s of one TCP stream a -> b."""
    server = subprocess.Popen(
        _in(cgroup, b, ["iperf3", "-s", "-1", "-B", B_IP, "-p", str(PORT)]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        _listening(b, PORT, server)
        out = subprocess.run(
            _in(cgroup, a, ["iperf3", "-c", B_IP, "-p", str(PORT), "-t", str(IPERF_SECONDS), "-J"]),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        report = json.loads(out.stdout or "{}")
        if out.returncode != 0 or "sum_received" not in report.get("end", {}):
            raise IperfError(str(report.get("error") or out.stderr[-500:]))
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e9
    finally:
        server.kill()
        server.wait()


def _pingpong(cgroup: Path, exe: Path, a: str, b: str) -> float:
    """The median round trip in µs of one byte each way, a -> b -> a."""
    server = subprocess.Popen(
        _in(cgroup, b, [str(exe), "server", str(PORT)]), stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the ping-pong server did not start")
        out = subprocess.run(
            _in(cgroup, a, [str(exe), "client", B_IP, str(PORT), str(PINGPONG_ROUNDS)]),
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return int(out.stdout.split()[0]) / 1000
    finally:
        server.kill()
        server.wait()


@benchmark("bypass")
def bypass_bench(ctx: Context) -> list[Result]:
    """TCP between two pods on one node: iperf3 throughput and 1-byte RTT, bypass on vs off."""
    if os.geteuid() != 0:
        raise Skip("needs root (namespaces, cgroups, bpf)")
    for tool in ("iperf3", "clang", "ip"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed")
    try:
        from kubedtn.ebpf.bypass import Bypass
    except ImportError as e:
        raise Skip(f"the eBPF loader is not in this build: {e}") from e
    tag = uuid.uuid4().hex[:6]
    a, b = f"kdtn-bb{tag}-a", f"kdtn-bb{tag}-b"
    root = resolve_cgroup(None)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kubedtn-bench-")))
        exe = work / "pingpong"
        subprocess.run(["clang", "-O2", "-o", str(exe), str(ctx.repo / "bench" / "pingpong.c")], check=True)
        on = stack.enter_context(_cgroup(root / f"kubedtn-bench-{tag}-on"))
        off = stack.enter_context(_cgroup(root / f"kubedtn-bench-{tag}-off"))
        bypass = Bypass(pin_dir=Path(f"/sys/fs/bpf/kubedtn-bench-{tag}"), cgroup=on)
        stack.callback(bypass.close)
        stack.callback(bypass.disable)
        bypass.enable()
        create_namespaces([a, b], loopback_up=True)
        stack.callback(delete_namespaces, [a, b])
        link = VethSpec(
            uid=1,
            a=Endpoint(netns=f"/run/netns/{a}", name="eth1", addresses=(f"{A_IP}/24",)),
            b=Endpoint(netns=f"/run/netns/{b}", name="eth1", addresses=(f"{B_IP}/24",)),
        )
        NetlinkDataplane(marker=bypass).apply([link])

        gbps: dict[Path, list[float]] = {on: [], off: []}
        rtt: dict[Path, list[float]] = {on: [], off: []}
        redirected: dict[Path, int] = {on: 0, off: 0}
        failed: dict[Path, list[str]] = {on: [], off: []}
        load = os.getloadavg()[0]
        for _ in range(ROUNDS):
            for side in (off, on):
                before = bypass.counters()["redirected"]
                try:
                    gbps[side].append(_iperf(side, a, b))
                except IperfError as e:  # counted and shown: a failed transfer is a result too
                    failed[side].append(str(e))
                rtt[side].append(_pingpong(side, exe, a, b))
                redirected[side] += bypass.counters()["redirected"] - before
        if redirected[on] == 0 or redirected[off] != 0:
            raise RuntimeError(
                f"the bypass redirected {redirected[on]} messages on and {redirected[off]} off"
            )
        if not gbps[on] or not gbps[off]:
            raise RuntimeError(f"every iperf3 run of a side failed: {failed}")
        details: dict[str, float | str] = {
            "iperf3 runs failed (on)": len(failed[on]),
            "iperf3 runs failed (off)": len(failed[off]),
            "iperf3 failures": "; ".join(sorted(set(failed[on] + failed[off]))),
            "load average (1 min) at start": round(load, 2),
            "load average (1 min) at end": round(os.getloadavg()[0], 2),
            "messages redirected (on)": redirected[on],
            "cpus": os.cpu_count() or 0,
        }
        return [
            Result(
                "TCP throughput, one iperf3 stream (Gb/s)",
                ours=statistics.median(gbps[on]),
                baseline=statistics.median(gbps[off]),
                baseline_name="no bypass",
                goal=1.5,
                lower_is_better=False,
                details=details,
            ),
            Result(
                "TCP round trip of 1 byte each way, p50 (µs)",
                ours=statistics.median(rtt[on]),
                baseline=statistics.median(rtt[off]),
                baseline_name="no bypass",
                goal=0.7,
                details=details,
            ),
        ]
    raise AssertionError("unreachable")  # (ExitStack may swallow nothing; for mypy)


if __name__ == "__main__":
    here = Context(repo=Path(__file__).resolve().parent.parent, executable=Path(), runs=1)
    for result in bypass_bench(here):
        print(result.line("bypass"))
