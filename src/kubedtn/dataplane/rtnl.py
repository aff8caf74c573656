"""rtnetlink messages of the dataplane: building requests and reading dump replies.

Pure byte work (no sockets): every function here can be unit-tested without root.
Layouts follow linux/if_link.h, linux/if_addr.h, linux/pkt_sched.h, linux/net_namespace.h.
"""

from __future__ import annotations

import functools
import socket
import struct
from dataclasses import dataclass
from typing import Final

from kubedtn.dataplane.addr import parse_cidr, parse_ip
from kubedtn.dataplane.live import Counters, LiveInterface, VxlanInfo
from kubedtn.dataplane.netlink import (
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELQDISC,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETQDISC,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWQDISC,
    RTM_SETLINK,
    Request,
    attr_be16,
    attr_s32,
    attr_str,
    attr_u8,
    attr_u32,
    attr_u64,
    nla,
    nla_be16,
    nla_str,
    nla_u8,
    nla_u32,
    nla_u64,
    parse_attrs,
)
from kubedtn.dataplane.qdisc import LiveQdisc, NetemParams, QdiscAction, TbfParams

# ---- constants ------------------------------------------------------------------------------

IFF_UP: Final = 0x1

IFLA_ADDRESS: Final = 1
IFLA_IFNAME: Final = 3
IFLA_MTU: Final = 4
IFLA_LINK: Final = 5
IFLA_OPERSTATE: Final = 16
IFLA_LINKINFO: Final = 18
IFLA_IFALIAS: Final = 20
IFLA_STATS64: Final = 23
IFLA_GROUP: Final = 27
IFLA_NET_NS_FD: Final = 28
IFLA_EXT_MASK: Final = 29
IFLA_LINK_NETNSID: Final = 37
IFLA_GSO_MAX_SEGS: Final = 40
IFLA_TSO_MAX_SEGS: Final = 60

IFLA_INFO_KIND: Final = 1
IFLA_INFO_DATA: Final = 2
VETH_INFO_PEER: Final = 1

IFLA_VXLAN_ID: Final = 1
IFLA_VXLAN_GROUP: Final = 2
IFLA_VXLAN_LINK: Final = 3
IFLA_VXLAN_LOCAL: Final = 4
IFLA_VXLAN_LEARNING: Final = 7
IFLA_VXLAN_PORT: Final = 15
IFLA_VXLAN_GROUP6: Final = 16
IFLA_VXLAN_LOCAL6: Final = 17

IFLA_MACVLAN_MODE: Final = 1
MACVLAN_MODES: Final = {1: "private", 2: "vepa", 4: "bridge", 8: "passthru", 16: "source"}
MACVLAN_MODE_BRIDGE: Final = 4

RTEXT_FILTER_SKIP_STATS: Final = 1 << 3

IFA_ADDRESS: Final = 1
IFA_LOCAL: Final = 2
IFA_FLAGS: Final = 8
IFA_F_NODAD: Final = 0x02
RT_SCOPE_LINK: Final = 253

TCA_KIND: Final = 1
TCA_OPTIONS: Final = 2
TCA_NETEM_CORR: Final = 1
TCA_NETEM_REORDER: Final = 3
TCA_NETEM_CORRUPT: Final = 4
TCA_NETEM_RATE: Final = 6
TCA_NETEM_LATENCY64: Final = 10
TCA_NETEM_JITTER64: Final = 11
TCA_TBF_PARMS: Final = 1
TCA_TBF_RATE64: Final = 4
TCA_TBF_BURST: Final = 6
TC_LINKLAYER_ETHERNET: Final = 1
PSCHED_SHIFT: Final = 6  # kernel qdisc "ticks" are 64 ns

NETNSA_NSID: Final = 1
NETNSA_FD: Final = 3

