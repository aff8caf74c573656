"""Reading a lab back: which properties the kernel lacks, link states, the tables."""

from __future__ import annotations

import dataclasses

from kubedtn.dataplane import LiveInterface
from kubedtn.lab.report import describe_properties, links_table, pods_table
from kubedtn.lab.view import (
    PodView,
    lab_notes,
    link_views,
    missing_properties,
    recorded_link_views,
    recorded_uids,
)
from kubedtn.model import LinkProperties, Topology
from kubedtn.model.objects import topology_from_dict
from tests.unit.model import helpers

MS = 1000


def _topo(name: str, links: list[dict[str, object]]) -> Topology:
    return topology_from_dict(helpers.topology(name, *links))


R1 = _topo(
    "r1",
    [
        {
            "uid": 1,
            "peer_pod": "r2",
            "local_intf": "eth1",
            "peer_intf": "eth1",
            "properties": {"latency": "10ms", "loss": "1"},
        },
        {
            "uid": 2,
            "peer_pod": "r2",
            "local_intf": "eth2",
            "peer_intf": "eth2",
            "properties": {"rate": "100Mbit"},
        },
    ],
)
R2 = _topo(
    "r2",
    [
        {
            "uid": 1,
            "peer_pod": "r1",
            "local_intf": "eth1",
            "peer_intf": "eth1",
            "properties": {"latency": "10ms"},
        },
        {
            "uid": 2,
            "peer_pod": "r1",
            "local_intf": "eth2",
            "peer_intf": "eth2",
            "properties": {"rate": "100Mbit"},
        },
    ],
)


def _live(name: str, props: LinkProperties | None, *, up: bool = True) -> LiveInterface:
    return LiveInterface(
        netns="/run/netns/x",
        name=name,
        ifindex=7,
        kind="veth",
        up=up,
        oper_state="up" if up else "down",
        mtu=1500,
        mac=None,
        group=0,
        alias=None,
        properties=props,
    )


def test_missing_properties() -> None:
    want = LinkProperties(latency_us=10 * MS, loss=1.0, rate_bps=100_000_000)
    assert missing_properties(want, want) == []
    assert missing_properties(want, LinkProperties(rate_bps=100_000_000)) == ["latency", "loss"]
    # tc keeps whole bytes per second and 32-bit probabilities: close enough is the same
    near = dataclasses.replace(want, rate_bps=100_000_004, loss=1.0000001)
    assert missing_properties(want, near) == []
    assert missing_properties(LinkProperties(), LinkProperties()) == []


def test_link_states_and_netem_notes() -> None:
    live = {
        "default/r1": {
            "eth1": _live("eth1", LinkProperties()),
            "eth2": _live("eth2", LinkProperties(rate_bps=100_000_000)),
        },
        "default/r2": {"eth1": _live("eth1", LinkProperties())},
    }
    views = link_views([R1, R2], live, netem_missing=True)
    assert [(v.uid, v.state) for v in views] == [(1, "up"), (2, "partial")]
    assert views[0].notes == (
        "r1/eth1: latency, loss not applied: sch_netem is missing in this kernel",
        "r2/eth1: latency not applied: sch_netem is missing in this kernel",
    )
    assert views[1].notes == ()  # the rate is there (the missing end has nothing to compare)
    unknown = link_views([R1, R2], live, netem_missing=None)
    assert "cause unknown" in unknown[0].notes[0]
    # a rate that differs is told apart from netem properties
    slow = {
        "default/r1": {"eth2": _live("eth2", LinkProperties(rate_bps=50_000_000))},
        "default/r2": {"eth2": _live("eth2", LinkProperties())},
    }
    assert link_views([R1, R2], slow, netem_missing=True)[1].notes == (
        "r1/eth2: rate is 50Mbit/s in the kernel, not 100Mbit/s",
        "r2/eth2: rate is unlimited in the kernel, not 100Mbit/s",
    )


def test_missing_everywhere_and_down() -> None:
    views = link_views([R1, R2], {})
    assert {v.state for v in views} == {"missing"}
    down = {
        "default/r1": {"eth1": _live("eth1", LinkProperties(), up=False)},
        "default/r2": {"eth1": _live("eth1", LinkProperties())},
    }
    assert link_views([R1, R2], down)[0].state == "down"


