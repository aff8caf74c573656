"""dist/kubedtn with simulated nodes: `lab up --nodes 3`, a daemon per node run from the same
executable inside its node namespace, traffic across every ring link, status, down."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab import LabEnv, kubedtn, script_of, zipapp_lab
from tests.support.simnodes import lab_nodes, node_daemon_pids

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
RING = REPO / "examples" / "kube-dtn" / "3node.yml"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[LabEnv, list[str]]]:
    with zipapp_lab(tmp_path) as env_exe:
        yield env_exe


def netns_of(pid: int) -> str:
    return str(Path(f"/proc/{pid}/ns/net").readlink())


def test_the_ring_on_three_simulated_nodes_end_to_end(lab: tuple[LabEnv, list[str]]) -> None:
    env, exe = lab
    up = kubedtn(env, "lab", "up", "--name", env.name, "--nodes", "3", str(RING), executable=exe)
    pids = node_daemon_pids(env)
    assert up.returncode == 0, up.stderr
    assert len(pids) == 3
    for pid in pids:  # each node's daemon: this executable, in its own node namespace
        assert script_of(pid) == exe[0].encode()
    assert len({netns_of(pid) for pid in pids}) == 3
    assert netns_of(pids[0]) != str(Path("/proc/self/ns/net").readlink())

    for pod, ip in (("r1", "12.12.12.2"), ("r1", "13.13.13.3"), ("r2", "23.23.23.3")):
        ping = subprocess.run(
            ["ip", "netns", "exec", env.netns(pod), "ping", "-c", "1", "-W", "2", ip],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ping.returncode == 0, f"{pod} -> {ip}: {ping.stdout}"
    status = kubedtn(env, "lab", "status", "--name", env.name, executable=exe, check=True).stdout
    assert all(n.ip in status for n in lab_nodes(env).values())
