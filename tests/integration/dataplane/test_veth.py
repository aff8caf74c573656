"""veth pairs in real namespaces: created, addressed, passing traffic; idempotent; replaced; removed."""

from __future__ import annotations

import os

import pytest

from kubedtn.dataplane import (
    KUBEDTN_GROUP,
    ApplyError,
    ApplyReport,
    Dataplane,
    Endpoint,
    InterfaceRef,
    NamespaceNotFoundError,
    NotOursError,
    VethSpec,
    VxlanSpec,
    rtnl,
)
from kubedtn.errors import ValidationError
from tests.support import oracle
from tests.support.netns import NamespacePool, path, sh, udp_echo, watching

pytestmark = pytest.mark.root


def veth(
    a: str, b: str, *, uid: int = 1, name_a: str = "eth1", name_b: str = "eth1", **kw: object
) -> VethSpec:
    ep_a = Endpoint(netns=path(a), name=name_a, addresses=("10.0.0.1/24", "fd00::1/64"), **kw)  # type: ignore[arg-type]
    ep_b = Endpoint(netns=path(b), name=name_b, addresses=("10.0.0.2/24", "fd00::2/64"))
    return VethSpec(uid=uid, a=ep_a, b=ep_b)


def test_veth_is_created_addressed_up_and_passes_v4_and_v6(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    spec = veth(a, b, mac="02:00:00:00:00:0a", mtu=1400)
    report = dp.apply([spec])

    assert report.result(1).outcome == "created"
    la, lb = oracle.links(a)["eth1"], oracle.links(b)["eth1"]
    assert la.kind == lb.kind == "veth"
    assert la.mac == "02:00:00:00:00:0a" and la.mtu == 1400
    assert la.up and lb.up
    assert la.group == lb.group == KUBEDTN_GROUP
    assert la.alias == lb.alias == "kubedtn uid=1"
    # each end's peer is the other end, in the other namespace
    assert la.link == lb.index and lb.link == la.index
    assert la.link_netnsid is not None and lb.link_netnsid is not None
    assert report.result(1).ifindexes == (la.index, lb.index)
    assert oracle.addresses(a, "eth1") == {"10.0.0.1/24", "fd00::1/64"}
    assert oracle.addresses(b, "eth1") == {"10.0.0.2/24", "fd00::2/64"}

    assert udp_echo(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2") == 3
    # IPv6 without waiting for duplicate address detection (added with nodad)
    assert udp_echo(client_ns=a, client_ip="fd00::1", server_ns=b, server_ip="fd00::2") == 3


def test_second_apply_changes_nothing(pool: NamespacePool, dp: Dataplane) -> None:
    a, b, c = pool.make(3)
    links = [veth(a, b, uid=1), veth(b, c, uid=2, name_a="eth2", name_b="eth2")]
    first = dp.apply(links)
    before = {ns: {n: i.index for n, i in oracle.links(ns).items()} for ns in (a, b, c)}

    with watching([a, b, c]) as watcher:
        watcher.settle()
        second = dp.apply(links)
        events = watcher.drain()

    assert [r.outcome for r in second.results] == ["kept", "kept"]
    assert second.changes == 0
    assert events == [], f"the second apply changed the kernel: {events}"
    assert {ns: {n: i.index for n, i in oracle.links(ns).items()} for ns in (a, b, c)} == before
    assert [r.ifindexes for r in second.results] == [r.ifindexes for r in first.results]


def test_wrong_addresses_mtu_and_down_state_are_fixed_in_place(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    spec = veth(a, b, mtu=1400)
    dp.apply([spec])
    index = oracle.links(a)["eth1"].index
    sh(a, "ip", "addr", "del", "10.0.0.1/24", "dev", "eth1")
    sh(a, "ip", "addr", "add", "192.0.2.9/24", "dev", "eth1")
    sh(a, "ip", "link", "set", "eth1", "mtu", "1300", "down")

    report = dp.apply([spec])

    assert report.result(1).outcome == "updated"
    link = oracle.links(a)["eth1"]
    assert link.index == index
    assert link.mtu == 1400 and link.up
    assert oracle.addresses(a, "eth1") == {"10.0.0.1/24", "fd00::1/64"}
    assert udp_echo(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2") == 3


def test_stale_link_with_wrong_peer_is_replaced(pool: NamespacePool, dp: Dataplane) -> None:
    a, b, c = pool.make(3)
    # a/eth1 <-> c/eth1 and b/eth1 <-> c/eth2: both stale once a/eth1 should reach b/eth1
    dp.apply([veth(a, c, uid=1), veth(b, c, uid=2, name_b="eth2")])

    report = dp.apply([veth(a, b)])

    result = report.result(1)
    assert result.outcome == "replaced"
    assert f"{a}/eth1 is a veth whose peer is not {b}/eth1" in result.detail
    la, lb = oracle.links(a)["eth1"], oracle.links(b)["eth1"]
    assert la.link == lb.index and lb.link == la.index
    assert set(oracle.links(c)) == {"lo"}  # the old peers went with the old pairs
    assert udp_echo(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2") == 3


def test_half_of_a_link_is_replaced(pool: NamespacePool, dp: Dataplane) -> None:
    a, b, c = pool.make(3)
    dp.apply([veth(a, c)])  # a/eth1 exists (ours), b/eth1 does not

    report = dp.apply([veth(a, b)])

    assert report.result(1).outcome == "replaced"
    assert f"{b}/eth1 is missing" in report.result(1).detail
    assert oracle.links(a)["eth1"].link == oracle.links(b)["eth1"].index


def test_ours_of_the_wrong_kind_is_replaced(pool: NamespacePool, dp: Dataplane) -> None:
    node, pod, other = pool.make(3)
    sh(node, "ip", "link", "add", "under0", "type", "veth", "peer", "name", "under1")
    vx = VxlanSpec(
        uid=1,
        endpoint=Endpoint(netns=path(pod), name="eth1"),
        vni=42,
        remote="192.0.2.2",
        local=None,
        underlay="under0",
        node_netns=path(node),
    )
    dp.apply([vx])
    assert oracle.links(pod)["eth1"].kind == "vxlan"

    report = dp.apply([veth(pod, other)])

    assert report.result(1).outcome == "replaced"
    assert "is a vxlan, expected a veth" in report.result(1).detail
    assert oracle.links(pod)["eth1"].kind == "veth"


def test_interface_not_created_by_kubedtn_is_left_alone(pool: NamespacePool, dp: Dataplane) -> None:
    a, b, c = pool.make(3)
    sh(a, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "x1", "netns", c)
    index = oracle.links(a)["eth1"].index

    with pytest.raises(ApplyError) as caught:
        dp.apply([veth(a, b), veth(b, c, uid=2, name_a="eth2", name_b="eth2")])

    message = str(caught.value)
    assert f"{a}/eth1 exists and is a veth not created by kubedtn" in message
    report = caught.value.report
    assert isinstance(report.result(1).error, NotOursError)  # type: ignore[attr-defined]
    assert report.result(2).outcome == "created"  # type: ignore[attr-defined]
    assert oracle.links(a)["eth1"].index == index
    assert "eth1" not in oracle.links(b)


def test_prune_removes_our_links_that_are_no_longer_wanted(pool: NamespacePool, dp: Dataplane) -> None:
    a, b, c = pool.make(3)
    sh(a, "ip", "link", "add", "keepme", "type", "veth", "peer", "name", "keepme2")
    dp.apply([veth(a, b, uid=1), veth(a, c, uid=2, name_a="eth2", name_b="eth2")])

    report = dp.apply([veth(a, b, uid=1)], prune=[path(a)])

    assert report.pruned == (InterfaceRef(path(a), "eth2"),)
    assert set(oracle.links(a)) == {"lo", "eth1", "keepme", "keepme2"}
    assert "eth2" not in oracle.links(c)


def test_remove_is_idempotent_and_takes_the_peer(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([veth(a, b)])
    refs = [InterfaceRef(path(a), "eth1"), InterfaceRef(path(b), "eth1")]

    assert dp.remove(refs) == refs
    assert set(oracle.links(a)) == {"lo"} and set(oracle.links(b)) == {"lo"}
    assert dp.remove(refs) == []  # already gone: success
    assert dp.remove([InterfaceRef("/run/netns/kdtn-t-never-existed", "eth1")]) == []


def test_remove_refuses_interfaces_that_are_not_ours(pool: NamespacePool, dp: Dataplane) -> None:
    (a,) = pool.make(1)
    sh(a, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")

    with pytest.raises(NotOursError, match="eth1"):
        dp.remove([InterfaceRef(path(a), "eth1")])
    assert "eth1" in oracle.links(a)


def test_remove_owned_deletes_only_our_group(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    sh(a, "ip", "link", "add", "theirs", "type", "veth", "peer", "name", "theirs2")
    dp.apply([veth(a, b, uid=1), veth(a, b, uid=2, name_a="eth2", name_b="eth2")])

    dp.remove_owned([path(a), path(b), "/run/netns/kdtn-t-never-existed"])

    assert set(oracle.links(a)) == {"lo", "theirs", "theirs2"}
    assert set(oracle.links(b)) == {"lo"}


def test_missing_namespace_is_reported_before_anything_is_touched(pool: NamespacePool, dp: Dataplane) -> None:
    (a,) = pool.make(1)
    with pytest.raises(NamespaceNotFoundError, match=r"kdtn-t-gone.*does not exist"):
        dp.apply([veth(a, "kdtn-t-gone")])
    assert set(oracle.links(a)) == {"lo"}


def test_bad_spec_is_refused_whole(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    good = veth(a, b, uid=1)
    bad = VethSpec(
        uid=2,
        a=Endpoint(netns=path(a), name="this-name-is-too-long", addresses=("10.0.0.300/24",)),
        b=Endpoint(netns=path(b), name="eth2", mac="01:00:00:00:00:01", mtu=20),
    )
    with pytest.raises(ValidationError) as caught:
        dp.apply([good, bad])
    problems = caught.value.problems
    assert any("links[1].a.name" in p and "this-name-is-too-long" in p for p in problems)
    assert any("links[1].a.addresses[0]" in p and "10.0.0.300/24" in p for p in problems)
    assert any("links[1].b.mac" in p for p in problems)
    assert any("links[1].b.mtu: 20" in p for p in problems)
    assert set(oracle.links(a)) == {"lo"}  # nothing half-applied


def test_failed_link_is_rolled_back_and_named(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    # The kernel refuses an IPv6 address on an interface whose MTU is below IPv6's minimum.
    spec = VethSpec(
        uid=9,
        a=Endpoint(netns=path(a), name="eth1", addresses=("fd00::1/64",), mtu=1000),
        b=Endpoint(netns=path(b), name="eth1"),
    )
    with pytest.raises(ApplyError) as caught:
        dp.apply([spec, veth(a, b, uid=2, name_a="eth2", name_b="eth2")])
    assert f"add address fd00::1/64 to {a}/eth1" in str(caught.value)
    assert caught.value.report.result(2).outcome == "created"  # type: ignore[attr-defined]
    assert "eth1" not in oracle.links(a) and "eth1" not in oracle.links(b)


def test_same_namespace_veth_and_calling_thread_stays_home(pool: NamespacePool, dp: Dataplane) -> None:
    (a,) = pool.make(1)
    home = os.stat("/proc/thread-self/ns/net").st_ino
    spec = VethSpec(
        uid=3,
        a=Endpoint(netns=path(a), name="left", addresses=("10.1.0.1/24",)),
        b=Endpoint(netns=path(a), name="right", addresses=("10.1.0.2/24",)),
    )
    dp.apply([spec])
    assert dp.apply([spec]).result(3).outcome == "kept"
    assert os.stat("/proc/thread-self/ns/net").st_ino == home
    names = oracle.links(a)
    assert names["left"].link == names["right"].index and names["right"].link == names["left"].index
    assert names["left"].link_netnsid is None  # the peer is in the same namespace


@pytest.mark.parametrize(
    ("encoder", "message"),
    [("create_veth", "cannot encode its creation"), ("add_address", "cannot encode its settings")],
)
def test_a_link_whose_requests_cannot_be_encoded_fails_alone_and_leaves_nothing(
    pool: NamespacePool, dp: Dataplane, monkeypatch: pytest.MonkeyPatch, encoder: str, message: str
) -> None:
    """A request that cannot be encoded (after other links' requests were sent) fails its
    link alone, which is rolled back if it was created."""
    a, b = pool.make(2)
    real = getattr(rtnl, encoder)

    def refuse_eth1(*args: object, **kwargs: object) -> object:
        if "eth1" in str(kwargs.get("what", "")):
            raise ValueError("refused by the test")
        return real(*args, **kwargs)

    monkeypatch.setattr(rtnl, encoder, refuse_eth1)
    specs = [
        VethSpec(
            uid=uid,
            a=Endpoint(netns=path(a), name=name, addresses=(f"10.0.{uid}.1/24",)),
            b=Endpoint(netns=path(b), name=name, addresses=(f"10.0.{uid}.2/24",)),
        )
        for uid, name in ((1, "eth1"), (2, "eth2"))
    ]
    with pytest.raises(ApplyError) as caught:
        dp.apply(specs)
    report = caught.value.report
    assert isinstance(report, ApplyReport)
    assert report.result(1).outcome == "failed"
    assert message in report.result(1).detail and "refused by the test" in report.result(1).detail
    assert report.result(2).outcome == "created"
    assert "eth1" not in oracle.links(a) and "eth1" not in oracle.links(b)
    assert oracle.links(a)["eth2"].up
