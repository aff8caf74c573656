"""The netlink byte work: attributes, requests, and reading replies back (no kernel needed)."""

from __future__ import annotations

import socket
import struct

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.netlink import (
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_CREATE,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    RTM_NEWLINK,
    RTM_NEWQDISC,
    _parse_error,
    attr_str,
    attr_u32,
    nla,
    nla_str,
    nla_u32,
    parse_attrs,
)
from kubedtn.dataplane.qdisc import NETEM_HANDLE, TC_H_ROOT, QdiscAction, qdisc_plan
from kubedtn.model import LinkProperties


def test_attributes_are_padded_and_read_back() -> None:
    data = nla_str(3, "eth1") + nla_u32(4, 1400) + nla(1, b"\x02\x00\x00\x00\x00\x01")
    assert len(data) % 4 == 0
    attrs = parse_attrs(data, 0, len(data))
    assert attr_str(attrs[3]) == "eth1" and attr_u32(attrs[4]) == 1400
    assert bytes(attrs[1]) == b"\x02\x00\x00\x00\x00\x01"


def _nested(attrs: dict[int, memoryview], *path: int) -> dict[int, memoryview]:
    for kind in path:
        attrs = parse_attrs(attrs[kind], 0, len(attrs[kind]))
    return attrs


def test_veth_request_creates_both_ends_in_their_namespaces_with_chosen_indexes() -> None:
    req = rtnl.create_veth(
        index=7,
        name="eth1",
        mtu=1400,
        mac="02:00:00:00:00:0a",
        peer_index=9,
        peer_name="eth2",
        peer_mtu=None,
        peer_mac=None,
        peer_netns_fd=33,
        group=0x6B64746E,
        what="x",
    )
    assert req.kind == RTM_NEWLINK and req.flags == NLM_F_CREATE | NLM_F_EXCL
    _family, _type, index, _flags, _change = struct.unpack_from("=BxHiII", req.body)
    assert index == 7
    attrs = parse_attrs(req.body, 16, len(req.body))
    assert attr_str(attrs[rtnl.IFLA_IFNAME]) == "eth1" and attr_u32(attrs[rtnl.IFLA_MTU]) == 1400
    assert attr_u32(attrs[rtnl.IFLA_GROUP]) == 0x6B64746E
    info = _nested(attrs, rtnl.IFLA_LINKINFO)
    assert attr_str(info[rtnl.IFLA_INFO_KIND]) == "veth"
    peer_raw = _nested(info, rtnl.IFLA_INFO_DATA)[rtnl.VETH_INFO_PEER]
    assert struct.unpack_from("=BxHiII", peer_raw)[2] == 9
    peer = parse_attrs(peer_raw, 16, len(peer_raw))
    assert attr_str(peer[rtnl.IFLA_IFNAME]) == "eth2" and attr_u32(peer[rtnl.IFLA_NET_NS_FD]) == 33
    assert rtnl.IFLA_MTU not in peer and attr_u32(peer[rtnl.IFLA_GROUP]) == 0x6B64746E


def test_vxlan_request_carries_vni_remote_local_port_and_no_learning() -> None:
    req = rtnl.create_vxlan(
        rtnl.NewDevice(index=5, name="vx0", mtu=None, mac=None, netns_fd=40, group=1),
        vni=5042,
        remote="fd00::2",
        local="fd00::1",
        underlay_index=3,
        port=4789,
        what="x",
    )
    attrs = parse_attrs(req.body, 16, len(req.body))
    assert attr_u32(attrs[rtnl.IFLA_NET_NS_FD]) == 40
    data = _nested(attrs, rtnl.IFLA_LINKINFO, rtnl.IFLA_INFO_DATA)
    assert attr_u32(data[rtnl.IFLA_VXLAN_ID]) == 5042
    assert bytes(data[rtnl.IFLA_VXLAN_GROUP6]) == socket.inet_pton(socket.AF_INET6, "fd00::2")
    assert bytes(data[rtnl.IFLA_VXLAN_LOCAL6]) == socket.inet_pton(socket.AF_INET6, "fd00::1")
    assert bytes(data[rtnl.IFLA_VXLAN_PORT]) == b"\x12\xb5"  # 4789, network order
    assert bytes(data[rtnl.IFLA_VXLAN_LEARNING]) == b"\x00"
    assert attr_u32(data[rtnl.IFLA_VXLAN_LINK]) == 3


def test_ipv6_address_is_added_without_dad() -> None:
    req = rtnl.add_address(4, "fd00::1/64", what="x")
    family, prefixlen, flags, _scope, index = struct.unpack_from("=BBBBI", req.body)
    assert (family, prefixlen, index) == (socket.AF_INET6, 64, 4)
    attrs = parse_attrs(req.body, 8, len(req.body))
    assert attr_u32(attrs[rtnl.IFA_FLAGS]) & rtnl.IFA_F_NODAD and flags & rtnl.IFA_F_NODAD


