"""Lab mode end to end: ``dist/kubedtn lab up`` of 200 pods / 1000 links against ``ip -batch``.

    python -m bench lab-up

Both sides build the same thing from nothing: 200 network namespaces and 1000 veth links
with addresses, MACs, MTU 1400, interface group, alias, up (the layout of
``kubedtn.lab.generate.mesh``, which is ``bench/ip_batch.py``'s). The baseline is
``ip -batch`` files: one ``netns add`` batch, one batch creating every link (both ends
placed with ``netns``), and one ``ip -n NS -batch`` per namespace for addresses and up
(``ip -batch`` cannot switch namespaces per line). Ours is the real command a user runs,
as a process: ``dist/kubedtn lab up --name L --no-progress FILE`` — file loading and
checks, namespaces, the store, one SetupPods call, the daemon plumbing, and reading
every namespace back for the summary.

Two runs of ours, each with the goal ratio >= 1: *warm*, with the lab's daemon already
running (started before the clock, as a lab does after its first ``up``), and *cold*, as
a user runs it first: a new process, no daemon up, so ``lab up`` starts the daemon itself.
Teardown: ``lab down`` (DestroyPods, namespaces, store objects, daemon) against
``ip -batch`` ``netns del``.
Every round checks that the links are really there (counted in three namespaces)
before it counts.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `kubedtn` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import Context, Result, Skip, benchmark, ip_batch
from bench.dataplane import settle
from kubedtn.dataplane import delete_namespaces
from kubedtn.lab import daemonproc
from kubedtn.lab.client import LabDaemonClient
from kubedtn.lab.generate import mesh
from kubedtn.lab.names import RUN_ROOT_ENV, STATE_ROOT_ENV, LabPaths, lab_paths
from kubedtn.model.documents import dump_yaml

PODS = 200
LINKS = 1000
ROUNDS_MAX = 5  # rounds per side (the median counts): this 2-CPU VM varies by 10-20% between runs


def _run(argv: list[str], env: Mapping[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=dict(env) if env else None, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-800:]}"
        )
    return elapsed


def _interfaces(netns: str) -> int:
    argv = ["ip", "-n", netns, "-o", "link", "show", "up"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return sum(1 for line in out.stdout.splitlines() if "veth" in line or "@" in line)


def _check(netns_of: list[str], side: str) -> None:
    want = 2 * LINKS // PODS
    for name in (netns_of[0], netns_of[PODS // 2], netns_of[-1]):
        found = _interfaces(name)
        if found != want:
            raise RuntimeError(f"{side}: {name} has {found} veth interfaces up, expected {want}")


class _Ours:
    def __init__(self, exe: Path, work: Path, topology: Path) -> None:
        self.exe = exe
        self.topology = topology
        self.env = {
            **os.environ,
            STATE_ROOT_ENV: str(work / "state"),
            RUN_ROOT_ENV: str(work / "run"),
            "KUBEDTN_EXECUTABLE": str(exe),
        }

    def up_down(self, *, warm: bool) -> tuple[float, float]:
        lab = f"b{uuid.uuid4().hex[:6]}"
        paths = lab_paths(lab, self.env)
        daemon: int | None = None
        try:
            if warm:
                daemon = self._start_daemon(paths)
            settle()
            up = _run(
                [str(self.exe), "lab", "up", "--name", lab, "--no-progress", str(self.topology)], self.env
            )
            _check([f"{lab}-p{i}" for i in range(PODS)], "lab up")
            down = _run([str(self.exe), "lab", "down", "--name", lab, "--no-progress"], self.env)
            return up, down
        finally:
            argv = [str(self.exe), "lab", "down", "--name", lab]
            subprocess.run(argv, env=self.env, capture_output=True, check=False)
            if daemon is not None:
                daemonproc.stop(daemon)
            delete_namespaces([f"{lab}-p{i}" for i in range(PODS)])

    def _start_daemon(self, paths: LabPaths) -> int:
        argv = daemonproc.daemon_argv(
            paths, host_ip="127.0.0.1", store=str(paths.store), command=[str(self.exe)]
        )
        with LabDaemonClient(str(paths.socket)) as client:
            return daemonproc.start(argv, log_file=paths.daemon_log, ready=client.answers)


def _ip_batch(work: Path) -> tuple[float, float]:
    names = [f"kdtnb-l-{uuid.uuid4().hex[:6]}-{i}" for i in range(PODS)]
    add, delete = ip_batch.write_netns(names, work)
    batches = ip_batch.write_veth(names, work, links=LINKS)
    try:
        settle()
        start = time.perf_counter()
        _run(["ip", "-batch", str(add)])
        _run(["ip", "-batch", str(batches.create)])
        for netns, batch in batches.configure:
            _run(["ip", "-n", netns, "-batch", str(batch)])
        up = time.perf_counter() - start
        _check(names, "ip -batch")
        down = _run(["ip", "-batch", str(delete)])
        return up, down
    finally:
        delete_namespaces(names)


@benchmark("lab-up")
def lab_up(ctx: Context) -> list[Result]:
    """lab up of 200 pods / 1000 links (warm and cold daemon) and lab down, vs ip -batch incl. namespaces."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    exe = ctx.require_executable()
    rounds = max(1, min(ctx.runs, ROUNDS_MAX))
    times: dict[str, list[float]] = {
        k: [] for k in ("warm", "warm_down", "cold", "cold_down", "ip", "ip_down")
    }
    with tempfile.TemporaryDirectory(prefix="kdtn-bench-lab-") as tmp:
        work = Path(tmp)
        topology = work / "mesh.yaml"
        topology.write_text(dump_yaml(mesh(PODS, LINKS)))
        ours = _Ours(exe, work, topology)
        # One untimed run first: the first start of the executable may unpack it.
        ours.up_down(warm=False)
        for r in range(rounds):
            order = ("warm", "ip", "cold") if r % 2 == 0 else ("cold", "ip", "warm")
            for side in order:
                if side == "ip":
                    up, down = _ip_batch(work)
                else:
                    up, down = ours.up_down(warm=side == "warm")
                times[side].append(up)
                times[f"{side}_down"].append(down)
    med = {k: statistics.median(v) for k, v in times.items()}
    details: dict[str, float | str] = {
        "pods": PODS,
        "links": LINKS,
        "rounds": rounds,
        **{f"{k}_s": round(v, 3) for k, v in med.items()},
        "command": f"{exe} lab up --name LAB --no-progress mesh.yaml",
    }
    baseline = "ip -batch: netns add + links + ip -n NS -batch per namespace"
    return [
        Result("lab up, daemon running (links/s)", LINKS / med["warm"], LINKS / med["ip"], baseline,
               goal=1.0, lower_is_better=False, details=details),
        Result("lab up, daemon started by it (links/s)", LINKS / med["cold"], LINKS / med["ip"], baseline,
               goal=1.0, lower_is_better=False),
        Result("lab down (s)", med["warm_down"], med["ip_down"], "ip -batch netns del", details={
            "cold_down_s": round(med["cold_down"], 3), "what": "DestroyPods, namespaces, store objects"}),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(main(sys.argv[1:] or ["lab-up"]))
