"""Issue 16's chaos on simulated nodes: a daemon killed while it plumbs 500 links, both
daemons of a cross-node topology restarted at once. After each, every link is checked in
the kernel with ``ip`` (one interface per link end, VXLAN ends toward the peer's node with
the peer's VNI, nothing else in the pods or on the nodes) and traffic is sent.

The topology: 80 pods alternating between node1 and node2, 500 links; link u joins pod
u % 80 and pod (u % 80 + 1 + u // 80) % 80 (an odd step crosses nodes: VXLAN; an even
one stays on the node: veth), interfaces ``e<u>``, addresses 10.<u/256>.<u%256>.1-2/30.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubedtn.dataplane import create_namespaces, delete_namespaces
from kubedtn.lab import daemonproc, nodedaemons
from kubedtn.lab.client import PodResult
from kubedtn.lab.nodes import NodePaths
from kubedtn.lab.state import PodRecord
from kubedtn.store import open_store
from tests.support.netns import wait_until
from tests.support.simnodes import SimNodes, sim_nodes

pytestmark = [pytest.mark.root, pytest.mark.chaos]

PODS = 80
LINKS = 500
CONVERGE_S = 90.0  # the resync retries a failed pass after 1, 2, 5, 10, 30 s


@dataclass(frozen=True)
class Link:
    uid: int
    a: int  # pod indexes
    b: int


def layout(links: int = LINKS, pods: int = PODS) -> list[Link]:
    return [Link(u, u % pods, (u % pods + 1 + u // pods) % pods) for u in range(1, links + 1)]


def addr(uid: int, side: int) -> str:
    hi, lo = divmod(uid, 256)
    return f"10.{hi}.{lo}.{side}"


def topologies(pods: Sequence[str], links: Sequence[Link]) -> list[dict[str, Any]]:
    ends: dict[str, list[dict[str, Any]]] = {p: [] for p in pods}
    for link in links:
        a, b = pods[link.a], pods[link.b]
        for me, peer, side, other in ((a, b, 1, 2), (b, a, 2, 1)):
            ends[me].append(
                {
                    "uid": link.uid,
                    "peer_pod": peer,
                    "local_intf": f"e{link.uid}",
                    "peer_intf": f"e{link.uid}",
                    "local_ip": f"{addr(link.uid, side)}/30",
                    "peer_ip": f"{addr(link.uid, other)}/30",
                }
            )
    return [
        {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": {"name": p}, "spec": {"links": e}}
        for p, e in ends.items()
    ]


@dataclass
class Topo:
    sim: SimNodes
    pods: list[str]  # namespace names, also the pods' names
    links: list[Link]

    def node_of(self, index: int) -> str:
        return self.sim.nodes[index % len(self.sim.nodes)].name

    @property
    def records(self) -> list[PodRecord]:
        return [PodRecord(p, "default", p, self.node_of(i)) for i, p in enumerate(self.pods)]

    def setup(self, records: Sequence[PodRecord] | None = None) -> tuple[PodResult, ...]:
        return nodedaemons.setup_pods(self.sim.paths, self.records if records is None else records)


@contextmanager
def topology(sim: SimNodes, links: int = LINKS) -> Iterator[Topo]:
    """The layout's pods (namespaces NAME-pNN) with their Topologies in the store."""
    pods = [f"{sim.name}-p{i:02d}" for i in range(PODS)]
    try:
        create_namespaces(pods, loopback_up=True)
        topo = Topo(sim, pods, layout(links))
        with closing(open_store(str(sim.store))) as store:
            for obj in topologies(pods, topo.links):
                store.create(obj)
        for node in sim.nodes:  # each daemon has read the objects (as lab up waits)
            with sim.client(node.name) as client:
                client.status()
        yield topo
    finally:
        delete_namespaces(pods)


def ip_links(netns: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["ip", "-d", "-j", "-n", netns, "link", "show"], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout or "[]"))


def kernel_state(topo: Topo) -> dict[str, dict[str, tuple[str, int, str]]]:
    """pod -> interface -> (kind, VNI, VXLAN remote) of every interface but lo."""
    state: dict[str, dict[str, tuple[str, int, str]]] = {}
    for pod in topo.pods:
        found: dict[str, tuple[str, int, str]] = {}
        for iface in ip_links(pod):
            if iface["ifname"] == "lo":
                continue
            info = iface.get("linkinfo", {})
            data = info.get("info_data", {})
            found[str(iface["ifname"])] = (
                str(info.get("info_kind", "")),
                int(data.get("id", 0)),
                str(data.get("remote", "")),
            )
        state[pod] = found
    return state


