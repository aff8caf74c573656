"""Issue 5's acceptance: cross-node links on simulated nodes (``kubedtn lab up --nodes``).

Each test brings a lab up on simulated nodes (a daemon process per node namespace, the
nodes on one fabric bridge), checks the kernel with ``ip``/``tc`` and real traffic, and
the ``lab`` fixture takes it down and fails on anything left (namespaces LAB-* and
LAB+*, daemons, directories). Netem properties on cross-node links are checked in the
user-mode Linux lane (tests/netem/lab/test_crossnode.py): this kernel has no sch_netem.
"""

from __future__ import annotations

import json
import stat
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedtn.dataplane import delete_namespaces
from kubedtn.lab.nodes import NodePaths
from tests.support.lab import LabEnv, kubedtn
from tests.support.simnodes import (
    SimNodes,
    attach_host,
    lab_nodes,
    node_daemon_pids,
    pod_node,
    simnodes3,
    vxlan_ends,
)

pytestmark = pytest.mark.root
__all__ = ["simnodes3"]  # a fixture

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "kube-dtn"
RING = EXAMPLES / "3node.yml"
# The ring's links: (pod, its address) <-> (peer, the peer's address)
RING_LINKS = [
    ("r1", "12.12.12.2"),
    ("r1", "13.13.13.3"),
    ("r2", "23.23.23.3"),
    ("r2", "12.12.12.1"),
    ("r3", "13.13.13.1"),
    ("r3", "23.23.23.2"),
]


def ping(netns: str, ip: str) -> bool:
    run = subprocess.run(
        ["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", ip], capture_output=True, check=False
    )
    return run.returncode == 0


def eventually(check: Callable[[], bool], *, timeout_s: float = 30.0, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.2)


def up(lab: LabEnv, *args: str) -> subprocess.CompletedProcess[str]:
    result = kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", *args)
    node_daemon_pids(lab)
    return result


def ring_in(namespace: str, path: Path) -> Path:
    """kube-dtn's ring with every Topology in Kubernetes namespace ``namespace``."""
    doc = yaml.safe_load(RING.read_text())
    for item in doc["items"]:
        item["metadata"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(doc))
    return path


def qdiscs(netns: str, dev: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["tc", "-j", "-n", netns, "qdisc", "show", "dev", dev], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout or "[]"))


def all_vxlan_remotes(lab: LabEnv) -> dict[str, set[str]]:
    return {ns: {remote for _, remote in vxlan_ends(ns).values()} for ns in lab.namespaces()}


def test_the_ring_on_three_nodes_crosses_nodes_on_every_link_and_passes_traffic(lab: LabEnv) -> None:
    result = up(lab, "--nodes", "3", str(RING))
    assert result.returncode == 0, result.stderr
    nodes = lab_nodes(lab)
    assert sorted(nodes) == ["node1", "node2", "node3"]
    # Round-robin in pod order: r1, r2, r3 on node1, node2, node3.
    ip_of = {pod: nodes[pod_node(lab, pod)].ip for pod in ("r1", "r2", "r3")}
    assert len(set(ip_of.values())) == 3
    peers = {
        "r1": {"eth1": "r2", "eth2": "r3"},
        "r2": {"eth1": "r1", "eth2": "r3"},
        "r3": {"eth1": "r1", "eth2": "r2"},
    }
    for pod, by_intf in peers.items():
        ends = vxlan_ends(lab.netns(pod))
        assert {intf: remote for intf, (_, remote) in ends.items()} == {
            i: ip_of[p] for i, p in by_intf.items()
        }
    for pod, ip in RING_LINKS:
        assert ping(lab.netns(pod), ip), f"{pod} -> {ip}"
    for name in nodes:  # the far ends were asked for over mutual TLS, with the lab CA's certificates
        files = NodePaths(lab.paths, name)
        assert "tcp_services=Remote tls=mutual" in files.daemon_log.read_text()
        assert stat.S_IMODE((files.tls_dir / "tls.key").stat().st_mode) == 0o600

    status = kubedtn(lab, "lab", "status", "--name", lab.name, check=True).stdout
    assert "3 simulated nodes" in status
    for name, node in nodes.items():
        assert name in status and node.ip in status


def test_rate_is_applied_on_both_ends_of_cross_node_links(lab: LabEnv, tmp_path: Path) -> None:
    doc = yaml.safe_load(RING.read_text())
    for item in doc["items"]:
        for link in item["spec"].get("links", []) if item["kind"] == "Topology" else []:
            link["properties"] = {"rate": "20mbit"}
    path = tmp_path / "ring-rate.yml"
    path.write_text(yaml.safe_dump(doc))
    result = up(lab, "--nodes", "3", str(path))
    assert result.returncode == 0, result.stderr
    for pod in ("r1", "r2", "r3"):
        for intf in ("eth1", "eth2"):
            kinds = [q["kind"] for q in qdiscs(lab.netns(pod), intf)]
            assert "tbf" in kinds, f"{pod}/{intf}: {kinds}"
    assert ping(lab.netns("r1"), "12.12.12.2")