def test_describe_properties() -> None:
    assert describe_properties(LinkProperties()) == "-"
    text = describe_properties(
        LinkProperties(
            latency_us=10 * MS,
            jitter_us=1 * MS,
            loss=0.5,
            loss_corr=25.0,
            rate_bps=100_000_000,
            reorder_prob=5.0,
            gap=3,
        )
    )
    assert text == "latency 10ms ±1ms, loss 0.5% (corr 25%), reorder 5% gap 3, rate 100Mbit/s"


def test_tables() -> None:
    pods = [PodView("default/r1", "r1", "default", "t-r1", True, True, "127.0.0.1", 2)]
    text = pods_table(pods)
    assert text.splitlines()[0].split() == ["POD", "NETNS", "NODE", "ALIVE", "LINKS"]
    assert text.splitlines()[1].split() == ["r1", "t-r1", "127.0.0.1", "yes", "2"]
    live: dict[str, dict[str, LiveInterface]] = {"default/r1": {}, "default/r2": {}}
    table = links_table(link_views([R1, R2], live)).splitlines()
    assert table[1].split()[:5] == ["1", "r1/eth1", "<->", "r2/eth1", "missing"]
    assert "r1->r2: latency 10ms, loss 1%; r2->r1: latency 10ms" in table[1]
    assert "rate 100Mbit/s (both ways)" in table[2]


def test_notes_include_failed_conditions() -> None:
    from kubedtn.model import Condition

    pods = [
        PodView(
            "default/r1",
            "r1",
            "default",
            "t-r1",
            True,
            False,
            "",
            2,
            (Condition("Ready", "False", "PodDown", "not running"),),
        )
    ]
    assert lab_notes([], pods) == ["r1: Ready is False (PodDown): not running"]


def test_recorded_link_states_and_notes_read_as_the_kernel_views() -> None:
    """lab up's summary: from the uids each pod's status records, no kernel read."""
    plumbed = {"default/r1": frozenset({1, 2}), "default/r2": frozenset({1})}
    views = recorded_link_views([R1, R2], plumbed, {"default/r2": frozenset({1})})
    assert [(v.uid, v.state) for v in views] == [(1, "up"), (2, "partial")]
    # the same words as the kernel view's for netem the kernel lacks (link 1 only)
    assert views[0].notes == (
        "r1/eth1: latency, loss not applied: sch_netem is missing in this kernel",
        "r2/eth1: latency not applied: sch_netem is missing in this kernel",
    )
    assert views[1].notes == ()
    assert {v.state for v in recorded_link_views([R1, R2], {}, {})} == {"missing"}
    # a peer that is not a pod of the lab: outside, as in the kernel view
    (alone,) = {v.state for v in recorded_link_views([R1], {}, {})}
    assert alone == "outside"


def test_recorded_uids_read_only_well_formed_entries() -> None:
    obj = {"status": {"links": [{"uid": 3}, {"uid": "x"}, "junk", {"uid": 5, "peer_pod": "r2"}]}}
    assert recorded_uids(obj) == {3, 5}
    assert recorded_uids({}) == frozenset() and recorded_uids({"status": {"links": None}}) == frozenset()


def test_two_namespaces_reusing_uids_get_a_row_each() -> None:
    other = [dataclasses.replace(t, namespace="blue") for t in (R1, R2)]
    plumbed = {t.key: frozenset({1, 2}) for t in (R1, R2)}
    views = recorded_link_views([*other, R1, R2], plumbed, {})
    assert [(v.a.pod, v.uid, v.state) for v in views] == [
        ("blue/r1", 1, "missing"),
        ("blue/r1", 2, "missing"),
        ("default/r1", 1, "up"),
        ("default/r1", 2, "up"),
    ]
    live: dict[str, dict[str, LiveInterface]] = {"blue/r1": {}, "blue/r2": {}}
    assert [(v.a.pod, v.uid) for v in link_views([*other, R1, R2], live)] == [
        ("blue/r1", 1),
        ("blue/r1", 2),
        ("default/r1", 1),
        ("default/r1", 2),
    ]
