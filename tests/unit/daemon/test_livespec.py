"""Pure decisions of the daemon following live Topologies (livespec, follow.decide)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubedtn.daemon.follow import Work, _Seen, decide
from kubedtn.daemon.livespec import spec_diff
from kubedtn.model import Link, LinkProperties, Topology, TopologyStatus
from kubedtn.model.objects import running_at
from kubedtn.store import EventType

HERE, THERE = "10.0.0.1", "10.0.0.2"


def _link(uid: int, peer: str = "r2", intf: str = "eth1", rate: int = 0) -> Link:
    return Link(
        uid=uid, peer_pod=peer, local_intf=intf, peer_intf="eth1", properties=LinkProperties(rate_bps=rate)
    )


def _topo(spec: list[Link], plumbed: list[Link]) -> Topology:
    status = TopologyStatus(src_ip=HERE, net_ns="/run/netns/x", links=tuple(plumbed))
    return Topology(name="r1", links=tuple(spec), status=status)


def test_properties_alone_update_in_place_and_a_new_interface_replaces() -> None:
    old = _link(1, rate=10_000_000)
    topo = _topo([_link(1, rate=20_000_000), _link(2, intf="eth2")], [old, _link(2, intf="eth9")])
    diff = spec_diff(topo, live={1: "eth1", 2: "eth9"}, peer_up=lambda _: True)
    assert diff.updated == (_link(1, rate=20_000_000),)
    assert [link.local_intf for link in diff.removed] == ["eth9"]
    assert [link.local_intf for link in diff.added] == ["eth2"]


def test_links_wait_for_a_peer_that_is_down_and_strays_in_the_kernel_go() -> None:
    topo = _topo([_link(1), _link(3, peer="physical/192.0.2.9", intf="eth3")], [])
    diff = spec_diff(topo, live={7: "eth7"}, peer_up=lambda _: False)
    assert [link.uid for link in diff.added] == [3]  # a host peer needs no SetupPod
    assert [(link.uid, link.local_intf, link.peer_pod) for link in diff.removed] == [(7, "eth7", "")]


def test_nothing_to_do_when_status_and_kernel_match_the_spec() -> None:
    topo = _topo([_link(1)], [_link(1)])
    assert spec_diff(topo, live={1: "eth1"}, peer_up=lambda _: True).empty


def _obj(*, at: str = "", generation: int = 1, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "r1", "namespace": "default", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"metadata": meta, "status": {"src_ip": at, "net_ns": "/run/netns/x" if at else ""}}


def test_decide_acts_on_spec_changes_and_deletions_of_pods_here_only() -> None:
    seen = _Seen(generation=1, running_at=HERE)
    assert decide(seen, EventType.MODIFIED, _obj(at=HERE, generation=1), here=HERE) == []  # a status write
    assert decide(seen, EventType.MODIFIED, _obj(at=HERE, generation=2), here=HERE) == [
        Work("spec", "default/r1")
    ]
    assert decide(seen, EventType.MODIFIED, _obj(at=HERE, deleting=True), here=HERE) == [
        Work("delete", "default/r1")
    ]
    gone = _obj(at=HERE)
    assert decide(seen, EventType.DELETED, gone, here=HERE) == [Work("gone", "default/r1", gone)]
    elsewhere = replace(seen, running_at=THERE)
    assert decide(elsewhere, EventType.MODIFIED, _obj(at=THERE, generation=5), here=HERE) == []


def test_decide_sees_a_pod_elsewhere_stop_running() -> None:
    elsewhere = _Seen(generation=1, running_at=THERE)
    assert decide(elsewhere, EventType.MODIFIED, _obj(), here=HERE) == [Work("peer-down", "default/r1")]
    assert decide(elsewhere, EventType.DELETED, _obj(), here=HERE) == [Work("peer-down", "default/r1")]
    assert decide(None, EventType.MODIFIED, _obj(), here=HERE) == []  # never seen running
    moved = _obj(at="10.0.0.3")
    assert decide(elsewhere, EventType.MODIFIED, moved, here=HERE) == []  # its new node's daemon asks us
    assert running_at({"status": {"src_ip": THERE}}) == ""  # no namespace: not running
