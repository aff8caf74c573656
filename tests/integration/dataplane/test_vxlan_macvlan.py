"""VXLAN from a node namespace into a pod namespace, macvlan on a node interface: real traffic.

Two "nodes" are namespaces joined by a veth underlay (made with ``ip``); each has a pod
namespace. The VXLAN device of a pod is created from its node's namespace (where its
UDP socket stays) directly into the pod namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kubedtn.dataplane import Dataplane, Endpoint, MacvlanSpec, VxlanSpec
from kubedtn.dataplane.live import VxlanInfo
from tests.support import oracle
from tests.support.netns import NamespacePool, path, sh, udp_echo

pytestmark = pytest.mark.root


@dataclass
class TwoNodes:
    node1: str
    node2: str
    pod1: str
    pod2: str


@pytest.fixture
def nodes(pool: NamespacePool) -> TwoNodes:
    n1, n2, p1, p2 = pool.make(4)
    sh(None, "ip", "link", "add", "under", "netns", n1, "type", "veth", "peer", "name", "under", "netns", n2)
    for ns, ip in ((n1, "192.168.77.1/24"), (n2, "192.168.77.2/24")):
        sh(ns, "ip", "addr", "add", ip, "dev", "under")
        sh(ns, "ip", "link", "set", "under", "up")
    return TwoNodes(n1, n2, p1, p2)


def vxlan(pod: str, node: str, *, uid: int, ip: str, local: str, remote: str, vni: int = 5042) -> VxlanSpec:
    return VxlanSpec(
        uid=uid,
        endpoint=Endpoint(netns=path(pod), name="eth1", addresses=(ip,), mtu=1400),
        vni=vni,
        remote=remote,
        local=local,
        underlay="under",
        node_netns=path(node),
    )


def pair(nodes: TwoNodes, *, vni: int = 5042) -> list[VxlanSpec]:
    return [
        vxlan(
            nodes.pod1,
            nodes.node1,
            uid=1,
            ip="10.9.0.1/24",
            local="192.168.77.1",
            remote="192.168.77.2",
            vni=vni,
        ),
        vxlan(
            nodes.pod2,
            nodes.node2,
            uid=2,
            ip="10.9.0.2/24",
            local="192.168.77.2",
            remote="192.168.77.1",
            vni=vni,
        ),
    ]


def test_vxlan_into_pod_namespace_passes_traffic(nodes: TwoNodes, dp: Dataplane) -> None:
    report = dp.apply(pair(nodes))

    assert [r.outcome for r in report.results] == ["created", "created"]
    link = oracle.links(nodes.pod1)["eth1"]
    data = link.info
    assert data["IFLA_VXLAN_ID"] == 5042
    assert data["IFLA_VXLAN_GROUP"] == "192.168.77.2" and data["IFLA_VXLAN_LOCAL"] == "192.168.77.1"
    assert data["IFLA_VXLAN_PORT"] == 4789 and data["IFLA_VXLAN_LEARNING"] == 0
    assert link.kind == "vxlan" and link.mtu == 1400 and link.up and link.alias == "kubedtn uid=1"
    # created in the node namespace: its tunnel lives there (on the underlay), the device in the pod
    assert "eth1" not in oracle.links(nodes.node1)
    assert link.link_netnsid is not None
    assert data["IFLA_VXLAN_LINK"] == oracle.links(nodes.node1)["under"].index
    # our decoder reads the same
    (mine,) = [i for i in dp.read(path(nodes.pod1)) if i.name == "eth1"]
    assert mine.vxlan == VxlanInfo(
        vni=data["IFLA_VXLAN_ID"],
        remote=data["IFLA_VXLAN_GROUP"],
        local=data["IFLA_VXLAN_LOCAL"],
        port=data["IFLA_VXLAN_PORT"],
        underlay_ifindex=data["IFLA_VXLAN_LINK"],
        learning=bool(data["IFLA_VXLAN_LEARNING"]),
    )
    assert (mine.ifindex, mine.link_netnsid, mine.uid) == (link.index, link.link_netnsid, 1)
    assert (
        udp_echo(client_ns=nodes.pod1, client_ip="10.9.0.1", server_ns=nodes.pod2, server_ip="10.9.0.2") == 3
    )


def test_vxlan_reapply_keeps_and_wrong_vni_is_replaced(nodes: TwoNodes, dp: Dataplane) -> None:
    first = dp.apply(pair(nodes))
    again = dp.apply(pair(nodes))
    assert [r.outcome for r in again.results] == ["kept", "kept"] and again.changes == 0
    assert [r.ifindexes for r in again.results] == [r.ifindexes for r in first.results]

    changed = dp.apply(pair(nodes, vni=6000))

    assert [r.outcome for r in changed.results] == ["replaced", "replaced"]
    assert "VNI 5042, expected 6000" in changed.result(1).detail
    assert oracle.links(nodes.pod1)["eth1"].info["IFLA_VXLAN_ID"] == 6000
    assert (
        udp_echo(client_ns=nodes.pod1, client_ip="10.9.0.1", server_ns=nodes.pod2, server_ip="10.9.0.2") == 3
    )


def test_vxlan_over_an_ipv6_underlay_carrying_ipv6(nodes: TwoNodes, dp: Dataplane) -> None:
    for ns, ip in ((nodes.node1, "fd77::1/64"), (nodes.node2, "fd77::2/64")):
        sh(ns, "ip", "addr", "add", ip, "dev", "under", "nodad")
    specs = [
        VxlanSpec(
            uid=i,
            endpoint=Endpoint(netns=path(pod), name="vx6", addresses=(f"fd99::{i}/64",)),
            vni=77,
            remote=remote,
            local=local,
            underlay="under",
            node_netns=path(node),
        )
        for i, pod, node, local, remote in (
            (1, nodes.pod1, nodes.node1, "fd77::1", "fd77::2"),
            (2, nodes.pod2, nodes.node2, "fd77::2", "fd77::1"),
        )
    ]
    dp.apply(specs)
    data = oracle.links(nodes.pod1)["vx6"].info
    assert data["IFLA_VXLAN_GROUP6"] == "fd77::2" and data["IFLA_VXLAN_LOCAL6"] == "fd77::1"
    assert udp_echo(client_ns=nodes.pod1, client_ip="fd99::1", server_ns=nodes.pod2, server_ip="fd99::2") == 3
    assert [r.outcome for r in dp.apply(specs).results] == ["kept", "kept"]


def test_vxlan_with_missing_underlay_is_refused_by_name(nodes: TwoNodes, dp: Dataplane) -> None:
    spec = VxlanSpec(
        uid=7,
        endpoint=Endpoint(netns=path(nodes.pod1), name="eth1"),
        vni=1,
        remote="192.168.77.2",
        local=None,
        underlay="nosuchdev",
        node_netns=path(nodes.node1),
    )
    report = dp.apply([spec], strict=False)
    assert report.result(7).outcome == "failed"
    assert (
        f"underlay device nosuchdev does not exist in node namespace {nodes.node1}" in report.result(7).detail
    )
    assert "eth1" not in oracle.links(nodes.pod1)


def test_macvlan_bridge_mode_between_two_pods(pool: NamespacePool, dp: Dataplane) -> None:
    node, p1, p2 = pool.make(3)
    # The host interface: one end of a veth in the node namespace (no dummy module on every kernel).
    sh(node, "ip", "link", "add", "host0", "type", "veth", "peer", "name", "host0p")
    sh(node, "ip", "link", "set", "host0", "up")
    sh(node, "ip", "link", "set", "host0p", "up")
    links = [
        MacvlanSpec(
            uid=i,
            endpoint=Endpoint(netns=path(pod), name="eth1", addresses=(ip,), mac=mac),
            parent="host0",
            node_netns=path(node),
        )
        for i, (pod, ip, mac) in enumerate(
            ((p1, "10.8.0.1/24", "02:00:00:00:08:01"), (p2, "10.8.0.2/24", "02:00:00:00:08:02")), start=1
        )
    ]
    report = dp.apply(links)

    assert [r.outcome for r in report.results] == ["created", "created"]
    link = oracle.links(p1)["eth1"]
    assert link.kind == "macvlan" and link.info["IFLA_MACVLAN_MODE"] == "bridge"
    assert link.mac == "02:00:00:00:08:01" and link.up
    assert link.link == oracle.links(node)["host0"].index and link.link_netnsid is not None
    (mine,) = [i for i in dp.read(path(p1)) if i.name == "eth1"]  # our decoder reads the same
    assert (mine.kind, mine.macvlan_mode, mine.link_ifindex, mine.mac) == (
        "macvlan",
        "bridge",
        link.link,
        link.mac,
    )
    assert udp_echo(client_ns=p1, client_ip="10.8.0.1", server_ns=p2, server_ip="10.8.0.2") == 3
    assert [r.outcome for r in dp.apply(links).results] == ["kept", "kept"]
