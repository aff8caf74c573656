"""The netlink byte work: attributes, qdisc options read back, replies encoded by pyroute2 read
by our decoder (no kernel needed). The requests themselves: test_oracle.py."""

from __future__ import annotations

import socket
import struct
from typing import Any

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.live import Counters, LiveInterface, VxlanInfo
from kubedtn.dataplane.netlink import (
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    RTM_NEWQDISC,
    _parse_error,
    attr_str,
    attr_u32,
    nla,
    nla_str,
    nla_u32,
    parse_attrs,
)
from kubedtn.dataplane.qdisc import TC_H_ROOT, TbfParams, qdisc_plan
from kubedtn.model import LinkProperties
from tests.support.oracle import OracleTcmsg


def test_attributes_are_padded_and_read_back() -> None:
    data = nla_str(3, "eth1") + nla_u32(4, 1400) + nla(1, b"\x02\x00\x00\x00\x00\x01")
    assert len(data) % 4 == 0
    attrs = parse_attrs(data, 0, len(data))
    assert attr_str(attrs[3]) == "eth1" and attr_u32(attrs[4]) == 1400
    assert bytes(attrs[1]) == b"\x02\x00\x00\x00\x00\x01"


def test_netem_options_read_back_equal() -> None:
    (spec,) = qdisc_plan(LinkProperties(latency_us=20_000, jitter_us=500, loss=1.0, corrupt_prob=0.1))
    assert rtnl.parse_netem(memoryview(rtnl.netem_options(spec.params))) == spec.params  # type: ignore[arg-type]


def test_netem_dump_layout_with_the_extra_nest_is_read() -> None:
    (spec,) = qdisc_plan(LinkProperties(latency_us=5_000, duplicate=2.0))
    sent = rtnl.netem_options(spec.params)  # type: ignore[arg-type]
    dumped = sent[:24] + nla(rtnl.TCA_OPTIONS, sent[24:])  # what the kernel's netem_dump writes
    assert rtnl.parse_netem(memoryview(dumped)) == spec.params


def test_tbf_options_with_rate64_read_back() -> None:
    (spec,) = qdisc_plan(LinkProperties(rate_bps=100_000_000_000))
    options = rtnl.tbf_options(spec.params)  # type: ignore[arg-type]
    back = rtnl.parse_tbf(memoryview(options))
    assert back is not None and back.rate == 12_500_000_000 and back.limit == spec.params.limit
    assert abs(back.burst - spec.params.burst) <= 12_500_000_000 * 64e-9 + 1  # type: ignore[union-attr]


def _encoded(message: Any, **fields: Any) -> memoryview:
    """A message encoded by pyroute2 (the independent implementation), without nlmsghdr."""
    for name, value in fields.items():
        message[name] = value
    message.encode()
    return memoryview(bytes(message.data[16:]))


