"""Who holds a taken VNI: leftovers are stale, a live link of another pod is a collision."""

from __future__ import annotations

from kubedtn.daemon.vnis import Holder, owners_here, settle
from kubedtn.model import Link, Topology
from kubedtn.model.names import vni_for_link
from kubedtn.model.types import TopologyStatus


def pod(name: str, namespace: str, netns: str, *links: Link) -> Topology:
    return Topology(
        name=name,
        namespace=namespace,
        links=links,
        status=TopologyStatus(src_ip="10.0.0.1", net_ns=netns),
    )


R1 = pod("r1", "default", "/run/netns/a", Link(uid=7, peer_pod="r2", local_intf="eth1", peer_intf="eth1"))
VNI = vni_for_link("default", 7)


def test_a_live_end_of_another_link_is_a_collision() -> None:
    verdict = settle(VNI, ("blue", 3), [Holder("/run/netns/a", "eth1", VNI)], owners_here([R1]))
    assert verdict.collision is not None and verdict.collision.describe() == "default/r1 eth1 (link 7)"
    assert verdict.stale == ()


def test_a_holder_no_pod_claims_is_stale() -> None:
    old = Holder("/run/netns/old", "eth1", VNI)
    assert settle(VNI, ("default", 7), [old], owners_here([R1])).stale == (old,)


def test_an_end_whose_link_now_has_another_vni_is_stale() -> None:
    # r1's eth1 holds the VNI, but r1's link on eth1 is now uid 7 in namespace blue.
    moved = pod("r1", "blue", "/run/netns/a", Link(uid=7, peer_pod="r2", local_intf="eth1", peer_intf="eth1"))
    holder = Holder("/run/netns/a", "eth1", VNI)
    verdict = settle(VNI, ("green", 1), [holder], owners_here([moved]))
    assert verdict == settle(VNI, ("green", 1), [holder], {}) and verdict.stale == (holder,)


def test_holders_of_other_vnis_are_ignored() -> None:
    assert settle(VNI, ("blue", 3), [Holder("/run/netns/a", "eth1", VNI + 1)], owners_here([R1])).stale == ()
