"""Simulated nodes for tests: node namespaces on a fabric bridge, a ``kubedtn daemon`` in each.

Two ways in:

* ``sim_nodes(tmp_path, count)`` (context manager; fixture ``simnodes3``): just the nodes and
  their daemons, sharing one store file, no lab record — for daemon tests that bring pods
  up themselves (``client(node)`` talks to a node's daemon over its unix socket,
  ``stop``/``start`` one node's daemon). Everything is removed afterwards and the test
  fails if anything is left.
* ``kubedtn lab up --nodes N`` with the ``lab`` fixture (tests/support/lab.py) — the same
  machinery through the CLI; ``lab_nodes(env)`` reads the nodes from the lab's record.

``attach_host()`` puts one more namespace on the fabric (a "physical host" with an underlay
address), made with ``ip`` (an independent tool), removed by the caller's cleanup.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kubedtn.dataplane import create_namespaces, delete_namespaces
from kubedtn.lab import daemonproc, fabric, nodedaemons, state
from kubedtn.lab.client import LabDaemonClient
from kubedtn.lab.names import DEFAULT_UNDERLAY, LabPaths
from kubedtn.lab.nodes import NodePaths, fabric_netns, plan_nodes
from kubedtn.lab.state import NodeRecord
from tests.support.lab import LabEnv


def _sh(*argv: str) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")


@dataclass
class SimNodes:
    """Running simulated nodes (see the module docstring)."""

    name: str  # prefix of every namespace made: NAME+fabric, NAME+n-NODE, NAME-p...
    paths: LabPaths
    store: Path
    fabric: str
    nodes: list[NodeRecord]
    extra_netns: list[str] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)

    def node(self, name: str) -> NodeRecord:
        return next(n for n in self.nodes if n.name == name)

    def socket(self, node: str) -> str:
        return str(NodePaths(self.paths, node).socket)

    def log(self, node: str) -> Path:
        return NodePaths(self.paths, node).daemon_log

    def client(self, node: str) -> LabDaemonClient:
        return LabDaemonClient(self.socket(node), timeout_s=120.0)

    def stop(self, node: str) -> bool:
        return nodedaemons.stop(self.paths, self.node(node))

    def start(self, node: str) -> None:
        record, proc = nodedaemons.spawn(self.paths, self.node(node), store=str(self.store))
        if record.pid is not None:
            self.pids.add(record.pid)
        nodedaemons.wait(self.paths, record, proc)

    def attach_host(self, ip: str) -> str:
        """A namespace on the fabric with ``ip`` on its eth0: a physical host; its name."""
        return attach_host(self.fabric, ip, self.extra_netns, prefix=self.name)

    def leftovers(self) -> list[str]:
        out = [f"namespace {n}" for n in namespaces_of(self.name)]
        out += [f"daemon pid {p}" for p in self.pids if daemonproc.process_alive(p)]
        return out


def namespaces_of(prefix: str) -> list[str]:
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith((f"{prefix}-", f"{prefix}+")))


def attach_host(fabric_ns: str, ip: str, made: list[str], *, prefix: str) -> str:
    """A namespace ``PREFIX+h-XXXX`` wired to the fabric bridge with ``ip`` on eth0 (appended to made)."""
    tag = uuid.uuid4().hex[:6]
    name = f"{prefix}+h-{tag}"
    made.append(name)
    create_namespaces([name], loopback_up=True)
    port = f"h{tag}"
    prefixlen = DEFAULT_UNDERLAY.split("/")[1]
    _sh("ip", "link", "add", port, "netns", fabric_ns, "type", "veth", "peer", "name", "eth0", "netns", name)
    _sh("ip", "-n", fabric_ns, "link", "set", port, "master", "br0", "up")
    _sh("ip", "-n", name, "addr", "add", f"{ip}/{prefixlen}", "dev", "eth0")
    _sh("ip", "-n", name, "link", "set", "eth0", "up")
    return name


@contextmanager
def sim_nodes(root: Path, count: int = 3) -> Iterator[SimNodes]:
    """``count`` nodes (node1..), each with its daemon running; all removed afterwards."""
    name = f"s{uuid.uuid4().hex[:7]}"
    paths = LabPaths(lab=name, state_dir=root / "state", run_dir=root / "run")
    plan = plan_nodes(lab=name, count=count, pods=[], file_nodes={}, previous=None)
    assert plan is not None
    sim = SimNodes(name, paths, root / "state" / "store.db", fabric_netns(name), list(plan.nodes))
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        fabric.build(sim.fabric, sim.nodes, plan.subnet)
        spawned = [nodedaemons.spawn(paths, n, store=str(sim.store)) for n in sim.nodes]
        sim.pids |= {n.pid for n, _ in spawned if n.pid is not None}
        for record, proc in spawned:
            nodedaemons.wait(paths, record, proc)
        sim.nodes = [record for record, _ in spawned]
        yield sim
    finally:
        for node in sim.nodes:
            nodedaemons.stop(paths, node)
        for pid in sim.pids:
            daemonproc.stop(pid)
        delete_namespaces(sim.extra_netns)
        fabric.remove(sim.fabric, sim.nodes)
        left = sim.leftovers()
        assert not left, f"simulated nodes {name} left behind: {left}"


@pytest.fixture
def simnodes3(tmp_path: Path) -> Iterator[SimNodes]:
    """Three simulated nodes with running daemons (import into a conftest)."""
    with sim_nodes(tmp_path, 3) as sim:
        yield sim


# ---- labs with --nodes ------------------------------------------------------------------


def lab_nodes(env: LabEnv) -> dict[str, NodeRecord]:
    """The nodes of a lab (from its record), by name."""
    current = state.load(env.paths)
    assert current is not None, f"lab {env.name} is not up"
    return {n.name: n for n in current.nodes}


def pod_node(env: LabEnv, pod: str) -> str:
    current = state.load(env.paths)
    assert current is not None
    record = next(p for p in current.pods if p.name == pod)
    return record.node


def node_daemon_pids(env: LabEnv) -> list[int]:
    """Pids of the lab's running node daemons (noted for the leftover check)."""
    pids: list[int] = []
    if state.load(env.paths) is None:
        return pids
    for node in lab_nodes(env).values():
        pid = daemonproc.running_pid(NodePaths(env.paths, node.name))
        if pid is not None:
            pids.append(pid)
    env.daemon_pids.update(pids)
    return pids


def vxlan_ends(netns: str) -> dict[str, tuple[int, str]]:
    """The VXLAN interfaces of a namespace: name -> (VNI, remote), read with ``ip``."""
    out = subprocess.run(
        ["ip", "-d", "-j", "-n", netns, "link", "show", "type", "vxlan"],
        capture_output=True,
        text=True,
        check=True,
    )
    ends = {}
    for iface in json.loads(out.stdout or "[]"):
        data = iface["linkinfo"]["info_data"]
        ends[str(iface["ifname"])] = (int(data["id"]), str(data.get("remote", "")))
    return ends