def test_vxlan_link_encoded_by_pyroute2_is_read_into_a_live_interface() -> None:
    info_data = [
        ("IFLA_VXLAN_ID", 99),
        ("IFLA_VXLAN_GROUP", "192.0.2.2"),
        ("IFLA_VXLAN_LOCAL", "192.0.2.1"),
        ("IFLA_VXLAN_PORT", 4789),
        ("IFLA_VXLAN_LEARNING", 0),
        ("IFLA_VXLAN_LINK", 3),
    ]
    stats = (
        "rx_packets",
        "tx_packets",
        "rx_bytes",
        "tx_bytes",
        "rx_errors",
        "tx_errors",
        "rx_dropped",
        "tx_dropped",
    )
    body = _encoded(
        ifinfmsg(),
        index=5,
        flags=IFF_UP,
        attrs=[
            ("IFLA_IFNAME", "vx0"),
            ("IFLA_MTU", 1450),
            ("IFLA_GROUP", 7),
            ("IFLA_ADDRESS", "02:00:00:00:00:01"),
            ("IFLA_IFALIAS", "kubedtn uid=12"),
            ("IFLA_LINK_NETNSID", 0),
            ("IFLA_OPERSTATE", "UP"),
            (
                "IFLA_LINKINFO",
                {"attrs": [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", {"attrs": info_data})]},
            ),
            ("IFLA_STATS64", {name: i for i, name in enumerate(stats, start=1)}),
        ],
    )
    live = rtnl.parse_link(body, netns="/run/netns/r1")
    assert live == LiveInterface(
        netns="/run/netns/r1",
        name="vx0",
        ifindex=5,
        kind="vxlan",
        up=True,
        oper_state="up",
        mtu=1450,
        mac="02:00:00:00:00:01",
        group=7,
        alias="kubedtn uid=12",
        link_netnsid=0,
        vxlan=VxlanInfo(
            vni=99, remote="192.0.2.2", local="192.0.2.1", port=4789, underlay_ifindex=3, learning=False
        ),
        counters=Counters(*range(1, 9)),
    )
    assert live.uid == 12


def test_macvlan_and_veth_links_encoded_by_pyroute2_are_read() -> None:
    macvlan = _encoded(
        ifinfmsg(),
        index=8,
        attrs=[
            ("IFLA_IFNAME", "eth1"),
            ("IFLA_LINK", 4),
            (
                "IFLA_LINKINFO",
                {
                    "attrs": [
                        ("IFLA_INFO_KIND", "macvlan"),
                        ("IFLA_INFO_DATA", {"attrs": [("IFLA_MACVLAN_MODE", "bridge")]}),
                    ]
                },
            ),
        ],
    )
    live = rtnl.parse_link(macvlan, netns="n")
    assert (live.kind, live.macvlan_mode, live.link_ifindex, live.up) == ("macvlan", "bridge", 4, False)
    veth = _encoded(
        ifinfmsg(),
        index=9,
        attrs=[
            ("IFLA_IFNAME", "eth2"),
            ("IFLA_LINK", 11),
            ("IFLA_LINKINFO", {"attrs": [("IFLA_INFO_KIND", "veth")]}),
        ],
    )
    live = rtnl.parse_link(veth, netns="n")
    assert (live.kind, live.link_ifindex, live.link_netnsid, live.vxlan, live.counters) == (
        "veth",
        11,
        None,
        None,
        None,
    )


def test_addresses_encoded_by_pyroute2_are_read() -> None:
    # IPv4: the interface's own address is IFA_LOCAL (IFA_ADDRESS is the peer's on point-to-point)
    v4 = _encoded(
        ifaddrmsg(),
        family=socket.AF_INET,
        prefixlen=24,
        index=3,
        attrs=[("IFA_ADDRESS", "10.0.0.2"), ("IFA_LOCAL", "10.0.0.1")],
    )
    assert rtnl.parse_address(v4) == (3, "10.0.0.1/24", False)
    v6 = _encoded(
        ifaddrmsg(),
        family=socket.AF_INET6,
        prefixlen=64,
        scope=253,
        index=4,
        attrs=[("IFA_ADDRESS", "fe80::1")],
    )
    assert rtnl.parse_address(v6) == (4, "fe80::1/64", True)


def test_tbf_qdisc_encoded_by_pyroute2_is_read() -> None:
    rate, burst, limit = 6_250_000, 62_500, 375_000
    parms = {"rate": rate, "rate___reserved": 1, "limit": limit, "buffer": burst * 10**9 // rate // 64}
    body = _encoded(
        OracleTcmsg(),
        index=9,
        handle=0x3_0000,
        parent=TC_H_ROOT,
        attrs=[("TCA_KIND", "tbf"), ("TCA_OPTIONS", {"attrs": [("TCA_TBF_PARMS", parms)]})],
    )
    live = rtnl.parse_qdisc(body)
    assert (live.ifindex, live.handle, live.parent, live.kind) == (9, 0x3_0000, TC_H_ROOT, "tbf")
    assert isinstance(live.params, TbfParams) and TbfParams(rate, burst, limit).matches(live.params)


def test_kernel_error_text_is_read_from_the_extended_ack() -> None:
    header = struct.pack("=IHHII", 36, RTM_NEWQDISC, 0, 1, 0)  # the capped request
    body = struct.pack("=i", -2) + header + nla_str(1, "Specified qdisc kind is unknown")
    assert _parse_error(memoryview(body), NLM_F_CAPPED | NLM_F_ACK_TLVS) == (
        2,
        "Specified qdisc kind is unknown",
    )
    assert _parse_error(memoryview(struct.pack("=i", 0) + header), NLM_F_CAPPED) == (0, "")
