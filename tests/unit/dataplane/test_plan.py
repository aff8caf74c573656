"""plan_apply: verdicts and work from synthetic snapshots (no kernel)."""

from __future__ import annotations

import dataclasses

import pytest

from kubedtn.dataplane.live import LiveInterface, alias_for
from kubedtn.dataplane.plan import NsState, plan_apply
from kubedtn.dataplane.qdisc import GSO_MAX_SEGS, LiveQdisc, qdisc_plan
from kubedtn.dataplane.specs import Endpoint, MacvlanSpec, VethSpec, VxlanSpec, validate_links
from kubedtn.errors import ValidationError
from kubedtn.model import LinkProperties

GROUP = 77
A, B, C, NODE = (1, 10), (1, 20), (1, 30), (1, 40)
NS = {"/run/netns/a": A, "/run/netns/b": B, "/run/netns/c": C, None: NODE, "/run/netns/node": NODE}
LABEL = {A: "a", B: "b", C: "c", NODE: "node"}


def iface(name: str, index: int, **kw: object) -> LiveInterface:
    base: dict[str, object] = dict(
        netns="",
        name=name,
        ifindex=index,
        kind=None,
        up=True,
        oper_state="up",
        mtu=1500,
        mac="02:00:00:00:00:01",
        gso_max_segs=GSO_MAX_SEGS,
        tso_max_segs=GSO_MAX_SEGS,
    )
    base.update(kw)
    return LiveInterface(group=base.pop("group", GROUP), alias=base.pop("alias", None), **base)  # type: ignore[arg-type]


def states(**per_ns: list[LiveInterface]) -> dict[tuple[int, int], NsState]:
    out = {}
    for key, label in LABEL.items():
        links = {"lo": iface("lo", 1, group=0)} | {i.name: i for i in per_ns.get(label, [])}
        out[key] = NsState(key=key, label=label, links=links, addresses={}, qdiscs={})
    return out


def veth_spec(**kw: object) -> VethSpec:
    a = Endpoint(netns="/run/netns/a", name="eth1", addresses=("10.0.0.1/24",))
    b = Endpoint(netns="/run/netns/b", name="eth1", addresses=("10.0.0.2/24",))
    return dataclasses.replace(VethSpec(uid=5, a=a, b=b), **kw)  # type: ignore[arg-type]


def existing_pair(st: dict[tuple[int, int], NsState], *, a_index: int = 2, b_index: int = 3) -> None:
    """a/eth1 <-> b/eth1, as read back from the kernel (correct addresses, up, alias)."""
    st[A].links["eth1"] = iface(
        "eth1", a_index, kind="veth", link_ifindex=b_index, link_netnsid=0, alias=alias_for(5)
    )
    st[B].links["eth1"] = iface(
        "eth1", b_index, kind="veth", link_ifindex=a_index, link_netnsid=4, alias=alias_for(5)
    )
    st[A].nsids[B], st[B].nsids[A] = 0, 4
    st[A].addresses = {a_index: [("10.0.0.1/24", False), ("fe80::1/64", True)]}
    st[B].addresses = {b_index: [("10.0.0.2/24", False)]}


def test_nothing_there_means_create_with_fresh_indexes_and_full_configuration() -> None:
    st = states(a=[iface("other", 8)])
    (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "create" and not lp.deletes
    a, b = lp.ends
    assert a.ifindex == 9 and b.ifindex == 2  # above what is in use
    assert a.up and a.alias == alias_for(5) and a.add_addresses == ("10.0.0.1/24",)


def test_correct_pair_is_kept_untouched() -> None:
    st = states()
    existing_pair(st)
    (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "keep"
    assert all(not e.changes() for e in lp.ends)


def test_pair_with_drifted_details_is_updated_in_place() -> None:
    st = states()
    existing_pair(st)
    st[A].links["eth1"] = dataclasses.replace(st[A].links["eth1"], up=False, mtu=1300)
    st[A].addresses = {2: [("192.0.2.1/24", False), ("fe80::1/64", True)]}
    st[A].qdiscs = {2: []}
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, mtu=1400, properties=LinkProperties(rate_bps=8000)))
    (lp,) = plan_apply([spec], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "update"
    a = lp.ends[0]
    assert a.ifindex == 2 and not a.created
    assert a.up and a.mtu == 1400
    assert a.add_addresses == ("10.0.0.1/24",) and a.del_addresses == ("192.0.2.1/24",)  # link-local kept
    assert [q.kind for q in a.qdiscs] == ["tbf"]


def test_matching_qdiscs_need_no_work() -> None:
    st = states()
    existing_pair(st)
    props = LinkProperties(latency_us=1000, rate_bps=10**7)
    st[A].qdiscs = {2: [LiveQdisc(2, q.handle, q.parent, q.kind, q.params) for q in qdisc_plan(props)]}
    st[A].links["eth1"] = dataclasses.replace(st[A].links["eth1"], gso_max_segs=1)  # as we left it
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=props))
    (lp,) = plan_apply([spec], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "keep"


@pytest.mark.parametrize(
    ("props", "want"),
    [
        (LinkProperties(loss=1.0), 1),
        (LinkProperties(latency_us=1000, rate_bps=10**7), 1),
        (LinkProperties(rate_bps=10**7), None),  # tbf alone segments what it must itself
        (LinkProperties(), None),
    ],
)
def test_a_new_end_with_netem_carries_one_frame_per_packet(props: LinkProperties, want: int | None) -> None:
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=props))
    (lp,) = plan_apply([spec], states=states(), ns_of=NS, group=GROUP).links
    assert lp.verdict == "create"
    assert [e.gso_max_segs for e in lp.ends] == [want, None]