def test_netem_request_sends_every_attribute_and_reads_back_equal() -> None:
    (spec,) = qdisc_plan(LinkProperties(latency_us=20_000, jitter_us=500, loss=1.0, corrupt_prob=0.1))
    req = rtnl.qdisc_request(
        2, QdiscAction("replace", spec.handle, spec.parent, spec.kind, spec.params), what="x"
    )
    assert req.kind == RTM_NEWQDISC and req.flags == NLM_F_CREATE | NLM_F_REPLACE
    _f, index, handle, parent, _info = struct.unpack_from("=BxxxiIII", req.body)
    assert (index, handle, parent) == (2, NETEM_HANDLE, TC_H_ROOT)
    attrs = parse_attrs(req.body, 20, len(req.body))
    options = attrs[rtnl.TCA_OPTIONS]
    inner = parse_attrs(options, 24, len(options))
    # a change must be able to clear what an earlier one set: all of them, always
    for kind in (
        rtnl.TCA_NETEM_CORR,
        rtnl.TCA_NETEM_REORDER,
        rtnl.TCA_NETEM_CORRUPT,
        rtnl.TCA_NETEM_LATENCY64,
        rtnl.TCA_NETEM_JITTER64,
    ):
        assert kind in inner
    latency_ticks = struct.unpack_from("=I", options)[0]
    assert latency_ticks == 20_000_000 >> 6  # kernel ticks are 64 ns
    assert rtnl.parse_netem(options) == spec.params


def test_netem_dump_layout_with_the_extra_nest_is_read() -> None:
    (spec,) = qdisc_plan(LinkProperties(latency_us=5_000, duplicate=2.0))
    sent = rtnl.netem_options(spec.params)  # type: ignore[arg-type]
    dumped = sent[:24] + nla(rtnl.TCA_OPTIONS, sent[24:])  # what the kernel's netem_dump writes
    assert rtnl.parse_netem(memoryview(dumped)) == spec.params


def test_tbf_options_use_burst_in_bytes_and_rate64_when_needed() -> None:
    (spec,) = qdisc_plan(LinkProperties(rate_bps=100_000_000_000))
    options = rtnl.tbf_options(spec.params)  # type: ignore[arg-type]
    attrs = parse_attrs(options, 0, len(options))
    assert rtnl.TCA_TBF_RATE64 in attrs and rtnl.TCA_TBF_BURST in attrs
    back = rtnl.parse_tbf(memoryview(options))
    assert back is not None and back.rate == 12_500_000_000 and back.limit == spec.params.limit
    assert abs(back.burst - spec.params.burst) <= 12_500_000_000 * 64e-9 + 1  # type: ignore[union-attr]


def _link_message(**kw: object) -> memoryview:
    body = struct.pack("=BxHiII", 0, 1, 5, rtnl.IFF_UP, 0)
    body += nla_str(rtnl.IFLA_IFNAME, "vx0") + nla_u32(rtnl.IFLA_MTU, 1450) + nla_u32(rtnl.IFLA_GROUP, 7)
    body += nla(rtnl.IFLA_ADDRESS, bytes.fromhex("020000000001")) + nla_str(
        rtnl.IFLA_IFALIAS, "kubedtn uid=12"
    )
    body += nla(rtnl.IFLA_LINK_NETNSID, struct.pack("=i", 0)) + nla(rtnl.IFLA_OPERSTATE, b"\x06")
    data = (
        nla_u32(rtnl.IFLA_VXLAN_ID, 99)
        + nla(rtnl.IFLA_VXLAN_GROUP, socket.inet_aton("192.0.2.2"))
        + nla(rtnl.IFLA_VXLAN_PORT, b"\x12\xb5")
        + nla(rtnl.IFLA_VXLAN_LEARNING, b"\x00")
        + nla_u32(rtnl.IFLA_VXLAN_LINK, 3)
    )
    body += nla(rtnl.IFLA_LINKINFO, nla_str(rtnl.IFLA_INFO_KIND, "vxlan") + nla(rtnl.IFLA_INFO_DATA, data))
    body += nla(rtnl.IFLA_STATS64, struct.pack("=8Q", 1, 2, 3, 4, 5, 6, 7, 8) + bytes(8 * 16))
    return memoryview(body)


def test_link_reply_is_read_into_a_live_interface() -> None:
    live = rtnl.parse_link(_link_message(), netns="/run/netns/r1")
    assert (live.name, live.ifindex, live.kind, live.mtu, live.group) == ("vx0", 5, "vxlan", 1450, 7)
    assert live.up and live.oper_state == "up" and live.mac == "02:00:00:00:00:01"
    assert live.uid == 12 and live.link_netnsid == 0
    assert live.vxlan is not None and live.vxlan.vni == 99 and live.vxlan.remote == "192.0.2.2"
    assert live.vxlan.port == 4789 and not live.vxlan.learning and live.vxlan.underlay_ifindex == 3
    assert live.counters is not None and live.counters.rx_packets == 1 and live.counters.tx_dropped == 8


def test_kernel_error_text_is_read_from_the_extended_ack() -> None:
    header = struct.pack("=IHHII", 36, RTM_NEWQDISC, 0, 1, 0)  # the capped request
    body = struct.pack("=i", -2) + header + nla_str(1, "Specified qdisc kind is unknown")
    assert _parse_error(memoryview(body), NLM_F_CAPPED | NLM_F_ACK_TLVS) == (
        2,
        "Specified qdisc kind is unknown",
    )
    assert _parse_error(memoryview(struct.pack("=i", 0) + header), NLM_F_CAPPED) == (0, "")
