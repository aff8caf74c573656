"""Labs for tests: a unique lab name with its own state/run directories, always taken down.

``LabEnv`` points KUBEDTN_LAB_STATE_DIR / KUBEDTN_LAB_RUN_DIR at a temporary directory (so
tests never touch /var/lib/kubedtn or each other) and names the lab ``t<hex>`` (its
namespaces are ``t<hex>-<pod>``). ``leftovers()`` lists everything of the lab still on
the host: namespaces, the daemon process, the lab's directories, the bridge, the cgroup
and pins of its TCP/IP bypass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kubedtn.lab import bypass as labbypass
from kubedtn.lab import daemonproc
from kubedtn.lab.names import RUN_ROOT_ENV, STATE_ROOT_ENV, LabPaths, bridge_name, lab_paths
from tests.support import zipapp


def new_lab_name() -> str:
    return f"t{uuid.uuid4().hex[:7]}"


@dataclass
class LabEnv:
    root: Path
    name: str = field(default_factory=new_lab_name)
    daemon_pids: set[int] = field(default_factory=set)  # every daemon pid seen, checked dead at the end

    @property
    def env(self) -> dict[str, str]:
        return {STATE_ROOT_ENV: str(self.root / "state"), RUN_ROOT_ENV: str(self.root / "run")}

    @property
    def paths(self) -> LabPaths:
        return lab_paths(self.name, self.env)

    def netns(self, pod: str) -> str:
        return f"{self.name}-{pod}"

    def namespaces(self) -> list[str]:
        try:
            names = os.listdir("/run/netns")
        except FileNotFoundError:
            return []
        # LAB-POD: pods; LAB+...: simulated nodes and their fabric (lab up --nodes)
        return sorted(n for n in names if n.startswith((f"{self.name}-", f"{self.name}+")))

    def note_daemon(self) -> int | None:
        pid = daemonproc.running_pid(self.paths)
        if pid is not None:
            self.daemon_pids.add(pid)
        return pid

    def leftovers(self) -> list[str]:
        out = [f"namespace {n}" for n in self.namespaces()]
        out += [f"daemon pid {p}" for p in self.daemon_pids if daemonproc.process_alive(p)]
        for path in (self.paths.state_dir, self.paths.run_dir):
            if path.exists():
                out.append(f"directory {path}: {sorted(p.name for p in path.iterdir())}")
        # the TCP/IP bypass of the lab (lab up --tcpip-bypass): its cgroup and pins
        bypass = labbypass.places(self.name)
        out += [f"bypass {p}" for p in (bypass.cgroup, bypass.pin_dir) if os.path.exists(p)]
        bridge = subprocess.run(
            ["ip", "link", "show", "dev", bridge_name(self.name)], capture_output=True, check=False
        )
        if bridge.returncode == 0:
            out.append(f"bridge {bridge_name(self.name)}")
        return out


@contextmanager
def zipapp_lab(root: Path) -> Iterator[tuple[LabEnv, list[str]]]:
    """A lab driven through dist/kubedtn (the env, the command); afterwards ``lab down``
    and a failure naming anything it left behind."""
    exe = [str(zipapp.executable())]
    env = LabEnv(root=root)
    try:
        yield env, exe
    finally:
        env.note_daemon()
        kubedtn(env, "lab", "down", "--name", env.name, executable=exe)
        left = env.leftovers()
        assert not left, f"lab {env.name} left behind: {left}"


def kubedtn(
    lab: LabEnv,
    *args: str,
    check: bool = False,
    executable: Sequence[str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Runs ``kubedtn ARGS`` (this Python's ``-m kubedtn`` unless given) in the lab's environment."""
    argv = [*(executable or [sys.executable, "-m", "kubedtn"]), *args]
    env = {**os.environ, **lab.env, **(extra_env or {})}
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def veth_aliases(netns: str) -> list[str]:
    """Aliases of the veth interfaces in a namespace ("kubedtn uid=N"), one per interface."""
    import json

    out = subprocess.run(
        ["ip", "-j", "-n", netns, "link", "show", "type", "veth"], capture_output=True, text=True, check=True
    )
    return [str(i.get("ifalias", "")) for i in json.loads(out.stdout or "[]")]


def ifindexes(netns: str) -> dict[str, int]:
    import json

    out = subprocess.run(
        ["ip", "-j", "-n", netns, "link", "show"], capture_output=True, text=True, check=True
    )
    return {str(i["ifname"]): int(i["ifindex"]) for i in json.loads(out.stdout or "[]")}


def script_of(pid: int) -> bytes:
    """The script a process runs: the first argument after its interpreter's options
    (dist/kubedtn's shebang is ``/usr/bin/python3 -S``)."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    return next(a for a in argv[1:] if not a.startswith(b"-"))