def problems(topo: Topo) -> list[str]:
    """What the kernel lacks or has beyond the topology (empty: converged, nothing leaked)."""
    state = kernel_state(topo)
    ip_of = {n.name: n.ip for n in topo.sim.nodes}
    wrong: list[str] = []
    expected: dict[str, set[str]] = {p: set() for p in topo.pods}
    for link in topo.links:
        a, b = topo.pods[link.a], topo.pods[link.b]
        name = f"e{link.uid}"
        expected[a].add(name)
        expected[b].add(name)
        ea, eb = state[a].get(name), state[b].get(name)
        if ea is None or eb is None:
            wrong.append(f"link {link.uid}: {a} has {ea}, {b} has {eb}")
            continue
        cross = topo.node_of(link.a) != topo.node_of(link.b)
        if not cross:
            if ea[0] != "veth" or eb[0] != "veth":
                wrong.append(f"link {link.uid} (same node): {ea}, {eb}")
        elif (
            ea[0] != "vxlan"
            or eb[0] != "vxlan"
            or ea[1] != eb[1]
            or ea[2] != ip_of[topo.node_of(link.b)]
            or eb[2] != ip_of[topo.node_of(link.a)]
        ):
            wrong.append(f"link {link.uid} (cross node): {a} {ea}, {b} {eb}")
    for pod, found in state.items():
        extra = sorted(set(found) - expected[pod])
        if extra:
            wrong.append(f"{pod}: interfaces not in the topology: {extra}")
    return wrong


def node_interfaces(sim: SimNodes) -> dict[str, list[str]]:
    return {n.name: sorted(str(i["ifname"]) for i in ip_links(n.netns)) for n in sim.nodes}


def ping(netns: str, ip: str) -> bool:
    run = subprocess.run(
        ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", ip], capture_output=True, check=False
    )
    return run.returncode == 0


def assert_traffic(topo: Topo, every: int = 50) -> None:
    """A ping over every ``every``-th link, crossing nodes and not."""
    sample = topo.links[::every] + topo.links[1::every]
    failed = [link.uid for link in sample if not ping(topo.pods[link.a], addr(link.uid, 2))]
    assert not failed, f"no traffic over links {failed}"


def converge(topo: Topo, what: str) -> None:
    last: list[str] = []

    def done() -> bool:
        nonlocal last
        last = problems(topo)
        return not last

    try:
        wait_until(done, timeout_s=CONVERGE_S, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e}; {len(last)} problems, the first: {last[:5]}") from None


def kill9(sim: SimNodes, node: str) -> int:
    pid = daemonproc.running_pid(NodePaths(sim.paths, node))
    assert pid is not None, f"{node}'s daemon is not running"
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not daemonproc.process_alive(pid), timeout_s=10, what=f"{node}'s daemon gone")
    return pid


@pytest.fixture
def sim2(tmp_path: Path) -> Iterator[SimNodes]:
    with sim_nodes(tmp_path, 2) as sim:
        yield sim


def test_a_daemon_killed_while_it_plumbs_500_links_converges_when_restarted(sim2: SimNodes) -> None:
    before = node_interfaces(sim2)
    with topology(sim2) as topo:
        watched = topo.pods[-2]  # a node1 pod late in its daemon's batch
        results: list[tuple[PodResult, ...]] = []
        setup = threading.Thread(target=lambda: results.append(topo.setup()))
        setup.start()
        try:
            # the first interfaces in node1's pods: the daemon is plumbing
            wait_until(
                lambda: any(len(ip_links(p)) > 1 for p in topo.pods[::2]),
                timeout_s=60,
                what="node1's daemon plumbing",
            )
            kill9(sim2, "node1")
        finally:
            setup.join(timeout=180)
        assert results, "SetupPods did not answer"
        failed = results[0]
        assert any(r.name in topo.pods[::2] for r in failed), "node1's pods answered ok after kill -9"
        half_done = len(problems(topo))
        assert half_done, "every link was made before kill -9: nothing was interrupted"

        sim2.start("node1")  # no new request: the reconcile and the resync finish the work
        converge(topo, f"the 500 links after node1's kill -9 ({half_done} problems then; {watched})")
        assert node_interfaces(sim2) == before  # nothing made in the nodes' own namespaces
        assert_traffic(topo)
        with sim2.client("node1") as client:
            info = client.status()
        assert info.pods_alive == PODS // 2
        assert not [j for j in info.jobs if j.state != "ok"], info.failing()


def strip_links(topo: Topo) -> None:
    """Every pod loses its interfaces but lo (as if its node had come back without them)."""
    for pod in topo.pods:
        names = [str(i["ifname"]) for i in ip_links(pod) if i["ifname"] != "lo"]
        if names:
            subprocess.run(
                ["ip", "-force", "-n", pod, "-batch", "-"],
                input="".join(f"link del {n}\n" for n in names),
                capture_output=True,
                text=True,
                check=False,  # a veth's far end may be gone with its pair
            )


def test_both_daemons_of_a_cross_node_topology_restarted_at_once_converge(sim2: SimNodes) -> None:
    with topology(sim2, links=120) as topo:
        assert not topo.setup()
        assert not problems(topo)
        for node in ("node1", "node2"):
            kill9(sim2, node)
        strip_links(topo)
        assert len(problems(topo)) == 120
        starts = [threading.Thread(target=sim2.start, args=(n,)) for n in ("node1", "node2")]
        for t in starts:
            t.start()
        for t in starts:
            t.join(timeout=120)
        # no new request: the start-up reconcile and the resync make every link again
        converge(topo, "the links after both daemons restarted at once")
        assert_traffic(topo, every=20)
        for node in ("node1", "node2"):
            with sim2.client(node) as client:
                assert client.status().pods_alive == PODS // 2