def test_spec_node_name_places_pods_and_other_counts_are_refused(lab: LabEnv) -> None:
    refused = up(lab, "--nodes", "3", str(EXAMPLES / "latency.yaml"))
    assert refused.returncode == 1
    assert (
        "--nodes: 3, but the files place pods on 2 nodes by spec.nodeName (ubuntu, worker)" in refused.stderr
    )
    assert lab.namespaces() == []
    zero = up(lab, "--nodes", "0", str(RING))
    assert zero.returncode == 1 and "--nodes: 0 is not a number of nodes (an integer 1..64)" in zero.stderr
    assert lab.namespaces() == []


def test_a_moved_pod_gets_its_links_back_and_nothing_points_at_its_old_node(lab: LabEnv) -> None:
    assert up(lab, "--nodes", "3", str(RING)).returncode == 0
    nodes = lab_nodes(lab)
    old_ip = nodes["node1"].ip
    assert pod_node(lab, "r1") == "node1"

    moved = kubedtn(lab, "lab", "move", "--name", lab.name, "r1", "--node", "node2")
    assert moved.returncode == 0, moved.stderr
    assert "moved from node node1 to node node2" in moved.stdout
    assert pod_node(lab, "r1") == "node2"
    for pod, ip in RING_LINKS:
        assert ping(lab.netns(pod), ip), f"{pod} -> {ip}"
    remotes = all_vxlan_remotes(lab)
    stale = {ns: r for ns, r in remotes.items() if old_ip in r}
    assert not stale, f"VXLAN ends still toward node1 ({old_ip}): {stale}"
    # r1 and r2 now share node2: their link is a veth pair.
    assert "eth1" not in vxlan_ends(lab.netns("r1")) and "eth1" not in vxlan_ends(lab.netns("r2"))

    unknown = kubedtn(lab, "lab", "move", "--name", lab.name, "r1", "--node", "nodeX")
    assert unknown.returncode == 1
    assert "'nodeX' is not a node of lab" in unknown.stderr and "node1, node2, node3" in unknown.stderr


def test_a_peer_daemon_down_during_setup_is_named_and_the_link_converges_when_it_is_back(lab: LabEnv) -> None:
    assert up(lab, "--nodes", "3", str(RING)).returncode == 0
    stopped = kubedtn(lab, "lab", "node", "stop", "--name", lab.name, "node2")
    assert stopped.returncode == 0 and "daemon stopped" in stopped.stdout
    # r1 comes up on node3 while r2's daemon (node2) is down.
    moved = kubedtn(lab, "lab", "move", "--name", lab.name, "r1", "--node", "node3")
    node2_ip = lab_nodes(lab)["node2"].ip
    if moved.returncode != 0:
        assert node2_ip in moved.stderr, moved.stderr  # a clear error names the peer's node
    started = kubedtn(lab, "lab", "node", "start", "--name", lab.name, "node2")
    assert started.returncode == 0, started.stderr
    node_daemon_pids(lab)
    eventually(lambda: ping(lab.netns("r1"), "12.12.12.2"), what="r1 -> r2 after node2's daemon is back")
    for pod, ip in RING_LINKS:
        assert ping(lab.netns(pod), ip), f"{pod} -> {ip}"


def test_two_kubernetes_namespaces_with_the_same_uids_do_not_interfere(lab: LabEnv, tmp_path: Path) -> None:
    blue, green = ring_in("blue", tmp_path / "blue.yml"), ring_in("green", tmp_path / "green.yml")
    result = up(lab, "--nodes", "3", str(blue), str(green))
    assert result.returncode == 0, result.stderr
    vnis = {ns: {vni for vni, _ in vxlan_ends(lab.netns(f"{ns}_r1")).values()} for ns in ("blue", "green")}
    assert not vnis["blue"] & vnis["green"], vnis
    for ns in ("blue", "green"):
        for pod, ip in RING_LINKS:
            assert ping(lab.netns(f"{ns}_{pod}"), ip), f"{ns}/{pod} -> {ip}"


PHYSICAL_HOST_IP = "172.30.0.200"


