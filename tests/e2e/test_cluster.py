"""kubedtn on a simulated cluster: three nodes, a daemon each on the Kubernetes API (the double),
kube-dtn's 3node.yml applied unchanged with real kubectl, and a kubelet that runs its pods
through the CNI chain. The daemons, the plugin and the controller are dist/kubedtn.

Every change is made as a user makes it (kubectl against the API) and every check reads the
kernel of the pods (``ip``, traffic). See tests/support/cluster.py for the harness.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.model.objects import LINKS_FINALIZER
from tests.support import zipapp
from tests.support.cluster import (
    CONTROLLER_NAMESPACE,
    KUBE_DTN_GROUP,
    SimCluster,
    controller_missing,
    sim_cluster,
)
from tests.support.kubeapi.fixture import Kubectl
from tests.support.netns import ip_json, links_by_name, qdiscs, udp_echo, wait_until
from tests.support.ring import RING, RING_LINKS, TOPOLOGIES, json_patch, kubectl, plumbed, ring, run_ring
from tests.support.simnodes import vxlan_ends

pytestmark = [pytest.mark.root, pytest.mark.e2e]
__all__ = ["kubectl", "ring"]  # fixtures


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[SimCluster]:
    """The simulated cluster of 3node.yml's group, every process dist/kubedtn."""
    with sim_cluster(tmp_path, 3, api_group=KUBE_DTN_GROUP, command=[str(zipapp.executable())]) as c:
        yield c


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
    pod = ring.objects.get("pods", "r1")  # as the kubelet records it, from the CNI chain's result
    assert pod["spec"]["nodeName"] == "node1" and pod["status"]["hostIP"] == ring.node("node1").ip
    (eth0,) = ip_json(ring.netns("r1"), "addr", "show", "dev", "eth0")
    assert f'"local": "{pod["status"]["podIP"]}"' in json.dumps(eth0["addr_info"])