@pytest.mark.parametrize(
    ("props", "live", "limit", "want"),
    [
        (LinkProperties(loss=1.0), GSO_MAX_SEGS, GSO_MAX_SEGS, 1),  # properties given to a plain end
        (LinkProperties(), 1, GSO_MAX_SEGS, GSO_MAX_SEGS),  # taken away: the default back
        (LinkProperties(rate_bps=10**7), 1, GSO_MAX_SEGS, GSO_MAX_SEGS),
        (LinkProperties(), 1, 100, 100),  # a macvlan on a NIC that takes 100: no more
        (LinkProperties(), 1, None, GSO_MAX_SEGS),  # a kernel that does not say its limit
        (LinkProperties(), 64, 64, None),  # not ours (a macvlan's parent's value): left alone
    ],
)
def test_an_existing_ends_packet_size_follows_its_properties(
    props: LinkProperties, live: int, limit: int | None, want: int | None
) -> None:
    st = states()
    existing_pair(st)
    st[A].links["eth1"] = dataclasses.replace(st[A].links["eth1"], gso_max_segs=live, tso_max_segs=limit)
    st[A].qdiscs = {2: [LiveQdisc(2, q.handle, q.parent, q.kind, q.params) for q in qdisc_plan(props)]}
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=props))
    (lp,) = plan_apply([spec], states=st, ns_of=NS, group=GROUP).links
    assert lp.ends[0].gso_max_segs == want
    assert lp.verdict == ("keep" if want is None else "update")
    if want is not None:
        assert f"gso_max_segs {want}" in lp.ends[0].changes()