OPER_STATES: Final = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_IFINFO: Final = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR: Final = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
TCMSG: Final = struct.Struct("=BxxxiIII")  # struct tcmsg: family, ifindex, handle, parent, info
_RTGEN: Final = struct.Struct("=Bxxx")
_NETEM_QOPT: Final = struct.Struct("=IIIIII")  # latency, limit, loss, gap, duplicate, jitter (ticks)
_U32x2: Final = struct.Struct("=II")
_U32x3: Final = struct.Struct("=III")
_NETEM_RATE: Final = struct.Struct("=IiIi")
_S64: Final = struct.Struct("=q")
_RATESPEC: Final = struct.Struct("=BBHhHI")  # cell_log, linklayer, overhead, cell_align, mpu, rate
_TBF_QOPT: Final = struct.Struct("=12s12sIII")  # rate, peakrate, limit, buffer, mtu
_STATS64: Final = struct.Struct("=8Q")  # the first 8 counters of rtnl_link_stats64

U32_MAX: Final = 0xFFFF_FFFF

# ---- links ------------------------------------------------------------------------------------


def _ifinfo(index: int, *, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(0, 0, index, flags, change)


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _dev_attrs(name: str, mtu: int | None, mac: str | None, group: int) -> bytes:
    out = nla_str(IFLA_IFNAME, name) + nla_u32(IFLA_GROUP, group)
    if mtu is not None:
        out += nla_u32(IFLA_MTU, mtu)
    if mac is not None:
        out += nla(IFLA_ADDRESS, mac_bytes(mac))
    return out


_CREATE: Final = NLM_F_CREATE | NLM_F_EXCL


def create_veth(
    *,
    index: int,
    name: str,
    mtu: int | None,
    mac: str | None,
    peer_index: int,
    peer_name: str,
    peer_mtu: int | None,
    peer_mac: str | None,
    peer_netns_fd: int,
    group: int,
    what: str,
) -> Request:
    """A veth pair; send it on a socket in the namespace of the first end.

    The peer goes straight into peer_netns_fd (no move afterwards). Both indexes are
    chosen by us, so no lookup is needed afterwards (the kernel honours the peer's index
    only when the first end's is given too).
    """
    peer = (
        _ifinfo(peer_index)
        + _dev_attrs(peer_name, peer_mtu, peer_mac, group)
        + nla_u32(IFLA_NET_NS_FD, peer_netns_fd)
    )
    info = nla_str(IFLA_INFO_KIND, "veth") + nla(IFLA_INFO_DATA, nla(VETH_INFO_PEER, peer))
    body = _ifinfo(index) + _dev_attrs(name, mtu, mac, group) + nla(IFLA_LINKINFO, info)
    return Request(RTM_NEWLINK, _CREATE, body, what)


def _ip_attr(v4: int, v6: int, text: str) -> bytes:
    family, packed = parse_ip(text)
    return nla(v4 if family == socket.AF_INET else v6, packed)


@dataclass(frozen=True)
class NewDevice:
    """A device created from the node namespace straight into netns_fd, with a chosen index."""

    index: int
    name: str
    mtu: int | None
    mac: str | None
    netns_fd: int
    group: int

    def attrs(self) -> bytes:
        return _dev_attrs(self.name, self.mtu, self.mac, self.group) + nla_u32(IFLA_NET_NS_FD, self.netns_fd)


_VXLAN_KIND: Final = nla_str(IFLA_INFO_KIND, "vxlan")


@functools.lru_cache(maxsize=256)
def _vxlan_tunnel_attrs(remote: str, local: str | None, underlay_index: int, port: int) -> bytes:
    """The VXLAN attributes but the VNI: the same for every link between two nodes (a batch
    of a thousand cross-node links encodes them once)."""
    data = _ip_attr(IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6, remote)
    if local is not None:
        data += _ip_attr(IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6, local)
    return (
        data
        + nla_u32(IFLA_VXLAN_LINK, underlay_index)
        + nla_be16(IFLA_VXLAN_PORT, port)
        + nla_u8(IFLA_VXLAN_LEARNING, 0)
    )


def create_vxlan(
    device: NewDevice,
    *,
    vni: int,
    remote: str,
    local: str | None,
    underlay_index: int,
    port: int,
    what: str,
) -> Request:
    """A VXLAN device; send it on a socket in the node namespace (its UDP socket stays
    there), it is registered directly in device.netns_fd."""
    data = nla_u32(IFLA_VXLAN_ID, vni) + _vxlan_tunnel_attrs(remote, local, underlay_index, port)
    info = _VXLAN_KIND + nla(IFLA_INFO_DATA, data)
    body = _ifinfo(device.index) + device.attrs() + nla(IFLA_LINKINFO, info)
    return Request(RTM_NEWLINK, _CREATE, body, what)


def create_macvlan(device: NewDevice, *, parent_index: int, what: str) -> Request:
    """A bridge-mode macvlan on parent_index; send it on a socket in the parent's namespace."""
    info = nla_str(IFLA_INFO_KIND, "macvlan") + nla(
        IFLA_INFO_DATA, nla_u32(IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE)
    )
    body = (
        _ifinfo(device.index) + device.attrs() + nla_u32(IFLA_LINK, parent_index) + nla(IFLA_LINKINFO, info)
    )
    return Request(RTM_NEWLINK, _CREATE, body, what)


def set_link(
    index: int,
    *,
    up: bool | None = None,
    mtu: int | None = None,
    mac: str | None = None,
    alias: str | None = None,
    gso_max_segs: int | None = None,
    what: str,
) -> Request:
    body = _ifinfo(index, flags=IFF_UP if up else 0, change=IFF_UP if up is not None else 0)
    if mtu is not None:
        body += nla_u32(IFLA_MTU, mtu)
    if gso_max_segs is not None:
        body += nla_u32(IFLA_GSO_MAX_SEGS, gso_max_segs)
    if mac is not None:
        body += nla(IFLA_ADDRESS, mac_bytes(mac))
    if alias is not None:
        body += nla_str(IFLA_IFALIAS, alias)
    return Request(RTM_SETLINK, 0, body, what)


def resize_link(index: int, gso_max_segs: int, *, alias: str | None, what: str) -> Request:
    """An existing interface's gso_max_segs. A socket copies the limit when its route is
    set: with the interface's alias (its own value again) the kernel announces a change of
    the device, which makes the namespace's IPv4 routes stale, so open IPv4 connections
    take the new limit at their next send (IPv6 routes stay: their connections take it at
    their next route lookup)."""
    body = _ifinfo(index) + nla_u32(IFLA_GSO_MAX_SEGS, gso_max_segs)
    if alias is not None:
        body += nla_str(IFLA_IFALIAS, alias)
    return Request(RTM_SETLINK, 0, body, what)


def delete_link(index: int, *, what: str) -> Request:
    return Request(RTM_DELLINK, 0, _ifinfo(index), what)


def delete_group(group: int, *, what: str) -> Request:
    """Deletes every interface of the group in the socket's namespace in one request
    (one unregister batch: far cheaper than one DELLINK per interface)."""
    return Request(RTM_DELLINK, 0, _ifinfo(0) + nla_u32(IFLA_GROUP, group), what)


def dump_links(*, stats: bool) -> Request:
    body = _ifinfo(0)
    if not stats:
        body += nla_u32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)
    return Request(RTM_GETLINK, NLM_F_DUMP, body, "list interfaces")