def test_3node_applied_with_topo_apply_passes_traffic_across_nodes(tmp_path: Path) -> None:
    """The same file through ``kubedtn topo apply``, which converts it to kubedtn.io/v1 (the
    Pods are the kubelet's: topo apply writes Topologies only)."""
    exe = str(zipapp.executable())
    with sim_cluster(tmp_path, 3, command=[exe]) as c:
        applied = subprocess.run(
            [exe, "topo", "apply", "-f", str(RING), "--kubeconfig", str(c.kubeconfig)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert applied.returncode == 0, applied.stderr
        assert "topology.kubedtn.io/r1 created" in applied.stdout, applied.stdout
        run_ring(c)
        for a, b, _, _, a_ip, b_ip in RING_LINKS:
            assert c.pods[a].node != c.pods[b].node
            assert _passes(c, a, b, a_ip, b_ip), f"{a} -> {b}"


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


def _has(c: SimCluster, pod: str, dev: str) -> bool:
    return dev in links_by_name(c.netns(pod))


def _up(c: SimCluster, pod: str, dev: str) -> bool:
    """The interface is there and up: the dataplane sets it up last, after its addresses."""
    link = links_by_name(c.netns(pod)).get(dev)
    flags = link.get("flags") if link is not None else None
    return isinstance(flags, list) and "UP" in flags


R1_R3_EXTRA = (
    {"uid": 4, "peer_pod": "r3", "local_intf": "eth3", "peer_intf": "eth3"}
    | {"local_ip": "14.14.14.1/24", "peer_ip": "14.14.14.3/24"},
    {"uid": 4, "peer_pod": "r1", "local_intf": "eth3", "peer_intf": "eth3"}
    | {"local_ip": "14.14.14.3/24", "peer_ip": "14.14.14.1/24"},
)


def test_a_link_added_to_and_removed_from_spec_appears_and_disappears(
    ring: SimCluster, kubectl: Kubectl
) -> None:
    for pod, end in zip(("r1", "r3"), R1_R3_EXTRA, strict=True):
        json_patch(kubectl, pod, {"op": "add", "path": "/spec/links/-", "value": end})
    wait_until(lambda: _up(ring, "r1", "eth3") and _up(ring, "r3", "eth3"), what="eth3 up on r1 and r3")
    assert _passes(ring, "r1", "r3", "14.14.14.1", "14.14.14.3")
    kept = {pod: _ifindex(ring.netns(pod), "eth1") for pod in ("r1", "r3")}

    for pod in ("r1", "r3"):
        json_patch(kubectl, pod, {"op": "remove", "path": "/spec/links/2"})
    wait_until(
        lambda: not _has(ring, "r1", "eth3") and not _has(ring, "r3", "eth3"), what="eth3 gone from r1 and r3"
    )
    assert {pod: _ifindex(ring.netns(pod), "eth1") for pod in ("r1", "r3")} == kept  # others untouched
    assert _passes(ring, "r1", "r3", "13.13.13.1", "13.13.13.3")


def test_a_deleted_topology_takes_its_links_then_goes(ring: SimCluster, kubectl: Kubectl) -> None:
    finalizer = json.dumps({"metadata": {"finalizers": [LINKS_FINALIZER]}})
    kubectl.run("patch", TOPOLOGIES, "r1", "--type", "merge", "-p", finalizer)  # as the controller does
    kubectl.run("delete", TOPOLOGIES, "r1", "--wait=false")
    wait_until(lambda: not _has(ring, "r1", "eth1") and not _has(ring, "r1", "eth2"), what="r1's links gone")
    wait_until(
        lambda: not _has(ring, "r2", "eth1") and not _has(ring, "r3", "eth1"),
        what="the far ends of r1's links",
    )
    wait_until(
        lambda: not ring.objects.exists("topologies", "r1", group=KUBE_DTN_GROUP),
        what="r1's Topology gone once its finalizer is off",
    )
    assert _passes(ring, "r2", "r3", "23.23.23.2", "23.23.23.3")  # the link without r1 stays


def test_a_pod_moved_to_another_node_gets_its_links_there(ring: SimCluster) -> None:
    ring.move_pod("r2", "node3")
    wait_until(
        lambda: ring.topology("r2").get("status", {}).get("src_ip") == ring.node("node3").ip,
        what="r2 recorded on node3",
    )
    for a, b in (("r1", "r2"), ("r2", "r3")):
        wait_until(
            lambda a=a, b=b: plumbed(ring, a, b) and plumbed(ring, b, a), what=f"{a}-{b} plumbed again"
        )
    assert vxlan_ends(ring.netns("r1"))["eth1"][1] == ring.node("node3").ip
    assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")  # across nodes, from node3 now
    assert _passes(ring, "r2", "r3", "23.23.23.2", "23.23.23.3")  # r2 and r3 on one node: a veth
    assert ring.pods["r2"].node == ring.pods["r3"].node == "node3"


OUTAGE_S = 10.0


def _append_link(end: dict[str, Any], spec: dict[str, Any]) -> None:
    spec["links"].append(end)


def test_changes_made_while_the_api_is_down_are_all_applied_after(ring: SimCluster) -> None:
    """The API answers nobody for 10 s (the daemons' watches cut, every request 503). The
    user's changes meanwhile go straight into the API's store, as writes that reached an API
    server the daemons could not: a rate, a link removed, a link added. The links stay up
    throughout; afterwards every change is on the links, none lost. The event log is compacted
    meanwhile (as etcd compacts), so the daemons cannot resume their watches where they
    stopped (410 Gone) and must list again."""

    def shaped(spec: dict[str, Any]) -> None:  # link 1: a rate
        spec["links"][0]["properties"] = {"rate": "10Mbit"}

    def without_link_3(spec: dict[str, Any]) -> None:
        spec["links"] = [lk for lk in spec["links"] if lk["uid"] != 3]

    faults = ring.api.faults
    with faults.active(faults.fail(503)):
        faults.drop_watches()
        for pod in ("r1", "r2"):
            ring.edit_spec(pod, shaped)
        for pod, end in zip(("r1", "r3"), R1_R3_EXTRA, strict=True):  # link 4 added
            ring.edit_spec(pod, functools.partial(_append_link, end))
        for pod in ("r2", "r3"):
            ring.edit_spec(pod, without_link_3)
        ring.api.store.compact()
        down_until = time.monotonic() + OUTAGE_S
        while time.monotonic() < down_until:  # the links stay up, as they were
            assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")
            assert _passes(ring, "r2", "r3", "23.23.23.2", "23.23.23.3")
            time.sleep(0.2)  # probes paced, not a wait for anything: 2-core CI runners
        assert _tbf_rate(ring.netns("r1"), "eth1") is None and not _has(ring, "r1", "eth3")

    def applied() -> bool:
        return (
            all(_tbf_rate(ring.netns(p), "eth1") == 10_000_000 // 8 for p in ("r1", "r2"))
            and all(_up(ring, p, "eth3") for p in ("r1", "r3"))
            and not any(_has(ring, p, "eth2") for p in ("r2", "r3"))
        )

    wait_until(applied, timeout_s=60, what="every change made during the outage on the links")
    assert _passes(ring, "r1", "r3", "14.14.14.1", "14.14.14.3")
    assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")


def test_a_killed_node_leaves_far_ends_until_its_pods_are_recorded_down(ring: SimCluster) -> None:
    """The daemons' part of a node's death: nobody runs DEL, so r3's peers keep their ends
    toward node3 until someone (the controller, here the test) records r3 not running."""
    ring.kill_node("node3")
    assert ring.objects.get("nodes", "node3", "")["status"]["conditions"][0]["status"] == "Unknown"
    assert _far_ends_toward(ring, "node3") == {"r1": ["eth2"], "r2": ["eth2"]}
    ring.objects.merge(
        "topologies",
        "r3",
        {"status": {"src_ip": "", "net_ns": "", "links": []}},
        group=KUBE_DTN_GROUP,
        status=True,
    )
    wait_until(
        lambda: _far_ends_toward(ring, "node3") == {"r1": [], "r2": []},
        what="r1's and r2's VXLAN ends toward node3 removed",
    )
    assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")


# ---- with the controller (kubedtn controller; skipped while this build has none) ---------------

NODE_GRACE = ("--node-grace", "2")
# A Lease left by a killed controller is taken over after its duration: short ones here.
SHORT_LEASE = ("--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.2")


@pytest.fixture
def needs_controller() -> None:
    """Skips at once (before the ring is up) when this build has no ``kubedtn controller``."""
    why = controller_missing((str(zipapp.executable()),))
    if why:
        pytest.skip(why)


def _far_ends_toward(c: SimCluster, node: str) -> dict[str, list[str]]:
    """Per running pod, its VXLAN ends whose remote is ``node``'s IP."""
    ip = c.node(node).ip
    return {
        pod: sorted(dev for dev, (_, remote) in vxlan_ends(run.netns).items() if remote == ip)
        for pod, run in c.pods.items()
    }


def _not_running(c: SimCluster, pod: str) -> bool:
    status = c.topology(pod).get("status", {})
    return not status.get("src_ip") and not status.get("links")


@pytest.mark.usefixtures("needs_controller")
def test_a_node_killed_without_del_loses_its_peers_far_ends(ring: SimCluster) -> None:
    ring.start_controller(*NODE_GRACE)
    assert _far_ends_toward(ring, "node3") == {"r1": ["eth2"], "r2": ["eth2"], "r3": []}
    ring.kill_node("node3")  # r3's namespace gone, no DestroyPod: nobody tells the peers
    wait_until(
        lambda: _far_ends_toward(ring, "node3") == {"r1": [], "r2": []},
        timeout_s=30,
        what="r1's and r2's VXLAN ends toward the dead node3 removed",
    )
    wait_until(lambda: _not_running(ring, "r3"), what="r3 recorded not running")
    assert _passes(ring, "r1", "r2", "12.12.12.1", "12.12.12.2")  # the live link stays


@pytest.mark.usefixtures("needs_controller")
def test_the_controller_killed_mid_change_converges_after_restart(ring: SimCluster) -> None:
    """The controller sees node3 go, and is killed while it waits out the node's grace period,
    before it records r3 down; the controller started again finishes the change."""
    ring.start_controller("--node-grace", "30", *SHORT_LEASE)
    wait_until(
        lambda: all(LINKS_FINALIZER in _finalizers(ring, p) for p in ("r1", "r2", "r3")),
        what="the controller at work (its finalizer on every Topology)",
    )
    ring.kill_node("node3")
    ring.kill_controller()  # mid-change: node3 is Unknown, r3 not yet recorded down
    assert _far_ends_toward(ring, "node3") == {"r1": ["eth2"], "r2": ["eth2"]}
    assert not _not_running(ring, "r3")
    ring.start_controller(*NODE_GRACE, *SHORT_LEASE)
    wait_until(
        lambda: _far_ends_toward(ring, "node3") == {"r1": [], "r2": []},
        timeout_s=30,
        what="the restarted controller has the far ends toward node3 removed",
    )
    wait_until(lambda: _not_running(ring, "r3"), what="r3 recorded not running")


def _finalizers(c: SimCluster, pod: str) -> list[str]:
    return list(c.topology(pod)["metadata"].get("finalizers") or [])


def _lease_holders(c: SimCluster) -> list[str]:
    where = c.objects.target("leases", "", CONTROLLER_NAMESPACE, group="coordination.k8s.io")
    leases = c.api.api.list(where, {})
    return [str(lease.get("spec", {}).get("holderIdentity") or "") for lease in leases["items"]]


@pytest.mark.usefixtures("needs_controller")
def test_two_controller_replicas_one_leader(ring: SimCluster) -> None:
    """Two replicas: one Lease, one holder; with the first replica killed (the leader or not),
    the one left leads and acts."""
    first = ring.start_controller(*NODE_GRACE, *SHORT_LEASE)
    second = ring.start_controller(*NODE_GRACE, *SHORT_LEASE)
    wait_until(lambda: any(_lease_holders(ring)), what="a controller holding the Lease")
    assert len([h for h in _lease_holders(ring) if h]) == 1, _lease_holders(ring)
    ring.kill_controller(first)
    ring.kill_node("node3")
    wait_until(
        lambda: _far_ends_toward(ring, "node3") == {"r1": [], "r2": []},
        timeout_s=60,
        what="the far ends toward node3 removed by the replica left",
    )
    assert second.poll() is None, "the second replica exited"
