"""Simulated nodes (pure): which nodes, where each pod runs, the errors; physical link files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kubedtn.errors import ValidationError
from kubedtn.lab import state
from kubedtn.lab.names import LabPaths
from kubedtn.lab.nodes import NodePaths, node_of, plan_nodes
from kubedtn.lab.physical import parse_link_file, physical_link_of
from kubedtn.lab.state import LabState, PodRecord

PODS = ["default/r1", "default/r2", "default/r3", "default/r4"]


def test_no_nodes_asked_for_and_none_in_the_files_is_the_one_daemon_lab() -> None:
    assert plan_nodes(lab="l", count=None, pods=PODS, file_nodes={}, previous=None) is None


def test_nodes_are_node1_to_n_with_ips_in_order_and_pods_dealt_round_robin() -> None:
    plan = plan_nodes(lab="l", count=3, pods=PODS, file_nodes={}, previous=None)
    assert plan is not None
    assert [(n.name, n.netns, n.ip, n.index) for n in plan.nodes] == [
        ("node1", "l+n-node1", "172.30.0.1", 0),
        ("node2", "l+n-node2", "172.30.0.2", 1),
        ("node3", "l+n-node3", "172.30.0.3", 2),
    ]
    assert dict(plan.placement) == {
        "default/r1": "node1",
        "default/r2": "node2",
        "default/r3": "node3",
        "default/r4": "node1",
    }


def test_spec_node_name_names_the_nodes_and_places_pods_the_rest_round_robin() -> None:
    plan = plan_nodes(
        lab="l",
        count=None,
        pods=PODS,
        file_nodes={"default/r1": "worker", "default/r3": "ubuntu"},
        previous=None,
    )
    assert plan is not None
    assert [n.name for n in plan.nodes] == ["ubuntu", "worker"]
    assert dict(plan.placement) == {
        "default/r1": "worker",
        "default/r2": "worker",  # second pod: names[1]
        "default/r3": "ubuntu",
        "default/r4": "worker",
    }


@pytest.mark.parametrize(
    ("count", "file_nodes", "message"),
    [
        (0, {}, "--nodes: 0 is not a number of nodes (an integer 1..64)"),
        (65, {}, "--nodes: 65 is not a number of nodes (an integer 1..64)"),
        (3, {"default/r1": "a", "default/r2": "b"}, "--nodes: 3, but the files place pods on 2 nodes"),
        (None, {"default/r1": "Bad_Node"}, "default/r1: spec.nodeName 'Bad_Node' is not a node name"),
    ],
)
def test_bad_node_counts_and_names_are_refused_naming_the_value(
    count: int | None, file_nodes: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as e:
        plan_nodes(lab="l", count=count, pods=PODS, file_nodes=file_nodes, previous=None)
    assert any(message in p for p in e.value.problems), e.value.problems


def test_a_running_lab_keeps_its_nodes_and_placements_and_refuses_others() -> None:
    first = plan_nodes(lab="l", count=2, pods=PODS[:2], file_nodes={}, previous=None)
    assert first is not None
    previous = LabState(
        name="l",
        store="s",
        pods=(PodRecord("r1", "default", "l-r1", "node2"), PodRecord("r2", "default", "l-r2", "node1")),
        nodes=first.nodes,
        underlay=first.subnet,
    )
    again = plan_nodes(lab="l", count=None, pods=PODS, file_nodes={}, previous=previous)
    assert again is not None and again.nodes == first.nodes
    assert again.placement["default/r1"] == "node2" and again.placement["default/r2"] == "node1"
    with pytest.raises(ValidationError, match="runs on the nodes node1, node2, not node1, node2, node3"):
        plan_nodes(lab="l", count=3, pods=PODS, file_nodes={}, previous=previous)
    one_daemon = replace(previous, nodes=())
    with pytest.raises(ValidationError, match="runs with one daemon"):
        plan_nodes(lab="l", count=2, pods=PODS, file_nodes={}, previous=one_daemon)


def test_underlay_must_be_an_ipv4_subnet_with_room() -> None:
    with pytest.raises(ValidationError, match="--underlay: 'nope' is not a subnet"):
        plan_nodes(lab="l", count=2, pods=PODS, file_nodes={}, previous=None, subnet="nope")
    with pytest.raises(ValidationError, match="has room for 2 nodes, not 3"):
        plan_nodes(lab="l", count=3, pods=PODS, file_nodes={}, previous=None, subnet="10.9.0.0/30")


def test_unknown_node_names_the_nodes_there_are() -> None:
    plan = plan_nodes(lab="l", count=2, pods=PODS, file_nodes={}, previous=None)
    assert plan is not None
    current = LabState(name="l", store="s", nodes=plan.nodes)
    with pytest.raises(ValidationError, match=r"'x' is not a node of lab l \(its nodes: node1, node2\)"):
        node_of(current, "x")


def test_node_records_survive_the_state_file(tmp_path: Path) -> None:
    paths = LabPaths("l", tmp_path / "state", tmp_path / "run")
    plan = plan_nodes(lab="l", count=2, pods=PODS, file_nodes={}, previous=None)
    assert plan is not None
    written = LabState(
        name="l",
        store="s",
        pods=(PodRecord("r1", "default", "l-r1", "node1"),),
        nodes=tuple(replace(n, pid=7, argv=("a", "b")) for n in plan.nodes),
        fabric="l+fabric",
        underlay=plan.subnet,
    )
    state.save(paths, written)
    assert state.load(paths) == written
    assert NodePaths(paths, "node1").socket == tmp_path / "run" / "node-node1.sock"


GOOD: dict[str, Any] = {
    "link": {
        "uid": 100,
        "peer_pod": "physical/10.0.0.55",
        "local_intf": "veth1",
        "peer_intf": "veth1",
        "local_ip": "34.34.34.3/24",
        "peer_ip": "34.34.34.4/24",
    },
    "remote_ip": "10.0.0.232",
}


def test_a_physical_link_file_gives_the_host_end() -> None:
    link = physical_link_of(GOOD, where="f")
    assert (link.uid, link.host_ip, link.node_ip, link.intf, link.addresses) == (
        100,
        "10.0.0.55",
        "10.0.0.232",
        "veth1",
        ("34.34.34.4/24",),
    )


def test_a_bad_physical_link_file_names_every_problem(tmp_path: Path) -> None:
    bad = {"link": {**GOOD["link"], "peer_pod": "r2"}, "remote_ip": "nope", "extra": 1}
    with pytest.raises(ValidationError) as e:
        physical_link_of(bad, where="f.yml")
    text = "\n".join(e.value.problems)
    assert "f.yml: unknown fields extra (accepted: link, remote_ip)" in text
    assert "f.yml: link.peer_pod: 'r2' is not physical/<IP of this host>" in text
    assert "f.yml: remote_ip: 'nope' is not an IPv4 or IPv6 address" in text
    with pytest.raises(ValidationError, match="remote_ip: missing"):
        physical_link_of({"link": GOOD["link"]}, where="f")
    with pytest.raises(ValidationError, match="cannot read"):
        parse_link_file(str(tmp_path / "missing.yml"))
