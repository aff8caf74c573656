"""``kubectl patch`` of a link's latency on the simulated cluster: the netem qdiscs of both
ends change on their nodes, in place (same interface, same qdisc handle)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.cluster import SimCluster, cluster3
from tests.support.kubeapi.fixture import Kubectl
from tests.support.netns import links_by_name, qdiscs, wait_until
from tests.support.ring import json_patch, kubectl, ring

pytestmark = [pytest.mark.root, pytest.mark.netem]
__all__ = ["cluster3", "kubectl", "ring"]  # fixtures


def _netem(netns: str, dev: str) -> tuple[str, int] | None:
    """(handle, delay in µs) of the netem qdisc on dev, if any."""
    for q in qdiscs(netns, dev):
        if q.get("kind") == "netem" and "delay" in q.get("options", {}):
            return str(q["handle"]), round(float(q["options"]["delay"]["delay"]) * 1_000_000)
    return None


def _latency(value: str) -> dict[str, Any]:
    return {"op": "add", "path": "/spec/links/0/properties", "value": {"latency": value}}


def test_a_latency_patched_with_kubectl_changes_netem_on_both_nodes_in_place(
    ring: SimCluster, kubectl: Kubectl
) -> None:
    ends = {"r1": ring.netns("r1"), "r2": ring.netns("r2")}  # link 1, eth1 on both: node1, node2
    ifindex = {pod: links_by_name(ns)["eth1"]["ifindex"] for pod, ns in ends.items()}
    for pod in ends:
        json_patch(kubectl, pod, _latency("10ms"))
    for pod, ns in ends.items():
        wait_until(lambda ns=ns: (_netem(ns, "eth1") or ("", 0))[1] == 10_000, what=f"{pod}'s eth1 at 10ms")
    handles = {pod: _netem(ns, "eth1") for pod, ns in ends.items()}

    for pod in ends:
        json_patch(kubectl, pod, _latency("25ms"))
    for pod, ns in ends.items():
        wait_until(lambda ns=ns: (_netem(ns, "eth1") or ("", 0))[1] == 25_000, what=f"{pod}'s eth1 at 25ms")
        assert links_by_name(ns)["eth1"]["ifindex"] == ifindex[pod]  # the same interface throughout
        now = _netem(ns, "eth1")
        before = handles[pod]
        assert now is not None and before is not None and now[0] == before[0]  # the same qdisc
    assert _netem(ring.netns("r3"), "eth1") is None  # links not patched keep no netem
