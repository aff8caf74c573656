"""The controller's pure decisions: lost nodes, finalizers, agreement, Degraded, Events."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubedtn.controller.nodes import view_nodes
from kubedtn.controller.topologies import DEGRADED, PEERS_AGREE, READY, judge, ready_event
from kubedtn.model import Condition, Link, Topology, TopologyStatus
from kubedtn.model.objects import LINKS_FINALIZER


def _node(name: str, ip: str, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
        },
    }


def test_a_node_counts_as_lost_only_after_the_grace_period_or_when_it_is_gone() -> None:
    nodes = [_node("a", "10.0.0.1", True), _node("b", "10.0.0.2", False)]
    early = view_nodes(nodes, not_ready_since={"b": 100.0}, now=110.0, grace_s=40.0)
    assert not early.is_lost("10.0.0.1") and not early.is_lost("10.0.0.2")
    assert early.waiting["10.0.0.2"] == 30.0
    late = view_nodes(nodes, not_ready_since={"b": 100.0}, now=141.0, grace_s=40.0)
    assert late.is_lost("10.0.0.2") and not late.is_lost("10.0.0.1")
    assert not late.is_lost("10.0.0.9")  # no Node ever had it: not judged
    gone = view_nodes(nodes[:1], not_ready_since={}, now=0.0, deleted={"10.0.0.2", "10.0.0.1"})
    assert gone.is_lost("10.0.0.2") and not gone.is_lost("10.0.0.1")  # .1 is back on a Node
    unknown = view_nodes([], not_ready_since={}, now=0.0, deleted={"10.0.0.2"}, known=False)
    assert not unknown.is_lost("10.0.0.2")  # without a list of Nodes, nothing is judged


def _link(uid: int, peer: str, intf: str = "eth1", peer_intf: str = "eth1") -> Link:
    return Link(uid=uid, peer_pod=peer, local_intf=intf, peer_intf=peer_intf)


def _topo(name: str, links: list[Link], *, at: str = "", conditions: tuple[Condition, ...] = ()) -> Topology:
    status = TopologyStatus(src_ip=at, net_ns="/run/netns/x" if at else "", conditions=conditions)
    return Topology(name=name, links=tuple(links), status=status)


def _obj(*, finalizers: list[str] | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "r1", "namespace": "default", "finalizers": finalizers or []}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {"metadata": meta}


def test_a_healthy_pair_gets_the_finalizer_and_agreeing_conditions_once() -> None:
    r1 = _topo("r1", [_link(1, "r2")], at="10.0.0.1")
    r2 = _topo("r2", [_link(1, "r1")])
    first = judge(_obj(), r1, {"default/r2": r2}, node_lost=False)
    assert first.add_finalizer and not first.mark_down
    conds = {c.type: c for c in first.conditions}
    assert (conds[PEERS_AGREE].status, conds[DEGRADED].status) == ("True", "False")
    settled = replace(r1, status=replace(r1.status, conditions=first.conditions))
    again = judge(_obj(finalizers=[LINKS_FINALIZER]), settled, {"default/r2": r2}, node_lost=False)
    assert again == type(again)()  # nothing left to do: no writes, no events


def test_a_disagreeing_peer_names_the_link_and_the_field() -> None:
    r1 = _topo("r1", [_link(1, "r2", peer_intf="eth7")])
    r2 = _topo("r2", [_link(1, "r1")])
    verdict = judge(_obj(), r1, {"default/r2": r2}, node_lost=False)
    conds = {c.type: c for c in verdict.conditions}
    assert conds[PEERS_AGREE].status == "False" and conds[DEGRADED].reason == "PeerMismatch"
    assert "default/r1: spec.links[0].peer_intf" in conds[PEERS_AGREE].message
    assert "eth7" in conds[PEERS_AGREE].message
    assert [(e.type, e.reason) for e in verdict.events] == [("Warning", "PeerMismatch")]


def test_a_missing_peer_degrades_and_recovering_is_an_event() -> None:
    r1 = _topo("r1", [_link(1, "r9")])
    verdict = judge(_obj(), r1, {}, node_lost=False)
    (degraded,) = [c for c in verdict.conditions if c.type == DEGRADED]
    assert degraded.reason == "PeerMissing" and "peer pod r9 has no Topology" in degraded.message
    healed = replace(r1, links=(), status=replace(r1.status, conditions=verdict.conditions))
    after = judge(_obj(), healed, {}, node_lost=False)
    assert [e.reason for e in after.events] == ["Recovered"]


def test_a_pod_on_a_lost_node_is_marked_down_with_a_reason() -> None:
    r1 = _topo("r1", [], at="10.0.0.2")
    verdict = judge(_obj(finalizers=[LINKS_FINALIZER]), r1, {}, node_lost=True)
    assert verdict.mark_down
    conds = {c.type: c for c in verdict.conditions}
    assert (conds[READY].reason, conds[DEGRADED].reason) == ("NodeLost", "NodeLost")
    assert [e.reason for e in verdict.events] == ["NodeLost"]
    assert not judge(_obj(), _topo("r1", []), {}, node_lost=True).mark_down  # not running: nothing to clear


def test_a_deleted_topology_is_released_only_when_no_live_daemon_holds_its_pod() -> None:
    held = _obj(finalizers=[LINKS_FINALIZER], deleting=True)
    running = _topo("r1", [], at="10.0.0.1")
    assert not judge(held, running, {}, node_lost=False).remove_finalizer  # its daemon does it
    assert judge(held, running, {}, node_lost=True).remove_finalizer
    assert judge(held, _topo("r1", []), {}, node_lost=False).remove_finalizer


def test_ready_changes_become_events() -> None:
    up = Condition(READY, "True", "LinksUp", "1 of 1 links up")
    failed = Condition(READY, "False", "SetupFailed", "link 1: boom")
    assert ready_event(None, up) is not None and ready_event(None, up).reason == "LinksUp"  # type: ignore[union-attr]
    assert ready_event(up, up) is None
    event = ready_event(up, failed)
    assert event is not None and (event.type, event.reason) == ("Warning", "SetupFailed")
