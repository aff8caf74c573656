"""plan_pod: one decision per link, for every situation a link can be in; plan_batch: the same
for a batch of pods, a veth between two of them planned once."""

from __future__ import annotations

import pytest

from kubedtn.daemon.plan import (
    CrossNode,
    Impossible,
    Localhost,
    Mismatch,
    NodeInfo,
    Physical,
    SameNode,
    Skip,
    plan_batch,
    plan_link,
    plan_pod,
)
from kubedtn.dataplane import MacvlanSpec, VethSpec, VxlanSpec
from kubedtn.model import LinkProperties, Topology
from tests.unit.daemon.helpers import link, pod

NODE = NodeInfo(ip="10.9.0.1", underlay="eth0")
OTHER = "10.9.0.2"
SLOW = LinkProperties(rate_bps=8_000_000)
LATE = LinkProperties(latency_us=10_000)


def pair(**far_kw: object) -> tuple[Topology, Topology]:
    r1 = pod(
        "r1",
        link(
            1,
            "r2",
            local="eth1",
            remote="eth2",
            ips=("10.0.0.1/24",),
            peer_ips=("10.0.0.2/24",),
            props=SLOW,
            mtu=1400,
        ),
        node=NODE.ip,
        netns="/run/netns/a",
    )
    far = {
        "local": "eth2",
        "remote": "eth1",
        "ips": ("10.0.0.2/24",),
        "peer_ips": ("10.0.0.1/24",),
        "props": LATE,
        "mtu": 1400,
    }
    far.update(far_kw)
    r2 = pod("r2", link(1, "r1", **far), node=NODE.ip, netns="/run/netns/b")  # type: ignore[arg-type]
    return r1, r2


def test_peer_alive_on_this_node_is_a_veth_whose_ends_carry_their_own_pods_properties() -> None:
    r1, r2 = pair()
    (d,) = plan_pod(r1, peers={"default/r2": r2}, node=NODE)
    assert isinstance(d, SameNode) and isinstance(d.spec, VethSpec)
    a, b = d.spec.a, d.spec.b
    assert (a.netns, a.name, a.addresses, a.mtu) == ("/run/netns/a", "eth1", ("10.0.0.1/24",), 1400)
    assert (b.netns, b.name, b.addresses, b.mtu) == ("/run/netns/b", "eth2", ("10.0.0.2/24",), 1400)
    # each end's egress: its own pod's spec (kube-dtn would put r1's on both)
    assert a.properties == SLOW and b.properties == LATE
    assert d.peer == "default/r2" and d.spec.uid == 1


def test_far_end_addresses_and_mac_fall_back_to_what_the_peer_says_of_itself() -> None:
    r1 = pod("r1", link(1, "r2"), node=NODE.ip, netns="/run/netns/a")
    r2 = pod(
        "r2", link(1, "r1", ips=("10.0.0.2/24",), mac="02:00:00:00:00:02"), node=NODE.ip, netns="/run/netns/b"
    )
    (d,) = plan_pod(r1, peers={"default/r2": r2}, node=NODE)
    assert isinstance(d, SameNode)
    assert d.spec.b.addresses == ("10.0.0.2/24",) and d.spec.b.mac == "02:00:00:00:00:02"


def test_peer_alive_on_another_node_is_a_local_vxlan_end_and_a_remote_end_for_its_daemon() -> None:
    r1, r2 = pair(props=LATE)
    r2 = pod("r2", *r2.links, node=OTHER, netns="/var/run/netns/cni-x")
    (d,) = plan_pod(r1, peers={"default/r2": r2}, node=NODE)
    assert isinstance(d, CrossNode) and isinstance(d.spec, VxlanSpec)
    assert (d.spec.vni, d.spec.remote, d.spec.local, d.spec.underlay) == (5001, OTHER, NODE.ip, "eth0")
    assert d.spec.endpoint.name == "eth1" and d.spec.endpoint.properties == SLOW
    end = d.remote
    assert (end.pod, end.kube_ns, end.node_ip, end.vni, end.vtep, end.uid) == (
        "r2",
        "default",
        OTHER,
        5001,
        NODE.ip,
        1,
    )
    assert (end.endpoint.netns, end.endpoint.name, end.endpoint.addresses) == (
        "/var/run/netns/cni-x",
        "eth2",
        ("10.0.0.2/24",),
    )
    assert end.endpoint.properties == LATE


@pytest.mark.parametrize(
    ("peers", "reason"),
    [
        ({}, "peer default/r2 has no Topology yet"),
        (
            {"default/r2": pod("r2", link(9, "r1"), node="10.9.0.1", netns="/n")},
            "peer default/r2 has no link with uid 1 (yet)",
        ),
        ({"default/r2": pod("r2", link(1, "r1"))}, "peer default/r2 is not up yet"),
        ({"default/r2": pod("r2", link(1, "r1"), node="10.9.0.1")}, "peer default/r2 is not up yet"),
    ],
)
def test_links_whose_peer_cannot_take_them_yet_are_skipped(peers: dict[str, Topology], reason: str) -> None:
    r1 = pod("r1", link(1, "r2"), node=NODE.ip, netns="/run/netns/a")
    (d,) = plan_pod(r1, peers=peers, node=NODE)
    assert d == Skip(r1.links[0], "default/r2", reason)


