"""Link properties on the host kernel: rate as tbf (real TCP goodput), changes in place, clearing.

netem (latency, loss, ...) is not in the development kernel; its behaviour is tested in
the user-mode Linux lane (tests/netem/dataplane). Here: the error when it is missing.
"""

from __future__ import annotations

import pytest

from kubedtn.dataplane import Dataplane, Endpoint, InterfaceRef, NetemMissingError, VethSpec
from kubedtn.dataplane.errors import ApplyError
from kubedtn.dataplane.qdisc import GSO_MAX_SEGS, TbfParams
from kubedtn.model import LinkProperties
from tests.support import kernel, oracle
from tests.support.netns import NamespacePool, path, tcp_goodput

pytestmark = pytest.mark.root

MBIT = 1_000_000


def link(a: str, b: str, props: LinkProperties, *, uid: int = 1) -> VethSpec:
    return VethSpec(
        uid=uid,
        a=Endpoint(netns=path(a), name="eth1", addresses=("10.0.0.1/24",), properties=props),
        b=Endpoint(netns=path(b), name="eth1", addresses=("10.0.0.2/24",)),
    )


def test_rate_is_a_tbf_and_tcp_goodput_matches(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=50 * MBIT))])

    (root,) = oracle.qdiscs(a, "eth1")
    assert root.kind == "tbf" and root.root
    assert root.rate == 50 * MBIT // 8
    # burst >= rate/HZ for any HZ >= 100
    assert root.burst >= 50 * MBIT // 8 // 100

    goodput = tcp_goodput(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2")
    # tbf counts Ethernet frames; TCP payload is 1448 of 1514 bytes per full frame (95.6 %).
    assert 0.92 * 50 * MBIT <= goodput <= 1.01 * 50 * MBIT, f"goodput {goodput / MBIT:.1f} Mbit/s"

    # the other direction has no properties: far faster than the shaped one
    back = tcp_goodput(client_ns=b, client_ip="10.0.0.2", server_ns=a, server_ip="10.0.0.1", seconds=1.0)
    assert back > 4 * 50 * MBIT


def test_rate_change_is_in_place(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=50 * MBIT))])
    index = oracle.links(a)["eth1"].index
    (before,) = oracle.qdiscs(a, "eth1")

    sent = dp.set_properties({InterfaceRef(path(a), "eth1"): LinkProperties(rate_bps=20 * MBIT)})

    assert sent == 1
    (after,) = oracle.qdiscs(a, "eth1")
    assert after.handle == before.handle  # the same qdisc, changed, not a new one
    assert after.rate == 20 * MBIT // 8
    assert oracle.links(a)["eth1"].index == index
    goodput = tcp_goodput(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2", seconds=2.0)
    assert 0.90 * 20 * MBIT <= goodput <= 1.01 * 20 * MBIT, f"goodput {goodput / MBIT:.1f} Mbit/s"

    assert dp.set_properties({InterfaceRef(path(a), "eth1"): LinkProperties(rate_bps=20 * MBIT)}) == 0


def test_apply_with_new_properties_keeps_the_link(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    first = dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])
    report = dp.apply([link(a, b, LinkProperties(rate_bps=30 * MBIT))])
    assert report.result(1).outcome == "updated"
    assert "replace tbf" in report.result(1).detail
    assert report.result(1).ifindexes == first.result(1).ifindexes
    (root,) = oracle.qdiscs(a, "eth1")
    assert root.rate == 30 * MBIT // 8


def test_clearing_properties_removes_the_qdisc(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])

    dp.set_properties({InterfaceRef(path(a), "eth1"): LinkProperties()})

    assert [q.kind for q in oracle.qdiscs(a, "eth1")] == ["noqueue"]
    (live,) = [i for i in dp.read(path(a)) if i.name == "eth1"]
    assert live.properties == LinkProperties()


def test_read_agrees_with_pyroute2(pool: NamespacePool, dp: Dataplane) -> None:
    """Dataplane.read (our decoder) against pyroute2's reading of the same namespace."""
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])
    tcp_goodput(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2", seconds=0.5)

    first = oracle.links(a)
    live = {i.name: i for i in dp.read(path(a), known=[path(b)])}
    after = oracle.links(a)  # counters: ours lie between pyroute2's first and after

    assert set(live) == set(first) == {"lo", "eth1"}
    for name, mine in live.items():
        theirs = first[name]
        assert (mine.ifindex, mine.kind, mine.up, mine.mtu, mine.mac, mine.group, mine.alias) == (
            theirs.index,
            theirs.kind,
            theirs.up,
            theirs.mtu,
            theirs.mac,
            theirs.group,
            theirs.alias,
        ), name
        assert (mine.link_ifindex, mine.link_netnsid) == (theirs.link, theirs.link_netnsid), name
        assert mine.gso_max_segs == theirs.gso_max_segs is not None, name
        assert mine.tso_max_segs == theirs.tso_max_segs is not None, name
        assert set(mine.addresses) == oracle.addresses(a, name, link_scope=True), name
        assert [(q.handle, q.parent, q.kind) for q in mine.qdiscs] == [
            (q.handle, q.parent, q.kind) for q in oracle.qdiscs(a, name)
        ], name
    eth1 = live["eth1"]
    assert eth1.uid == 1 and eth1.peer_netns == path(b)
    assert eth1.link_ifindex == oracle.links(b)["eth1"].index
    assert eth1.properties == LinkProperties(rate_bps=10 * MBIT)
    (tbf,) = oracle.qdiscs(a, "eth1")
    assert eth1.qdiscs[0].params == TbfParams(
        rate=tbf.rate, burst=tbf.burst, limit=tbf.options["TCA_TBF_PARMS"]["limit"]
    )
    assert eth1.counters is not None and eth1.counters.tx_bytes > 100_000 and eth1.counters.tx_packets > 50
    for counter, value in vars(eth1.counters).items():
        assert first["eth1"].counters[counter] <= value <= after["eth1"].counters[counter], counter
    assert [i.name for i in dp.read(path(a), owned_only=True)] == ["eth1"]


@pytest.mark.skipif(kernel.has_netem(), reason="this kernel has netem")
def test_missing_netem_is_named_and_nothing_is_left(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    with pytest.raises(ApplyError) as caught:
        dp.apply([link(a, b, LinkProperties(latency_us=10_000, loss=1.0))])
    error = caught.value.report.result(1).error  # type: ignore[attr-defined]
    assert isinstance(error, NetemMissingError)
    assert str(error) == f"netem is not in this kernel: latency, loss cannot be applied to {a}/eth1"
    assert "eth1" not in oracle.links(a)  # rolled back: no link without its emulation

    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])
    with pytest.raises(NetemMissingError, match="latency cannot be applied"):
        dp.set_properties(
            {InterfaceRef(path(a), "eth1"): LinkProperties(latency_us=5000, rate_bps=10 * MBIT)}
        )
    assert [q.kind for q in oracle.qdiscs(a, "eth1")] == ["tbf"]  # the old emulation stays
    assert oracle.links(a)["eth1"].gso_max_segs == GSO_MAX_SEGS  # and its packet size

    # The same through apply: the existing link is updated, its netem refused.
    with pytest.raises(ApplyError):
        dp.apply([link(a, b, LinkProperties(latency_us=5000, rate_bps=10 * MBIT))])
    assert [q.kind for q in oracle.qdiscs(a, "eth1")] == ["tbf"]
    assert oracle.links(a)["eth1"].gso_max_segs == GSO_MAX_SEGS