def _format_mac(raw: memoryview) -> str | None:
    data = bytes(raw)
    if len(data) != 6:
        return None
    return ":".join(f"{b:02x}" for b in data)


def _ip_text(raw: memoryview) -> str:
    data = bytes(raw)
    return socket.inet_ntop(socket.AF_INET if len(data) == 4 else socket.AF_INET6, data)


def parse_link(body: memoryview, *, netns: str) -> LiveInterface:
    """An RTM_NEWLINK reply as a LiveInterface (addresses and qdiscs are filled in later)."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(body)
    attrs = parse_attrs(body, _IFINFO.size, len(body))
    kind: str | None = None
    vxlan: VxlanInfo | None = None
    macvlan_mode: str | None = None
    if IFLA_LINKINFO in attrs:
        info = parse_attrs(attrs[IFLA_LINKINFO], 0, len(attrs[IFLA_LINKINFO]))
        if IFLA_INFO_KIND in info:
            kind = attr_str(info[IFLA_INFO_KIND])
        data = info.get(IFLA_INFO_DATA)
        if data is not None and kind == "vxlan":
            d = parse_attrs(data, 0, len(data))
            remote = d.get(IFLA_VXLAN_GROUP) or d.get(IFLA_VXLAN_GROUP6)
            local = d.get(IFLA_VXLAN_LOCAL) or d.get(IFLA_VXLAN_LOCAL6)
            vxlan = VxlanInfo(
                vni=attr_u32(d[IFLA_VXLAN_ID]) if IFLA_VXLAN_ID in d else 0,
                remote=_ip_text(remote) if remote is not None else None,
                local=_ip_text(local) if local is not None else None,
                port=attr_be16(d[IFLA_VXLAN_PORT]) if IFLA_VXLAN_PORT in d else 0,
                underlay_ifindex=attr_u32(d[IFLA_VXLAN_LINK]) if IFLA_VXLAN_LINK in d else 0,
                learning=bool(attr_u8(d[IFLA_VXLAN_LEARNING])) if IFLA_VXLAN_LEARNING in d else True,
            )
        elif data is not None and kind == "macvlan":
            d = parse_attrs(data, 0, len(data))
            if IFLA_MACVLAN_MODE in d:
                mode = attr_u32(d[IFLA_MACVLAN_MODE])
                macvlan_mode = MACVLAN_MODES.get(mode, str(mode))
    counters = None
    if IFLA_STATS64 in attrs and len(attrs[IFLA_STATS64]) >= _STATS64.size:
        counters = Counters(*_STATS64.unpack_from(attrs[IFLA_STATS64]))
    oper = attr_u8(attrs[IFLA_OPERSTATE]) if IFLA_OPERSTATE in attrs else 0
    return LiveInterface(
        netns=netns,
        name=attr_str(attrs[IFLA_IFNAME]) if IFLA_IFNAME in attrs else "",
        ifindex=index,
        kind=kind,
        up=bool(flags & IFF_UP),
        oper_state=OPER_STATES[oper] if oper < len(OPER_STATES) else str(oper),
        mtu=attr_u32(attrs[IFLA_MTU]) if IFLA_MTU in attrs else 0,
        mac=_format_mac(attrs[IFLA_ADDRESS]) if IFLA_ADDRESS in attrs else None,
        group=attr_u32(attrs[IFLA_GROUP]) if IFLA_GROUP in attrs else 0,
        alias=attr_str(attrs[IFLA_IFALIAS]) if IFLA_IFALIAS in attrs else None,
        link_ifindex=attr_u32(attrs[IFLA_LINK]) if IFLA_LINK in attrs else None,
        link_netnsid=attr_s32(attrs[IFLA_LINK_NETNSID]) if IFLA_LINK_NETNSID in attrs else None,
        vxlan=vxlan,
        macvlan_mode=macvlan_mode,
        gso_max_segs=attr_u32(attrs[IFLA_GSO_MAX_SEGS]) if IFLA_GSO_MAX_SEGS in attrs else None,
        tso_max_segs=attr_u32(attrs[IFLA_TSO_MAX_SEGS]) if IFLA_TSO_MAX_SEGS in attrs else None,
        counters=counters,
    )


# ---- addresses --------------------------------------------------------------------------------


def _addr_body(index: int, cidr: str) -> bytes:
    family, packed, prefixlen = parse_cidr(cidr)
    if family == socket.AF_INET:
        return (
            _IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index)
            + nla(IFA_LOCAL, packed)
            + nla(IFA_ADDRESS, packed)
        )
    # No duplicate address detection: the address is usable at once (an emulated link
    # has no one to collide with, and tests would otherwise wait for DAD on every address).
    return (
        _IFADDR.pack(socket.AF_INET6, prefixlen, IFA_F_NODAD, 0, index)
        + nla(IFA_ADDRESS, packed)
        + nla_u32(IFA_FLAGS, IFA_F_NODAD)
    )


def add_address(index: int, cidr: str, *, what: str) -> Request:
    return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, _addr_body(index, cidr), what)


def delete_address(index: int, cidr: str, *, what: str) -> Request:
    return Request(RTM_DELADDR, 0, _addr_body(index, cidr), what)


def dump_addresses() -> Request:
    return Request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(0, 0, 0, 0, 0), "list addresses")


def parse_address(body: memoryview) -> tuple[int, str, bool]:
    """(ifindex, "addr/prefix", is link-scope) of an RTM_NEWADDR reply."""
    family, prefixlen, _flags, scope, index = _IFADDR.unpack_from(body)
    attrs = parse_attrs(body, _IFADDR.size, len(body))
    raw = attrs.get(IFA_LOCAL) if family == socket.AF_INET else None
    if raw is None:
        raw = attrs.get(IFA_ADDRESS)
    text = _ip_text(raw) if raw is not None else "?"
    return index, f"{text}/{prefixlen}", scope == RT_SCOPE_LINK


# ---- qdiscs -----------------------------------------------------------------------------------


def _ticks(ns: int) -> int:
    return min(ns >> PSCHED_SHIFT, U32_MAX)


def netem_options(p: NetemParams) -> bytes:
    """TCA_OPTIONS of netem: the classic struct, then attributes (not nested).

    Every attribute is always sent: netem keeps the old value of an attribute that is
    missing from a change, so leaving out e.g. CORRUPT would not clear a corruption.
    """
    qopt = _NETEM_QOPT.pack(_ticks(p.latency_ns), p.limit, p.loss, p.gap, p.duplicate, _ticks(p.jitter_ns))
    return qopt + (
        nla(TCA_NETEM_CORR, _U32x3.pack(p.latency_corr, p.loss_corr, p.duplicate_corr))
        + nla(TCA_NETEM_REORDER, _U32x2.pack(p.reorder, p.reorder_corr))
        + nla(TCA_NETEM_CORRUPT, _U32x2.pack(p.corrupt, p.corrupt_corr))
        + nla(TCA_NETEM_RATE, _NETEM_RATE.pack(0, 0, 0, 0))
        + nla(TCA_NETEM_LATENCY64, _S64.pack(p.latency_ns))
        + nla(TCA_NETEM_JITTER64, _S64.pack(p.jitter_ns))
    )


def tbf_options(p: TbfParams) -> bytes:
    """TCA_OPTIONS of tbf. The rate spec says "ethernet", so no rate table is needed, and
    the bucket is given in bytes (TCA_TBF_BURST) rather than as time."""
    rate32 = min(p.rate, U32_MAX)
    rate = _RATESPEC.pack(0, TC_LINKLAYER_ETHERNET, 0, 0, 0, rate32)
    buffer_ticks = _ticks(p.burst * 1_000_000_000 // max(p.rate, 1))
    parms = _TBF_QOPT.pack(rate, bytes(12), p.limit, buffer_ticks, 0)
    out = nla(TCA_TBF_PARMS, parms)
    if p.rate >= U32_MAX:
        out += nla_u64(TCA_TBF_RATE64, p.rate)
    return out + nla_u32(TCA_TBF_BURST, p.burst)


def qdisc_request(index: int, action: QdiscAction, *, what: str) -> Request:
    head = TCMSG.pack(0, index, action.handle, action.parent, 0)
    if action.op == "delete":
        return Request(RTM_DELQDISC, 0, head, what)
    params = action.params
    if isinstance(params, NetemParams):
        options = netem_options(params)
    elif isinstance(params, TbfParams):
        options = tbf_options(params)
    else:
        raise TypeError(f"no parameters to encode for a {action.kind} qdisc")
    # CREATE|REPLACE at a fixed handle: changes the qdisc when it is there with that
    # handle and kind, else creates it and grafts it in place of the old one.
    body = head + nla_str(TCA_KIND, action.kind) + nla(TCA_OPTIONS, options)
    return Request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, body, what)


def dump_qdiscs() -> Request:
    return Request(RTM_GETQDISC, NLM_F_DUMP, TCMSG.pack(0, 0, 0, 0, 0), "list qdiscs")


def parse_netem(options: memoryview) -> NetemParams:
    latency, limit, loss, gap, duplicate, jitter = _NETEM_QOPT.unpack_from(options)
    attrs = parse_attrs(options, _NETEM_QOPT.size, len(options))
    # Dumps wrap the attributes in one more nest of type TCA_OPTIONS (nla_nest_compat).
    if TCA_OPTIONS in attrs:
        attrs = parse_attrs(attrs[TCA_OPTIONS], 0, len(attrs[TCA_OPTIONS]))
    latency_ns = latency << PSCHED_SHIFT
    jitter_ns = jitter << PSCHED_SHIFT
    if TCA_NETEM_LATENCY64 in attrs:
        latency_ns = _S64.unpack_from(attrs[TCA_NETEM_LATENCY64])[0]
    if TCA_NETEM_JITTER64 in attrs:
        jitter_ns = _S64.unpack_from(attrs[TCA_NETEM_JITTER64])[0]
    corr = _U32x3.unpack_from(attrs[TCA_NETEM_CORR]) if TCA_NETEM_CORR in attrs else (0, 0, 0)
    reorder = _U32x2.unpack_from(attrs[TCA_NETEM_REORDER]) if TCA_NETEM_REORDER in attrs else (0, 0)
    corrupt = _U32x2.unpack_from(attrs[TCA_NETEM_CORRUPT]) if TCA_NETEM_CORRUPT in attrs else (0, 0)
    return NetemParams(
        latency_ns=latency_ns,
        jitter_ns=jitter_ns,
        limit=limit,
        loss=loss,
        gap=gap,
        duplicate=duplicate,
        latency_corr=corr[0],
        loss_corr=corr[1],
        duplicate_corr=corr[2],
        reorder=reorder[0],
        reorder_corr=reorder[1],
        corrupt=corrupt[0],
        corrupt_corr=corrupt[1],
    )


def parse_tbf(options: memoryview) -> TbfParams | None:
    attrs = parse_attrs(options, 0, len(options))
    if TCA_TBF_PARMS not in attrs:
        return None
    rate_raw, _peak, limit, buffer_ticks, _mtu = _TBF_QOPT.unpack_from(attrs[TCA_TBF_PARMS])
    rate = _RATESPEC.unpack(rate_raw)[5]
    if TCA_TBF_RATE64 in attrs:
        rate = attr_u64(attrs[TCA_TBF_RATE64])
    burst = round((buffer_ticks << PSCHED_SHIFT) * rate / 1e9)
    return TbfParams(rate=rate, burst=burst, limit=limit)


def parse_qdisc(body: memoryview) -> LiveQdisc:
    _family, index, handle, parent, _info = TCMSG.unpack_from(body)
    attrs = parse_attrs(body, TCMSG.size, len(body))
    kind = attr_str(attrs[TCA_KIND]) if TCA_KIND in attrs else ""
    options = attrs.get(TCA_OPTIONS)
    params: NetemParams | TbfParams | None = None
    if options is not None and kind == "netem" and len(options) >= _NETEM_QOPT.size:
        params = parse_netem(options)
    elif options is not None and kind == "tbf":
        params = parse_tbf(options)
    return LiveQdisc(ifindex=index, handle=handle, parent=parent, kind=kind, params=params)


# ---- namespace ids ----------------------------------------------------------------------------


def get_nsid(netns_fd: int, *, what: str) -> Request:
    """The id the socket's namespace uses for the namespace of netns_fd (IFLA_LINK_NETNSID)."""
    return Request(RTM_GETNSID, 0, _RTGEN.pack(0) + nla_u32(NETNSA_FD, netns_fd), what)


def parse_nsid(body: memoryview) -> int | None:
    attrs = parse_attrs(body, _RTGEN.size, len(body))
    if NETNSA_NSID not in attrs:
        return None
    nsid = attr_s32(attrs[NETNSA_NSID])
    return None if nsid < 0 else nsid