def test_pair_whose_peer_is_elsewhere_is_replaced() -> None:
    st = states()
    existing_pair(st)
    st[A].nsids[B] = 9  # a's eth1 has its peer in the namespace a knows as 0, which is not b
    (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "replace"
    assert "a/eth1 is a veth whose peer is not b/eth1" in lp.reason
    assert {(d.ns, d.ifindex) for d in lp.deletes} == {(A, 2), (B, 3)}
    assert lp.ends[0].ifindex == 3  # new index above the old ones (their deletion is not assumed)


def test_wrong_kind_is_replaced_and_foreign_is_refused() -> None:
    st = states(a=[iface("eth1", 4, kind="vxlan")])
    (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "replace" and "a/eth1 exists and is a vxlan, expected a veth" in lp.reason

    st = states(a=[iface("eth1", 4, kind="vxlan", group=0)])
    (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "refuse" and lp.foreign and "not created by kubedtn (group 0)" in lp.reason
    assert not lp.ends and not lp.deletes


def vxlan_spec(**kw: object) -> VxlanSpec:
    ep = Endpoint(netns="/run/netns/a", name="vx0")
    base = VxlanSpec(uid=6, endpoint=ep, vni=100, remote="192.0.2.2", local="192.0.2.1", underlay="under")
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_vxlan_index_is_free_in_the_node_namespace_too() -> None:
    st = states(node=[iface("under", 2), iface("pod9", 3), iface("pod10", 4)])
    (lp,) = plan_apply([vxlan_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "create" and lp.node == NODE and lp.node_ifindex == 2
    assert lp.ends[0].ifindex not in (1, 2, 3, 4)


def test_vxlan_with_another_vni_is_replaced_and_missing_underlay_refused() -> None:
    from kubedtn.dataplane.live import VxlanInfo

    info = VxlanInfo(
        vni=99, remote="192.0.2.2", local="192.0.2.1", port=4789, underlay_ifindex=2, learning=False
    )
    st = states(node=[iface("under", 2)], a=[iface("vx0", 5, kind="vxlan", vxlan=info, link_netnsid=1)])
    st[A].nsids[NODE] = 1
    (lp,) = plan_apply([vxlan_spec()], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "replace" and "VNI 99, expected 100" in lp.reason
    (lp,) = plan_apply([vxlan_spec(vni=99)], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict in ("keep", "update")

    (lp,) = plan_apply([vxlan_spec(underlay="nope")], states=st, ns_of=NS, group=GROUP).links
    assert (
        lp.verdict == "refuse" and "underlay device nope does not exist in node namespace node" in lp.reason
    )
    assert not lp.foreign


def test_macvlan_on_another_parent_is_replaced() -> None:
    st = states(
        node=[iface("eth0", 2), iface("eth9", 3)],
        a=[iface("mv0", 6, kind="macvlan", macvlan_mode="bridge", link_ifindex=3, link_netnsid=0)],
    )
    st[A].nsids[NODE] = 0
    spec = MacvlanSpec(uid=8, endpoint=Endpoint(netns="/run/netns/a", name="mv0"), parent="eth0")
    (lp,) = plan_apply([spec], states=st, ns_of=NS, group=GROUP).links
    assert lp.verdict == "replace" and "macvlan on another device than eth0" in lp.reason


def test_prune_deletes_only_ours_not_wanted() -> None:
    st = states(a=[iface("old1", 7, kind="veth"), iface("theirs", 8, group=0)])
    plan = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP, prune=[A])
    assert [(d.ns, d.name) for d in plan.prune] == [(A, "old1")]


def test_validation_collects_every_problem_with_its_path() -> None:
    bad = VxlanSpec(
        uid=-1,
        endpoint=Endpoint(netns="", name="a/b", addresses=("10.0.0.1", "224.0.0.1/4", "fd00::1/129")),
        vni=0,
        remote="not-an-ip",
        local="fd00::1",
        underlay="under",
        port=0,
    )
    dup = veth_spec()
    with pytest.raises(ValidationError) as caught:
        validate_links([bad, dup, dup])
    text = "\n".join(caught.value.problems)
    for expected in (
        "links[0].uid: -1",
        "links[0].endpoint.netns: is empty",
        'links[0].endpoint.name: "a/b"',
        'links[0].endpoint.addresses[0]: "10.0.0.1" has no prefix length',
        'links[0].endpoint.addresses[1]: "224.0.0.1/4" is a multicast address',
        'links[0].endpoint.addresses[2]: "fd00::1/129" has a prefix length that is not 0..128',
        "links[0].vni: 0 is not a VXLAN VNI",
        "links[0].port: 0 is not a UDP port",
        'links[0].remote: "not-an-ip" is not an IPv4 or IPv6 address',
        "links[2].uid: 5 is also the uid of links[1]",
        "links[2]: interface /run/netns/a/eth1 is also an end of links[1]",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"


# ---- the bypass marker (kubedtn.dataplane.bpfmark) ----------------------------------------

CLSACT_A = LiveQdisc(ifindex=2, handle=0xFFFF_0000, parent=0xFFFF_FFF1, kind="clsact")
SLOW = LinkProperties(rate_bps=10_000_000)


def test_with_marking_a_new_end_with_properties_gets_the_marker_and_one_without_does_not() -> None:
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=SLOW))
    (lp,) = plan_apply([spec], states=states(), ns_of=NS, group=GROUP, marking=True).links
    a, b = lp.ends
    assert (a.marker, b.marker) == ("add", None)
    assert "add bypass marker" in a.changes()


def test_without_marking_no_end_gets_the_marker() -> None:
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=SLOW))
    (lp,) = plan_apply([spec], states=states(), ns_of=NS, group=GROUP).links
    assert [e.marker for e in lp.ends] == [None, None]


def test_a_link_that_opted_out_of_bypass_is_marked_on_both_ends_without_properties() -> None:
    spec = veth_spec(
        a=dataclasses.replace(veth_spec().a, bypass=False), b=dataclasses.replace(veth_spec().b, bypass=False)
    )
    (lp,) = plan_apply([spec], states=states(), ns_of=NS, group=GROUP, marking=True).links
    assert [e.marker for e in lp.ends] == ["add", "add"]


def test_a_kept_marked_end_is_refreshed_without_counting_as_a_change() -> None:
    st = states()
    existing_pair(st)
    st[A].qdiscs = {
        2: [*[LiveQdisc(2, q.handle, q.parent, q.kind, q.params) for q in qdisc_plan(SLOW)], CLSACT_A]
    }
    spec = veth_spec(a=dataclasses.replace(veth_spec().a, properties=SLOW))
    (lp,) = plan_apply([spec], states=st, ns_of=NS, group=GROUP, marking=True).links
    assert lp.verdict == "keep" and lp.ends[0].marker == "refresh"


def test_an_end_whose_properties_went_loses_its_marker_and_so_does_every_end_when_marking_is_off() -> None:
    for marking in (True, False):
        st = states()
        existing_pair(st)
        st[A].qdiscs = {2: [CLSACT_A]}
        (lp,) = plan_apply([veth_spec()], states=st, ns_of=NS, group=GROUP, marking=marking).links
        assert lp.verdict == "update" and lp.ends[0].marker == "clear"
        assert "remove bypass marker" in lp.ends[0].changes()