@pytest.mark.parametrize(
    ("far", "expected"),
    [
        (
            {"local": "eth3"},
            'default/r1: spec.links[0].peer_intf: "eth2" but default/r2 spec.links[0] has local_intf "eth3"',
        ),
        (
            {"remote": "eth9"},
            'default/r1: spec.links[0].local_intf: "eth1" but default/r2 spec.links[0] has peer_intf "eth9"',
        ),
        (
            {"mtu": 9000},
            "default/r1: spec.links[0].mtu: 1400 but default/r2 spec.links[0] has mtu 9000; both ends",
        ),
        (
            {"ips": ("10.0.0.3/24",)},
            'default/r1: spec.links[0].peer_ip: "10.0.0.2/24" but default/r2 spec.links[0] has local_ip '
            '"10.0.0.3/24"',
        ),
    ],
)
def test_ends_that_disagree_are_a_mismatch_naming_both(far: dict[str, object], expected: str) -> None:
    r1, r2 = pair(**far)
    (d,) = plan_pod(r1, peers={"default/r2": r2}, node=NODE)
    assert isinstance(d, Mismatch)
    assert any(expected in p for p in d.problems), d.problems


def test_a_mismatch_is_found_whether_or_not_the_peer_is_up() -> None:
    r1 = pod("r1", link(1, "r2"), node=NODE.ip, netns="/run/netns/a")
    r2 = pod("r2", link(1, "r3"))  # uid 1 joins r2 and r3 from r2's side
    (d,) = plan_pod(r1, peers={"default/r2": r2}, node=NODE)
    assert isinstance(d, Mismatch)
    assert d.problems == (
        'default/r1: spec.links[0] (uid 1): peer default/r2\'s link uid 1 joins "r3", not r1',
    )


def test_localhost_is_a_macvlan_on_the_host_interface_named_by_peer_intf() -> None:
    r1 = pod(
        "r1",
        link(4, "localhost", local="eth1", remote="ens3", ips=("192.168.1.9/24",)),
        node=NODE.ip,
        netns="/n",
    )
    (d,) = plan_pod(r1, peers={}, node=NODE)
    assert isinstance(d, Localhost) and isinstance(d.spec, MacvlanSpec)
    assert (d.spec.parent, d.spec.endpoint.name, d.spec.endpoint.addresses) == (
        "ens3",
        "eth1",
        ("192.168.1.9/24",),
    )


def test_physical_is_a_vxlan_to_that_host_with_the_uids_vni() -> None:
    r1 = pod("r1", link(100, "physical/10.9.0.55", local="veth1", remote="veth1"), node=NODE.ip, netns="/n")
    (d,) = plan_pod(r1, peers={}, node=NODE)
    assert isinstance(d, Physical)
    assert (d.spec.remote, d.spec.vni, d.spec.local, d.spec.underlay) == ("10.9.0.55", 5100, NODE.ip, "eth0")


def test_vxlan_without_an_underlay_or_across_ip_versions_is_impossible_with_the_reason() -> None:
    r1 = pod("r1", link(100, "physical/10.9.0.55"), node=NODE.ip, netns="/n")
    (d,) = plan_pod(r1, peers={}, node=NodeInfo(ip="10.9.0.1", underlay=None))
    assert (
        isinstance(d, Impossible) and "no underlay for a VXLAN link" in d.reason and "default/r1" in d.reason
    )
    v6 = pod("r1", link(100, "physical/fd00::55"), node=NODE.ip, netns="/n")
    (d,) = plan_pod(v6, peers={}, node=NODE)
    assert isinstance(d, Impossible) and "not the same IP version" in d.reason


def test_planning_a_pod_that_is_not_up_is_a_programming_error() -> None:
    r1 = pod("r1", link(1, "r2"))
    with pytest.raises(ValueError, match="default/r1 is not alive"):
        plan_link(r1, r1.links[0], peers={}, node=NODE)


def test_only_the_given_links_are_planned() -> None:
    r1 = pod("r1", link(1, "r2"), link(2, "r3", local="eth2"), node=NODE.ip, netns="/n")
    decisions = plan_pod(r1, peers={}, node=NODE, links=[r1.links[1]])
    assert [d.link.uid for d in decisions] == [2]


def test_a_batch_plans_a_veth_between_two_of_its_pods_once_and_mirrors_it_for_the_other() -> None:
    r1, r2 = pair()
    r3 = pod("r3", link(2, "r2", local="eth3", remote="eth3"), node=NODE.ip, netns="/run/netns/c")
    r2 = pod("r2", *r2.links, link(2, "r3", local="eth3", remote="eth3"), node=NODE.ip, netns="/run/netns/b")
    peers = {t.key: t for t in (r1, r2, r3)}
    batch = plan_batch([(t, t.links) for t in (r1, r2, r3)], peers=peers, node=NODE)
    alone = [plan_pod(t, peers=peers, node=NODE) for t in (r1, r2, r3)]
    # The same decisions as planning each pod alone; for the ends met second, the first
    # end's veth seen from the other end (its very Endpoints: not planned again).
    assert batch == alone
    (first,), (second, r2_r3), (third,) = batch
    assert isinstance(first, SameNode) and isinstance(second, SameNode)
    assert second.link is r2.links[0] and second.peer == "default/r1"
    assert second.spec.a is first.spec.b and second.spec.b is first.spec.a
    assert isinstance(r2_r3, SameNode) and isinstance(third, SameNode)
    assert third.spec.a is r2_r3.spec.b and third.spec.b is r2_r3.spec.a


def test_a_batch_plans_each_end_itself_when_the_peer_seen_is_not_the_one_planned() -> None:
    r1, r2 = pair()
    stale = pod("r2", *r2.links, node=NODE.ip, netns="/run/netns/old")
    peers = {r1.key: r1, r2.key: r2}
    # r2 as its own job differs from the r2 the batch's peers hold: nothing is mirrored.
    batch = plan_batch([(r1, r1.links), (stale, stale.links)], peers=peers, node=NODE)
    assert batch[1] == plan_pod(stale, peers=peers, node=NODE)
    (d,) = batch[1]
    assert isinstance(d, SameNode) and d.spec.a.netns == "/run/netns/old"