def test_physical_and_macvlan_peers_pass_traffic(lab: LabEnv, tmp_path: Path) -> None:
    topo: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "y-young.github.io/v1",
                "kind": "Topology",
                "metadata": {"name": "p1"},
                "spec": {
                    "links": [
                        {
                            "uid": 100,
                            "peer_pod": f"physical/{PHYSICAL_HOST_IP}",
                            "local_intf": "eth1",
                            "peer_intf": "veth1",
                            "local_ip": "34.34.34.3/24",
                            "peer_ip": "34.34.34.4/24",
                        }
                    ]
                },
            },
            {
                "apiVersion": "y-young.github.io/v1",
                "kind": "Topology",
                "metadata": {"name": "p2"},
                "spec": {
                    "links": [
                        {
                            "uid": 101,
                            "peer_pod": "localhost",
                            "local_intf": "eth1",
                            "peer_intf": "eth0",  # the node's interface on the fabric
                            "local_ip": "172.30.0.150/24",
                        }
                    ]
                },
            },
        ],
    }
    path = tmp_path / "edge.yml"
    path.write_text(yaml.safe_dump(topo))
    made: list[str] = []
    try:
        assert up(lab, "--nodes", "2", str(path)).returncode == 0
        nodes = lab_nodes(lab)
        host = attach_host(f"{lab.name}+fabric", PHYSICAL_HOST_IP, made, prefix=lab.name)
        link_file = tmp_path / "physical-link.yml"
        link_file.write_text(
            yaml.safe_dump({"link": topo["items"][0]["spec"]["links"][0], "remote_ip": nodes["node1"].ip})
        )
        added = kubedtn(lab, "physical", "add", "--link-file", str(link_file), "--netns", host)
        assert added.returncode == 0, added.stderr
        pod_vni, _ = vxlan_ends(lab.netns("p1"))["eth1"]
        assert vxlan_ends(host) == {"veth1": (pod_vni, nodes["node1"].ip)}
        assert ping(lab.netns("p1"), "34.34.34.4")
        # macvlan on node2's eth0: reaches the other node and the host over the fabric
        assert ping(lab.netns("p2"), nodes["node1"].ip)
        assert ping(lab.netns("p2"), PHYSICAL_HOST_IP)

        gone = kubedtn(lab, "physical", "del", "--link-file", str(link_file), "--netns", host, check=True)
        assert "veth1: removed" in gone.stdout and vxlan_ends(host) == {}
        again = kubedtn(lab, "physical", "del", "--link-file", str(link_file), "--netns", host, check=True)
        assert "nothing to do" in again.stdout
    finally:
        delete_namespaces(made)


def test_the_simnodes_fixture_runs_a_daemon_per_node(simnodes3: SimNodes) -> None:
    ips = set()
    for node in simnodes3.nodes:
        with simnodes3.client(node.name) as client:
            ips.add(client.status().node_ip)
    assert ips == {n.ip for n in simnodes3.nodes}
    assert simnodes3.stop("node2")
    simnodes3.start("node2")
    with simnodes3.client("node2") as client:
        assert client.answers()


def test_up_again_keeps_nodes_and_placements_and_refuses_other_nodes(lab: LabEnv) -> None:
    assert up(lab, "--nodes", "3", str(RING)).returncode == 0
    placed = {pod: pod_node(lab, pod) for pod in ("r1", "r2", "r3")}
    again = up(lab, str(RING))
    assert again.returncode == 0, again.stderr
    assert {pod: pod_node(lab, pod) for pod in placed} == placed
    other = up(lab, "--nodes", "2", str(RING))
    assert other.returncode == 1
    assert "runs on the nodes node1, node2, node3, not node1, node2" in other.stderr
    for pod, ip in RING_LINKS:
        assert ping(lab.netns(pod), ip), f"{pod} -> {ip}"


def test_a_pod_taken_out_of_the_lab_leaves_no_vxlan_end_on_other_nodes(lab: LabEnv, tmp_path: Path) -> None:
    assert up(lab, "--nodes", "3", str(RING)).returncode == 0
    doc = yaml.safe_load(RING.read_text())
    doc["items"] = [i for i in doc["items"] if i["metadata"]["name"] != "r3"]
    two = tmp_path / "two.yml"
    two.write_text(yaml.safe_dump(doc))
    assert up(lab, str(two)).returncode == 0
    assert lab.netns("r3") not in lab.namespaces()
    assert "eth2" not in vxlan_ends(lab.netns("r1")) and "eth2" not in vxlan_ends(lab.netns("r2"))
    assert ping(lab.netns("r1"), "12.12.12.2")


def test_up_again_rewires_a_node_that_lost_its_underlay(lab: LabEnv) -> None:
    assert up(lab, "--nodes", "3", str(RING)).returncode == 0
    node2 = lab_nodes(lab)["node2"]
    subprocess.run(["ip", "-n", node2.netns, "link", "del", "eth0"], check=True)  # its fabric port goes too
    assert not ping(lab.netns("r1"), "12.12.12.2")
    again = up(lab, str(RING))
    assert again.returncode == 0, again.stderr
    # node2's ends were made anew (new MACs): r1 still holds a failed ARP entry for r2 from
    # the ping above, so its first packets may wait out the kernel's neighbour timers.
    for pod, ip in RING_LINKS:
        eventually(partial(ping, lab.netns(pod), ip), timeout_s=10, what=f"{pod} -> {ip}")
