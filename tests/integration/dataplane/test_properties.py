"""Link properties on the host kernel: rate as tbf (real TCP goodput), changes in place, clearing.

netem (latency, loss, ...) is not in the development kernel; its behaviour is tested in
the user-mode Linux lane (tests/netem/dataplane). Here: the error when it is missing.
"""

from __future__ import annotations

import pytest

from kubedtn.dataplane import Dataplane, Endpoint, InterfaceRef, NetemMissingError, VethSpec
from kubedtn.dataplane.errors import ApplyError
from kubedtn.model import LinkProperties
from tests.support import kernel
from tests.support.netns import NamespacePool, links_by_name, path, qdiscs, tcp_goodput

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

    (root,) = qdiscs(a, "eth1")
    assert root["kind"] == "tbf" and root["root"] is True
    assert root["options"]["rate"] == 50 * MBIT // 8
    # burst >= rate/HZ for any HZ >= 100
    assert root["options"]["burst"] >= 50 * MBIT // 8 // 100

    goodput = tcp_goodput(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2")
    # tbf counts Ethernet frames; TCP payload is 1448 of 1514 bytes per full frame (95.6 %).
    assert 0.92 * 50 * MBIT <= goodput <= 1.01 * 50 * MBIT, f"goodput {goodput / MBIT:.1f} Mbit/s"

    # the other direction has no properties: far faster than the shaped one
    back = tcp_goodput(client_ns=b, client_ip="10.0.0.2", server_ns=a, server_ip="10.0.0.1", seconds=1.0)
    assert back > 4 * 50 * MBIT


def test_rate_change_is_in_place(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=50 * MBIT))])
    index = links_by_name(a)["eth1"]["ifindex"]
    (before,) = qdiscs(a, "eth1")

    sent = dp.set_properties({InterfaceRef(path(a), "eth1"): LinkProperties(rate_bps=20 * MBIT)})

    assert sent == 1
    (after,) = qdiscs(a, "eth1")
    assert after["handle"] == before["handle"]  # the same qdisc, changed, not a new one
    assert after["options"]["rate"] == 20 * MBIT // 8
    assert links_by_name(a)["eth1"]["ifindex"] == index
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
    assert qdiscs(a, "eth1")[0]["options"]["rate"] == 30 * MBIT // 8


def test_clearing_properties_removes_the_qdisc(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])

    dp.set_properties({InterfaceRef(path(a), "eth1"): LinkProperties()})

    assert [q["kind"] for q in qdiscs(a, "eth1")] == ["noqueue"]
    (live,) = [i for i in dp.read(path(a)) if i.name == "eth1"]
    assert live.properties == LinkProperties()


def test_read_reports_properties_addresses_and_counters(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])
    tcp_goodput(client_ns=a, client_ip="10.0.0.1", server_ns=b, server_ip="10.0.0.2", seconds=0.5)

    live = {i.name: i for i in dp.read(path(a), known=[path(b)])}

    eth1 = live["eth1"]
    assert eth1.kind == "veth" and eth1.up and eth1.uid == 1
    assert eth1.properties == LinkProperties(rate_bps=10 * MBIT)
    assert "10.0.0.1/24" in eth1.addresses
    assert eth1.peer_netns == path(b)
    assert eth1.link_ifindex == links_by_name(b)["eth1"]["ifindex"]
    assert eth1.counters is not None and eth1.counters.tx_bytes > 100_000 and eth1.counters.tx_packets > 50
    assert [i.name for i in dp.read(path(a), owned_only=True)] == ["eth1"]


@pytest.mark.skipif(kernel.has_netem(), reason="this kernel has netem")
def test_missing_netem_is_named_and_nothing_is_left(pool: NamespacePool, dp: Dataplane) -> None:
    a, b = pool.make(2)
    with pytest.raises(ApplyError) as caught:
        dp.apply([link(a, b, LinkProperties(latency_us=10_000, loss=1.0))])
    error = caught.value.report.result(1).error  # type: ignore[attr-defined]
    assert isinstance(error, NetemMissingError)
    assert str(error) == f"netem is not in this kernel: latency, loss cannot be applied to {a}/eth1"
    assert "eth1" not in links_by_name(a)  # rolled back: no link without its emulation

    dp.apply([link(a, b, LinkProperties(rate_bps=10 * MBIT))])
    with pytest.raises(NetemMissingError, match="latency cannot be applied"):
        dp.set_properties(
            {InterfaceRef(path(a), "eth1"): LinkProperties(latency_us=5000, rate_bps=10 * MBIT)}
        )
    assert qdiscs(a, "eth1")[0]["kind"] == "tbf"  # the old emulation stays
