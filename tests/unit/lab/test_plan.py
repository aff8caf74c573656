"""Planning `lab up`: what is made, what is refused before anything is touched."""

from __future__ import annotations

import pytest

from kubedtn.errors import ValidationError
from kubedtn.lab.generate import mesh
from kubedtn.lab.plan import link_warnings, plan_up
from kubedtn.lab.state import LabState, PodRecord
from kubedtn.model import Topology
from kubedtn.model.objects import topology_from_dict


def _ring(n: int = 3) -> list[Topology]:
    return [topology_from_dict(obj) for obj in mesh(n, n)]


def test_fresh_lab_creates_a_namespace_per_pod() -> None:
    plan = plan_up(lab="t", topologies=_ring(), previous=None, existing_netns=set(), store_owners={})
    assert plan.create_netns == ("t-p0", "t-p1", "t-p2")
    assert [r.netns for r in plan.records] == ["t-p0", "t-p1", "t-p2"]
    assert plan.remove == () and plan.warnings == ()


def test_second_up_keeps_its_namespaces_and_drops_pods_no_longer_there() -> None:
    previous = LabState(
        name="t",
        store="s",
        pods=(PodRecord("p0", "default", "t-p0"), PodRecord("old", "default", "t-old")),
    )
    plan = plan_up(
        lab="t",
        topologies=_ring(),
        previous=previous,
        existing_netns={"t-p0", "t-old"},
        store_owners={"default/p0": "t"},
    )
    assert plan.create_netns == ("t-p1", "t-p2")
    assert [p.name for p in plan.remove] == ["old"]


def test_someone_elses_namespace_and_object_are_refused_with_every_reason() -> None:
    with pytest.raises(ValidationError) as e:
        plan_up(
            lab="t",
            topologies=_ring(),
            previous=None,
            existing_netns={"t-p1"},
            store_owners={"default/p2": "other", "default/p0": None},
        )
    problems = e.value.problems
    assert len(problems) == 3
    assert any("network namespace t-p1 exists and is not lab t's" in p for p in problems)
    assert any(p.startswith("default/p2:") and "belongs to lab other" in p for p in problems)
    assert any(p.startswith("default/p0:") and "no lab" in p for p in problems)


def test_bad_lab_name() -> None:
    with pytest.raises(ValidationError, match="--name: 'Bad' is not a lab name"):
        plan_up(lab="Bad", topologies=_ring(), previous=None, existing_netns=set(), store_owners={})


def test_links_that_cannot_come_up_are_warned_about() -> None:
    topo = topology_from_dict(
        {
            "apiVersion": "kubedtn.io/v1",
            "kind": "Topology",
            "metadata": {"name": "r1"},
            "spec": {
                "links": [
                    {"uid": 1, "peer_pod": "r9", "local_intf": "eth1", "peer_intf": "eth1"},
                    {"uid": 2, "peer_pod": "physical/10.0.0.5", "local_intf": "eth2", "peer_intf": "eth1"},
                ]
            },
        }
    )
    lines = link_warnings([topo])
    assert lines == [
        "default/r1/eth1 (link 1): peer pod r9 is not in the lab; the link stays down",
        "default/r1/eth2 (link 2): peer physical/10.0.0.5 is outside the lab (a host, not a pod)",
    ]


def test_generated_mesh_is_a_valid_set() -> None:
    from kubedtn.model.validate import check_set

    topologies = [topology_from_dict(obj) for obj in mesh(50, 120)]
    check_set(topologies)
    assert sum(len(t.links) for t in topologies) == 240
    pairs = {frozenset((t.name, link.peer_pod)) for t in topologies for link in t.links}
    assert len(pairs) == 120  # no pair joined twice
